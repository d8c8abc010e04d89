# attack: register a metric under a name with a lone surrogate
# expect: exception:ValueError
from udfbox import DataTypes, ScalarFunction, udf


class Attack(ScalarFunction):
    def open(self, function_context):
        function_context.get_metric_group().counter("bad\ud800")

    def eval(self, x):
        return x


attack = udf(Attack(), result_type=DataTypes.BIGINT())
