# attack: time.sleep for an hour (blocks in the host, not in wasm code)
# expect: timeout
import time
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    time.sleep(3600)
    return x
