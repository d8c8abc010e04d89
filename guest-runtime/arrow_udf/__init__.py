"""The API of RisingWave's ``arrow-udf`` Python package (0.3), for UDF files written for its
server: ``from arrow_udf import udf, udtf, UdfServer``.

Decorated functions are udfbox functions (dialect ``arrow-udf``): ``udfbox serve`` speaks
RisingWave's protocol for them, and SQL and the Rust API call them like any other. Types are
arrow-udf's SQL strings, mapped onto udfbox types; STRUCT values reach the function as dicts, as
pyarrow's ``as_py()`` gives them. Without pyarrow in the sandbox, types are strings (or udfbox
``DataTypes``), not ``pyarrow.DataType`` objects.
"""

from udfbox.dialects import SHARED_NAMES, ForeignScalar, ForeignTable, Server, function_name
from udfbox.types import DataType, DataTypes, RowField

__all__ = ["UdfServer", "UserDefinedScalarFunctionWrapper", "UserDefinedTableFunctionWrapper",
           "udf", "udtf"]

DIALECT = "arrow-udf"

# arrow-udf's names (upper case) -> udfbox types.
_SIMPLE = dict(SHARED_NAMES, **{
    "UINT8": "UTINYINT", "UINT16": "USMALLINT", "UINT32": "UINT", "UINT64": "UBIGINT",
    "FLOAT32": "FLOAT", "REAL": "FLOAT",
    "FLOAT64": "DOUBLE", "DOUBLE PRECISION": "DOUBLE",
    "DECIMAL": "NUMERIC", "NUMERIC": "NUMERIC",
    "DATE32": "DATE", "DATE": "DATE",
    "TIME64": "TIME", "TIME": "TIME", "TIME WITHOUT TIME ZONE": "TIME",
    "TIMESTAMP": "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "STRING": "STRING", "VARCHAR": "STRING", "LARGE_STRING": "LARGE_STRING",
    "JSON": "JSON", "JSONB": "JSON",
    "BINARY": "BYTES", "BYTEA": "BYTES", "LARGE_BINARY": "LARGE_BYTES",
})
# Spellings other SQL dialects use that arrow-udf does not accept, with what it expects.
_HINTS = {"FLOAT": "FLOAT32 or REAL", "DOUBLE": "FLOAT64 or DOUBLE PRECISION",
          "BYTES": "BINARY or BYTEA", "TEXT": "VARCHAR or STRING"}


class _TypeError(ValueError):
    pass


def _struct_fields(body):
    """``a: INT, b: STRUCT<c: INT>`` split at the commas outside ``<>``."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(body):
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    if body[start:].strip():
        parts.append(body[start:])
    return parts


def _parse(text, depth=0):
    if depth > 32:
        raise _TypeError("types nest too deep")
    t = " ".join(text.split()).upper()
    if t.endswith("[]"):
        return DataTypes.ARRAY(_parse(text.rstrip()[:-2], depth + 1))
    if t.startswith("STRUCT"):
        stripped = text.strip()
        if not (stripped[6:].lstrip().startswith("<") and stripped.endswith(">")):
            raise _TypeError("a STRUCT is written STRUCT<name: type, ...>")
        body = stripped[stripped.index("<") + 1:-1]
        fields = []
        for part in _struct_fields(body):
            if ":" not in part:
                raise _TypeError("STRUCT field %r has no ': type'" % part.strip())
            name, field_type = part.split(":", 1)
            fields.append(RowField(name.strip(), _parse(field_type, depth + 1)))
        if not fields:
            raise _TypeError("a STRUCT needs at least one field")
        return DataTypes.ROW(fields)
    if t in _SIMPLE:
        return DataType(_SIMPLE[t])
    if t.startswith(("DECIMAL(", "NUMERIC(")) and t.endswith(")"):
        args = [a.strip() for a in t[8:-1].split(",")]
        if len(args) not in (1, 2) or not all(a.isdigit() for a in args):
            raise _TypeError("DECIMAL takes (precision, scale)")
        precision, scale = int(args[0]), int(args[1]) if len(args) == 2 else 0
        return DataTypes.DECIMAL(precision, scale)
    if t.startswith("INTERVAL"):
        return DataType("INTERVAL")
    hint = _HINTS.get(t)
    raise _TypeError("unsupported type" + (" (arrow-udf spells it %s)" % hint if hint else ""))


def _data_type(value, function, what):
    """A udfbox type for arrow-udf type ``value``; errors name the type and the function."""
    if isinstance(value, DataType):
        return value
    if not isinstance(value, str):
        raise TypeError("arrow-udf function %s: %s %r is not a type string (pyarrow types are not "
                        "available in udfbox: write the SQL name, e.g. 'INT')" % (function, what, value))
    try:
        return _parse(value)
    except (_TypeError, ValueError) as exc:
        raise ValueError("arrow-udf function %s: %s %r: %s" % (function, what, value, exc)) from None


def _types(values, function, what):
    values = values if isinstance(values, list) else [values]
    return [_data_type(v, function, what) for v in values]


def _as_dict(names, values):
    return dict(zip(names, values))


def _label(func, name):
    return name or getattr(func, "__name__", None) or type(func).__name__


class UserDefinedScalarFunctionWrapper(ForeignScalar):
    """What ``@udf`` makes: a udfbox scalar function with arrow-udf's conventions.

    ``batch=True``: the function takes whole columns (lists) and returns a list.
    ``io_threads``: arrow-udf runs rows on that many threads for I/O-bound functions; a sandboxed
    function does no I/O, so rows run one after another (results are the same)."""

    def __init__(self, func, input_types, result_type, name=None, io_threads=None, batch=False):
        label = _label(func, name)
        if io_threads is not None and (isinstance(io_threads, bool) or not isinstance(io_threads, int)):
            raise TypeError("arrow-udf function %s: io_threads must be an int, got %r" % (label, io_threads))
        super().__init__(func, _types(input_types, label, "input type"),
                         _data_type(result_type, label, "result type"), name, DIALECT, _as_dict,
                         batch=bool(batch))


def _single_rows(produced):
    """Rows of a table function with one result type: each value yielded is one row."""
    if produced is None:
        return
    for value in produced:
        yield (value,)


def _tuple_rows(produced):
    """Rows of a table function with a list of result types: each item yielded is a row."""
    if produced is None:
        return
    for row in produced:
        if isinstance(row, (str, bytes, dict)) or not hasattr(row, "__iter__"):
            raise TypeError("a table function with a list of result types yields rows (tuples), "
                            "got %s" % type(row).__name__)
        else:
            yield tuple(row)


class UserDefinedTableFunctionWrapper(ForeignTable):
    """What ``@udtf`` makes: a table function yielding one value per row (one result type) or
    one tuple per row (a list of result types).

    As in arrow-udf, the one column of a single result type is named after the function, and a
    list of result types makes columns ``f0``, ``f1``, ... (arrow-udf: a struct of them), so the
    two forms stay apart in the function's row type."""

    def __init__(self, func, input_types, result_types, name=None):
        label = _label(func, name)
        listed = isinstance(result_types, list)
        columns = _types(result_types, label, "result type")
        if not columns:
            raise ValueError("arrow-udf function %s: result_types is empty" % label)
        names = None if listed else [function_name(func, name) or "f0"]
        super().__init__(func, _types(input_types, label, "input type"), columns, names, name,
                         DIALECT, _as_dict, _tuple_rows if listed else _single_rows)


def udf(input_types, result_type, name=None, io_threads=None, batch=False):
    """``@udf(input_types=['INT', 'INT'], result_type='INT')``: a scalar function."""
    return lambda f: UserDefinedScalarFunctionWrapper(f, input_types, result_type, name,
                                                      io_threads=io_threads, batch=batch)


def udtf(input_types, result_types, name=None):
    """``@udtf(input_types='INT', result_types='INT')``: a table function (a generator)."""
    return lambda f: UserDefinedTableFunctionWrapper(f, input_types, result_types, name)


class UdfServer(Server):
    """arrow-udf's server. In udfbox, ``udfbox serve --udf FILE`` serves the file's functions
    over RisingWave's protocol; this class only records ``add_function`` calls, and ``serve()``
    returns at once."""
