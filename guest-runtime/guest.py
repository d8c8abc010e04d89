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

# `/deps` exists only when the host granted a read-only dependency directory (`--deps`).
_RUNTIME = _runtime.Runtime(deps_dir="/deps")
_KINDS = {
    "syntax": wit.ErrorKind.SYNTAX,
    "load": wit.ErrorKind.LOAD,
    "exception": wit.ErrorKind.EXCEPTION,
    "bad-result": wit.ErrorKind.BAD_RESULT,
    "bad-request": wit.ErrorKind.BAD_REQUEST,
}


def _wit_error(error):
    """The error for the host. Its traceback is released here: a traceback's frames form a cycle
    with the exception, which only the cyclic GC would break, at some later call, freeing the
    values those frames hold then; a deep structure left by a hostile UDF would fail that later
    call instead of this one."""
    seen = set()
    exc = error
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__context__ or exc.__cause__
    return wit.UdfError(_KINDS[error.kind], error.function, error.row, error.exception_type,
                        error.message, error.traceback)



def _s64(n):
    return max(-(1 << 63), min((1 << 63) - 1, int(n)))


_METRIC_KINDS = {
    "counter": wit.MetricKind.COUNTER,
    "gauge": wit.MetricKind.GAUGE,
    "meter": wit.MetricKind.METER,
    "distribution": wit.MetricKind.DISTRIBUTION,
}

_OPS = {
    wit.AggregateOp.ACCUMULATE: "accumulate",
    wit.AggregateOp.RETRACT: "retract",
    wit.AggregateOp.MERGE: "merge",
}


def _column(column):
    return column.data_type, [(n.length, n.null_count, n.validity, n.buffers) for n in column.nodes]


def _columns(columns):
    return [_column(c) for c in columns]


def _packed(packed):
    type_text, nodes, spans, data = packed
    return wit.PackedColumn(
        type_text,
        [wit.PackedNode(length, null_count, wit.Span(*validity), first_buffer, count)
         for length, null_count, validity, first_buffer, count in nodes],
        [wit.Span(*span) for span in spans],
        data)


class Runtime(exports.Runtime):
    # Each method turns a UdfError into plain data, drops its frames (see `_wit_error`) and
    # raises `Err` after its `except` block, not inside it, where `Err` would keep the error as
    # its __context__.

    def load(self, filename, source, params):
        try:
            infos = _RUNTIME.load(filename, source, params)
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return [wit.FunctionInfo(*info) for info in infos]
        raise Err(failure)

    def call(self, function, num_rows, args, on_error):
        try:
            packed, failed, first = _RUNTIME.call(
                function, num_rows, _columns(args), on_error == wit.ErrorPolicy.NULL)
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return wit.CallResult(_packed(packed), failed,
                                  None if first is None else _wit_error(first), _RUNTIME.take_output())
        raise Err(failure)

    def call_table(self, function, num_rows, args):
        try:
            sources, rows = _RUNTIME.call_table(function, num_rows, _columns(args))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return wit.TableResult(_packed(sources), _packed(rows))
        raise Err(failure)

    def aggregate(self, function, op, states, groups, args):
        try:
            states = _RUNTIME.aggregate(function, _OPS[op], _column(states), _column(groups),
                                        _columns(args))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return _packed(states)
        raise Err(failure)

    def finish(self, function, states):
        try:
            values = _RUNTIME.finish(function, _column(states))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return _packed(values)
        raise Err(failure)

    def emit(self, function, states):
        try:
            sources, rows = _RUNTIME.emit(function, _column(states))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return wit.TableResult(_packed(sources), _packed(rows))
        raise Err(failure)

    def close(self):
        try:
            _RUNTIME.close()
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return
        raise Err(failure)

    def metrics(self):
        return [wit.Metric(function, group, name, _METRIC_KINDS[kind], _s64(count), float(value),
                           float(low), float(high))
                for function, group, name, kind, count, value, low, high in _RUNTIME.metrics()]

    def take_output(self):
        return _RUNTIME.take_output()


# Everything above is in the snapshot every sandbox starts from, and its pages are shared
# copy-on-write between sandboxes until written. A garbage collection walks (and so writes to)
# every tracked object; freezing moves the snapshot's objects out of the collector's reach, so an
# idle sandbox keeps only the pages it really changed (benches/memory.rs).
import gc as _gc  # noqa: E402

_gc.collect()
_gc.freeze()
