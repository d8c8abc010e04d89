# attack: repr() of a structure nested a million deep (recursion inside C code)
# expect: stack
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    nested = []
    for _ in range(1_000_000):
        nested = [nested]
    return repr(nested)
