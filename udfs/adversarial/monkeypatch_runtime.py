# attack: patch the udfbox runtime so that results cross the boundary malformed
# expect: bad-result
# after: tenant-corrupted
import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [(10**9, 0, b"", [b"\x00" * 8])]

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return x
