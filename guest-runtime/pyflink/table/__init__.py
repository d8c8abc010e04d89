from udfbox.row import Row
from udfbox.types import DataTypes

__all__ = ["DataTypes", "Row"]
