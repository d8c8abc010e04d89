"""``Row``, the value of a ROW type, shaped after ``pyflink.common.Row``."""

__all__ = ["Row"]


class Row:
    """A sequence of values with optional field names, mutable as in PyFlink.

    ``Row(1, "a")``, ``Row(id=1, name="a")`` (fields keep the order given), and
    ``Person = Row("id", "name"); Person(1, "a")`` all work as in PyFlink. Fields are read and
    written by position (``row[0] += 1``), by name (``row.name``, ``row["name"]``), or read with
    ``as_dict()``. Aggregate accumulators are often Rows mutated in place.
    """

    __slots__ = ("_fields", "_values")

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Row takes either positional values or keyword fields, not both")
        if kwargs:
            object.__setattr__(self, "_fields", list(kwargs.keys()))
            object.__setattr__(self, "_values", list(kwargs.values()))
        else:
            object.__setattr__(self, "_fields", None)
            object.__setattr__(self, "_values", list(args))

    @classmethod
    def _with_names(cls, names, values):
        row = cls(*values)
        object.__setattr__(row, "_fields", list(names))
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

        return {name: convert(v) for name, v in zip(self._fields, self._values)}

    def __call__(self, *args):
        """A Row of field names makes rows: ``Person = Row("id", "name"); Person(1, "a")``."""
        if len(args) != len(self._values):
            raise ValueError("expected %d values for fields %s, got %d"
                             % (len(self._values), ", ".join(map(str, self._values)), len(args)))
        return Row._with_names(list(self._values), args)

    def _index(self, item):
        if isinstance(item, str):
            if self._fields is None or item not in self._fields:
                raise KeyError(item)
            return self._fields.index(item)
        return item

    def __getitem__(self, item):
        index = self._index(item)
        if isinstance(index, slice):
            return Row(*self._values[index])
        return self._values[index]

    def __setitem__(self, item, value):
        self._values[self._index(item)] = value

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        fields = object.__getattribute__(self, "_fields")
        if fields is None or name not in fields:
            raise AttributeError("Row has no field %r" % name)
        return object.__getattribute__(self, "_values")[fields.index(name)]

    def __setattr__(self, name, value):
        if self._fields is None or name not in self._fields:
            raise AttributeError("Row has no field %r" % name)
        self._values[self._fields.index(name)] = value

    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __contains__(self, item):
        return item in self._values

    def __eq__(self, other):
        if isinstance(other, Row):
            return self._values == other._values and (
                self._fields is None or other._fields is None or self._fields == other._fields)
        if isinstance(other, tuple):
            return tuple(self._values) == other
        return NotImplemented

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __lt__(self, other):
        return tuple(self._values) < tuple(other)

    def __hash__(self):
        return hash(tuple(self._values))

    def __reduce__(self):
        if self._fields is not None:
            return (Row._with_names, (self._fields, tuple(self._values)))
        return (Row, tuple(self._values))

    def __repr__(self):
        if self._fields is not None:
            return "Row(%s)" % ", ".join("%s=%r" % (k, v) for k, v in zip(self._fields, self._values))
        return "<Row(%s)>" % ", ".join(repr(v) for v in self._values)
