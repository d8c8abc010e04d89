# attack: a result column with fewer rows than the batch, past the runtime's own checks
# expect: bad-result
# after: tenant-corrupted
import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [(0, 0, b"", [b""])]

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return x
