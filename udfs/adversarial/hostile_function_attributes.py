# attack: a UDF object whose kind is an int where the host expects a string
# expect: load:TypeError
from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return x


attack.kind = 5
