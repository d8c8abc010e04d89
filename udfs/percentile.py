# An aggregate over a list: the accumulator keeps every value of the group, get_value picks the
# requested percentile (nearest rank), as in PyFlink's examples. Merge concatenates the lists.
# tables: orders=udfs/data/orders.csv
# query: SELECT percentile(amount, 50) AS median, percentile(amount, 100) AS top FROM orders
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf


class Percentile(AggregateFunction):

    def create_accumulator(self):
        return []

    def accumulate(self, accumulator, value, percent):
        if value is not None:
            accumulator.append((float(value), percent))

    def retract(self, accumulator, value, percent):
        if value is not None:
            accumulator.remove((float(value), percent))

    def merge(self, accumulator, accumulators):
        for other in accumulators:
            accumulator.extend(other)

    def get_value(self, accumulator):
        if not accumulator:
            return None
        values = sorted(value for value, _ in accumulator)
        percent = accumulator[0][1]
        rank = max(1, -(-percent * len(values) // 100))  # nearest rank, rounded up
        return values[int(rank) - 1]


percentile = udaf(Percentile(), result_type=DataTypes.DOUBLE(),
                  accumulator_type=DataTypes.ARRAY(DataTypes.ROW([
                      DataTypes.FIELD("value", DataTypes.DOUBLE()),
                      DataTypes.FIELD("percent", DataTypes.INT())])))
