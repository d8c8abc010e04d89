from udfbox.row import Row
from udfbox.types import DataTypes, ListView, MapView

__all__ = ["DataTypes", "ListView", "MapView", "Row"]
