# attack: a TIMESTAMP field of i64::MIN microseconds in a ROW result
# expect: bad-result
# message: column `when`, row 0: TIMESTAMP of -9223372036854775808 microseconds since 1970-01-01 is outside years 1 to 9999
# after: tenant-corrupted
import struct

import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [
    (1, 0, b"", []),
    (1, 0, b"", [struct.pack("<q", -2 ** 63)]),
]


@udf(result_type=DataTypes.ROW([DataTypes.FIELD("when", DataTypes.TIMESTAMP())]))
def attack(x):
    return None
