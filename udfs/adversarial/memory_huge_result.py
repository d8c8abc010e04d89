# attack: return a 300 MB string as the result
# expect: memory
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return "x" * 300_000_000
