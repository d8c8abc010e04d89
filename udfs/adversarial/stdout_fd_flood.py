# attack: write 10 MB straight to file descriptor 1, around sys.stdout
# expect: exception:BrokenPipeError
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    for _ in range(1000):
        os.write(1, b"x" * 10_000)
    return x
