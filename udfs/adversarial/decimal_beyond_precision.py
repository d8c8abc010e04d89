# attack: a DECIMAL(5, 2) result holding 10^37, past the runtime's own range check
# expect: bad-result
# message: row 0: 100000000000000000000000000000000000.00 does not fit DECIMAL(5, 2)
# after: tenant-corrupted
import udfbox.runtime
from udfbox import DataTypes, udf

udfbox.runtime.encode_column = lambda dt, values: [(1, 0, b"", [(10 ** 37).to_bytes(16, "little", signed=True)])]


@udf(result_type=DataTypes.DECIMAL(5, 2))
def attack(x):
    return 1
