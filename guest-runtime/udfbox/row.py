"""``Row``, the value of a ROW type, shaped after ``pyflink.common.Row``."""

__all__ = ["Row"]


class Row(tuple):
    """A tuple with optional field names.

    ``Row(1, "a")``, ``Row(id=1, name="a")`` (fields keep the order given), and
    ``Person = Row("id", "name"); Person(1, "a")`` all work as in PyFlink. Fields are read by
    position (``row[0]``), by name (``row.name``, ``row["name"]``) or with ``as_dict()``.
    """

    def __new__(cls, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Row takes either positional values or keyword fields, not both")
        if kwargs:
            row = tuple.__new__(cls, list(kwargs.values()))
            row._fields = list(kwargs.keys())
            return row
        row = tuple.__new__(cls, args)
        row._fields = None
        return row

    @classmethod
    def _with_names(cls, names, values):
        row = tuple.__new__(cls, values)
        row._fields = list(names)
        return row

    def as_dict(self, recursive=False):
        if self._fields is None:
            raise TypeError("cannot convert a Row without field names to a dict")

        def convert(v):
            if recursive and isinstance(v, Row) and v._fields is not None:
                return v.as_dict(True)
            if recursive and isinstance(v, list):
                return [convert(x) for x in v]
            if recursive and isinstance(v, dict):
                return {k: convert(x) for k, x in v.items()}
            return v

        return {name: convert(v) for name, v in zip(self._fields, self)}

    def __call__(self, *args):
        """A Row of field names makes rows: ``Person = Row("id", "name"); Person(1, "a")``."""
        if len(args) != len(self):
            raise ValueError("expected %d values for fields %s, got %d"
                             % (len(self), ", ".join(map(str, self)), len(args)))
        return Row._with_names(list(self), args)

    def __getitem__(self, item):
        if isinstance(item, str):
            if self._fields is None:
                raise KeyError(item)
            try:
                return tuple.__getitem__(self, self._fields.index(item))
            except ValueError:
                raise KeyError(item) from None
        return tuple.__getitem__(self, item)

    def __getattr__(self, name):
        if name.startswith("__") or name == "_fields":
            raise AttributeError(name)
        fields = self.__dict__.get("_fields")
        if fields is None or name not in fields:
            raise AttributeError("Row has no field %r" % name)
        return tuple.__getitem__(self, fields.index(name))

    def __setattr__(self, key, value):
        if key != "_fields":
            raise RuntimeError("Row is read-only")
        self.__dict__[key] = value

    def __eq__(self, other):
        return tuple.__eq__(self, other)

    def __ne__(self, other):
        return tuple.__ne__(self, other)

    __hash__ = tuple.__hash__

    def __reduce__(self):
        if self._fields is not None:
            return (Row._with_names, (self._fields, tuple(self)))
        return (Row, tuple(self))

    def __repr__(self):
        if self._fields is not None:
            return "Row(%s)" % ", ".join("%s=%r" % (k, v) for k, v in zip(self._fields, self))
        return "<Row(%s)>" % ", ".join(repr(v) for v in self)
