# What handing a result over costs inside the sandbox (docs/BENCHMARKS.md, "Release run at c8c2e9b"):
#   target/release/udfbox sql --udf benches/udfs/handover_cost.py "SELECT cost(3000) AS c"
# a write of 16 bytes to the result stream (stdout) against turning 16 bytes and 1 KiB into text.
import os, time
from udfbox import udf, DataTypes

@udf(result_type=DataTypes.STRING())
def cost(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        os.write(1, b"x" * 16)
    t1 = time.perf_counter_ns()
    data = bytes(range(16))
    for _ in range(n):
        data.decode("latin-1")
    t2 = time.perf_counter_ns()
    big = bytes(range(256)) * 4
    for _ in range(n):
        big.decode("latin-1")
    t3 = time.perf_counter_ns()
    return "write16 %.0f ns, decode16 %.0f ns, decode1k %.0f ns" % ((t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n)
