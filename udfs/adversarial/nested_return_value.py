# attack: return a value nested 100,000 deep where ARRAY<BIGINT> is declared
# expect: stack
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.ARRAY(DataTypes.BIGINT()))
def attack(x):
    nested = [x]
    for _ in range(100_000):
        nested = [nested]
    return nested
