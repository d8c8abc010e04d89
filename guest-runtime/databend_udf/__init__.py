"""The API of Databend's ``databend-udf`` Python package (0.2), for UDF files written for its
server: ``from databend_udf import udf, UDFServer``.

Decorated functions are udfbox functions (dialect ``databend-udf``): ``udfbox serve`` speaks
Databend's protocol for them, and SQL and the Rust API call them like any other. Types are
Databend's SQL strings with its nullability rules: a top-level type is nullable unless it says
``NOT NULL``; a nested one (ARRAY element, MAP key and value, TUPLE field) is NOT NULL unless it
says ``NULL`` or ``NULLABLE(T)``. TUPLE values reach the function as tuples, MAP values as dicts,
VARIANT values parsed from JSON.
"""

import inspect
import re

from udfbox.dialects import SHARED_NAMES, ForeignScalar, ForeignTable, Server
from udfbox.types import DataType, DataTypes, RowField

__all__ = ["ConcurrencyLimitExceeded", "Headers", "QueryCancelledError", "QueryState",
           "ScalarFunction", "StageLocation", "TableFunction", "UDFServer", "udf"]

DIALECT = "databend-udf"

# databend-udf's names (upper case) -> udfbox types.
_SIMPLE = dict(SHARED_NAMES, **{
    "TINYINT UNSIGNED": "UTINYINT", "UINT8": "UTINYINT",
    "SMALLINT UNSIGNED": "USMALLINT", "UINT16": "USMALLINT",
    "INT UNSIGNED": "UINT", "INTEGER UNSIGNED": "UINT", "UINT32": "UINT",
    "BIGINT UNSIGNED": "UBIGINT", "UINT64": "UBIGINT",
    "FLOAT": "FLOAT", "FLOAT32": "FLOAT",
    "DOUBLE": "DOUBLE", "FLOAT64": "DOUBLE",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMP",
    "STRING": "LARGE_STRING", "VARCHAR": "LARGE_STRING", "CHAR": "LARGE_STRING",
    "CHARACTER": "LARGE_STRING", "TEXT": "LARGE_STRING",
    "BINARY": "LARGE_BYTES",
    "VARIANT": "JSON", "JSON": "JSON",
})
_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(\d+)|(.))")


class _Parser:
    """Databend type strings: ``INT``, ``BIGINT UNSIGNED``, ``DECIMAL(10, 2)``, ``ARRAY(T)``,
    ``MAP(K, V)``, ``TUPLE(T, ...)``, ``NULLABLE(T)``, each optionally followed by ``NULL`` or
    ``NOT NULL``."""

    def __init__(self, text):
        self.tokens = [m.group(1) or m.group(2) or m.group(3) for m in _TOKEN.finditer(text)
                       if m.group(0).strip()]
        self.pos = 0
        self.depth = 0

    def peek(self, ahead=0):
        i = self.pos + ahead
        return self.tokens[i].upper() if i < len(self.tokens) else ""

    def take(self, expected=None):
        token = self.peek()
        if expected is not None and token != expected:
            raise ValueError("expected %r, found %r" % (expected, token or "the end"))
        self.pos += 1
        return token

    def parse(self, top):
        """The next type; ``top``: at the top level (nullable by default)."""
        self.depth += 1
        if self.depth > 32:
            raise ValueError("types nest too deep")
        dt, nullable = self.base()
        if self.peek() == "NULL":
            self.take()
            nullable = True
        elif self.peek() == "NOT" and self.peek(1) == "NULL":
            self.pos += 2
            nullable = False
        elif nullable is None:
            nullable = top
        self.depth -= 1
        dt.nullable = nullable
        return dt

    def base(self):
        """A type without its NULL / NOT NULL, and its nullability when it says (NULLABLE)."""
        word = self.take()
        if not word or not word[0].isalpha():
            raise ValueError("expected a type, found %r" % (word or "the end"))
        if word == "NULLABLE":
            self.take("(")
            dt = self.parse(True)
            self.take(")")
            return dt, True
        if word == "ARRAY":
            self.take("(")
            element = self.parse(False)
            self.take(")")
            return DataTypes.ARRAY(element), None
        if word == "MAP":
            self.take("(")
            key = self.parse(False)
            self.take(",")
            value = self.parse(False)
            self.take(")")
            return DataTypes.MAP(key, value), None
        if word == "TUPLE":
            # Fields are named 1, 2, ...: Databend's own names for a tuple's elements (t.1).
            self.take("(")
            fields = [self.parse(False)]
            while self.peek() == ",":
                self.take()
                fields.append(self.parse(False))
            self.take(")")
            return DataTypes.ROW([RowField(str(i + 1), f) for i, f in enumerate(fields)]), None
        if word == "DECIMAL":
            self.take("(")
            precision = self.number()
            scale = 0
            if self.peek() == ",":
                self.take()
                scale = self.number()
            self.take(")")
            if precision > 38:
                raise ValueError("DECIMAL precision above 38 is not supported by udfbox")
            return DataTypes.DECIMAL(precision, scale), None
        if word == "VECTOR":
            raise ValueError("VECTOR is not supported by udfbox")
        if self.peek() == "UNSIGNED":
            word += " " + self.take()
        if word not in _SIMPLE:
            raise ValueError("unsupported type %s" % word)
        return DataType(_SIMPLE[word]), None

    def number(self):
        token = self.take()
        if not token.isdigit():
            raise ValueError("expected a number, found %r" % (token or "the end"))
        return int(token)


def _data_type(value, function, what):
    """A udfbox type for databend-udf type ``value``; errors name the type and the function."""
    if isinstance(value, DataType):
        return value
    if not isinstance(value, str):
        raise TypeError("databend-udf function %s: %s %r is not a type string (pyarrow types are "
                        "not available in udfbox: write the SQL name, e.g. 'INT')"
                        % (function, what, value))
    parser = _Parser(value)
    try:
        dt = parser.parse(True)
        if parser.pos != len(parser.tokens):
            raise ValueError("unexpected %r" % parser.tokens[parser.pos])
    except ValueError as exc:
        raise ValueError("databend-udf function %s: %s %r: %s" % (function, what, value, exc)) from None
    return dt


def _label(func, name):
    return name or getattr(func, "__name__", None) or type(func).__name__


def _as_tuple(names, values):
    return tuple(values)


class QueryState:
    """The state of the query a call belongs to. A sandboxed call is never cancelled midway
    (udfbox bounds it with its timeout instead)."""

    def __init__(self, context=None):
        self._cancelled = False

    def is_cancelled(self):
        return self._cancelled

    def cancel(self):
        self._cancelled = True


class QueryCancelledError(RuntimeError):
    """Raised when a query is cancelled."""


class ConcurrencyLimitExceeded(Exception):
    """Raised when ``max_concurrency`` is exceeded (udfbox limits concurrency itself)."""


class StageLocation:
    """A Databend stage argument. Stages are storage the sandbox cannot reach, so functions that
    take them are refused at load time; the class exists for files that import it."""

    def __init__(self, name, stage_name="", stage_type="", storage=None, relative_path="",
                 raw_info=None):
        self.name = name
        self.stage_name = stage_name
        self.stage_type = stage_type
        self.storage = dict(storage or {})
        self.relative_path = relative_path
        self.raw_info = dict(raw_info or {})


class Headers:
    """The request headers a function receives when its last parameter is named ``headers``.
    udfbox passes the headers it knows: none, so ``tenant`` and ``queryid`` are empty."""

    def __init__(self, headers=None, context=None):
        self.raw_headers = dict(headers or {})
        self.query_state = QueryState(context)
        self._normalized = {}
        for key, value in self.raw_headers.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            self._normalized[str(key).lower()] = [
                v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]
        self.tenant = self.get("x-databend-tenant", "") or ""
        self.queryid = self.get("x-databend-query-id", "") or ""

    def get(self, key, default=None):
        values = self._normalized.get(key.lower())
        return values[0] if values else default

    def get_all(self, key):
        return list(self._normalized.get(key.lower(), []))

    @property
    def stage_locations(self):
        return {}

    def get_stage_location(self, name):
        return None

    def require_stage_locations(self, names):
        if names:
            raise ValueError("Missing stage mapping for parameter(s): %s" % ", ".join(sorted(names)))
        return {}


def _signature(func, label, input_types, stage_refs):
    """The data parameters of ``func`` and whether it takes ``headers`` last, checked as
    databend-udf checks them."""
    try:
        parameters = [p for p in inspect.signature(func).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        parameters = None
    if stage_refs or (parameters and any(
            p.annotation is StageLocation or p.annotation == "StageLocation" for p in parameters)):
        raise ValueError("databend-udf function %s takes stage locations (stage_refs / StageLocation), "
                         "which udfbox does not support: the sandbox cannot reach Databend stages" % label)
    if parameters is None:
        return False
    headers = bool(parameters) and parameters[-1].name == "headers"
    data = len(parameters) - headers
    if data != len(input_types):
        raise ValueError("Function %s expects %d data argument(s) but %d input type(s) were provided"
                         % (label, data, len(input_types)))
    return headers


def _options(label, io_threads, max_concurrency, concurrency_timeout):
    for option, value in (("io_threads", io_threads), ("max_concurrency", max_concurrency)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError("databend-udf function %s: %s must be an int, got %r" % (label, option, value))
    if concurrency_timeout is not None and (isinstance(concurrency_timeout, bool)
                                            or not isinstance(concurrency_timeout, (int, float))):
        raise TypeError("databend-udf function %s: concurrency_timeout must be a number, got %r"
                        % (label, concurrency_timeout))


class ScalarFunction(ForeignScalar):
    """What ``@udf`` makes for a single result type.

    ``skip_null=True``: a NULL in any argument gives NULL without calling the function.
    ``batch_mode=True``: the function takes whole columns (lists) and returns a list.
    ``io_threads``, ``max_concurrency`` and ``concurrency_timeout`` tune databend-udf's server:
    in udfbox rows run one after another in the sandbox and ``udfbox serve`` bounds concurrency
    (``--max-in-flight``), so they change nothing here."""

    def __init__(self, func, input_types, result_type, name=None, stage_refs=None, io_threads=None,
                 skip_null=None, batch_mode=False, max_concurrency=None, concurrency_timeout=None):
        label = _label(func, name)
        _options(label, io_threads, max_concurrency, concurrency_timeout)
        inputs = [_data_type(t, label, "input type") for t in _listed(input_types)]
        result = _data_type(result_type, label, "result type")
        if skip_null and not result.nullable:
            raise ValueError("Return type of function %s must be nullable when skip_null is True" % label)
        extra = (Headers(),) if _signature(func, label, inputs, stage_refs) else ()
        super().__init__(func, inputs, result, name, DIALECT, _as_tuple, skip_null=bool(skip_null),
                         batch=bool(batch_mode), extra=extra)


def _listed(values):
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _result_columns(result_type, label):
    """``(names, types)`` of a table function's ``result_type``: a list of types (columns
    ``col0``, ``col1``, ...) or of ``(name, type)`` pairs."""
    names, types = [], []
    for index, item in enumerate(result_type):
        if isinstance(item, tuple) and len(item) == 2:
            name, item = item
            names.append(str(name))
        else:
            names.append("col%d" % index)
        types.append(_data_type(item, label, "result column %s" % names[-1]))
    if not types:
        raise ValueError("Table function result_type must contain at least one column")
    if len(set(names)) != len(names):
        raise ValueError("Result columns must have unique names")
    return names, types


def _is_column_mapping(mapping):
    return all(isinstance(v, (list, tuple)) for v in mapping.values())


class TableFunction(ForeignTable):
    """What ``@udf`` makes for a list of result columns: a table function. For each input row
    the function returns (or yields) rows as tuples or dicts by column name, or a dict of
    columns; ``None`` is no rows."""

    def __init__(self, func, input_types, result_type, name=None, stage_refs=None, io_threads=None,
                 skip_null=None, batch_mode=False, max_concurrency=None, concurrency_timeout=None):
        label = _label(func, name)
        if io_threads not in (None, 0, 1):
            raise ValueError("Table functions do not support io_threads > 1")
        if skip_null:
            raise ValueError("Table functions do not support skip_null semantics")
        if batch_mode:
            # Rows produced from whole columns cannot be traced back to the input row each came
            # from, which SQL's LATERAL needs.
            raise ValueError("databend-udf function %s: batch_mode table functions are not "
                             "supported by udfbox" % label)
        _options(label, io_threads, max_concurrency, concurrency_timeout)
        names, columns = _result_columns(result_type, label)
        inputs = [_data_type(t, label, "input type") for t in _listed(input_types)]
        extra = (Headers(),) if _signature(func, label, inputs, stage_refs) else ()

        def rows(produced):
            return _rows(produced, names, label)

        super().__init__(func, inputs, columns, names, name, DIALECT, _as_tuple, rows, extra=extra)


def _rows(produced, names, label):
    """The rows a table function returned for one input row, as databend-udf reads them."""
    if produced is None:
        return
    if isinstance(produced, dict):
        produced = [produced]
    elif isinstance(produced, (str, bytes)) or not hasattr(produced, "__iter__"):
        raise TypeError("Table function %s must yield records or mappings" % label)
    width = len(names)
    for item in produced:
        if isinstance(item, dict):
            if _is_column_mapping(item):
                missing = [n for n in names if n not in item]
                if missing:
                    raise ValueError("Missing expected column '%s' in column mapping" % missing[0])
                columns = [list(item[n]) for n in names]
                if len({len(c) for c in columns}) > 1:
                    raise ValueError("Column mapping contains columns of differing lengths")
                yield from zip(*columns)
                continue
            missing = [n for n in names if n not in item]
            if missing:
                raise ValueError("Missing column '%s' in table function row" % missing[0])
            yield tuple(item[n] for n in names)
        elif isinstance(item, (list, tuple)):
            if len(item) != width:
                raise ValueError("Row sequence length %d does not match expected column count %d"
                                 % (len(item), width))
            yield tuple(item)
        else:
            raise TypeError("Table function %s returned unsupported rows of type %s"
                            % (label, type(item)))


def udf(input_types, result_type, name=None, stage_refs=None, io_threads=32, skip_null=False,
        batch_mode=False, max_concurrency=None, concurrency_timeout=None):
    """``@udf(input_types=['INT', 'INT'], result_type='INT')``: a scalar function; with a list
    of result columns (types or ``(name, type)`` pairs), a table function."""
    if isinstance(result_type, (list, tuple)):
        return lambda f: TableFunction(f, input_types, result_type, name, stage_refs=stage_refs,
                                       io_threads=None, skip_null=skip_null, batch_mode=batch_mode,
                                       max_concurrency=max_concurrency,
                                       concurrency_timeout=concurrency_timeout)
    return lambda f: ScalarFunction(f, input_types, result_type, name, stage_refs=stage_refs,
                                    io_threads=io_threads, skip_null=skip_null,
                                    batch_mode=batch_mode, max_concurrency=max_concurrency,
                                    concurrency_timeout=concurrency_timeout)


class UDFServer(Server):
    """databend-udf's server. In udfbox, ``udfbox serve --udf FILE`` serves the file's functions
    over Databend's protocol (with ``builtin_healthy`` and ``builtin_echo``); this class only
    records ``add_function`` calls, and ``serve()`` returns at once."""

    def __init__(self, location="0.0.0.0:8815", metric_location=None, **kwargs):
        super().__init__(location, **kwargs)
        self._metric_location = metric_location

