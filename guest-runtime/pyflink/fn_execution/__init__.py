"""PyFlink's runtime package: only what UDF code names (``state_impl.RemovableConcatIterator``,
the iterator a ``MapView``'s ``keys()``, ``values()`` and ``items()`` return)."""
