# attack: rebuild the time module to get an untouched sleep, then sleep
# expect: timeout
import importlib
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    fresh_time = importlib.reload(__import__("time"))
    fresh_time.sleep(3600)
    return x
