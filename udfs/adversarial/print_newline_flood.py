# attack: print 250,000 newlines, each of which would become one prefixed host log line (the call succeeds)
# expect: result:1
from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    print("\n" * 250_000, end="")
    return x
