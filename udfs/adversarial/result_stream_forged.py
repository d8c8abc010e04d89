# attack: write bytes shaped like a result layout to file descriptor 1, the result stream, before the runtime writes the real result
# expect: result:1
# repeat: 20
import os
import struct

from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    os.write(1, struct.pack("<6I", 1, 1, 0, 1, 0, 8) + struct.pack("<q", 666) * 1000)
    return x
