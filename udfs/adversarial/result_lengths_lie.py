# attack: patch the runtime's result hand-over to declare a megabyte on the result stream that it never wrote
# expect: bad-result
# message: bytes of results but wrote
# after: tenant-corrupted
import guest
from wit_world.imports import types as wit

from udfbox import DataTypes, udf

_real = guest._packed


def _lying(packed, function):
    column = _real(packed, function)
    return wit.PackedColumn(column.data_type, column.layout, "", len(column.data) + 1_000_000)


guest._packed = _lying


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return x
