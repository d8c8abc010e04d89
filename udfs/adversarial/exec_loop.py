# attack: exec() of code that never ends
# expect: timeout
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    exec("while True: pass")
