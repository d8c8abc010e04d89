# attack: print 20,000 lines (output is bounded; the call itself succeeds)
# expect: result:1
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    for i in range(20_000):
        print("flood", i)
    return x
