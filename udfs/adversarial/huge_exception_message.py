# attack: raise an exception with a 10 MB message
# expect: exception:ValueError
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    raise ValueError("x" * 10_000_000)
