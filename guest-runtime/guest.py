"""The componentize-py entry point: the WIT ``runtime`` export, a thin adapter over
``udfbox.runtime.Runtime``. Everything imported here runs at build time and is part of the
snapshot the sandbox starts from."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types as wit

from udfbox import stdlib

# Serve the pure-Python standard library from memory at run time (see udfbox/stdlib.py), and
# pre-import the modules UDFs use most, so they cost nothing when a UDF imports them.
stdlib.bundle()
for _name in ("abc", "array", "base64", "binascii", "bisect", "calendar", "collections",
              "collections.abc", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal",
              "difflib", "enum", "fractions", "functools", "hashlib", "heapq", "html", "io",
              "itertools", "json", "logging", "math", "numbers", "operator", "pickle", "pprint",
              "random", "re", "statistics", "string", "struct", "textwrap", "time", "typing",
              "unicodedata", "urllib.parse", "uuid", "zlib"):
    try:
        __import__(_name)
    except ImportError:
        pass

from udfbox import runtime as _runtime  # noqa: E402
import pyflink.common  # noqa: E402,F401  (PyFlink-compatible imports for UDF files)
import pyflink.table  # noqa: E402,F401
import pyflink.table.types  # noqa: E402,F401
import pyflink.table.udf  # noqa: E402,F401

_RUNTIME = _runtime.Runtime()
_KINDS = {
    "syntax": wit.ErrorKind.SYNTAX,
    "load": wit.ErrorKind.LOAD,
    "exception": wit.ErrorKind.EXCEPTION,
    "bad-result": wit.ErrorKind.BAD_RESULT,
    "bad-request": wit.ErrorKind.BAD_REQUEST,
}


def _err(error):
    return Err(wit.UdfError(_KINDS[error.kind], error.function, error.row, error.exception_type,
                            error.message, error.traceback))


class Runtime(exports.Runtime):
    def load(self, filename, source, params):
        try:
            infos = _RUNTIME.load(filename, source, params)
        except _runtime.UdfError as error:
            raise _err(error) from None
        return [wit.FunctionInfo(*info) for info in infos]

    def call(self, function, num_rows, args):
        try:
            type_text, nodes, spans, data = _RUNTIME.call(
                function, num_rows,
                [(c.data_type, [(n.length, n.null_count, n.validity, n.buffers) for n in c.nodes])
                 for c in args])
        except _runtime.UdfError as error:
            raise _err(error) from None
        return wit.PackedColumn(
            type_text,
            [wit.PackedNode(length, null_count, wit.Span(*validity), first, count)
             for length, null_count, validity, first, count in nodes],
            [wit.Span(*span) for span in spans],
            data)

    def close(self):
        try:
            _RUNTIME.close()
        except _runtime.UdfError as error:
            raise _err(error) from None

    def take_output(self):
        return _RUNTIME.take_output()
