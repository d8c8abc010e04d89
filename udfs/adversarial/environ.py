# attack: read the host's environment variables
# expect: result:{}
import os
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return repr(dict(os.environ))
