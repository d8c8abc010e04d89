# attack: fork the process
# expect: exception:AttributeError
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return os.fork()
