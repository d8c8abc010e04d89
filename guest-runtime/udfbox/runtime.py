"""The dispatcher both backends drive: load UDF files, call functions over whole batches.

The wasm guest (``guest.py``) and the native backend (pyo3) call the same ``Runtime`` methods with
plain Python values, so the two modes share every line of semantics. Errors leave as ``UdfError``.
"""

import builtins
import importlib
import linecache
import logging
import os
import pickle
import random
import struct
import sys
import traceback
import types

from .arrow import BadValue, decode_column, encode_column
from .metrics import MetricGroup, _Registry
from .row import Row
from .series import DataFrame, Series, column, plain, use_real_pandas
from .types import parse_type
from .udf import FunctionContext, UserDefinedFunctionWrapper

INT = parse_type("INT")
BYTES = parse_type("BYTES")
_SCALAR = ("scalar",)

__all__ = ["Runtime", "UdfError", "deps_dir"]

MAX_MESSAGE_CHARS = 4096
MAX_TRACEBACK_CHARS = 16384
MAX_OUTPUT_CHARS = 65536
MAX_NAME_CHARS = 256
MAX_FUNCTIONS_PER_FILE = 1000


def pack(nodes):
    """Flattens a column's nodes for the trip back to the host (``guest.py`` lays this out as the
    WIT ``packed-column``): ``(nodes, spans, data)`` where each node is ``(length, null_count,
    validity_span, first_buffer, buffer_count)`` and every span is ``(offset, length)`` in
    ``data``, each buffer starting 16-byte aligned."""
    if len(nodes) == 1:
        # One node with one buffer and no NULLs (a column of numbers): nothing to lay out.
        length, null_count, validity, buffers = nodes[0]
        if not validity and len(buffers) == 1 and type(buffers[0]) is bytes:
            return [(length, null_count, (0, 0), 0, 1)], [(0, len(buffers[0]))], buffers[0]
    parts = []
    size = 0
    spans = []
    packed = []

    def place(buffer):
        nonlocal size
        padding = -size % 16
        if padding:
            parts.append(bytes(padding))
            size += padding
        parts.append(buffer)
        size += len(buffer)
        return (size - len(buffer), len(buffer))

    for length, null_count, validity, buffers in nodes:
        validity_span = place(validity) if validity else (0, 0)
        first = len(spans)
        spans.extend(place(buffer) for buffer in buffers)
        packed.append((length, null_count, validity_span, first, len(buffers)))
    return packed, spans, b"".join(parts)


def _utf8(text):
    """``text`` as UTF-8 can carry it to the host: a lone surrogate (``"\\ud800"``, which Python
    strings may hold and UTF-8 cannot) becomes its backslash escape."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _type_text(dt):
    """A result column's type text (the host decodes by the type it was told at load; this is
    for reading): encodable, whatever a patched type's ``str()`` does."""
    try:
        return _utf8(str(dt))
    except BaseException:
        return "?"


def _info(filename, name, obj):
    """What the host is told about function ``name``: plain strings, lists and a bool, whatever
    a hostile file put in the UDF object's attributes (their ``str()`` may raise or lie)."""
    try:
        info = (name, obj.kind, obj.func_type,
                None if obj.input_types is None else [_utf8(str(t)) for t in obj.input_types],
                _utf8(str(obj.result_type)), obj.deterministic,
                [_utf8(str(n)) for n in obj.input_names], _utf8(str(obj.dialect)))
        if not (type(info[1]) is str and type(info[2]) is str and type(info[5]) is bool):
            raise TypeError("kind, func_type and deterministic must be str, str and bool")
        return (info[0], _utf8(info[1]), _utf8(info[2])) + info[3:]
    except BaseException as exc:
        raise UdfError("load", "%s: function %r cannot be described: %s" % (filename, name, _safe_str(exc)),
                       _type_name(exc), function=name) from None


class UdfError(Exception):
    """An error for the host. ``kind`` is one of syntax, load, exception, bad-result, bad-request.
    Its text is made encodable here, since every part of it may come from user code."""

    def __init__(self, kind, message, exception_type="", function=None, row=None, traceback=""):
        super().__init__(message)
        self.kind = kind
        self.message = _utf8(message)
        self.exception_type = _utf8(exception_type)
        self.function = None if function is None else _utf8(function)
        self.row = row
        self.traceback = _utf8(traceback)


def _clip(text, limit):
    return text if len(text) <= limit else text[:limit] + "... [%d more characters]" % (len(text) - limit)


def _safe_str(value):
    try:
        return str(value)
    except BaseException:
        return "<unprintable %s>" % type(value).__name__


def _type_name(exc):
    cls = type(exc)
    module = getattr(cls, "__module__", "builtins")
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", None) or module.startswith("_udf_") else "%s.%s" % (module, name)


class _Output:
    """A bounded sink for ``print`` and logging in UDFs (stdout and stderr alike)."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0
        self.dropped = 0

    def write(self, text):
        text = _safe_str(text)
        room = self.limit - self.size
        if len(text) > room:
            self.dropped += len(text) - max(room, 0)
            text = text[:max(room, 0)]
        if text:
            self.parts.append(text)
            self.size += len(text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def take(self):
        text = "".join(self.parts)
        if self.dropped:
            text += "\n[udfbox: %d characters of output dropped]\n" % self.dropped
        self.parts, self.size, self.dropped = [], 0, 0
        return _utf8(text)


_DEPS_DIR = None


def deps_dir():
    """The read-only dependency directory granted to this tenant (``--deps``), or ``None``.

    In the sandbox it is ``/deps``; natively it is the host path. Relative paths given to
    ``open()`` in a UDF file resolve in it, so ``open("model.pkl", "rb")`` reads ``model.pkl``
    from there in both modes."""
    return _DEPS_DIR


def _open_in(directory):
    """``open`` for UDF files: a relative path is read from the dependency directory."""

    def open(file, *args, **kwargs):  # noqa: A001 (shadows the builtin on purpose)
        if isinstance(file, (str, bytes, os.PathLike)):
            path = os.fspath(file)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if not os.path.isabs(path):
                file = os.path.join(directory, path)
        return builtins.open(file, *args, **kwargs)

    return open


class _Deferred:
    """The accumulator of a function without merge(): the rows themselves, accumulated into a
    real accumulator only when the result is wanted. Partial aggregates of such a function can
    then always be combined (rows concatenate), at the cost of keeping the rows."""

    def __init__(self):
        self.rows = []

    def remove(self, row):
        try:
            self.rows.remove(row)
        except ValueError:
            pass


class _RetractableCollector:
    """``out`` of ``emit_update_with_retract``: in a bounded query the result is what was
    collected and not retracted since."""

    def __init__(self):
        self.rows = []

    def collect(self, row):
        self.rows.append(row)

    def retract(self, row):
        for i, kept in enumerate(self.rows):
            if kept == row:
                del self.rows[i]
                return


class _Failures:
    """Rows that failed under the ``null`` error policy: how many, and the first error."""

    def __init__(self):
        self.count = 0
        self.first = None

    def add(self, error):
        self.count += 1
        if self.first is None:
            # Keep the message, not the frames (and the values they hold).
            error.__traceback__ = error.__context__ = error.__cause__ = None
            self.first = error

    def all_rows(self, error, num_rows):
        """The whole batch failed at once (a vectorized function, a bad result column)."""
        self.add(error)
        self.count = num_rows
        return [None] * num_rows


class _Redirect:
    def __init__(self, sink):
        self.sink = sink

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self.sink

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.saved
        return False


# The compact row encoding (the row path). A row of n arguments: a bitmap of ceil(n / 8) bytes,
# bit i set when argument i is NULL, then each argument in order: a fixed-width kind as its
# little-endian value (zeros when NULL), BOOLEAN as one byte, STRING as a u32 byte length and
# UTF-8 (length 0 when NULL). A result: one byte, 1 for NULL, else 0 followed by the value
# (fixed width, one byte, or the UTF-8 to the end). Only functions whose declared argument and
# result types are all among these kinds have a row plan; the host applies the same rule to the
# type names (`host/src/backend/row.rs`).
_ROW_CODES = {"TINYINT": "b", "SMALLINT": "h", "INT": "i", "BIGINT": "q", "UTINYINT": "B",
              "USMALLINT": "H", "UINT": "I", "UBIGINT": "Q", "FLOAT": "f", "DOUBLE": "d",
              "BOOLEAN": "?", "STRING": None}
_ROW_NULL = b"\x01"
_U32 = struct.Struct("<I")


def _row_code(dt):
    """The row encoding's code for a type: a struct code, ``None`` for STRING, or ``False``."""
    text = str(dt)
    if text.endswith(" NOT NULL"):
        text = text[:-len(" NOT NULL")]
    return _ROW_CODES.get(text, False)


class _RowPlan:
    """A function's row decoder and result encoders, made once when it is registered."""
    __slots__ = ("fn", "name", "decode", "fast", "fast_type", "result")

    def __init__(self, fn, name, decode, fast, fast_type, result):
        self.fn, self.name, self.decode = fn, name, decode
        self.fast, self.fast_type, self.result = fast, fast_type, result


def _row_plan(name, fn):
    if fn.kind != "scalar" or fn.func_type != "general" or fn.input_types is None:
        return None
    codes = [_row_code(t) for t in fn.input_types]
    result_code = _row_code(fn.result_type)
    if False in codes or result_code is False:
        return None
    return _RowPlan(fn, name, _row_decoder(codes), *_row_result(result_code))


def _row_decoder(codes):
    n = len(codes)
    width = (n + 7) // 8
    if None not in codes and width == 1:
        # Fixed width, up to 8 arguments: one precompiled struct unpacks the NULL mask and the
        # values (the common case: no slice, no int.from_bytes per call).
        layout = struct.Struct("<B" + "".join(codes))
        size = layout.size

        def decode(row):
            if len(row) != size:
                raise ValueError("a row of %d bytes, expected %d" % (len(row), size))
            values = layout.unpack(row)
            mask = values[0]
            if not mask:
                return values[1:]
            return [None if mask >> i & 1 else v for i, v in enumerate(values[1:])]
        return decode
    if None not in codes:
        # Fixed width only: one precompiled struct unpacks the whole row.
        layout = struct.Struct("<" + "".join(codes))
        size = width + layout.size

        def decode(row):
            if len(row) != size:
                raise ValueError("a row of %d bytes, expected %d" % (len(row), size))
            values = layout.unpack_from(row, width)
            mask = int.from_bytes(row[:width], "little") if width else 0
            if not mask:
                return values
            return [None if mask >> i & 1 else v for i, v in enumerate(values)]
        return decode
    steps = [None if code is None else struct.Struct("<" + code) for code in codes]

    def decode(row):
        mask = int.from_bytes(row[:width], "little")
        pos = width
        values = []
        for step in steps:
            if step is None:
                (length,) = _U32.unpack_from(row, pos)
                pos += 4
                if pos + length > len(row):
                    raise ValueError("a string runs past the end of the row")
                values.append(str(row[pos:pos + length], "utf-8"))
                pos += length
            else:
                values.append(step.unpack_from(row, pos)[0])
                pos += step.size
        if pos != len(row):
            raise ValueError("%d bytes left over after the row" % (len(row) - pos))
        if mask:
            values = [None if mask >> i & 1 else v for i, v in enumerate(values)]
        return values
    return decode


def _row_result(code):
    """``(fast, fast_type, result)``: an encoder for a value of exactly ``fast_type`` (it may
    raise; the batch encoder then decides), and the encoder of a one-row column the batch
    encoder made."""
    if code is None:
        return ((lambda value: b"\x00" + value.encode("utf-8")), str,
                lambda node: _ROW_NULL if node[1] else b"\x00" + bytes(node[3][1]))
    if code == "?":
        return ((lambda value: b"\x00\x01" if value else b"\x00\x00"), bool,
                lambda node: _ROW_NULL if node[1] else (b"\x00\x01" if node[3][0][0] & 1 else b"\x00\x00"))
    pack = struct.Struct("<B" + code).pack  # the NULL byte and the value in one call
    return ((lambda value: pack(0, value)), float if code in "fd" else int,
            lambda node: _ROW_NULL if node[1] else b"\x00" + bytes(node[3][0]))


_INTEGER_KINDS = frozenset(["TINYINT", "SMALLINT", "INT", "BIGINT", "UTINYINT", "USMALLINT",
                            "UINT", "UBIGINT"])


def _integral(result_type, value):
    """pandas turns an integer column with missing values into floats: for an integer result
    type, a whole float is the integer (as Arrow's conversion from pandas, which PyFlink uses,
    takes it); also inside the fields of a ROW result."""
    if result_type.kind in _INTEGER_KINDS:
        if isinstance(value, list):
            return [_integral(result_type, v) for v in value]
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if result_type.kind == "ROW":
        if isinstance(value, list):
            return [_integral(result_type, v) for v in value]
        if isinstance(value, tuple) and len(value) == len(result_type.fields):
            return tuple(_integral(f.data_type, v) for f, v in zip(result_type.fields, value))
    return value


def _one_row(produced, width):
    """Whether a table function's tuple result is one row, as PyFlink takes a returned tuple
    (``return x, "a"``), rather than the rows it holds (``return ((1, "a"), (2, "b"))``)."""
    return (width > 1 and type(produced) is tuple and len(produced) == width
            and not all(isinstance(v, (tuple, list, Row)) for v in produced))


class Runtime:
    def __init__(self, deps_dir=None, real_pandas=False):
        """``deps_dir``: the dependency directory, used when it exists (the sandbox passes
        ``/deps``, which exists only when the host granted one). ``real_pandas``: vectorized
        functions get pandas' own objects when pandas imports (process mode)."""
        self._real_pandas = real_pandas and use_real_pandas()
        self._deps_wanted = deps_dir
        self._deps_checked = False
        self._functions = {}      # registered name -> wrapper
        self._origins = {}        # registered name -> file it came from
        self._files = set()       # user files, whose frames tracebacks keep
        self._params = {}
        self._output = _Output(MAX_OUTPUT_CHARS)
        self._metrics = _Registry()
        self._loaded = 0
        self._row_plans = []      # row-path function id -> _RowPlan
        self._row_ids = {}        # registered name -> row-path function id
        self._reseeded = False
        # ``logging`` in a UDF reaches the host's log, as in PyFlink (INFO and above).
        handler = logging.StreamHandler(self._output)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)

    # -- errors ------------------------------------------------------------------------------

    def _user_traceback(self, exc):
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in self._files]
        return _clip("".join(traceback.format_list(frames)), MAX_TRACEBACK_CHARS)

    def _user_error(self, kind, exc, function=None, row=None, context=""):
        message = _clip(_safe_str(exc), MAX_MESSAGE_CHARS)
        if context:
            message = "%s (in %s)" % (message, context) if message else "(in %s)" % context
        return UdfError(kind, message, _type_name(exc), function, row, self._user_traceback(exc))

    # -- loading -----------------------------------------------------------------------------

    def load(self, filename, source, params):
        """Runs a UDF file and registers its UDF objects; returns one info tuple per function:
        ``(name, kind, func_type, input_types or None, result_type, deterministic, input_names,
        dialect)``."""
        if not self._reseeded:
            # The sandbox starts from a snapshot taken at build time: without this every instance
            # would replay the same "random" numbers.
            random.seed()
            self._reseeded = True
        self._params.update(dict(params))
        self._attach_deps()
        try:
            code = compile(source, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            text = (getattr(exc, "text", None) or "").rstrip("\n")
            detail = "  %s\n" % text.strip() if text.strip() else ""
            where = "%s, line %s" % (filename, line) if line else filename
            raise UdfError("syntax", "%s: %s" % (where, getattr(exc, "msg", None) or _safe_str(exc)),
                           type(exc).__name__, traceback=detail) from None
        self._files.add(filename)
        lines = source.splitlines(True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        self._loaded += 1
        stem = filename.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        module_name = "_udf_%d_%s" % (self._loaded, "".join(c if c.isalnum() else "_" for c in stem))
        module = types.ModuleType(module_name)
        module.__file__ = filename
        if _DEPS_DIR is not None:
            module.open = _open_in(_DEPS_DIR)
        sys.modules[module_name] = module
        try:
            with _Redirect(self._output):
                exec(code, module.__dict__)
        except BaseException as exc:
            raise self._user_error("load", exc, context="loading %s" % filename) from None
        return self._register(filename, module)

    def _attach_deps(self):
        """Puts the dependency directory, if there is one, on the import path (once)."""
        global _DEPS_DIR
        if self._deps_checked:
            return
        self._deps_checked = True
        path = self._deps_wanted
        if path is None or not os.path.isdir(path):
            return
        path = os.fsdecode(os.fspath(path))  # sys.path takes strings only
        _DEPS_DIR = path
        if path not in sys.path:
            # After the bundled stdlib (a meta-path finder), before anything else on the path.
            sys.path.insert(0, path)
        importlib.invalidate_caches()

    def _register(self, filename, module):
        found = {}
        for var, obj in list(module.__dict__.items()):
            if not isinstance(obj, UserDefinedFunctionWrapper):
                continue
            name = obj.explicit_name or var
            if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS or _utf8(name) != name:
                raise UdfError("load", "%s: a function name must be 1 to %d characters of UTF-8, got %r"
                               % (filename, MAX_NAME_CHARS, name), "ValueError")
            if name in found and found[name] is not obj:
                raise UdfError("load", "%s: two different functions are registered as %r"
                               % (filename, name), "ValueError", function=name)
            found[name] = obj
        if len(found) > MAX_FUNCTIONS_PER_FILE:
            raise UdfError("load", "%s registers %d functions; the limit is %d"
                           % (filename, len(found), MAX_FUNCTIONS_PER_FILE), "ValueError")
        for name in found:
            if name in self._functions:
                raise UdfError("load", "function %r in %s is already defined in %s"
                               % (name, filename, self._origins[name]), "ValueError", function=name)
        infos = []
        for name, obj in found.items():
            self._functions[name] = obj
            self._origins[name] = filename
            plan = _row_plan(name, obj)
            if plan is not None:
                self._row_ids[name] = len(self._row_plans)
                self._row_plans.append(plan)
            infos.append(_info(filename, name, obj))
        return infos

    # -- calling -----------------------------------------------------------------------------

    def call(self, name, num_rows, args, null_on_error=False):
        """Calls function ``name`` over one batch; ``args`` are ``(type, nodes)`` columns. The
        result is ``((type, nodes, spans, data), failed_rows, first_failure)``: the column packed
        (see ``pack``), then, under the ``null`` error policy (``null_on_error``), how many rows
        failed and became NULL and the first ``UdfError`` among them."""
        fn, columns = self._prepare(name, _SCALAR, num_rows, args, views=True)
        # What `with _Redirect(...)` does, inline: this is the path every batch takes.
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self._output
        try:
            if not fn.opened:
                self._open(name, fn)
            # A NOT NULL result has no NULL to put in place of a failed row: it fails the call.
            failures = _Failures() if null_on_error and fn.result_type.nullable else None
            try:
                if fn.func_type == "pandas":
                    values = self._call_vectorized(name, fn, columns, num_rows)
                else:
                    values = self._call_rows(name, fn, columns, num_rows, failures)
            except UdfError as error:
                if failures is None:
                    raise
                values = failures.all_rows(error, num_rows)
            try:
                nodes = self._encode(name, fn.result_type, values, failures)
            except UdfError as error:
                if failures is None:
                    raise
                nodes = self._encode(name, fn.result_type, failures.all_rows(error, num_rows), None)
        finally:
            sys.stdout, sys.stderr = saved
        failed, first = (0, None) if failures is None else (failures.count, failures.first)
        return (_type_text(fn.result_type),) + pack(nodes), failed, first

    # -- the row path ------------------------------------------------------------------------

    def prepare_row(self, name):
        """The row-path id of function ``name`` (see ``call_row``); an error when it has no
        compact row encoding (the host then calls it as a one-row batch)."""
        fid = self._row_ids.get(name)
        if fid is None:
            if name not in self._functions:
                raise UdfError("bad-request", "unknown function %r" % (name,), "KeyError", function=name)
            raise UdfError("bad-request", "%s has no compact row encoding" % (name,), "TypeError",
                           function=name)
        return fid

    def call_row(self, fid, row, null_on_error=False):
        """Calls the function with row-path id ``fid`` on one row encoded as ``row_encoding``
        describes. Returns ``(value, failure)``: the encoded result, and under the ``null`` error
        policy the ``UdfError`` that made it NULL. Errors and their rows are those of a one-row
        ``call``."""
        plans = self._row_plans
        if type(fid) is not int or not 0 <= fid < len(plans):
            raise UdfError("bad-request", "unknown row-path function id %r" % (fid,), "KeyError")
        plan = plans[fid]
        fn, name = plan.fn, plan.name
        try:
            args = plan.decode(row)
        except Exception as exc:
            raise UdfError("bad-request", "malformed row: %s" % _safe_str(exc),
                           type(exc).__name__, function=name) from None
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self._output
        try:
            if not fn.opened:
                self._open(name, fn)
            # As in `call`: a NOT NULL result has no NULL to put in place of a failed row.
            nulls = null_on_error and fn.result_type.nullable
            try:
                value = fn._call(*args)
            except BaseException as exc:
                error = self._user_error("exception", exc, name, 0)
                if nulls:
                    return _ROW_NULL, error
                raise error from None
            if value is not None:
                fast = plan.fast
                if fast is not None and type(value) is plan.fast_type:
                    try:
                        return fast(value), None
                    except Exception:
                        pass  # out of range, bad text: the batch encoder reports it exactly
            try:
                nodes = self._encode(name, fn.result_type, [value], None)
            except UdfError as error:
                # Only a bad value pinned to its row becomes NULL, as in a batch.
                if nulls and error.row is not None:
                    return _ROW_NULL, error
                raise
            return plan.result(nodes[0]), None
        finally:
            sys.stdout, sys.stderr = saved

    def _prepare(self, name, kinds, num_rows, args, arity=None, views=False):
        """The function ``name`` (of one of ``kinds``) and its decoded argument columns; with
        ``views``, columns of numbers come as views for a row-at-a-time function (see
        ``decode_column``)."""
        fn = self._functions.get(name)
        if fn is None:
            raise UdfError("bad-request", "unknown function %r" % (name,), "KeyError", function=name)
        if fn.kind not in kinds:
            raise UdfError("bad-request", "%s is a %s function, not %s"
                           % (name, fn.kind, " or ".join(kinds)), "TypeError", function=name)
        expected = arity if arity is not None else (
            None if fn.input_types is None else len(fn.input_types))
        if expected is not None and len(args) != expected:
            raise UdfError("bad-request", "%s takes %d arguments, got %d"
                           % (name, expected, len(args)), "TypeError", function=name)
        try:
            views = views and fn.func_type != "pandas"
            columns = [decode_column(type_text, nodes, views) for type_text, nodes in args]
        except Exception as exc:
            raise self._malformed(name, exc) from None
        for column in columns:
            if len(column) != num_rows:
                raise UdfError("bad-request", "an argument column has %d rows, the batch %d"
                               % (len(column), num_rows), "ValueError", function=name)
        return fn, columns

    @staticmethod
    def _malformed(name, exc):
        return UdfError("bad-request", "malformed input column: %s" % _safe_str(exc),
                        type(exc).__name__, function=name)

    @classmethod
    def _decode(cls, name, type_text, nodes):
        try:
            return decode_column(type_text, nodes)
        except Exception as exc:
            raise cls._malformed(name, exc) from None

    def _open(self, name, fn):
        if not fn.opened:
            try:
                fn.open(FunctionContext(self._params, MetricGroup(self._metrics, name)))
            except BaseException as exc:
                raise self._user_error("exception", exc, name, context="open()") from None

    def _packed(self, name, result_type, values):
        return (_type_text(result_type),) + pack(self._encode(name, result_type, values, None))

    # -- table functions ---------------------------------------------------------------------

    def call_table(self, name, num_rows, args):
        """Calls table function ``name`` for every row of a batch. Returns ``(rows, values)``, both
        packed: for each output row, the input row it came from (INT), and its values (a ROW of the
        result columns)."""
        fn, columns = self._prepare(name, ("table",), num_rows, args)
        # A lone value is a row of one column, unless the function spells rows exactly.
        single = len(fn.result_types) == 1 and not fn.exact_rows
        width = 0 if fn.exact_rows else len(fn.result_types)  # for _one_row: PyFlink's API only
        sources, values = [], []
        with _Redirect(self._output):
            self._open(name, fn)
            rows = zip(*columns) if columns else (() for _ in range(num_rows))
            for index, row in enumerate(rows):
                try:
                    produced = fn._call(*row)
                    if produced is None:
                        continue
                    if isinstance(produced, (str, bytes, Row)) or not hasattr(produced, "__iter__") \
                            or _one_row(produced, width):
                        produced = (produced,)
                    for item in produced:
                        if single and not (isinstance(item, (tuple, list, Row)) and len(item) == 1
                                               and not fn.result_types[0].kind == "ARRAY"):
                            item = (item,)
                        sources.append(index)
                        values.append(item)
                except BaseException as exc:
                    raise self._user_error("exception", exc, name, index) from None
            return (self._packed(name, INT, sources), self._packed(name, fn.result_type, values))

    # -- aggregate and table-aggregate functions ----------------------------------------------

    def _accumulators(self, name, fn, states):
        """The accumulators of ``states`` (pickled; ``None``: new). A function without merge()
        keeps its rows instead (``_Deferred``), so partial aggregates can always be combined."""
        deferred = not fn.has_merge
        accumulators = []
        for state in states:
            try:
                if state is not None:
                    accumulators.append(pickle.loads(state))
                elif deferred:
                    accumulators.append(_Deferred())
                else:
                    accumulators.append(fn._instance.create_accumulator())
            except BaseException as exc:
                raise self._user_error("exception", exc, name,
                                       context="create_accumulator()" if state is None
                                       else "restoring an accumulator") from None
        return accumulators

    def _states(self, name, accumulators):
        states = []
        for accumulator in accumulators:
            try:
                states.append(pickle.dumps(accumulator, 4))
            except BaseException as exc:
                raise self._user_error("bad-result", exc, name,
                                       context="pickling the accumulator") from None
        return self._packed(name, BYTES, states)

    def aggregate(self, name, op, states, groups, args):
        """Updates accumulators with a batch: ``states`` holds the pickled accumulator of every
        group the batch touches (NULL: not created yet), ``groups`` the group of each row. ``op``
        is ``accumulate``, ``retract`` or ``merge`` (then ``args`` is one BYTES column of pickled
        accumulators to merge into their groups). Returns the updated states, packed."""
        group_ids = self._decode(name, *groups)
        fn, columns = self._prepare(name, ("aggregate", "table_aggregate"), len(group_ids), args,
                                    arity=1 if op == "merge" else None)
        state_values = self._decode(name, *states)
        with _Redirect(self._output):
            self._open(name, fn)
            accumulators = self._accumulators(name, fn, state_values)
            instance = fn._instance
            if op == "merge":
                incoming = {}
                for group, other in zip(group_ids, columns[0]):
                    if other is not None:
                        incoming.setdefault(group, []).append(other)
                for group, others in incoming.items():
                    try:
                        others = [pickle.loads(o) for o in others]
                        if state_values[group] is None and len(others) == 1:
                            accumulators[group] = others[0]  # nothing to merge into
                        elif isinstance(accumulators[group], _Deferred):
                            for other in others:
                                accumulators[group].rows.extend(other.rows)
                        else:
                            instance.merge(accumulators[group], others)
                    except BaseException as exc:
                        raise self._user_error("exception", exc, name, context="merge()") from None
            elif not fn.has_merge:
                rows = zip(*columns) if columns else (() for _ in group_ids)
                for group, row in zip(group_ids, rows):
                    if op == "accumulate":
                        accumulators[group].rows.append(row)
                    else:
                        accumulators[group].remove(row)
            else:
                method = instance.accumulate if op == "accumulate" else instance.retract
                rows = zip(*columns) if columns else (() for _ in group_ids)
                index = 0
                try:
                    for index, (group, row) in enumerate(zip(group_ids, rows)):
                        method(accumulators[group], *row)
                except BaseException as exc:
                    raise self._user_error("exception", exc, name, index, context="%s()" % op) from None
            return self._states(name, accumulators)

    def _replayed(self, name, fn, accumulator):
        """A real accumulator for a ``_Deferred`` one: its rows accumulated into a new one."""
        if not isinstance(accumulator, _Deferred):
            return accumulator
        try:
            real = fn._instance.create_accumulator()
        except BaseException as exc:
            raise self._user_error("exception", exc, name, context="create_accumulator()") from None
        for index, row in enumerate(accumulator.rows):
            try:
                fn._instance.accumulate(real, *row)
            except BaseException as exc:
                raise self._user_error("exception", exc, name, index, context="accumulate()") from None
        return real

    def finish(self, name, states):
        """``get_value`` of every accumulator in ``states``: the aggregate's result column."""
        fn, _ = self._prepare(name, ("aggregate",), 0, [], arity=0)
        state_values = self._decode(name, *states)
        with _Redirect(self._output):
            self._open(name, fn)
            values = []
            for index, accumulator in enumerate(self._accumulators(name, fn, state_values)):
                accumulator = self._replayed(name, fn, accumulator)
                try:
                    value = fn._instance.get_value(accumulator)
                    if self._real_pandas and fn.func_type == "pandas":
                        value = _integral(fn.result_type, plain(value))
                    values.append(value)
                except BaseException as exc:
                    raise self._user_error("exception", exc, name, index, context="get_value()") from None
            return self._packed(name, fn.result_type, values)

    def emit(self, name, states):
        """The rows a table-aggregate emits for every accumulator in ``states``, as
        ``call_table`` returns them (each output row names the group it came from)."""
        fn, _ = self._prepare(name, ("table_aggregate",), 0, [], arity=0)
        state_values = self._decode(name, *states)
        width = len(fn.result_type.fields)
        sources, values = [], []
        with _Redirect(self._output):
            self._open(name, fn)
            for index, accumulator in enumerate(self._accumulators(name, fn, state_values)):
                accumulator = self._replayed(name, fn, accumulator)
                try:
                    if fn.emits_with_retract:
                        out = _RetractableCollector()
                        fn._instance.emit_update_with_retract(accumulator, out)
                        produced = out.rows
                    else:
                        produced = fn._instance.emit_value(accumulator)
                    for item in produced or ():
                        if width == 1 and not isinstance(item, (tuple, list, Row)):
                            item = (item,)
                        sources.append(index)
                        values.append(item)
                except BaseException as exc:
                    raise self._user_error("exception", exc, name, index, context="emitting rows") from None
            return (self._packed(name, INT, sources), self._packed(name, fn.result_type, values))

    def _encode(self, name, result_type, values, failures):
        """Encodes the result column. With ``failures`` (the null policy) a value that does not
        fit the type becomes NULL instead of failing the batch."""
        try:
            return encode_column(result_type, values)
        except BadValue as exc:
            error = UdfError("bad-result", "%s%s" % (
                "" if exc.row is None else "row %d: " % exc.row, exc.message),
                "TypeError", name, exc.row)
            if failures is None or exc.row is None:
                raise error from None
        except BaseException as exc:
            # A result object whose own methods raise (a hostile __len__, __iter__, ...).
            raise self._user_error("bad-result", exc, name, context="converting the result") from None
        # Null policy: find every row that does not encode on its own, then encode once more.
        cleaned = list(values)
        for row, value in enumerate(cleaned):
            if value is None:
                continue
            try:
                encode_column(result_type, [value])
            except BaseException as exc:
                cleaned[row] = None
                message = exc.message if isinstance(exc, BadValue) else _safe_str(exc)
                failures.add(UdfError("bad-result", "row %d: %s" % (row, _clip(message, MAX_MESSAGE_CHARS)),
                                      "TypeError", name, row))
        return encode_column(result_type, cleaned)

    def _call_rows(self, name, fn, columns, num_rows, failures=None):
        call = fn._call
        out = []
        if failures is None and columns:
            # map() calls in C, with no row tuple to build and unpack: ~40% less per row than
            # a Python loop. On an exception, list.extend keeps the values made so far, so
            # len(out) is the failing row.
            try:
                out.extend(map(call, *columns))
            except BaseException as exc:
                raise self._user_error("exception", exc, name, len(out)) from None
            return out
        append = out.append
        rows = zip(*columns) if columns else (() for _ in range(num_rows))
        if failures is not None:
            for row in rows:
                try:
                    value = call(*row)
                except BaseException as exc:
                    value = None
                    failures.add(self._user_error("exception", exc, name, len(out)))
                append(value)
            return out
        try:
            for row in rows:
                append(call(*row))
        except BaseException as exc:
            raise self._user_error("exception", exc, name, len(out)) from None
        return out

    def _call_vectorized(self, name, fn, columns, num_rows):
        try:
            result = fn._call(*[column(c) for c in columns])
            if self._real_pandas:
                result = _integral(fn.result_type, plain(result))
        except BaseException as exc:
            raise self._user_error("exception", exc, name) from None
        if isinstance(result, DataFrame):  # a ROW result, one column per field
            values = [tuple(r) for r in result.itertuples()]
        elif isinstance(result, Series):
            values = result.tolist()
        elif isinstance(result, (list, tuple)):
            values = list(result)
        elif hasattr(result, "tolist") and not isinstance(result, (str, bytes)):
            values = result.tolist()
        else:
            raise UdfError("bad-result", "a vectorized function must return a column (Series or "
                           "list) of %d values, got %s" % (num_rows, type(result).__name__),
                           "TypeError", name)
        if not isinstance(values, list) or len(values) != num_rows:
            raise UdfError("bad-result", "returned %s values for a batch of %d rows"
                           % (len(values) if isinstance(values, list) else "no list of", num_rows),
                           "ValueError", name)
        return values

    def open_all(self):
        """Runs ``open()`` of every function not opened yet, as PyFlink does when its operator
        opens: what a snapshot taken now holds (``Options::snapshot``). A function whose
        ``open()`` fails stays unopened: its first call runs ``open()`` again and reports the
        failure, as without a snapshot. Returns the names of the functions that stay unopened."""
        failed = []
        with _Redirect(self._output):
            for name, fn in self._functions.items():
                try:
                    self._open(name, fn)
                except UdfError:
                    failed.append(name)
        return failed

    def close(self):
        """Calls ``close()`` on every opened function; the first failure is reported."""
        first = None
        with _Redirect(self._output):
            for name, fn in self._functions.items():
                try:
                    fn.close()
                except BaseException as exc:
                    if first is None:
                        first = self._user_error("exception", exc, name, context="close()")
        if first is not None:
            raise first

    def metrics(self):
        """Every metric UDFs registered: ``(function, group, name, kind, count, value, min, max)``;
        see ``udfbox.metrics``."""
        with _Redirect(self._output):
            return self._metrics.snapshot()

    def take_output(self):
        return self._output.take()
