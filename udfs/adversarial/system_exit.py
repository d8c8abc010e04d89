# attack: sys.exit() to end the host process
# expect: exception:SystemExit
import sys
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    sys.exit(0)
