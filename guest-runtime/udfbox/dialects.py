"""What the ``arrow_udf`` and ``databend_udf`` API modules share: their decorated functions become
udfbox UDF objects (so a UDF file registers them as usual) that keep the library's calling
conventions: how ROW values reach the function, ``skip_null``, whole-column ``batch`` calls and
how table function rows are spelled."""

import logging

from .udf import UserDefinedScalarFunctionWrapper, UserDefinedTableFunctionWrapper, _callable_name

__all__ = ["SHARED_NAMES", "ForeignScalar", "ForeignTable", "Server", "function_name",
           "row_converter"]

# The type names arrow-udf and databend-udf both accept (upper case) -> udfbox types.
SHARED_NAMES = {
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN",
    "TINYINT": "TINYINT", "INT8": "TINYINT",
    "SMALLINT": "SMALLINT", "INT16": "SMALLINT",
    "INT": "INT", "INTEGER": "INT", "INT32": "INT",
    "BIGINT": "BIGINT", "INT64": "BIGINT",
}

_LOG = logging.getLogger("udfbox")


def function_name(func, name):
    """The name a library registers ``func`` under: ``name=``, else the function's own name (a
    lambda's ``<lambda>`` is no SQL name: then the variable it is bound to names it)."""
    if name is not None:
        return name
    own = getattr(func, "__name__", None)
    return own if isinstance(own, str) and own.isidentifier() else None


def row_converter(dt, make_row):
    """A function that turns a decoded value of type ``dt`` into what the library passes, ROW
    values (at any depth) made by ``make_row(names, values)``; ``None`` when nothing changes."""
    kind = dt.kind
    if kind == "ROW":
        names = [f.name for f in dt.fields]
        inner = [row_converter(f.data_type, make_row) for f in dt.fields]
        if not any(inner):
            return lambda row: None if row is None else make_row(names, list(row))
        return lambda row: None if row is None else make_row(
            names, [v if c is None or v is None else c(v) for c, v in zip(inner, row)])
    if kind == "ARRAY":
        inner = row_converter(dt.element, make_row)
        if inner is None:
            return None
        return lambda items: None if items is None else [None if v is None else inner(v) for v in items]
    if kind == "MAP":
        key, value = row_converter(dt.key, make_row), row_converter(dt.value, make_row)
        if key is None and value is None:
            return None
        key = key or (lambda k: k)
        value = value or (lambda v: v)
        return lambda entries: None if entries is None else {
            key(k): None if v is None else value(v) for k, v in entries.items()}
    return None


def _arguments(input_types, make_row):
    """Per argument, its converter (or ``None``), and whether any converts."""
    converters = [row_converter(t, make_row) for t in input_types]
    return converters, any(converters)


def _row_call(func, converters, convert, skip_null, extra):
    """``func`` called with one row's values, as the library calls it."""
    if convert:
        pairs = converters

        def call(*args):
            if skip_null and any(a is None for a in args):
                return None
            return func(*[a if c is None or a is None else c(a) for c, a in zip(pairs, args)], *extra)
        return call
    if skip_null or extra:
        def call(*args):
            if skip_null and any(a is None for a in args):
                return None
            return func(*args, *extra)
        return call
    return func


def _batch_call(func, converters, extra):
    """``func`` called once with whole columns as Python lists (``batch=True`` /
    ``batch_mode=True``); the runtime passes columns as ``Series``."""

    def call(*columns):
        lists = []
        for c, column in zip(converters, columns):
            values = column.tolist()
            lists.append(values if c is None else [None if v is None else c(v) for v in values])
        return func(*lists, *extra)
    return call


class ForeignScalar(UserDefinedScalarFunctionWrapper):
    """A scalar function of another library's API (``dialect``). ``input_types`` and
    ``result_type`` are udfbox types already."""

    def __init__(self, func, input_types, result_type, name, dialect, make_row, skip_null=False,
                 batch=False, extra=()):
        converters, convert = _arguments(input_types, make_row)
        if batch:
            call, func_type = _batch_call(func, converters, extra), "pandas"
        else:
            call, func_type = _row_call(func, converters, convert, skip_null, extra), "general"
        self._named = func
        self.dialect = dialect
        super().__init__(call, input_types, result_type, True, function_name(func, name), func_type)
        self.func = func
        if self.explicit_name is None:
            self.name = _callable_name(func)

    def __call__(self, *args):
        """As in the library: calling the decorated object calls the function itself."""
        return self.func(*args)


class ForeignTable(UserDefinedTableFunctionWrapper):
    """A table function of another library's API. ``rows(produced)`` turns what the function
    returns for one input row into an iterable of rows, each a tuple of the result columns."""

    exact_rows = True  # rows come as tuples of the columns, never as bare values

    def __init__(self, func, input_types, result_types, column_names, name, dialect, make_row,
                 rows, extra=()):
        converters, convert = _arguments(input_types, make_row)
        inner = _row_call(func, converters, convert, False, extra)
        self._named = func
        self.dialect = dialect
        super().__init__(lambda *args: rows(inner(*args)), input_types, result_types, True,
                         function_name(func, name), column_names)
        self.func = func
        if self.explicit_name is None:
            self.name = _callable_name(func)

    def __call__(self, *args):
        return self.func(*args)


class Server:
    """The library's server class. udfbox is the server (``udfbox serve``): here constructing
    one and adding functions only records them, and ``serve()`` returns at once, so a file
    written for the library's own server loads unchanged. (Its ``if __name__ == '__main__':``
    block does not run anyway: a UDF file is not run as the main module.)"""

    def __init__(self, location="0.0.0.0:8815", **kwargs):
        self._location = location
        self._options = kwargs
        self._functions = {}

    def add_function(self, udf):
        name = getattr(udf, "name", None)
        if not isinstance(name, str):
            raise TypeError("add_function takes a decorated UDF, got %r" % (udf,))
        if name in self._functions:
            raise ValueError("Function already exists: " + name)
        self._functions[name] = udf

    def serve(self):
        _LOG.info("%s.serve() does nothing in udfbox: `udfbox serve` serves the file's functions",
                  type(self).__name__)

    def shutdown(self):
        pass
