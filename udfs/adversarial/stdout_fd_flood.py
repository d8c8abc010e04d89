# attack: write 10 MB straight to file descriptor 1, around sys.stdout
# expect: result:1
# (stdout is the sandbox's result stream: the host holds what one call writes, up to the memory
# limit, and forwards at most 64 KiB of it as output; the harness bounds the log.)
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    for _ in range(1000):
        os.write(1, b"x" * 10_000)
    return x
