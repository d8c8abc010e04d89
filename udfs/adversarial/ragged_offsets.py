# attack: a STRING result whose offsets buffer is not a whole number of 4-byte integers
# expect: bad-result
# message: buffer 0 of a Utf8 node of 1 values has 5 bytes, needs 8
# after: tenant-corrupted
import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [(1, 0, b"", [b"\x00\x00\x00\x00\x02", b"ab"])]


@udf(result_type=DataTypes.STRING())
def attack(x):
    return "fine"
