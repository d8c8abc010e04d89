from udfbox.data_view import _RemovableIterator as RemovableConcatIterator

__all__ = ["RemovableConcatIterator"]
