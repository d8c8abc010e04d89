# attack: ctypes, to poke at raw memory
# expect: exception:ModuleNotFoundError
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    import ctypes
    return ctypes.string_at(0, 16)[0]
