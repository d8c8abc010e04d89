# attack: patch the runtime's result hand-over to send text that is not one byte per character (U+20AC in a result's data)
# expect: bad-result
# message: a result's bytes hold a character beyond U+00FF
# after: tenant-corrupted
import guest
from wit_world.imports import types as wit

from udfbox import DataTypes, udf

_real = guest._packed


def _beyond(packed, function):
    column = _real(packed, function)
    return wit.PackedColumn(column.data_type, column.layout, "\u20ac" * 8, 0)


guest._packed = _beyond


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return x
