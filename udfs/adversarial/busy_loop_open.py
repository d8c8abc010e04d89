# attack: an endless loop in open(), before the first row
# expect: timeout
from udfbox import DataTypes, ScalarFunction, udf

class Attack(ScalarFunction):
    def open(self, function_context):
        while True:
            pass

    def eval(self, x):
        return x

attack = udf(Attack(), result_type=DataTypes.BIGINT())
