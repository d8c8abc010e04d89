# attack: allocate 1 GiB of bytes at once
# expect: memory
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return len(b"x" * (1 << 30))
