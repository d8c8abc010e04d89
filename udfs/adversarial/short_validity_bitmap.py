# attack: a result whose list elements claim 100 values with a 1-byte validity bitmap
# expect: bad-result
# message: the validity bitmap of a Int64 node of 100 values has 1 bytes, needs 13
# after: tenant-corrupted
import struct

import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [
    (1, 0, b"", [struct.pack("<2i", 0, 100)]),
    (100, 1, b"\x01", [bytes(800)]),
]


@udf(result_type=DataTypes.ARRAY(DataTypes.BIGINT()))
def attack(x):
    return [x]
