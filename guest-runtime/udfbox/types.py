"""udfbox data types, shaped after ``pyflink.table.types.DataTypes``.

Every type has one canonical string form (``BIGINT``, ``DECIMAL(10, 2)``, ``ARRAY<STRING>``,
``MAP<STRING, BIGINT>``, ``ROW<`a` INT, `b` STRING NOT NULL>``). That string is what crosses the
boundary to the host, which maps it to an Arrow field (see ``host/src/types.rs``). Types are
nullable unless they say ``NOT NULL``, at any depth.
"""

import collections
import re

__all__ = ["DataType", "DataTypes", "MonthDayNano", "RowField", "parse_type", "to_data_type"]

# An INTERVAL value, as pyarrow's ``MonthDayNano``; a UDF may return any 3-tuple of ints.
MonthDayNano = collections.namedtuple("MonthDayNano", ["months", "days", "nanoseconds"])


class DataType:
    """A udfbox SQL type. ``kind`` is the canonical name of its root (``BIGINT``, ``ARRAY`` ...)."""

    __slots__ = ("kind", "nullable", "precision", "scale", "element", "key", "value", "fields")

    def __init__(self, kind, nullable=True, precision=None, scale=None, element=None,
                 key=None, value=None, fields=None):
        self.kind = kind
        self.nullable = nullable
        self.precision = precision
        self.scale = scale
        self.element = element
        self.key = key
        self.value = value
        self.fields = fields

    def not_null(self):
        copy = DataType(self.kind, False, self.precision, self.scale, self.element, self.key,
                        self.value, self.fields)
        return copy

    def nullable_(self):
        return self

    def __str__(self):
        k = self.kind
        if k == "DECIMAL":
            k = "DECIMAL(%d, %d)" % (self.precision, self.scale)
        elif k == "ARRAY":
            k = "ARRAY<%s>" % self.element
        elif k == "MAP":
            k = "MAP<%s, %s>" % (self.key, self.value)
        elif k == "ROW":
            k = "ROW<%s>" % ", ".join(
                "`%s` %s" % (f.name.replace("`", "``"), f.data_type) for f in self.fields)
        return k if self.nullable else k + " NOT NULL"

    def __repr__(self):
        return "DataTypes.%s" % self

    def __eq__(self, other):
        return isinstance(other, DataType) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))


class RowField:
    """A named field of a ROW type (``DataTypes.FIELD(name, type)``)."""

    __slots__ = ("name", "data_type", "description")

    def __init__(self, name, data_type, description=None):
        if not isinstance(name, str) or not name:
            raise TypeError("a ROW field name must be a non-empty string, got %r" % (name,))
        self.name = name
        self.data_type = to_data_type(data_type)
        self.description = description

    def __repr__(self):
        return "DataTypes.FIELD(%r, %r)" % (self.name, self.data_type)


def _check_length(name, length):
    if length is not None and (not isinstance(length, int) or length < 1):
        raise ValueError("%s length must be a positive integer, got %r" % (name, length))


class DataTypes:
    """Factory of data types, named as in PyFlink. Length and precision arguments of character,
    binary and time types are accepted for compatibility; values are stored without truncation and
    times with microsecond precision."""

    @staticmethod
    def BOOLEAN(nullable=True):
        return DataType("BOOLEAN", nullable)

    @staticmethod
    def TINYINT(nullable=True):
        return DataType("TINYINT", nullable)

    @staticmethod
    def SMALLINT(nullable=True):
        return DataType("SMALLINT", nullable)

    @staticmethod
    def INT(nullable=True):
        return DataType("INT", nullable)

    @staticmethod
    def BIGINT(nullable=True):
        return DataType("BIGINT", nullable)

    @staticmethod
    def UTINYINT(nullable=True):
        return DataType("UTINYINT", nullable)

    @staticmethod
    def USMALLINT(nullable=True):
        return DataType("USMALLINT", nullable)

    @staticmethod
    def UINT(nullable=True):
        return DataType("UINT", nullable)

    @staticmethod
    def UBIGINT(nullable=True):
        return DataType("UBIGINT", nullable)

    @staticmethod
    def FLOAT(nullable=True):
        return DataType("FLOAT", nullable)

    @staticmethod
    def DOUBLE(nullable=True):
        return DataType("DOUBLE", nullable)

    @staticmethod
    def DECIMAL(precision=10, scale=0, nullable=True):
        if not isinstance(precision, int) or not 1 <= precision <= 38:
            raise ValueError("DECIMAL precision must be between 1 and 38, got %r" % (precision,))
        if not isinstance(scale, int) or not 0 <= scale <= precision:
            raise ValueError("DECIMAL scale must be between 0 and the precision (%d), got %r"
                             % (precision, scale))
        return DataType("DECIMAL", nullable, precision=precision, scale=scale)

    @staticmethod
    def NUMERIC(nullable=True):
        """A decimal number of any precision (``decimal.Decimal``); Arrow has no such type, so
        it travels as decimal text."""
        return DataType("NUMERIC", nullable)

    @staticmethod
    def STRING(nullable=True):
        return DataType("STRING", nullable)

    @staticmethod
    def LARGE_STRING(nullable=True):
        return DataType("LARGE_STRING", nullable)

    @staticmethod
    def LARGE_BYTES(nullable=True):
        return DataType("LARGE_BYTES", nullable)

    @staticmethod
    def JSON(nullable=True):
        """A JSON value: the UDF sees it parsed (``json.loads``) and returns any value
        ``json.dumps`` takes."""
        return DataType("JSON", nullable)

    @staticmethod
    def INTERVAL(nullable=True):
        """Months, days and nanoseconds (``udfbox.MonthDayNano``), as Arrow's
        ``Interval(MonthDayNano)``."""
        return DataType("INTERVAL", nullable)

    @staticmethod
    def VARCHAR(length=None, nullable=True):
        _check_length("VARCHAR", length)
        return DataType("STRING", nullable)

    @staticmethod
    def CHAR(length=None, nullable=True):
        _check_length("CHAR", length)
        return DataType("STRING", nullable)

    @staticmethod
    def BYTES(nullable=True):
        return DataType("BYTES", nullable)

    @staticmethod
    def VARBINARY(length=None, nullable=True):
        _check_length("VARBINARY", length)
        return DataType("BYTES", nullable)

    @staticmethod
    def BINARY(length=None, nullable=True):
        _check_length("BINARY", length)
        return DataType("BYTES", nullable)

    @staticmethod
    def DATE(nullable=True):
        return DataType("DATE", nullable)

    @staticmethod
    def TIME(precision=None, nullable=True):
        return DataType("TIME", nullable)

    @staticmethod
    def TIMESTAMP(precision=None, nullable=True):
        return DataType("TIMESTAMP", nullable)

    @staticmethod
    def ARRAY(element_type, nullable=True):
        return DataType("ARRAY", nullable, element=to_data_type(element_type))

    @staticmethod
    def MAP(key_type, value_type, nullable=True):
        return DataType("MAP", nullable, key=to_data_type(key_type),
                        value=to_data_type(value_type))

    @staticmethod
    def ROW(row_fields=(), nullable=True):
        fields = list(row_fields)
        for f in fields:
            if not isinstance(f, RowField):
                raise TypeError("DataTypes.ROW takes a list of DataTypes.FIELD(...), got %r" % (f,))
        if not fields:
            raise ValueError("DataTypes.ROW needs at least one field")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError("DataTypes.ROW has duplicate field names: %s" % ", ".join(names))
        return DataType("ROW", nullable, fields=fields)

    @staticmethod
    def FIELD(name, data_type, description=None):
        return RowField(name, data_type, description)

    @staticmethod
    def TIMESTAMP_WITH_LOCAL_TIME_ZONE(precision=6, nullable=True):
        """PyFlink's instant type: udfbox's ``TIMESTAMP`` (UTC, a naive ``datetime``)."""
        return DataType("TIMESTAMP", nullable)

    TIMESTAMP_LTZ = TIMESTAMP_WITH_LOCAL_TIME_ZONE
    LOCAL_ZONED_TIMESTAMP = TIMESTAMP_WITH_LOCAL_TIME_ZONE

    @staticmethod
    def LIST_VIEW(element_type):
        """The type of a ``ListView`` accumulator field: an ARRAY of the elements."""
        return DataType("ARRAY", True, element=to_data_type(element_type))

    @staticmethod
    def MAP_VIEW(key_type, value_type):
        """The type of a ``MapView`` accumulator field: a MAP."""
        return DataType("MAP", True, key=to_data_type(key_type), value=to_data_type(value_type))


_SIMPLE = {
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN",
    "TINYINT": "TINYINT", "SMALLINT": "SMALLINT",
    "INT": "INT", "INTEGER": "INT", "BIGINT": "BIGINT",
    "UTINYINT": "UTINYINT", "USMALLINT": "USMALLINT", "UINT": "UINT", "UBIGINT": "UBIGINT",
    "FLOAT": "FLOAT", "REAL": "FLOAT", "DOUBLE": "DOUBLE",
    "STRING": "STRING", "VARCHAR": "STRING", "CHAR": "STRING",
    "BYTES": "BYTES", "VARBINARY": "BYTES", "BINARY": "BYTES",
    "LARGE_STRING": "LARGE_STRING", "LARGE_BYTES": "LARGE_BYTES",
    "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "TIMESTAMP", "INTERVAL": "INTERVAL",
    "TIMESTAMP_LTZ": "TIMESTAMP",
    "JSON": "JSON",
}


MAX_TYPE_DEPTH = 32  # as the host (host/src/types.rs)
# As the host reads it: NOT and NULL, any white space before and between them.
_NOT_NULL = re.compile(r"\s*NOT\s+NULL", re.IGNORECASE)
_LOCAL_TIME_ZONE = re.compile(r"\s+WITH\s+LOCAL\s+TIME\s+ZONE", re.IGNORECASE)


class _Parser:
    def __init__(self, text):
        self.text = text
        self.pos = 0
        self.depth = 0

    def fail(self, what):
        raise ValueError("invalid type %r: %s at position %d" % (self.text, what, self.pos))

    def skip_ws(self):
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self):
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch):
        if self.peek() != ch:
            self.fail("expected %r" % ch)
        self.pos += 1

    def word(self):
        self.skip_ws()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "_"):
            self.pos += 1
        if start == self.pos:
            self.fail("expected a name")
        return self.text[start:self.pos]

    def name(self):
        if self.peek() == "`":
            self.pos += 1
            out = []
            while True:
                if self.pos >= len(self.text):
                    self.fail("unterminated `name`")
                ch = self.text[self.pos]
                self.pos += 1
                if ch == "`":
                    if self.text[self.pos:self.pos + 1] == "`":
                        out.append("`")
                        self.pos += 1
                        continue
                    return "".join(out)
                out.append(ch)
        return self.word()

    def number(self):
        self.skip_ws()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isdigit():
            self.pos += 1
        if start == self.pos:
            self.fail("expected a number")
        return int(self.text[start:self.pos])

    def optional_args(self):
        args = []
        if self.peek() == "(":
            self.pos += 1
            args.append(self.number())
            while self.peek() == ",":
                self.pos += 1
                args.append(self.number())
            self.expect(")")
        return args

    def parse_type(self):
        self.depth += 1
        if self.depth > MAX_TYPE_DEPTH:
            self.fail("types nest at most %d deep" % MAX_TYPE_DEPTH)
        try:
            return self._parse_one()
        finally:
            self.depth -= 1

    def _parse_one(self):
        word = self.word().upper()
        if word in _SIMPLE:
            args = self.optional_args()
            if len(args) > 1:
                self.fail("%s takes at most one argument" % word)
            dt = DataType(_SIMPLE[word])
            if word == "TIMESTAMP":
                # PyFlink's `TIMESTAMP(3) WITH LOCAL TIME ZONE`: udfbox's TIMESTAMP (UTC).
                match = _LOCAL_TIME_ZONE.match(self.text, self.pos)
                if match:
                    self.pos = match.end()
        elif word == "NUMERIC" and self.peek() != "(":
            # Bare NUMERIC is arbitrary precision; NUMERIC(p, s) is a DECIMAL, as in SQL.
            dt = DataType("NUMERIC")
        elif word in ("DECIMAL", "NUMERIC", "DEC"):
            args = self.optional_args() or [10, 0]
            if len(args) == 1:
                args.append(0)
            if len(args) != 2:
                self.fail("DECIMAL takes (precision, scale)")
            dt = DataTypes.DECIMAL(*args)
        elif word == "ARRAY":
            self.expect("<")
            dt = DataType("ARRAY", element=self.parse_type())
            self.expect(">")
        elif word == "MAP":
            self.expect("<")
            key = self.parse_type()
            self.expect(",")
            value = self.parse_type()
            self.expect(">")
            dt = DataType("MAP", key=key, value=value)
        elif word == "ROW":
            self.expect("<")
            fields = [RowField(self.name(), self.parse_type())]
            while self.peek() == ",":
                self.pos += 1
                fields.append(RowField(self.name(), self.parse_type()))
            self.expect(">")
            dt = DataTypes.ROW(fields)
        else:
            self.pos -= len(word)
            self.fail("unknown type %s" % word)
        match = _NOT_NULL.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            dt.nullable = False
        return dt


def parse_type(text):
    """Parses a type string such as ``'ARRAY<DECIMAL(10, 2)>'`` (PyFlink accepts these too)."""
    parser = _Parser(text)
    dt = parser.parse_type()
    if parser.peek():
        parser.fail("unexpected text")
    return dt


def to_data_type(value):
    """Accepts a ``DataType`` or a type string and returns a ``DataType``."""
    if isinstance(value, DataType):
        return value
    if isinstance(value, str):
        return parse_type(value)
    raise TypeError("expected a DataTypes.* type or a type string, got %r" % (value,))
