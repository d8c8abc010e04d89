"""The componentize-py entry point: the WIT ``runtime`` export, a thin adapter over
``udfbox.runtime.Runtime``. Everything imported here runs at build time and is part of the
snapshot the sandbox starts from."""

import os as _os
import random as _random
from array import array

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
import pyflink.table.data_view  # noqa: E402,F401
import pyflink.table.expressions  # noqa: E402,F401
import pyflink.table.window  # noqa: E402,F401
import pyflink.datastream  # noqa: E402,F401
import pyflink.fn_execution.state_impl  # noqa: E402,F401
import udfbox.data_view  # noqa: E402,F401
import arrow_udf  # noqa: E402,F401  (the arrow-udf and databend-udf APIs, for their UDF files)
import databend_udf  # noqa: E402,F401

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


def _columns(flat):
    """The argument columns of a WIT ``columns`` record as the runtime reads them:
    ``[(type, [(length, null_count, validity, buffers), ...]), ...]``."""
    try:
        layout = memoryview(flat.layout).cast("I").tolist()
        data = flat.data
        columns = []
        pos = 0
        for data_type in flat.data_types:
            node_count = layout[pos]
            pos += 1
            nodes = []
            for _ in range(node_count):
                length, null_count, count, offset, size = layout[pos:pos + 5]
                pos += 5
                buffers = [data[layout[i]:layout[i] + layout[i + 1]]
                           for i in range(pos, pos + 2 * count, 2)]
                pos += 2 * count
                nodes.append((length, null_count, data[offset:offset + size], buffers))
            columns.append((data_type, nodes))
        if pos != len(layout):
            raise ValueError("%d layout values left over" % (len(layout) - pos))
    except (TypeError, ValueError, IndexError) as exc:
        raise _runtime.UdfError("bad-request", "malformed column layout: %s" % exc,
                                type(exc).__name__) from None
    return columns


def _column(flat):
    """The one column of a WIT ``columns`` record."""
    columns = _columns(flat)
    if len(columns) != 1:
        raise _runtime.UdfError("bad-request", "expected one column, got %d" % len(columns),
                                "ValueError")
    return columns[0]


def _layout(packed):
    """A column the runtime packed (``udfbox.runtime.pack``) as its type, layout and data."""
    type_text, nodes, spans, data = packed
    layout = [len(nodes)]
    for length, null_count, validity, first, count in nodes:
        layout += (length, null_count, count, validity[0], validity[1])
        for span in spans[first:first + count]:
            layout += span
    return type_text, array("I", layout).tobytes(), data


_write = _os.write


def _send(part):
    """Writes ``part`` to the host's result stream (WASI stdout: the host reads it in place,
    where a returned ``list<u8>`` would stay behind in memory; see the WIT ``packed-column``)."""
    view = memoryview(part)
    while view:
        view = view[_write(1, view):]


# Data up to this size return as text; larger data on the result stream (see the WIT
# ``packed-column``).
_INLINE_LIMIT = 1024


def _packed(packed, function):
    """A column the runtime packed as a WIT ``packed-column``. A UDF that closed or broke
    standard output gets an error result, not a trap."""
    type_text, layout, data = _layout(packed)
    if len(data) <= _INLINE_LIMIT:
        return wit.PackedColumn(type_text, layout.decode("latin-1"), data.decode("latin-1"), 0)
    try:
        _send(data)
    except OSError as exc:
        failure = wit.UdfError(wit.ErrorKind.BROKEN_SANDBOX, function, None, "OSError",
                               "the result could not be handed over: standard output, which "
                               "carries results, failed (%s)" % exc.strerror, "")
    else:
        return wit.PackedColumn(type_text, layout.decode("latin-1"), "", len(data))
    raise Err(failure)


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
            return wit.CallResult(_packed(packed, function), failed,
                                  None if first is None else _wit_error(first), _RUNTIME.take_output())
        raise Err(failure)

    def prepare(self, function):
        try:
            fid = _RUNTIME.prepare_row(function)
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return fid
        raise Err(failure)

    def call_row(self, function_id, row, on_error):
        try:
            value, first = _RUNTIME.call_row(function_id, row, on_error == wit.ErrorPolicy.NULL)
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return wit.RowResult(value.decode("latin-1"), None if first is None else _wit_error(first),
                                 _RUNTIME.take_output())
        raise Err(failure)

    def call_table(self, function, num_rows, args):
        try:
            sources, rows = _RUNTIME.call_table(function, num_rows, _columns(args))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return wit.TableResult(_packed(sources, function), _packed(rows, function))
        raise Err(failure)

    def aggregate(self, function, op, states, groups, args):
        try:
            states = _RUNTIME.aggregate(function, _OPS[op], _column(states), _column(groups),
                                        _columns(args))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return _packed(states, function)
        raise Err(failure)

    def finish(self, function, states):
        try:
            values = _RUNTIME.finish(function, _column(states))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return _packed(values, function)
        raise Err(failure)

    def emit(self, function, states):
        try:
            sources, rows = _RUNTIME.emit(function, _column(states))
        except _runtime.UdfError as error:
            failure = _wit_error(error)
        else:
            return wit.TableResult(_packed(sources, function), _packed(rows, function))
        raise Err(failure)

    def open_all(self):
        return _RUNTIME.open_all()

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

    def prime(self, reserve):
        global _PRIMED
        if not _PRIMED:
            _PRIMED = True
            _os.write(1, b"\n")  # libc takes its stdout handle at the first write; the host drops the byte
            _os.path.isdir("/deps")  # and the preopened directories at the first path it resolves
        if reserve:
            try:
                _HELD.append(bytearray(reserve))
            except MemoryError:
                pass  # the host sees the memory did not grow enough, and gives up

    def reseed(self, seed):
        _random.seed(seed)


_PRIMED = False
_HELD = []  # prime()'s reserve: memory a restore overwrites


def _warm_up():
    """Runs the runtime's load, call and aggregate paths in a throwaway runtime before the
    snapshot. CPython rewrites a function's bytecode in place the first times it runs (adaptive
    specialization) and fills its type caches: done here, that is in the shared image once,
    instead of copied into every sandbox's private memory at its first call."""
    from udfbox.arrow import encode_column
    from udfbox.types import parse_type

    def through_wit(packed):
        """A result column as the host would send it back as an argument (through ``_layout``,
        not ``_packed``, which may write to the result stream: nothing may at build time)."""
        type_text, layout, data = _layout(packed)
        return _column(wit.Columns([type_text], layout, data))

    def arg(type_text, values):
        nodes = encode_column(parse_type(type_text), values)
        return through_wit((type_text,) + _runtime.pack(nodes))

    warm = _runtime.Runtime()
    warm.load("warm_up.py", _WARM_UP_SOURCE, [])
    ints, text = arg("BIGINT", [7]), arg("STRING", ["ab"])
    states, groups = arg("BYTES", [None]), arg("INT", [0])
    add_id, upper_id = warm.prepare_row("add"), warm.prepare_row("upper")
    add_row, upper_row = b"\x00" + bytes(16), b"\x00\x02\x00\x00\x00ab"
    for _ in range(16):  # past CPython's specialization warm-up counters
        _packed(warm.call("add", 1, [ints, ints])[0], "add")
        _packed(warm.call("upper", 1, [text])[0], "upper")
        _packed(warm.call("add", 1, [ints, ints], True)[0], "add")
        warm.call_row(add_id, add_row)[0].decode("latin-1")
        warm.call_row(upper_id, upper_row, True)[0].decode("latin-1")
        accumulators = warm.aggregate("total", "accumulate", states, groups, [ints])
        _packed(warm.finish("total", through_wit(accumulators)), "total")
    warm.close()
    warm.take_output()


_WARM_UP_SOURCE = """
from udfbox import udf, udaf, AggregateFunction, DataTypes

add = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())
upper = udf(lambda s: s.upper(), [DataTypes.STRING()], DataTypes.STRING())

class Total(AggregateFunction):
    def create_accumulator(self):
        return [0]

    def accumulate(self, acc, value):
        acc[0] += value

    def get_value(self, acc):
        return acc[0]

total = udaf(Total(), [DataTypes.BIGINT()], DataTypes.BIGINT())
"""

_warm_up()
del _warm_up


# Everything above is in the snapshot every sandbox starts from, and its pages are shared
# copy-on-write between sandboxes until written. A garbage collection walks (and so writes to)
# every tracked object; freezing moves the snapshot's objects out of the collector's reach, so an
# idle sandbox keeps only the pages it really changed (benches/memory.rs).
import gc as _gc  # noqa: E402

_gc.collect()
_gc.freeze()
