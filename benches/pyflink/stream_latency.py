#!/usr/bin/env python3
"""End-to-end latency of single events through a PyFlink streaming SQL job.

The job is the PyFlink counterpart of udfbox's streaming benchmark:

    SELECT n, add(n, n) AS r FROM e        -- add = Python UDF lambda a, b: a + b

Events are JSON lines {"n": 123} written one at a time at a fixed rate; each
event is timed from the moment it was written to the moment its result line
was read back, and p50 / p99 / max are printed.

Two processes take part (the script plays both roles):

  harness (default): listens on a loopback TCP port, starts the job as a child
      process, writes the events into the accepted connection and reads result
      lines from the child's stdout.  Write and arrival times are taken with
      time.monotonic_ns() in this one process, so no clocks are compared.
  job (--job): builds the PyFlink job in a local MiniCluster (the JVM is started
      by PyFlink through py4j and inherits this process's stdout):
        source  Java socketTextStream(127.0.0.1, port)  (a TCP client of the harness)
        -> Table, CAST(JSON_VALUE(line, '$.n') AS BIGINT) AS n
        -> Python scalar UDF add(n, n)
        -> 'print' connector, which println()s "+I[n, r]" to the JVM's System.out
           (autoflush: one write(2) per record, so stdout buffering adds no delay).

Usage:
  python stream_latency.py --mode process|thread (--bundle-size-one|--defaults) \
      --rate N --events M
"""

import argparse
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time

# Warm-up events carry n >= WARMUP_BASE so they can never be mistaken for
# timed events (which use n = 0 .. events-1).
WARMUP_BASE = 1_000_000_000
WARMUP_EVENTS = 20


# --------------------------------------------------------------------------
# job side
# --------------------------------------------------------------------------

def run_job(args):
    from pyflink.common import Configuration
    from pyflink.datastream import DataStream, StreamExecutionEnvironment
    from pyflink.table import DataTypes, StreamTableEnvironment
    from pyflink.table.udf import udf

    conf = Configuration()
    conf.set_string("python.execution-mode", args.mode)
    # The Python worker (process mode) and the embedded interpreter (thread
    # mode) must be this venv's Python, not whatever "python" is on PATH.
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    if args.bundle_size_one:
        # Finish a bundle after every element: each event is sent on at once.
        conf.set_string("python.fn-execution.bundle.size", "1")
    # Otherwise PyFlink defaults: bundle.size 100000, bundle.time 1000 ms.

    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    t_env = StreamTableEnvironment.create(env)
    for k, v in conf.to_dict().items():
        t_env.get_config().set(k, v)

    # PyFlink has no Python wrapper for socketTextStream; call the Java
    # environment through py4j and wrap the Java DataStream<String>.
    j_lines = env._j_stream_execution_environment.socketTextStream(
        "127.0.0.1", args.port)
    lines = t_env.from_data_stream(DataStream(j_lines))   # one column: f0 STRING
    t_env.create_temporary_view("lines_v", lines)
    # --parse json: a real JSON parse with SQL's JSON_VALUE (Jayway JsonPath
    # inside Flink; it costs tens of µs per row and limits throughput).
    # --parse regex: pull the digits out with REGEXP_EXTRACT (much cheaper)
    # to show how much of the pipeline's cost is the parsing.
    if args.parse == "json":
        n_expr = "CAST(JSON_VALUE(f0, '$.n') AS BIGINT)"
    else:
        n_expr = "CAST(REGEXP_EXTRACT(f0, '(-?[0-9]+)', 1) AS BIGINT)"
    t_env.execute_sql(
        f"CREATE TEMPORARY VIEW e AS SELECT {n_expr} AS n FROM lines_v")

    t_env.create_temporary_function(
        "add", udf(lambda a, b: a + b,
                   input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()],
                   result_type=DataTypes.BIGINT()))

    t_env.execute_sql(
        "CREATE TEMPORARY TABLE out_t (n BIGINT, r BIGINT) "
        "WITH ('connector' = 'print')")
    # --no-udf: same pipeline with the addition done in Java SQL, to show
    # what the socket source, JSON parsing and print sink cost by themselves.
    expr = "n + n" if args.no_udf else "add(n, n)"
    result = t_env.execute_sql(f"INSERT INTO out_t SELECT n, {expr} AS r FROM e")
    # Ends when the harness closes the socket (the source then finishes).
    result.wait()


# --------------------------------------------------------------------------
# harness side
# --------------------------------------------------------------------------

class Results:
    """Arrival times, filled by the reader thread from the job's stdout."""

    def __init__(self, events):
        self.arrival = [0] * events
        self.received = 0
        self.warmup_received = 0
        self.bad = 0
        self.last_arrival = 0
        self.lock = threading.Lock()

    def reader(self, stream, echo):
        for line in iter(stream.readline, b""):
            now = time.monotonic_ns()
            if not line.startswith(b"+I["):
                if echo:
                    sys.stderr.write("job: " + line.decode(errors="replace"))
                continue
            n_s, r_s = line[3:line.index(b"]")].split(b",")
            n, r = int(n_s), int(r_s)
            with self.lock:
                if r != 2 * n:
                    self.bad += 1
                if n >= WARMUP_BASE:
                    self.warmup_received += 1
                elif self.arrival[n] == 0:
                    self.arrival[n] = now
                    self.received += 1
                self.last_arrival = now


def sleep_until(t_ns):
    # Plain sleep, no spinning: the machine has 2 cores and the job needs
    # them.  Oversleeping only delays the write; the write time is taken
    # after waking, so it does not distort the measured latency.
    d = t_ns - time.monotonic_ns()
    if d > 0:
        time.sleep(d / 1e9)


def paced_writes(conn, payload, rate):
    """Write payload[i] at t0 + i/rate; return (write times, max lag, writes).

    Every wake-up writes all events that are due (at high rates sleep
    granularity means a few per write) and stamps them with the time just
    before the write."""
    period = 1e9 / rate
    written = [0] * len(payload)
    max_lag = 0
    writes = 0
    t0 = time.monotonic_ns() + 1_000_000
    i = 0
    while i < len(payload):
        sleep_until(t0 + int(i * period))
        now = time.monotonic_ns()
        j = i
        while j < len(payload) and t0 + int(j * period) <= now:
            j += 1
        ts = time.monotonic_ns()
        conn.sendall(b"".join(payload[i:j]))
        writes += 1
        max_lag = max(max_lag, ts - (t0 + int(i * period)))
        for k in range(i, j):
            written[k] = ts
        i = j
    return written, max_lag, writes


def percentile(sorted_vals, p):
    # Nearest-rank percentile.
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, -(-len(sorted_vals) * p // 100) - 1))
    return sorted_vals[int(k)]


def run_harness(args):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]

    cmd = [sys.executable, os.path.abspath(__file__), "--job", "--port", str(port),
           "--mode", args.mode,
           "--bundle-size-one" if args.bundle_size_one else "--defaults"]
    cmd += ["--parse", args.parse]
    if args.no_udf:
        cmd.append("--no-udf")
    env = dict(os.environ)
    # Thread mode embeds CPython in the JVM (PEMJA) through the system
    # libpython, which does not know it belongs to a venv and so would not
    # find pemja/pyflink; PYTHONPATH hands it the venv's site-packages.
    env["PYTHONPATH"] = os.pathsep.join(
        site.getsitepackages() + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    # The MiniCluster unpacks ~70 MB of jars and working directories into the
    # temp directory and leaves them behind when killed: give each run its
    # own, removed at the end (kept with --keep-tmp, e.g. for Flink's logs).
    tmp = tempfile.mkdtemp(prefix="pyflink-bench-")
    env["TMPDIR"] = tmp
    env["JVM_ARGS"] = (env.get("JVM_ARGS", "") + f" -Djava.io.tmpdir={tmp}").strip()
    env["FLINK_LOG_DIR"] = os.path.join(tmp, "log")
    # New session so the whole tree (the job, the JVM it launches and the
    # Python workers the JVM launches) can be stopped with one killpg.
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             env=env, start_new_session=True)
    try:
        return measure(args, lsock, child)
    finally:
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        child.wait()
        try:
            os.killpg(child.pid, signal.SIGKILL)   # stragglers of the group
        except ProcessLookupError:
            pass
        if args.keep_tmp:
            print(f"[harness] temp dir and Flink logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(args, lsock, child):
    res = Results(args.events)
    threading.Thread(target=res.reader, args=(child.stdout, args.verbose),
                     daemon=True).start()

    # The source task connects once the job is running.
    t_start = time.monotonic()
    # Poll so that a job that dies during start-up is noticed at once.
    lsock.settimeout(0.5)
    while True:
        try:
            conn, _ = lsock.accept()
            break
        except socket.timeout:
            if child.poll() is not None:
                raise SystemExit(f"job exited with {child.returncode} before connecting")
            if time.monotonic() - t_start > args.startup_timeout:
                raise SystemExit("job did not connect in time")
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    log(args, f"job connected after {time.monotonic() - t_start:.1f} s")

    def line(n):
        return (json.dumps({"n": n}) + "\n").encode()

    # Warm-up: one event every 100 ms until results come back (the first
    # ones pay for operator/worker start-up), then wait for all of them.
    sent_w = 0
    deadline = time.monotonic() + args.startup_timeout
    while res.warmup_received == 0 or sent_w < WARMUP_EVENTS:
        if time.monotonic() > deadline or child.poll() is not None:
            raise SystemExit("warm-up results never arrived")
        conn.sendall(line(WARMUP_BASE + sent_w))
        sent_w += 1
        time.sleep(0.1)
    while res.warmup_received < sent_w:
        if time.monotonic() > deadline or child.poll() is not None:
            raise SystemExit("warm-up results never arrived")
        time.sleep(0.01)
    log(args, f"warm-up done ({sent_w} events) after {time.monotonic() - t_start:.1f} s")

    # Second warm-up at the target rate, so the JVM's JIT has compiled the
    # hot path (and the Python side has settled) before timing starts;
    # its results are awaited so no backlog spills into the timed events.
    n_rw = args.rate_warmup
    if n_rw is None:
        n_rw = int(min(args.rate * 1.0, 5000))
    if n_rw > 0:
        base = WARMUP_BASE + sent_w
        paced_writes(conn, [line(base + k) for k in range(n_rw)], args.rate)
        want = sent_w + n_rw
        while res.warmup_received < want:
            if child.poll() is not None or time.monotonic_ns() - res.last_arrival > 30e9:
                raise SystemExit("rate warm-up results stopped arriving")
            time.sleep(0.01)
        log(args, f"rate warm-up done ({n_rw} events) after "
                  f"{time.monotonic() - t_start:.1f} s")

    written, max_lag, writes = paced_writes(
        conn, [line(i) for i in range(args.events)], args.rate)
    t_end_write = time.monotonic_ns()

    # Wait for the stragglers: done when everything arrived, or when
    # nothing arrived for `idle` seconds (default bundles flush every 1 s).
    idle = args.drain_idle
    while res.received < args.events:
        time.sleep(0.05)
        last = max(res.last_arrival, t_end_write)
        if time.monotonic_ns() - last > idle * 1e9:
            break
    conn.close()

    lat = sorted((res.arrival[k] - written[k]) / 1000.0
                 for k in range(args.events) if res.arrival[k])
    achieved = (args.events - 1) / ((written[-1] - written[0]) / 1e9) \
        if args.events > 1 and written[-1] > written[0] else float("nan")
    notes = []
    if res.received < args.events:
        notes.append(f"LOST/late {args.events - res.received}")
    # Keeping up: with bundling, results may trail the last write by up to
    # ~2 s (see README); a longer tail means the job processes events more
    # slowly than they come in and latency is queueing time.
    if res.received:
        last = max(res.arrival)
        first = min(a for a in res.arrival if a)
        tail = (last - t_end_write) / 1e9
        if tail > 3:
            out_rate = (res.received - 1) / ((last - first) / 1e9) if last > first else 0
            notes.append(f"could not keep up: last result {tail:.1f} s after last write, "
                         f"results at ~{out_rate:.0f}/s")
    if max_lag > 100e6:
        notes.append(f"writer fell {max_lag / 1e6:.0f} ms behind (back-pressure)")
    if res.bad:
        notes.append(f"{res.bad} wrong results")
    bundle = "size=1" if args.bundle_size_one else "defaults"
    mode = "no-udf" if args.no_udf else args.mode
    if args.parse != "json":
        mode += f"/{args.parse}"
    print(f"| {mode:13} | {bundle:8} | {args.rate:>7g} | "
          f"{res.received:>5}/{args.events:<6} | {achieved:>9.0f} | "
          f"{percentile(lat, 50):>10.0f} | {percentile(lat, 99):>10.0f} | "
          f"{(lat[-1] if lat else float('nan')):>10.0f} | {'; '.join(notes) or 'ok'} |",
          flush=True)
    log(args, f"{writes} writes for {args.events} events")
    if args.dump:
        # Per-event detail: index, write time and latency (µs; -1 = no result).
        with open(args.dump, "w") as f:
            for k in range(args.events):
                d = (res.arrival[k] - written[k]) / 1000.0 if res.arrival[k] else -1
                f.write(f"{k} {written[k]} {d:.0f}\n")
    return 0


def log(args, msg):
    if args.verbose:
        print(f"[harness] {msg}", file=sys.stderr, flush=True)


HEADER = ("| mode          | bundle   |  rate/s | received     | written/s |"
          "   p50 (µs) |   p99 (µs) |   max (µs) | notes |\n"
          "|---------------|----------|--------:|--------------|----------:|"
          "-----------:|-----------:|-----------:|-------|")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["process", "thread"], default="process",
                    help="python.execution-mode")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--bundle-size-one", action="store_true",
                   help="python.fn-execution.bundle.size=1")
    g.add_argument("--defaults", action="store_true",
                   help="PyFlink's default bundling (the default)")
    ap.add_argument("--rate", type=float, default=1000, help="events per second")
    ap.add_argument("--events", type=int, default=2000, help="timed events")
    ap.add_argument("--rate-warmup", type=int, metavar="N",
                    help="warm-up events sent at the target rate before timing "
                         "(default: one second's worth, at most 5000)")
    ap.add_argument("--startup-timeout", type=float, default=300)
    ap.add_argument("--drain-idle", type=float, default=5.0,
                    help="stop waiting after this many seconds without a result")
    ap.add_argument("--header", action="store_true", help="print the table header and exit")
    ap.add_argument("--parse", choices=["json", "regex"], default="json",
                    help="how SQL extracts n from the JSON line (default json)")
    ap.add_argument("--no-udf", action="store_true",
                    help="baseline: compute n + n in SQL instead of the Python UDF")
    ap.add_argument("--dump", metavar="FILE", help="write per-event latencies to FILE")
    ap.add_argument("--keep-tmp", action="store_true",
                    help="keep the run's temp dir (Flink's logs are in it)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.header:
        print(HEADER)
        return 0
    if args.job:
        return run_job(args)
    return run_harness(args)


if __name__ == "__main__":
    sys.exit(main())
