from udfbox.data_view import DataView, ListView, MapView

__all__ = ["DataView", "ListView", "MapView"]
