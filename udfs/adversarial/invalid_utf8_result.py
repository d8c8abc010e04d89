# attack: a STRING result whose bytes are not UTF-8, past the runtime's own checks
# expect: bad-result
# after: tenant-corrupted
import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [(1, 0, b"", [b"\x00\x00\x00\x00\x02\x00\x00\x00", b"\xff\xfe"])]

@udf(result_type=DataTypes.STRING())
def attack(x):
    return "fine"
