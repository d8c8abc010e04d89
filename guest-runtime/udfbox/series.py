"""``Series`` and ``DataFrame``: what a vectorized (``func_type="pandas"``) UDF receives.

A pandas imitation that needs no pandas, so a vectorized UDF behaves the same in the sandbox and
natively. It follows pandas' semantics for what it covers, and is checked against real pandas
(``tests/clients/pandas_parity.py``): SQL NULL is pandas' missing value, so arithmetic with it
gives NULL, a comparison with it gives ``False`` (``!=`` gives ``True``), reductions skip it.
Differences that stay: the index is always the positions ``0 .. n-1`` (after filtering too),
``values`` is a list, integers with NULLs stay integers (pandas turns them into floats), and
``apply`` passes ``None`` for NULL (pandas passes ``nan`` in a numeric column). What it does not
cover raises ``NotImplementedError`` naming the method, never a wrong answer.
"""

import datetime
import math
import operator
import re

__all__ = ["DataFrame", "Series", "column"]


def _na(value):
    return value is None or (isinstance(value, float) and value != value)


def _unsupported(what):
    return NotImplementedError("%s is not supported by udfbox's pandas imitation (a vectorized "
                               "function's column); see docs/PYFLINK.md" % what)


def _by_zero_as_pandas(op):
    """``op`` (a division), giving pandas' answers for a zero divisor: ``inf``, ``-inf``, ``nan``."""
    def divide(a, b):
        try:
            return op(a, b)
        except ZeroDivisionError:
            return math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1, b)
    return divide


_divide = _by_zero_as_pandas(operator.truediv)
_floordivide = _by_zero_as_pandas(operator.floordiv)


def _modulo(a, b):
    try:
        return a % b
    except ZeroDivisionError:
        return math.nan


def _operands(self, other):
    if isinstance(other, Series):
        if len(other) != len(self._values):
            raise ValueError("cannot combine columns of lengths %d and %d"
                             % (len(self._values), len(other)))
        return other._values
    if isinstance(other, (list, tuple)):
        if len(other) != len(self._values):
            raise ValueError("Lengths must match to compare")
        return list(other)
    return [other] * len(self._values)


def _arithmetic(op, reflected=False):
    """Elementwise; a missing value on either side gives a missing value."""
    def method(self, other):
        pairs = zip(_operands(self, other), self._values) if reflected else zip(self._values, _operands(self, other))
        return Series([None if _na(a) or _na(b) else op(a, b) for a, b in pairs])
    return method


def _comparison(op, missing):
    """Elementwise; a missing value on either side gives ``missing`` (pandas: ``False``, or
    ``True`` for ``!=``)."""
    def method(self, other):
        return Series([missing if _na(a) or _na(b) else bool(op(a, b))
                       for a, b in zip(self._values, _operands(self, other))])
    return method


def _logical(op, reflected=False):
    """``&``, ``|``, ``^``: a missing value counts as ``False``."""
    def method(self, other):
        values = [False if _na(v) else v for v in _operands(self, other)]
        mine = [False if _na(v) else v for v in self._values]
        pairs = zip(values, mine) if reflected else zip(mine, values)
        return Series([op(a, b) for a, b in pairs])
    return method


def _each(values, func):
    return Series([None if _na(v) else func(v) for v in values])


class _StrAccessor:
    """``s.str``: string methods of every value, a missing value staying missing; ``s.str[i]``
    and ``s.str[a:b]`` index each value (a string, or the list ``str.split`` made)."""

    __slots__ = ("_values",)

    def __init__(self, values):
        self._values = values

    def __getitem__(self, key):
        if isinstance(key, slice):
            return _each(self._values, lambda v: v[key])
        return _each(self._values, lambda v: v[key] if -len(v) <= key < len(v) else None)

    def get(self, i):
        return self[i]

    def slice(self, start=None, stop=None, step=None):
        return self[start:stop:step]

    def len(self):
        return _each(self._values, len)

    def split(self, pat=None, n=-1, expand=False, regex=None):
        if expand:
            raise _unsupported("Series.str.split(expand=True)")
        if regex or (regex is None and pat is not None and len(pat) > 1):
            return _each(self._values, lambda v: re.split(pat, v, maxsplit=max(n, 0)))
        return _each(self._values, lambda v: v.split(pat, n))

    def rsplit(self, pat=None, n=-1, expand=False):
        if expand:
            raise _unsupported("Series.str.rsplit(expand=True)")
        return _each(self._values, lambda v: v.rsplit(pat, n))

    def contains(self, pat, case=True, flags=0, na=None, regex=True):
        if not case:
            flags |= re.IGNORECASE
        if regex:
            compiled = re.compile(pat, flags)
            test = lambda v: compiled.search(v) is not None  # noqa: E731
        elif case:
            test = lambda v: pat in v  # noqa: E731
        else:
            test = lambda v: pat.lower() in v.lower()  # noqa: E731
        return Series([na if _na(v) else test(v) for v in self._values])

    def startswith(self, pat, na=None):
        return Series([na if _na(v) else v.startswith(pat) for v in self._values])

    def endswith(self, pat, na=None):
        return Series([na if _na(v) else v.endswith(pat) for v in self._values])

    def match(self, pat, case=True, flags=0, na=None):
        compiled = re.compile(pat, flags if case else flags | re.IGNORECASE)
        return Series([na if _na(v) else compiled.match(v) is not None for v in self._values])

    def fullmatch(self, pat, case=True, flags=0, na=None):
        compiled = re.compile(pat, flags if case else flags | re.IGNORECASE)
        return Series([na if _na(v) else compiled.fullmatch(v) is not None for v in self._values])

    def replace(self, pat, repl, n=-1, case=None, flags=0, regex=False):
        if regex:
            compiled = re.compile(pat, flags if case in (None, True) else flags | re.IGNORECASE)
            return _each(self._values, lambda v: compiled.sub(repl, v, count=max(n, 0)))
        return _each(self._values, lambda v: v.replace(pat, repl, n))

    def strip(self, to_strip=None):
        return _each(self._values, lambda v: v.strip(to_strip))

    def lstrip(self, to_strip=None):
        return _each(self._values, lambda v: v.lstrip(to_strip))

    def rstrip(self, to_strip=None):
        return _each(self._values, lambda v: v.rstrip(to_strip))

    def find(self, sub, start=0, end=None):
        return _each(self._values, lambda v: v.find(sub, start, end))

    def count(self, pat, flags=0):
        compiled = re.compile(pat, flags)
        return _each(self._values, lambda v: len(compiled.findall(v)))

    def pad(self, width, side="left", fillchar=" "):
        justify = {"left": str.rjust, "right": str.ljust, "both": str.center}[side]
        return _each(self._values, lambda v: justify(v, width, fillchar))

    def zfill(self, width):
        return _each(self._values, lambda v: v.zfill(width))

    def join(self, sep):
        return _each(self._values, lambda v: sep.join(v))

    def cat(self, others=None, sep=None, na_rep=None):
        if others is not None:
            raise _unsupported("Series.str.cat(others)")
        present = [v if not _na(v) else na_rep for v in self._values]
        return (sep or "").join(v for v in present if v is not None)

    def repeat(self, repeats):
        return _each(self._values, lambda v: v * repeats)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _STR_METHODS:
            method = getattr(str, name)
            return lambda *args, **kwargs: _each(self._values, lambda v: method(v, *args, **kwargs))
        raise _unsupported("Series.str.%s" % name)


_STR_METHODS = frozenset(["upper", "lower", "title", "capitalize", "swapcase", "casefold",
                          "isdigit", "isalpha", "isalnum", "isnumeric", "isdecimal", "isspace",
                          "islower", "isupper", "istitle", "center", "ljust", "rjust",
                          "partition", "rpartition", "rfind", "index", "rindex", "encode"])


class _DtAccessor:
    """``s.dt``: date and time fields of every value (``year``, ``month``, ``day``, ``hour`` ...),
    ``date``, ``time``, ``strftime``; a missing value stays missing."""

    __slots__ = ("_values",)

    _FIELDS = {
        "year": lambda v: v.year, "month": lambda v: v.month, "day": lambda v: v.day,
        "hour": lambda v: v.hour, "minute": lambda v: v.minute, "second": lambda v: v.second,
        "microsecond": lambda v: v.microsecond,
        "dayofweek": lambda v: v.weekday(), "day_of_week": lambda v: v.weekday(),
        "weekday": lambda v: v.weekday(),
        "dayofyear": lambda v: v.timetuple().tm_yday, "day_of_year": lambda v: v.timetuple().tm_yday,
        "quarter": lambda v: (v.month - 1) // 3 + 1,
        "days_in_month": lambda v: _days_in_month(v), "daysinmonth": lambda v: _days_in_month(v),
        "is_month_start": lambda v: v.day == 1,
        "is_month_end": lambda v: v.day == _days_in_month(v),
        "is_leap_year": lambda v: v.year % 4 == 0 and (v.year % 100 != 0 or v.year % 400 == 0),
        "date": lambda v: v.date() if isinstance(v, datetime.datetime) else v,
        "time": lambda v: v.time(),
    }

    def __init__(self, values):
        self._values = values

    def strftime(self, date_format):
        return _each(self._values, lambda v: v.strftime(date_format))

    def day_name(self):
        return _each(self._values, lambda v: v.strftime("%A"))

    def month_name(self):
        return _each(self._values, lambda v: v.strftime("%B"))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        field = self._FIELDS.get(name)
        if field is None:
            raise _unsupported("Series.dt.%s" % name)
        if name.startswith("is_"):  # a flag is False for a missing value, as in pandas
            return Series([False if _na(v) else field(v) for v in self._values])
        return _each(self._values, field)


def _days_in_month(v):
    following = datetime.date(v.year + (v.month == 12), v.month % 12 + 1, 1)
    return (following - datetime.date(v.year, v.month, 1)).days


class _Positional:
    """``s.iloc`` and ``s.iat``: positions."""

    __slots__ = ("_series", "_scalar")

    def __init__(self, series, scalar):
        self._series = series
        self._scalar = scalar

    def __getitem__(self, key):
        if self._scalar and not isinstance(key, int):
            raise ValueError("iat takes an integer position")
        return self._series._take(key)

    def __setitem__(self, key, value):
        self._series[key] = value


def _to_int(v):
    if isinstance(v, float) and (v != v or v in (math.inf, -math.inf)):
        raise ValueError("Cannot convert non-finite values (NA or inf) to integer")
    return int(v)


_CASTS = {
    "int": _to_int, "int64": _to_int, "int32": _to_int, "int16": _to_int, "int8": _to_int,
    "uint64": _to_int, "uint32": _to_int, "uint16": _to_int, "uint8": _to_int,
    "float": float, "float64": float, "float32": float, "double": float,
    "str": str, "string": str, "object": lambda v: v, "bool": bool, "boolean": bool,
}


class Series:
    __slots__ = ("_values", "name")

    def __init__(self, values=(), name=None, dtype=None):
        if isinstance(values, Series):
            values = values._values
        elif isinstance(values, dict):
            values = values.values()
        self._values = [None if _na(v) else v for v in values]
        self.name = name
        if dtype is not None:
            self._values = self.astype(dtype)._values

    # container protocol
    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __contains__(self, label):
        # As pandas: membership of the index (the positions), not of the values.
        return isinstance(label, int) and 0 <= label < len(self._values)

    def _take(self, key):
        if isinstance(key, slice):
            return Series(self._values[key])
        if isinstance(key, Series):
            key = key._values
        if isinstance(key, list):
            if len(key) == len(self._values) and all(isinstance(k, bool) for k in key):
                return Series([v for v, keep in zip(self._values, key) if keep])
            return Series([self._values[k] for k in key])
        if isinstance(key, int):
            return self._values[key]
        raise _unsupported("indexing a Series with %s" % type(key).__name__)

    def __getitem__(self, key):
        return self._take(key)

    def __setitem__(self, key, value):
        if isinstance(key, Series):
            key = key._values
        if isinstance(key, int):
            self._values[key] = None if _na(value) else value
            return
        if isinstance(key, slice):
            positions = range(len(self._values))[key]
        elif isinstance(key, list) and len(key) == len(self._values) and all(isinstance(k, bool) for k in key):
            positions = [i for i, keep in enumerate(key) if keep]
        elif isinstance(key, list):
            positions = key
        else:
            raise _unsupported("assigning to a Series with %s" % type(key).__name__)
        values = value._values if isinstance(value, Series) else None
        for n, i in enumerate(positions):
            item = values[i] if values is not None else value
            self._values[i] = None if _na(item) else item

    def __repr__(self):
        return "Series(%r)" % (self._values,)

    def __bool__(self):
        raise ValueError("The truth value of a Series is ambiguous. Use a.empty, a.bool(), "
                         "a.item(), a.any() or a.all().")

    __hash__ = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise _unsupported("Series.%s" % name)

    @property
    def size(self):
        return len(self._values)

    @property
    def shape(self):
        return (len(self._values),)

    @property
    def empty(self):
        return not self._values

    @property
    def values(self):
        return list(self._values)

    @property
    def index(self):
        return range(len(self._values))

    @property
    def iloc(self):
        return _Positional(self, False)

    @property
    def iat(self):
        return _Positional(self, True)

    loc = iloc
    at = iat

    def tolist(self):
        return list(self._values)

    to_list = tolist
    to_numpy = tolist

    def item(self):
        if len(self._values) != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self._values[0]

    # elementwise operators
    __add__ = _arithmetic(operator.add)
    __radd__ = _arithmetic(operator.add, True)
    __sub__ = _arithmetic(operator.sub)
    __rsub__ = _arithmetic(operator.sub, True)
    __mul__ = _arithmetic(operator.mul)
    __rmul__ = _arithmetic(operator.mul, True)
    __truediv__ = _arithmetic(_divide)
    __rtruediv__ = _arithmetic(_divide, True)
    __floordiv__ = _arithmetic(_floordivide)
    __rfloordiv__ = _arithmetic(_floordivide, True)
    __mod__ = _arithmetic(_modulo)
    __rmod__ = _arithmetic(_modulo, True)
    __pow__ = _arithmetic(operator.pow)
    __rpow__ = _arithmetic(operator.pow, True)
    __and__ = _logical(operator.and_)
    __rand__ = _logical(operator.and_, True)
    __or__ = _logical(operator.or_)
    __ror__ = _logical(operator.or_, True)
    __xor__ = _logical(operator.xor)
    __rxor__ = _logical(operator.xor, True)
    __eq__ = _comparison(operator.eq, False)
    __ne__ = _comparison(operator.ne, True)
    __lt__ = _comparison(operator.lt, False)
    __le__ = _comparison(operator.le, False)
    __gt__ = _comparison(operator.gt, False)
    __ge__ = _comparison(operator.ge, False)

    add = __add__
    sub = subtract = __sub__
    mul = multiply = __mul__
    div = divide = truediv = __truediv__
    floordiv = __floordiv__
    mod = __mod__
    pow = __pow__
    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__

    def __neg__(self):
        return _each(self._values, operator.neg)

    def __pos__(self):
        return _each(self._values, operator.pos)

    def __abs__(self):
        return _each(self._values, abs)

    def __invert__(self):
        return _each(self._values, lambda a: not a if isinstance(a, bool) else ~a)

    # accessors
    @property
    def str(self):
        return _StrAccessor(self._values)

    @property
    def dt(self):
        return _DtAccessor(self._values)

    # elementwise methods
    def abs(self):
        return abs(self)

    def isin(self, values):
        values = list(values)
        return Series([False if _na(v) else v in values for v in self._values])

    def between(self, left, right, inclusive="both"):
        low = operator.le if inclusive in ("both", "left") else operator.lt
        high = operator.le if inclusive in ("both", "right") else operator.lt
        return Series([False if _na(v) else low(left, v) and high(v, right) for v in self._values])

    def clip(self, lower=None, upper=None):
        def clip_one(v):
            if lower is not None and v < lower:
                return lower
            if upper is not None and v > upper:
                return upper
            return v
        return _each(self._values, clip_one)

    def round(self, decimals=0):
        return _each(self._values, lambda v: round(v, decimals))

    def apply(self, func, convert_dtype=None, args=(), **kwargs):
        return Series([func(v, *args, **kwargs) for v in self._values])

    def map(self, arg, na_action=None):
        if isinstance(arg, dict):
            return Series([None if _na(v) else arg.get(v) for v in self._values])
        if isinstance(arg, Series):
            raise _unsupported("Series.map(Series)")
        if na_action == "ignore":
            return _each(self._values, arg)
        return Series([arg(v) for v in self._values])

    def isna(self):
        return Series([_na(v) for v in self._values])

    isnull = isna

    def notna(self):
        return Series([not _na(v) for v in self._values])

    notnull = notna

    def fillna(self, value=None, method=None):
        if method is not None:
            raise _unsupported("Series.fillna(method=...); use ffill() or bfill()")
        if isinstance(value, Series):
            return Series([f if _na(v) else v for v, f in zip(self._values, value._values)])
        if isinstance(value, dict):
            return Series([value.get(i) if _na(v) else v for i, v in enumerate(self._values)])
        return Series([value if _na(v) else v for v in self._values])

    def ffill(self):
        out, last = [], None
        for v in self._values:
            last = last if _na(v) else v
            out.append(last)
        return Series(out)

    def bfill(self):
        return Series(Series(self._values[::-1]).ffill()._values[::-1])

    def dropna(self):
        return Series([v for v in self._values if not _na(v)])

    def astype(self, dtype):
        name = dtype if isinstance(dtype, str) else getattr(dtype, "__name__", None)
        cast = _CASTS.get(name.lower()) if isinstance(name, str) else None
        if cast is None:
            raise _unsupported("Series.astype(%r)" % (dtype,))
        if cast is str:
            # pandas prints a missing value in an object column as "None".
            return Series([str(v) for v in self._values])
        # pandas' nullable integers (`Int64`) keep missing values; numpy's cannot hold them.
        if cast is _to_int and not name[0].isupper() and any(_na(v) for v in self._values):
            raise ValueError("Cannot convert non-finite values (NA or inf) to integer")
        return _each(self._values, cast)

    def where(self, cond, other=None):
        keep = cond._values if isinstance(cond, Series) else list(cond)
        others = _operands(self, other)
        return Series([v if (not _na(c) and c) else o for v, c, o in zip(self._values, keep, others)])

    def mask(self, cond, other=None):
        keep = cond._values if isinstance(cond, Series) else list(cond)
        others = _operands(self, other)
        return Series([o if (not _na(c) and c) else v for v, c, o in zip(self._values, keep, others)])

    def replace(self, to_replace, value=None):
        mapping = to_replace if isinstance(to_replace, dict) else {to_replace: value}
        return Series([mapping.get(v, v) if not _na(v) else v for v in self._values])

    def _cumulative(self, op):
        out, total = [], None
        for v in self._values:
            if _na(v):
                out.append(None)
                continue
            total = v if total is None else op(total, v)
            out.append(total)
        return Series(out)

    def cumsum(self):
        return self._cumulative(operator.add)

    def cumprod(self):
        return self._cumulative(operator.mul)

    def cummax(self):
        return self._cumulative(max)

    def cummin(self):
        return self._cumulative(min)

    def shift(self, periods=1, fill_value=None):
        n = len(self._values)
        if periods >= 0:
            values = [fill_value] * min(periods, n) + self._values[:max(n - periods, 0)]
        else:
            values = self._values[-periods:] + [fill_value] * min(-periods, n)
        return Series(values)

    def diff(self, periods=1):
        return self - self.shift(periods)

    def head(self, n=5):
        return Series(self._values[:n])

    def tail(self, n=5):
        return Series(self._values[-n:] if n else [])

    def copy(self, deep=True):
        return Series(self._values, self.name)

    def reset_index(self, drop=False):
        if not drop:
            raise _unsupported("Series.reset_index(drop=False)")
        return self.copy()

    def unique(self):
        seen = []
        for v in self._values:
            if v not in seen:
                seen.append(v)
        return seen

    def sort_values(self, ascending=True, na_position="last"):
        present = sorted(self.dropna()._values, reverse=not ascending)
        missing = [None] * (len(self._values) - len(present))
        return Series(present + missing if na_position == "last" else missing + present)

    # reductions: missing values are skipped
    def _present(self):
        return [v for v in self._values if not _na(v)]

    def sum(self, skipna=True, min_count=0):
        present = self._present()
        if len(present) < min_count:
            return None
        if present and all(isinstance(v, str) for v in present):
            return "".join(present)
        return sum(present)

    def prod(self):
        return math.prod(self._present())

    product = prod

    def count(self):
        return len(self._present())

    def nunique(self, dropna=True):
        distinct = set(self._present())
        return len(distinct) + (0 if dropna or len(self._present()) == len(self._values) else 1)

    def mean(self):
        present = self._present()
        return sum(present) / len(present) if present else None

    def median(self):
        return self.quantile(0.5)

    def quantile(self, q=0.5):
        if isinstance(q, (list, tuple)):
            return Series([self.quantile(x) for x in q])
        present = sorted(self._present())
        if not present:
            return None
        position = q * (len(present) - 1)
        below = math.floor(position)
        above = min(below + 1, len(present) - 1)
        return float(present[below] + (present[above] - present[below]) * (position - below))

    def var(self, ddof=1):
        present = self._present()
        if len(present) <= ddof:
            return None
        mean = sum(present) / len(present)
        return sum((v - mean) ** 2 for v in present) / (len(present) - ddof)

    def std(self, ddof=1):
        variance = self.var(ddof)
        return None if variance is None else variance ** 0.5

    def min(self):
        present = self._present()
        return min(present) if present else None

    def max(self):
        present = self._present()
        return max(present) if present else None

    def idxmin(self):
        present = [i for i, v in enumerate(self._values) if not _na(v)]
        return min(present, key=lambda i: self._values[i]) if present else None

    def idxmax(self):
        # The first position of the largest value, as pandas.
        present = [i for i, v in enumerate(self._values) if not _na(v)]
        return max(present, key=lambda i: self._values[i]) if present else None

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


# The pandas module when vectorized functions get real pandas objects (process mode, where the
# machine's CPython runs the functions and has pandas; see `use_real_pandas`), else None.
_PANDAS = None


def use_real_pandas():
    """From now on, vectorized functions get ``pandas.Series``/``DataFrame`` if pandas imports
    (PyFlink's exact semantics). Returns whether it does."""
    global _PANDAS
    try:
        import pandas
    except ImportError:
        return False
    _PANDAS = pandas
    return True


def column(values):
    """What a vectorized function receives for a column of ``values``: a ``DataFrame`` when they
    are rows (a ROW argument), else a ``Series``; pandas' own when in use."""
    from .row import Row
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, Row):
        table = DataFrame._of_rows(values)
        if _PANDAS is not None:
            return _PANDAS.DataFrame({name: table[name].tolist() for name in table.columns})
        return table
    if _PANDAS is not None:
        return _PANDAS.Series(values, dtype=None if values else object)
    return Series(values)


def plain(value):
    """A vectorized function's result as plain Python values: pandas' and numpy's scalars become
    Python's, a missing value (``NaN``, ``NaT``, ``NA``) ``None``, a column or table a list (of
    tuples for a table)."""
    if _PANDAS is None:
        return value
    if isinstance(value, _PANDAS.DataFrame):
        return [tuple(plain(v) for v in row) for row in value.itertuples(index=False)]
    if isinstance(value, _PANDAS.Series) or type(value).__name__ == "ndarray":
        return [plain(v) for v in value.tolist()]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, _PANDAS.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, _PANDAS.Timedelta):
        return value.to_pytimedelta()
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    try:
        if _PANDAS.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    return value
