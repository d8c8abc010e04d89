# attack: print a lone surrogate, which UTF-8 cannot carry to the host (the call succeeds)
# expect: result:1
from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    print("before \ud800 after")
    return x
