# attack: raise KeyboardInterrupt
# expect: exception:KeyboardInterrupt
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    raise KeyboardInterrupt
