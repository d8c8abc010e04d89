# attack: close file descriptor 1, the stream the sandbox's large results leave on, then return a large result
# expect: sandbox
# message: standard output, which carries results, failed
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    os.close(1)
    return "x" * 4096
