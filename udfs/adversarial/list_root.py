# attack: list the root directory
# expect: exception:FileNotFoundError
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return ",".join(os.listdir("/"))
