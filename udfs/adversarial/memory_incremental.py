# attack: keep appending 1 MiB blocks
# expect: memory
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))
