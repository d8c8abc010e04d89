# attack: return an arbitrary object where a BIGINT is declared
# expect: bad-result
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return object()
