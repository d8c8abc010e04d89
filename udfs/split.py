# split, the table function of the PyFlink documentation, joined to each order with Flink's
# LATERAL TABLE syntax; LEFT JOIN keeps the order without items.
# tables: orders=udfs/data/orders.csv
# query: SELECT order_id, item, length FROM orders LEFT JOIN LATERAL TABLE(split(items)) AS T(item, length) ON TRUE
#   ORDER BY order_id, item
from pyflink.table import DataTypes
from pyflink.table.udf import udtf


@udtf(result_types=[DataTypes.STRING(), DataTypes.INT()])
def split(line):
    if line is None:
        return None
    for word in line.split(";"):
        yield word, len(word)
