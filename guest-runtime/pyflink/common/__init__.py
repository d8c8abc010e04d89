import enum

from udfbox.row import Row

__all__ = ["Row", "RowKind"]


class RowKind(enum.Enum):
    """The kind of change a row stands for in a changelog, as PyFlink names them."""
    INSERT = 0
    UPDATE_BEFORE = 1
    UPDATE_AFTER = 2
    DELETE = 3

    def __str__(self):
        return ("+I", "-U", "+U", "-D")[self.value]
