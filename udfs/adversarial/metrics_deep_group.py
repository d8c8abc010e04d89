# attack: lift the runtime's limits and register a metric group nested 8,000 deep with 100 KB names (the host drops what is beyond its bounds)
# expect: result:1
import udfbox.metrics
from udfbox import DataTypes, ScalarFunction, udf

udfbox.metrics.MAX_NAME_CHARS = 10**9


class Attack(ScalarFunction):
    def open(self, function_context):
        group = function_context.get_metric_group()
        for i in range(8000):
            group = group.add_group("g%d" % i)
        self.counter = group.counter("c" * 100_000)

    def eval(self, x):
        self.counter.inc()
        return x


attack = udf(Attack(), result_type=DataTypes.BIGINT())
