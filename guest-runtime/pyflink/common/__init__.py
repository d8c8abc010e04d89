from udfbox.row import Row

__all__ = ["Row"]
