# attack: allocate a list of 100 million items (400 MB)
# expect: memory
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return len([x] * 100_000_000)
