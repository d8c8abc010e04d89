# attack: register a function under a name with a lone surrogate
# expect: load:ValueError
from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT(), name="bad\ud800")
def attack(x):
    return x
