# attack: write to file descriptor 1 until the host must stop holding it (past the memory limit)
# expect: sandbox
# message: wrote more than 268435456 bytes to standard output in one call
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    chunk = b"x" * (1 << 20)
    for _ in range(300):
        os.write(1, chunk)
    return x
