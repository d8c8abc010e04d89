# attack: a TIME result of -5 microseconds inside an ARRAY, past the runtime's own range check
# expect: bad-result
# message: TIME of -5 microseconds is not within a day
# after: tenant-corrupted
import struct

import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [
    (1, 0, b"", [struct.pack("<2i", 0, 2)]),
    (2, 0, b"", [struct.pack("<2q", 0, -5)]),
]


@udf(result_type=DataTypes.ARRAY(DataTypes.TIME()))
def attack(x):
    return None
