# attack: start a thread that outlives the call
# expect: exception:RuntimeError
import threading
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    threading.Thread(target=lambda: None).start()
    return x
