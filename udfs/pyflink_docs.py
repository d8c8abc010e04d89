# The aggregate and table-aggregate examples of PyFlink's documentation ("User-defined
# Functions" > "Aggregate Functions" / "Table Aggregate Functions"), unchanged but for the
# Table API code that drives them there (udfbox queries them with SQL instead).
# tables: orders=udfs/data/orders.csv
# query: SELECT person_id, weighted_avg(order_id, person_id) AS avg, cardinality(top2(order_id)) AS tops
#   FROM orders GROUP BY person_id ORDER BY person_id
from pyflink.common import Row
from pyflink.table import AggregateFunction, DataTypes, TableEnvironment, EnvironmentSettings
from pyflink.table.udf import udaf, udtaf, TableAggregateFunction


class WeightedAvg(AggregateFunction):

    def create_accumulator(self):
        # Row(sum, count)
        return Row(0, 0)

    def get_value(self, accumulator: Row) -> float:
        if accumulator[1] == 0:
            return 0
        else:
            return accumulator[0] / accumulator[1]

    def accumulate(self, accumulator: Row, value, weight):
        accumulator[0] += value * weight
        accumulator[1] += weight

    def retract(self, accumulator: Row, value, weight):
        accumulator[0] -= value * weight
        accumulator[1] -= weight

    def get_result_type(self):
        return DataTypes.FLOAT()

    def get_accumulator_type(self):
        return DataTypes.ROW([
            DataTypes.FIELD("f0", DataTypes.BIGINT()),
            DataTypes.FIELD("f1", DataTypes.BIGINT())])


weighted_avg = udaf(WeightedAvg())


class Top2(TableAggregateFunction):

    def emit_value(self, accumulator):
        yield Row(accumulator[0])
        yield Row(accumulator[1])

    def create_accumulator(self):
        return [None, None]

    def accumulate(self, accumulator, row):
        if row is not None:
            if accumulator[0] is None or row > accumulator[0]:
                accumulator[1] = accumulator[0]
                accumulator[0] = row
            elif accumulator[1] is None or row > accumulator[1]:
                accumulator[1] = row

    def get_accumulator_type(self):
        return DataTypes.ARRAY(DataTypes.BIGINT())

    def get_result_type(self):
        return DataTypes.ROW(
            [DataTypes.FIELD("a", DataTypes.BIGINT())])


top2 = udtaf(Top2())
