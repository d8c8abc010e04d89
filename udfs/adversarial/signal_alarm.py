# attack: arm a signal to interrupt the host later
# expect: exception:AttributeError
import signal
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return signal.alarm(1)
