# attack: close file descriptor 1, the stream the sandbox's results leave on
# expect: sandbox
# message: standard output, which carries results, failed
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    os.close(1)
    return x
