# attack: unbounded Python recursion
# expect: exception:RecursionError
from udfbox import DataTypes, udf

def dive(n):
    return dive(n + 1) + 1

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return dive(x)
