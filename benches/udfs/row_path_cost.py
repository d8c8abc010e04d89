# Where the row path's time goes inside the sandbox (docs/BENCHMARKS.md, "The row path's floor"):
#   target/release/udfbox sql --udf benches/udfs/row_path_cost.py "SELECT row_path_cost(20000) AS c"
# times, per call of add(1, 2) on one row: udfbox's runtime (`Runtime.call_row`: decode the row,
# call, encode), then the component's Python adapter around it (`guest.py`'s `call_row`: builds
# the WIT record, takes the output), then the bare Python call of the function.
import sys, time
from udfbox import udf, DataTypes


@udf(input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def add(a, b):
    return a + b


@udf(result_type=DataTypes.STRING())
def row_path_cost(n):
    guest = sys.modules.get("guest")
    if guest is None:
        return "run this in the sandbox (wasm mode)"
    runtime, adapter = guest._RUNTIME, guest.Runtime()
    fid = runtime.prepare_row("add")
    row = b"\x00" + (1).to_bytes(8, "little") + (2).to_bytes(8, "little")
    fail = guest.wit.ErrorPolicy.FAIL
    func = add._func if hasattr(add, "_func") else None
    t0 = time.perf_counter_ns()
    for _ in range(n):
        runtime.call_row(fid, row, False)
    t1 = time.perf_counter_ns()
    for _ in range(n):
        adapter.call_row(fid, row, fail)
    t2 = time.perf_counter_ns()
    for _ in range(n):
        (lambda a, b: a + b)(1, 2)
    t3 = time.perf_counter_ns()
    return "runtime.call_row %.0f ns, adapter.call_row %.0f ns, a bare Python call %.0f ns" % (
        (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n)
