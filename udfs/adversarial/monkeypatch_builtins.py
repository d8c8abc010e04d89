# attack: replace builtins to corrupt later calls (they only reach this tenant's own sandbox)
# expect: sandbox
import builtins
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    builtins.isinstance = lambda *args: False
    builtins.len = lambda obj: -1
    return x
