# Metrics in PyFlink's shape: a counter, a gauge, a meter and a distribution, registered in
# open() through the function context; `udfbox sql --metrics` prints their values.
# tables: people=udfs/data/people.csv
# query: SELECT name, name_length(name) AS n FROM people ORDER BY id
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf


class NameLength(ScalarFunction):

    def open(self, function_context):
        group = function_context.get_metric_group().add_group("names")
        self.calls = group.counter("calls")
        self.longest = 0
        group.gauge("longest", lambda: self.longest)
        self.nulls = group.meter("nulls", time_span_in_seconds=60)
        self.lengths = group.distribution("lengths")

    def eval(self, name):
        self.calls.inc()
        if name is None:
            self.nulls.mark_event()
            return None
        self.longest = max(self.longest, len(name))
        self.lengths.update(len(name))
        return len(name)


name_length = udf(NameLength(), result_type=DataTypes.INT())
