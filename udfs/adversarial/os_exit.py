# attack: os._exit() to end the process without cleanup
# expect: sandbox
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    os._exit(3)
