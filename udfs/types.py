# Every udfbox type as a result, and composite values passed back into UDFs.
# tables: people=udfs/data/people.csv, orders=udfs/data/orders.csv
# query: SELECT o.order_id, money(o.amount) AS money, item_list(o.items) AS items,
#   item_count(item_list(o.items)) AS n_items, item_counts(o.items) AS counts,
#   order_row(o.order_id, p.name) AS order_row, row_name(order_row(o.order_id, p.name)) AS row_name,
#   next_day(p.joined) AS next_day, midnight(p.joined) AS midnight, big_spender(o.amount) AS big,
#   half(o.amount) AS half, tiny(o.order_id) AS tiny, small(o.order_id) AS small,
#   as_int(o.order_id) AS as_int, blob(p.name) AS blob, lunch(o.order_id) AS lunch
#   FROM orders o LEFT JOIN people p ON o.person_id = p.id ORDER BY o.order_id
import datetime
import decimal

from udfbox import DataTypes, Row, udf


@udf(input_types=[DataTypes.DOUBLE()], result_type=DataTypes.DECIMAL(10, 2))
def money(amount):
    return None if amount is None else decimal.Decimal(str(amount)).quantize(decimal.Decimal("0.01"))


@udf(result_type=DataTypes.ARRAY(DataTypes.STRING()))
def item_list(items):
    return [] if items is None else items.split(";")


@udf(input_types=[DataTypes.ARRAY(DataTypes.STRING())], result_type=DataTypes.INT())
def item_count(items):
    return None if items is None else len(items)


@udf(result_type=DataTypes.MAP(DataTypes.STRING(), DataTypes.BIGINT()))
def item_counts(items):
    if items is None:
        return None
    counts = {}
    for item in items.split(";"):
        counts[item] = counts.get(item, 0) + 1
    return counts


@udf(result_type=DataTypes.ROW([DataTypes.FIELD("id", DataTypes.BIGINT()),
                                DataTypes.FIELD("who", DataTypes.STRING())]))
def order_row(order_id, name):
    return Row(id=order_id, who=name)


@udf(input_types=["ROW<id BIGINT, who STRING>"], result_type="STRING")
def row_name(row):
    return None if row.who is None else "%s#%d" % (row.who, row.id)


@udf(input_types=[DataTypes.DATE()], result_type=DataTypes.DATE())
def next_day(day):
    return None if day is None else day + datetime.timedelta(days=1)


@udf(input_types=[DataTypes.DATE()], result_type=DataTypes.TIMESTAMP(3))
def midnight(day):
    return None if day is None else datetime.datetime.combine(day, datetime.time(0, 0))


@udf(result_type=DataTypes.BOOLEAN())
def big_spender(amount):
    return None if amount is None else amount > 10


@udf(input_types=[DataTypes.DOUBLE()], result_type=DataTypes.FLOAT())
def half(amount):
    return None if amount is None else amount / 2


@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.TINYINT())
def tiny(n):
    return n - 100


@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.SMALLINT())
def small(n):
    return n * 100


@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.INT())
def as_int(n):
    return n * 1000


@udf(input_types=[DataTypes.STRING()], result_type=DataTypes.BYTES())
def blob(text):
    return None if text is None else text.encode("utf-8")[:3]


@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.TIME())
def lunch(n):
    return datetime.time(12, int(n % 60), 30, 250000)
