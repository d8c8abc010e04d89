# attack: read the host's command line
# expect: result:[]
import sys
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return repr(sys.argv)
