"""Process mode: one ``Runtime`` in a worker process of its own, served over a pipe.

The host (``host/src/process.rs``) starts the machine's CPython with a small bootstrap that
installs this package from the sources it sends, then calls ``serve``. Requests and replies are
frames on the worker's stdin and stdout::

    u64 length of the rest | u32 header length | header (JSON) | u32 buffer count | (u64 length | bytes)*

Columns travel as Arrow buffers, the same nodes the sandbox exchanges (``udfbox.arrow``): the
header names each node's buffers by index. The worker runs the same ``Runtime`` methods as the
other two modes, so all three share every line of semantics.

Snapshot mode (``Options::snapshot``) adds the ``fork`` request: the worker forks a copy of
itself that answers on new pipes the host made. The host keeps one such copy, never called, as
the template its later workers are forked from, so they start with the files loaded and
``open()`` run, without running either again.
"""

import json
import os
import signal
import sys
import traceback

from .runtime import Runtime, UdfError

__all__ = ["serve"]


def _read_exact(stream, size):
    data = stream.read(size)
    if data is None or len(data) != size:
        raise EOFError("the host closed the pipe mid-frame")
    return data


def read_frame(stream):
    """The next ``(header, buffers)``, or ``None`` when the host closed the pipe."""
    head = stream.read(8)
    if not head:
        return None
    if len(head) != 8:
        raise EOFError("the host closed the pipe mid-frame")
    body = _read_exact(stream, int.from_bytes(head, "little"))
    header_end = 4 + int.from_bytes(body[:4], "little")
    header = json.loads(body[4:header_end])
    count = int.from_bytes(body[header_end:header_end + 4], "little")
    position = header_end + 4
    buffers = []
    for _ in range(count):
        size = int.from_bytes(body[position:position + 8], "little")
        position += 8
        buffers.append(body[position:position + size])
        position += size
    return header, buffers


def write_frame(stream, header, buffers):
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    parts = [len(encoded).to_bytes(4, "little"), encoded, len(buffers).to_bytes(4, "little")]
    for buffer in buffers:
        parts.append(len(buffer).to_bytes(8, "little"))
        parts.append(buffer)
    body = b"".join(parts)
    stream.write(len(body).to_bytes(8, "little"))
    stream.write(body)
    stream.flush()


def _column(spec, buffers):
    """A ``(type, nodes)`` column from its header entry ``{"t": type, "n": nodes}``."""
    return spec["t"], [(length, nulls, buffers[validity], [buffers[i] for i in indexes])
                       for length, nulls, validity, indexes in spec["n"]]


def _packed(packed, buffers):
    type_text, nodes, spans, data = packed
    buffers.append(data)
    return {"t": type_text, "n": nodes, "s": spans, "d": len(buffers) - 1}


def _error(error):
    return {"kind": error.kind, "function": error.function, "row": error.row,
            "exception_type": error.exception_type, "message": error.message,
            "traceback": error.traceback}


def _dispatch(runtime, header, buffers, out):
    """Runs one request; returns the reply's ``ok`` value (buffers appended to ``out``)."""
    op = header["op"]
    if op == "load":
        return [list(info) for info in runtime.load(header["filename"], header["source"],
                                                    [tuple(p) for p in header["params"]])]
    if op == "call":
        packed, failed, first = runtime.call(header["function"], header["rows"],
                                             [_column(c, buffers) for c in header["args"]],
                                             header["null"])
        return {"column": _packed(packed, out), "failed": failed,
                "first": None if first is None else _error(first)}
    if op == "prepare":
        return runtime.prepare_row(header["function"])
    if op == "call_row":
        # The row (and the result) travel as one buffer each in the row encoding.
        if len(buffers) != 1:
            raise UdfError("bad-request", "a row call takes one buffer", "ValueError")
        value, first = runtime.call_row(header["id"], buffers[0], header["null"])
        out.append(value)
        return None if first is None else _error(first)
    if op == "call_table":
        sources, rows = runtime.call_table(header["function"], header["rows"],
                                           [_column(c, buffers) for c in header["args"]])
        return {"sources": _packed(sources, out), "rows": _packed(rows, out)}
    if op == "aggregate":
        states = runtime.aggregate(header["function"], header["agg"],
                                   _column(header["states"], buffers),
                                   _column(header["groups"], buffers),
                                   [_column(c, buffers) for c in header["args"]])
        return _packed(states, out)
    if op == "finish":
        return _packed(runtime.finish(header["function"], _column(header["states"], buffers)), out)
    if op == "emit":
        sources, rows = runtime.emit(header["function"], _column(header["states"], buffers))
        return {"sources": _packed(sources, out), "rows": _packed(rows, out)}
    if op == "open_all":
        return runtime.open_all()
    if op == "close":
        runtime.close()
        return None
    if op == "metrics":
        return [list(m) for m in runtime.metrics()]
    if op == "hello":
        # The interpreter's own path: later workers start it directly, not through a launcher.
        return {"executable": sys.executable}
    raise ValueError("unknown request %r" % (op,))


# Processes this worker forked, reaped at its next request: not earlier, so that each stays a
# zombie the host can still name by its pid (and read its exit status from) until then. The
# template's only requests are forks, which the host makes one at a time.
_forked = []


def _reap_forked():
    for pid in list(_forked):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else (a UDF's os.wait())
            done = pid
        if done:
            _forked.remove(pid)


def _fork(header, streams):
    """Forks a copy of this worker that serves requests on the pipes the header names (paths
    under ``/proc/<host pid>/fd``); ``streams`` is the ``[requests, replies]`` pair ``serve``
    reads and writes, which the copy replaces with its own. Both answer with the copy's pid: this
    worker on its pipe, the copy as the first frame on its new one."""
    # Opened before the fork, so the copy holds them by the time the host hears its pid.
    fds = []
    try:
        for name, flags in (("stdin", os.O_RDONLY), ("stdout", os.O_WRONLY), ("stderr", os.O_WRONLY)):
            fds.append(os.open(header[name], flags))
        sys.stderr.flush()
        pid = os.fork()
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    if pid:
        for fd in fds:
            os.close(fd)
        _forked.append(pid)
        return {"pid": pid}
    try:
        # The copy: nothing may return into this worker's loop on this worker's pipes.
        requests, replies, errors = fds
        del _forked[:]
        streams[1].close()
        os.dup2(requests, 0)
        os.dup2(errors, 2)
        os.dup2(errors, 1)
        os.close(errors)
        streams[0] = os.fdopen(requests, "rb")
        streams[1] = os.fdopen(replies, "wb")
    except BaseException:
        os._exit(70)
    return {"pid": os.getpid()}


def serve(requests, replies, deps_dir=None):
    """Answers requests until the host closes the pipe."""
    # Ctrl-C reaches the whole process group; the host decides what ends, not the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The machine's CPython: vectorized functions get real pandas when it is installed.
    runtime = Runtime(deps_dir=deps_dir, real_pandas=True)
    streams = [requests, replies]
    while True:
        frame = read_frame(streams[0])
        if frame is None:
            return
        header, buffers = frame
        if _forked:
            _reap_forked()
        out = []
        try:
            if header["op"] == "fork":
                reply = {"ok": _fork(header, streams)}
            else:
                reply = {"ok": _dispatch(runtime, header, buffers, out)}
        except UdfError as error:
            reply, out = {"error": _error(error)}, []
            error.__traceback__ = None
        except MemoryError:
            reply, out = {"memory": True}, []
        except BaseException:
            reply, out = {"fatal": traceback.format_exc(limit=8)}, []
        reply["output"] = runtime.take_output()
        write_frame(streams[1], reply, out)


def main(spec):
    """Entered by the bootstrap with the protocol's pipes set up: stdout is the reply pipe,
    so anything else written to file descriptor 1 (C extensions, stray prints) goes to stderr."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies, spec.get("deps"))
