from udfbox.row import Row
from udfbox.types import DataType, DataTypes, RowField

__all__ = ["DataType", "DataTypes", "Row", "RowField"]
