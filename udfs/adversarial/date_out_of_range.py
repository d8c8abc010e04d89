# attack: a DATE result of i32::MAX days, which no Python date can be
# expect: bad-result
# message: row 0: DATE of 2147483647 days since 1970-01-01 is outside years 1 to 9999
# after: tenant-corrupted
import struct

import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [(1, 0, b"", [struct.pack("<i", 2 ** 31 - 1)])]


@udf(result_type=DataTypes.DATE())
def attack(x):
    return None
