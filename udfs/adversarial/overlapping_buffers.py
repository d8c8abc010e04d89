# attack: 48 STRING fields of a ROW whose buffers all point at one 4 MiB span (192 MiB of host text)
# expect: bad-result
# message: its buffers reference more bytes than its 4194320-byte data holds (overlapping buffers)
# after: tenant-corrupted
import struct

import udfbox.runtime
from udfbox import DataTypes, udf

SIZE = 4 << 20
FIELDS = 48
data = struct.pack("<2i", 0, SIZE) + bytes(8) + b"x" * SIZE
nodes = [(1, 0, (0, 0), 0, 0)] + [(1, 0, (0, 0), 0, 2)] * FIELDS
udfbox.runtime.pack = lambda _nodes: (nodes, [(0, 8), (16, SIZE)], data)


@udf(result_type=DataTypes.ROW([DataTypes.FIELD("f%d" % i, DataTypes.STRING()) for i in range(FIELDS)]))
def attack(x):
    return None
