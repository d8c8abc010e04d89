# attack: abort the interpreter from C (os.abort)
# expect: sandbox
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    os.abort()
