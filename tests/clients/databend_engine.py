"""Databend itself (the embedded query engine from PyPI, `databend==1.2.453`) calling a remote UDF
server, as `CREATE FUNCTION ... LANGUAGE python HANDLER = '...' ADDRESS = '...'` makes it.

    python databend_engine.py HOST:PORT

Runs in the current directory (Databend writes `.databend/` there). The server must serve the
databend-udf example file. Prints one `ok ...` line per query checked; exits non-zero on the first
wrong result.
"""

import math
import os
import sys


def main():
    addr = sys.argv[1]
    url = f"http://{addr}"
    # Read by Databend when it starts: remote UDF servers are off unless allowed.
    os.environ["QUERY_ENABLE_UDF_SERVER"] = "true"
    os.environ["QUERY_UDF_SERVER_ALLOW_LIST"] = url
    from databend import SessionContext

    ctx = SessionContext()

    def rows(sql):
        return ctx.sql(sql).to_py_arrow()[0].to_pylist()

    def check(sql, expected):
        got = [list(row.values()) for row in rows(sql)]
        assert got == expected, f"{sql}: expected {expected!r}, got {got!r}"
        print(f"ok {sql}", flush=True)

    functions = [
        "gcd (INT, INT) RETURNS INT",
        "add_batch (BIGINT, BIGINT) RETURNS BIGINT",
        "builtin_echo (VARCHAR) RETURNS VARCHAR",
    ]
    for signature in functions:
        name = signature.split(" ", 1)[0]
        ctx.sql(
            f"CREATE OR REPLACE FUNCTION {signature} LANGUAGE python HANDLER = '{name}' ADDRESS = '{url}'"
        ).collect()

    check("SELECT gcd(48, 18)", [[6]])
    check("SELECT add_batch(40, 2)", [[42]])
    check("SELECT builtin_echo('databend')", [["databend"]])
    # 200,000 rows: Databend cuts them into 65,536-row slices and sends exchanges at once.
    n = 200_000
    expected = sum(math.gcd(i + 1, 18) for i in range(n))
    check(f"SELECT sum(gcd(number::int + 1, 18)) FROM numbers({n})", [[expected]])


if __name__ == "__main__":
    main()
