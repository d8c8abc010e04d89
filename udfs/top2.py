# Top2 from the Flink documentation: a table aggregate that keeps the two highest values and
# emits them with their rank, incrementally through emit_update_with_retract. SQL gets its rows
# per group as a list; unnest turns them into rows (see the README's "Table aggregates").
# tables: orders=udfs/data/orders.csv
# query: SELECT person_id, t['value'] AS value, t['rank'] AS rank
#   FROM (SELECT person_id, unnest(top2(order_id)) AS t FROM orders GROUP BY person_id) ORDER BY person_id, rank
from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import TableAggregateFunction, udtaf


class Top2(TableAggregateFunction):

    def create_accumulator(self):
        # [first, second, old first, old second]
        return [None, None, None, None]

    def accumulate(self, accumulator, value):
        if value is None:
            return
        if accumulator[0] is None or value > accumulator[0]:
            accumulator[1] = accumulator[0]
            accumulator[0] = value
        elif accumulator[1] is None or value > accumulator[1]:
            accumulator[1] = value

    def merge(self, accumulator, accumulators):
        for other in accumulators:
            for value in other[:2]:
                self.accumulate(accumulator, value)

    def emit_value(self, accumulator):
        if accumulator[0] is not None:
            yield Row(accumulator[0], 1)
        if accumulator[1] is not None:
            yield Row(accumulator[1], 2)

    def emit_update_with_retract(self, accumulator, out):
        if accumulator[0] != accumulator[2]:
            if accumulator[2] is not None:
                out.retract(Row(accumulator[2], 1))
            out.collect(Row(accumulator[0], 1))
            accumulator[2] = accumulator[0]
        if accumulator[1] != accumulator[3]:
            if accumulator[3] is not None:
                out.retract(Row(accumulator[3], 2))
            if accumulator[1] is not None:
                out.collect(Row(accumulator[1], 2))
            accumulator[3] = accumulator[1]


top2 = udtaf(Top2(), result_type=DataTypes.ROW([DataTypes.FIELD("value", DataTypes.BIGINT()),
                                                 DataTypes.FIELD("rank", DataTypes.INT())]))
