"""``Series``: the column a vectorized (``func_type="pandas"``) UDF receives.

A small pandas-like column that needs no pandas, so a vectorized UDF behaves the same in the
sandbox and natively. Arithmetic and comparisons are elementwise, with a scalar or another column
of the same length; ``None`` (SQL NULL) in either operand gives ``None``.
"""

import operator

__all__ = ["DataFrame", "Series", "column"]


def _binary(op, reflected=False):
    def method(self, other):
        if isinstance(other, Series):
            if len(other) != len(self._values):
                raise ValueError("cannot combine columns of lengths %d and %d"
                                 % (len(self._values), len(other)))
            pairs = zip(other._values, self._values) if reflected else zip(self._values, other._values)
            return Series([None if a is None or b is None else op(a, b) for a, b in pairs])
        if other is None:
            return Series([None] * len(self._values))
        if reflected:
            return Series([None if a is None else op(other, a) for a in self._values])
        return Series([None if a is None else op(a, other) for a in self._values])
    return method


def _unary(op):
    def method(self):
        return Series([None if a is None else op(a) for a in self._values])
    return method


class _Accessor:
    """``s.str.upper()``, ``s.str.len()``, ``s.dt.year``: a method or attribute of every value,
    NULL staying NULL (pandas' ``.str`` and ``.dt`` accessors, for the common cases)."""

    __slots__ = ("_values", "_kind")

    _EXTRA = {
        "len": len,
        "contains": lambda v, pattern, regex=False: (
            __import__("re").search(pattern, v) is not None if regex else pattern in v),
        "slice": lambda v, start=None, stop=None, step=None: v[start:stop:step],
        "get": lambda v, i: v[i] if -len(v) <= i < len(v) else None,
    }

    def __init__(self, values, kind):
        self._values = values
        self._kind = kind

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._values
        extra = self._EXTRA.get(name) if self._kind == "str" else None
        if extra is not None:
            return lambda *args, **kwargs: Series(
                [None if v is None else extra(v, *args, **kwargs) for v in values])
        sample = next((v for v in values if v is not None), None)
        attribute = getattr(sample, name, None) if sample is not None else None
        if sample is not None and not callable(attribute):
            return Series([None if v is None else getattr(v, name) for v in values])

        def method(*args, **kwargs):
            return Series([None if v is None else getattr(v, name)(*args, **kwargs) for v in values])
        return method


class Series:
    __slots__ = ("_values",)

    def __init__(self, values=()):
        self._values = list(values)

    # container protocol
    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Series(self._values[index])
        if isinstance(index, Series):  # boolean mask
            return Series([v for v, keep in zip(self._values, index._values) if keep])
        return self._values[index]

    def __repr__(self):
        return "Series(%r)" % (self._values,)

    def __bool__(self):
        raise ValueError("the truth value of a Series is ambiguous; use .any() or .all()")

    __hash__ = None

    @property
    def size(self):
        return len(self._values)

    @property
    def values(self):
        return list(self._values)

    def tolist(self):
        return list(self._values)

    to_list = tolist

    # elementwise operators
    __add__ = _binary(operator.add)
    __radd__ = _binary(operator.add, True)
    __sub__ = _binary(operator.sub)
    __rsub__ = _binary(operator.sub, True)
    __mul__ = _binary(operator.mul)
    __rmul__ = _binary(operator.mul, True)
    __truediv__ = _binary(operator.truediv)
    __rtruediv__ = _binary(operator.truediv, True)
    __floordiv__ = _binary(operator.floordiv)
    __rfloordiv__ = _binary(operator.floordiv, True)
    __mod__ = _binary(operator.mod)
    __rmod__ = _binary(operator.mod, True)
    __pow__ = _binary(operator.pow)
    __rpow__ = _binary(operator.pow, True)
    __and__ = _binary(operator.and_)
    __rand__ = _binary(operator.and_, True)
    __or__ = _binary(operator.or_)
    __ror__ = _binary(operator.or_, True)
    __xor__ = _binary(operator.xor)
    __rxor__ = _binary(operator.xor, True)
    __eq__ = _binary(operator.eq)
    __ne__ = _binary(operator.ne)
    __lt__ = _binary(operator.lt)
    __le__ = _binary(operator.le)
    __gt__ = _binary(operator.gt)
    __ge__ = _binary(operator.ge)
    __neg__ = _unary(operator.neg)
    __pos__ = _unary(operator.pos)
    __abs__ = _unary(abs)

    def __invert__(self):
        return Series([None if a is None else (not a if isinstance(a, bool) else ~a)
                       for a in self._values])

    # pandas-style helpers
    @property
    def str(self):
        return _Accessor(self._values, "str")

    @property
    def dt(self):
        return _Accessor(self._values, "dt")

    def abs(self):
        return abs(self)

    def isin(self, values):
        values = list(values)
        return Series([None if v is None else v in values for v in self._values])

    def between(self, left, right):
        return Series([None if v is None else left <= v <= right for v in self._values])

    def clip(self, lower=None, upper=None):
        def clip_one(v):
            if lower is not None and v < lower:
                return lower
            if upper is not None and v > upper:
                return upper
            return v
        return Series([None if v is None else clip_one(v) for v in self._values])

    def head(self, n=5):
        return Series(self._values[:n])

    def copy(self):
        return Series(self._values)

    def apply(self, func):
        return Series([func(v) for v in self._values])

    def map(self, func, na_action=None):
        if na_action == "ignore":
            return Series([None if v is None else func(v) for v in self._values])
        return Series([func(v) for v in self._values])

    def isna(self):
        return Series([v is None for v in self._values])

    isnull = isna

    def notna(self):
        return Series([v is not None for v in self._values])

    notnull = notna

    def fillna(self, value):
        return Series([value if v is None else v for v in self._values])

    def astype(self, kind):
        return Series([None if v is None else kind(v) for v in self._values])

    def round(self, digits=0):
        return Series([None if v is None else round(v, digits) for v in self._values])

    def where(self, cond, other=None):
        return Series([v if c else (other._values[i] if isinstance(other, Series) else other)
                       for i, (v, c) in enumerate(zip(self._values, cond))])

    def _present(self):
        return [v for v in self._values if v is not None]

    def sum(self):
        return sum(self._present())

    def count(self):
        return len(self._present())

    def mean(self):
        present = self._present()
        return sum(present) / len(present) if present else None

    def min(self):
        present = self._present()
        return min(present) if present else None

    def max(self):
        present = self._present()
        return max(present) if present else None

    def std(self, ddof=1):
        present = self._present()
        if len(present) <= ddof:
            return None
        mean = sum(present) / len(present)
        return (sum((v - mean) ** 2 for v in present) / (len(present) - ddof)) ** 0.5

    def any(self):
        return any(self._present())

    def all(self):
        return all(self._present())


class DataFrame:
    """The column a vectorized function receives for a ROW argument, as PyFlink passes it: a
    ``pandas.DataFrame``-like table whose columns are the row's fields (``df.b``, ``df["b"]``).
    A NULL row has NULL in every field."""

    __slots__ = ("_columns",)

    def __init__(self, data=None, columns=None):
        if isinstance(data, dict):
            self._columns = {str(k): v if isinstance(v, Series) else Series(v) for k, v in data.items()}
        elif data is None:
            self._columns = {name: Series() for name in columns or ()}
        else:
            rows = [tuple(r) for r in data]
            names = list(columns) if columns is not None else [str(i) for i in range(len(rows[0]) if rows else 0)]
            self._columns = {n: Series([r[i] for r in rows]) for i, n in enumerate(names)}
        lengths = {len(c) for c in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError("all columns of a DataFrame must have the same length")

    @classmethod
    def _of_rows(cls, rows):
        """The table of a column of ``Row`` values (``None`` for a NULL row)."""
        sample = next((r for r in rows if r is not None), None)
        names = sample._fields if sample is not None and sample._fields is not None else \
            ["f%d" % i for i in range(len(sample) if sample is not None else 0)]
        table = cls.__new__(cls)
        table._columns = {n: Series([None if r is None else r[i] for r in rows])
                          for i, n in enumerate(names)}
        return table

    @property
    def columns(self):
        return list(self._columns)

    @property
    def shape(self):
        return (len(self), len(self._columns))

    @property
    def empty(self):
        return len(self) == 0

    def __len__(self):
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def __iter__(self):
        return iter(self._columns)

    def __contains__(self, name):
        return name in self._columns

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._columns:
                raise KeyError(key)
            return self._columns[key]
        if isinstance(key, list):
            return DataFrame({k: self[k] for k in key})
        if isinstance(key, Series):  # boolean mask
            return DataFrame({k: v[key] for k, v in self._columns.items()})
        raise NotImplementedError("DataFrame[%r] is not supported by udfbox's pandas imitation" % (key,))

    def __setitem__(self, key, value):
        self._columns[key] = value if isinstance(value, Series) else Series([value] * len(self))

    def __getattr__(self, name):
        columns = object.__getattribute__(self, "_columns")
        if name in columns:
            return columns[name]
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotImplementedError("DataFrame.%s is not supported by udfbox's pandas imitation" % name)

    def __repr__(self):
        return "DataFrame(%r)" % ({k: v.tolist() for k, v in self._columns.items()},)

    def itertuples(self, index=False, name=None):
        return iter(zip(*self._columns.values()))

    def iterrows(self):
        for i, values in enumerate(zip(*self._columns.values())):
            yield i, Series(values)

    def to_dict(self, orient="dict"):
        if orient == "list":
            return {k: v.tolist() for k, v in self._columns.items()}
        if orient == "records":
            return [dict(zip(self._columns, values)) for values in zip(*self._columns.values())]
        if orient == "dict":
            return {k: dict(enumerate(v.tolist())) for k, v in self._columns.items()}
        raise NotImplementedError("DataFrame.to_dict(orient=%r) is not supported" % (orient,))

    @property
    def values(self):
        return [list(values) for values in zip(*self._columns.values())]

    def head(self, n=5):
        return DataFrame({k: v.head(n) for k, v in self._columns.items()})

    def copy(self):
        return DataFrame(dict(self._columns))

    def apply(self, func, axis=0):
        if axis in (1, "columns"):
            return Series([func(Series(values)) for values in zip(*self._columns.values())])
        return Series([func(v) for v in self._columns.values()])

    def _reduce(self, name, *args, **kwargs):
        return Series([getattr(v, name)(*args, **kwargs) for v in self._columns.values()])

    def sum(self):
        return self._reduce("sum")

    def mean(self):
        return self._reduce("mean")

    def min(self):
        return self._reduce("min")

    def max(self):
        return self._reduce("max")

    def count(self):
        return self._reduce("count")


def column(values):
    """What a vectorized function receives for a column of ``values``: a ``DataFrame`` when they
    are rows (a ROW argument), else a ``Series``."""
    from .row import Row
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, Row):
        return DataFrame._of_rows(values)
    return Series(values)
