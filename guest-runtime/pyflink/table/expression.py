"""PyFlink's Table API expressions, as inert values.

udfbox runs UDFs under SQL and has no Table API, but PyFlink files build expressions at module
level (``col("a")``, ``lit(1).hours``, ``call("f", col("a"))``) next to their UDFs. Such
expressions are built here, so those files load; handing them to the Table API fails there with
udfbox's clear error (see ``docs/PYFLINK.md``).
"""

import enum

__all__ = ["Expression", "TimeIntervalUnit", "TimePointUnit", "JsonType", "JsonOnNull",
           "JsonExistsOnError", "JsonValueOnEmptyOrError", "JsonQueryWrapper",
           "JsonQueryOnEmptyOrError"]


def _text(value):
    return value._text if isinstance(value, Expression) else repr(value)


def _binary(symbol, reflected=False):
    def method(self, other):
        left, right = (_text(other), self._text) if reflected else (self._text, _text(other))
        return Expression("(%s %s %s)" % (left, symbol, right))
    return method


class Expression:
    """An expression of the Table API: any method, property, operator or call on it gives
    another expression (its text records how it was built)."""

    __slots__ = ("_text",)

    def __init__(self, text):
        object.__setattr__(self, "_text", text)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Expression("%s.%s" % (self._text, name))

    def __call__(self, *args, **kwargs):
        parts = [_text(a) for a in args] + ["%s=%s" % (k, _text(v)) for k, v in kwargs.items()]
        return Expression("%s(%s)" % (self._text, ", ".join(parts)))

    def __getitem__(self, key):
        return Expression("%s[%s]" % (self._text, _text(key)))

    def __repr__(self):
        return self._text

    __str__ = __repr__

    __add__ = _binary("+")
    __radd__ = _binary("+", True)
    __sub__ = _binary("-")
    __rsub__ = _binary("-", True)
    __mul__ = _binary("*")
    __rmul__ = _binary("*", True)
    __truediv__ = _binary("/")
    __rtruediv__ = _binary("/", True)
    __mod__ = _binary("%")
    __rmod__ = _binary("%", True)
    __pow__ = _binary("**")
    __rpow__ = _binary("**", True)
    __and__ = _binary("&")
    __rand__ = _binary("&", True)
    __or__ = _binary("|")
    __ror__ = _binary("|", True)
    __eq__ = _binary("==")
    __ne__ = _binary("!=")
    __lt__ = _binary("<")
    __le__ = _binary("<=")
    __gt__ = _binary(">")
    __ge__ = _binary(">=")

    def __neg__(self):
        return Expression("-%s" % self._text)

    def __invert__(self):
        return Expression("~%s" % self._text)

    __hash__ = object.__hash__


class TimeIntervalUnit(enum.Enum):
    YEAR = 0
    YEAR_TO_MONTH = 1
    QUARTER = 2
    MONTH = 3
    WEEK = 4
    DAY = 5
    DAY_TO_HOUR = 6
    DAY_TO_MINUTE = 7
    DAY_TO_SECOND = 8
    HOUR = 9
    SECOND = 10
    HOUR_TO_MINUTE = 11
    HOUR_TO_SECOND = 12
    MINUTE = 13
    MINUTE_TO_SECOND = 14


class TimePointUnit(enum.Enum):
    YEAR = 0
    MONTH = 1
    DAY = 2
    HOUR = 3
    MINUTE = 4
    SECOND = 5
    QUARTER = 6
    WEEK = 7
    MILLISECOND = 8
    MICROSECOND = 9


class JsonType(enum.Enum):
    VALUE = 0
    OBJECT = 1
    ARRAY = 2
    SCALAR = 3


class JsonOnNull(enum.Enum):
    NULL = 0
    ABSENT = 1


class JsonExistsOnError(enum.Enum):
    TRUE = 0
    FALSE = 1
    UNKNOWN = 2
    ERROR = 3


class JsonValueOnEmptyOrError(enum.Enum):
    NULL = 0
    ERROR = 1
    DEFAULT = 2


class JsonQueryWrapper(enum.Enum):
    WITHOUT_ARRAY = 0
    CONDITIONAL_ARRAY = 1
    UNCONDITIONAL_ARRAY = 2


class JsonQueryOnEmptyOrError(enum.Enum):
    NULL = 0
    EMPTY_ARRAY = 1
    EMPTY_OBJECT = 2
    ERROR = 3
