"""``pyflink.table.window``: the Table API's window builders (``Tumble``, ``Slide``, ``Session``,
``Over``), building inert expressions so files that name them load. In SQL, udfbox offers
``OVER (...)`` windows; the Table API is not part of udfbox."""

from .expression import Expression

__all__ = ["Tumble", "Slide", "Session", "Over", "GroupWindow", "OverWindow"]


class GroupWindow:
    pass


class OverWindow:
    pass


class Tumble(GroupWindow):
    over = Expression("Tumble.over")


class Slide(GroupWindow):
    over = Expression("Slide.over")


class Session(GroupWindow):
    with_gap = Expression("Session.with_gap")


class Over(OverWindow):
    partition_by = Expression("Over.partition_by")
    order_by = Expression("Over.order_by")
