"""Calls a Databend-dialect UDF server the way Databend's query engine does, with pyarrow.flight.

    python databend_client.py UDFBOX_ADDR REFERENCE_ADDR UDF_FILE.py... CASE...

UDFBOX_ADDR is `udfbox serve` (HOST:PORT); REFERENCE_ADDR is databend-udf's own server (PyPI) on
the same UDF files, the behaviour Databend was built against. What Databend sends (see
shared/FINDINGS.md, "Remote UDF servers over Arrow Flight"): `get_flight_info` first, reading the
schema metadata `x-databend-udf-input-count` and taking the *last* field as the result type,
nullability included; then `do_exchange` with argument columns named arg1..argN in its own
physical types (LargeUtf8, LargeBinary, LargeList; VARIANT as LargeBinary with field metadata
`Extension=Variant` holding JSON text; DECIMAL(p, s) as Decimal128), big inputs cut into
65,536-row slices, many exchanges at once, and `builtin_healthy` / `builtin_echo` as health checks.

Cases: health, schemas, types, slices, concurrent. Each asserts exact values; the script exits
non-zero at the first failed assertion. Prints one `ok CASE` line per case passed.
"""

import concurrent.futures
import decimal
import importlib.util
import json
import sys
import time

import pyarrow as pa
import pyarrow.flight as flight
from databend_udf import UDFClient
from databend_udf.udf import UserDefinedFunction

INPUT_COUNT = b"x-databend-udf-input-count"
VARIANT = {b"Extension": b"Variant"}
SLICE = 65_536


def connect(addr):
    return flight.FlightClient(f"grpc://{addr}")


def info(client, name):
    return client.get_flight_info(flight.FlightDescriptor.for_path(name))


def databend_type(t):
    """The physical type Databend sends for a declared argument type."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.large_list(databend_field(t.value_field))
    if pa.types.is_string(t):
        return pa.large_string()
    if pa.types.is_binary(t):
        return pa.large_binary()
    if pa.types.is_struct(t):
        return pa.struct([databend_field(f) for f in t])
    if pa.types.is_map(t):
        return pa.map_(databend_field(t.key_field), databend_field(t.item_field))
    return t


def databend_field(field, name=None):
    return pa.field(
        field.name if name is None else name,
        databend_type(field.type),
        field.nullable,
        field.metadata,
    )


def argument_schema(client, name):
    """Databend's argument schema for `name`: from the server's own declaration, as Databend
    reads it (the first `x-databend-udf-input-count` fields), in Databend's physical types."""
    schema = info(client, name).schema
    count = int(schema.metadata[INPUT_COUNT])
    return pa.schema([databend_field(schema.field(i), f"arg{i + 1}") for i in range(count)])


def exchange(client, name, batches, schema=None):
    """One do_exchange: sends `batches`, returns the result batches."""
    writer, reader = client.do_exchange(flight.FlightDescriptor.for_path(name))
    with writer:
        writer.begin(schema or batches[0].schema)
        for batch in batches:
            writer.write_batch(batch)
        writer.done_writing()
        return [chunk.data for chunk in reader]


def call(client, name, columns):
    """Calls `name` on columns of Python values, sent in Databend's types; the result values
    and the result field."""
    schema = argument_schema(client, name)
    arrays = [pa.array(values, type=field.type) for values, field in zip(columns, schema)]
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    results = exchange(client, name, [batch])
    assert results, f"{name}: no result batch"
    field = results[0].schema.field(results[0].num_columns - 1)
    values = [v for r in results for v in python_values(r.column(r.num_columns - 1))]
    assert len(values) == batch.num_rows, f"{name}: {len(values)} results for {batch.num_rows} rows"
    return values, field


def python_values(array):
    """Python values of a result column; a TUPLE (a struct of unnamed fields) as tuples."""
    if pa.types.is_struct(array.type):
        fields = [python_values(array.field(i)) for i in range(array.type.num_fields)]
        valid = array.is_valid().to_pylist()
        return [tuple(f[row] for f in fields) if valid[row] else None for row in range(len(array))]
    return array.to_pylist()


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def example_functions(files):
    """The functions databend-udf files define, as databend-udf itself registers them."""
    names = []
    for i, path in enumerate(files):
        spec = importlib.util.spec_from_file_location(f"databend_example_{i}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names += [v._name for v in vars(module).values() if isinstance(v, UserDefinedFunction)]
    return sorted(names)


def describe(field):
    return (field.type, field.nullable, dict(field.metadata or {}))


def case_health(ours, _reference, _file, addr):
    # databend-udf's own test client (PyPI), as its users health-check a server.
    client = UDFClient(*addr.rsplit(":", 1))
    expect(client.health_check(), True, "UDFClient.health_check")
    expect(client.echo("hello, databend"), "hello, databend", "UDFClient.echo")
    # And as Databend itself does: a zero-column batch of one row, and LargeUtf8 for echo.
    schema = info(ours, "builtin_healthy").schema
    expect(schema.metadata.get(INPUT_COUNT), b"0", "builtin_healthy input count")
    expect(schema.field(len(schema) - 1).type, pa.int32(), "builtin_healthy result type")
    one_row = pa.RecordBatch.from_arrays([pa.array([None])], names=["x"]).select([])
    results = exchange(ours, "builtin_healthy", [one_row])
    expect([v for r in results for v in r.column(0).to_pylist()], [1], "builtin_healthy")
    values, field = call(ours, "builtin_echo", [["a", None, "ünïcödé " * 100]])
    expect(values, ["a", None, "ünïcödé " * 100], "builtin_echo")
    expect(field.type, pa.large_string(), "builtin_echo result type")


def case_schemas(ours, reference, files, _addr):
    # Databend compares the last field (the result) with the declared type, nullability
    # included, and reads the input count from the schema metadata: for every function of the
    # file, both must be what databend-udf's own server says.
    for name in example_functions(files) + ["builtin_echo", "builtin_healthy"]:
        mine, theirs = info(ours, name).schema, info(reference, name).schema
        expect(mine.metadata.get(INPUT_COUNT), theirs.metadata[INPUT_COUNT], f"{name} input count")
        expect(len(mine), len(theirs), f"{name} field count")
        for i in range(len(theirs)):
            expect(describe(mine.field(i)), describe(theirs.field(i)), f"{name} field {i}")
    try:
        info(ours, "no_such_function")
    except pa.ArrowException:
        pass
    else:
        raise AssertionError("get_flight_info of an unknown function succeeded")


def case_types(ours, reference, _file, _addr):
    # Each call: Databend's physical types in, exact values out, the same as the reference.
    calls = [
        # INT with skip_null: NULL in, NULL out, without a call
        ("gcd", [[48, None, 7], [18, 5, 0]], [6, None, 7]),
        # BIGINT, batch_mode (whole columns at once)
        ("add_batch", [[1, -2, 2**40], [10, 20, 1]], [11, 18, 2**40 + 1]),
        # VARIANT as LargeBinary with Extension=Variant, JSON text; VARCHAR as LargeUtf8
        (
            "json_access",
            [[b'{"a": {"b": [1, 2]}}', b'{"a": 1}', b'{"a": null, "b": 2}'], ["a", "a", "b"]],
            [b'{"b": [1, 2]}', b"1", b"2"],
        ),
        # ARRAY(INT64 NULL) as LargeList
        ("array_index_of", [[[1, None, 3], [], None], [3, 1, 1]], [3, 0, 0]),
        # MAP(VARCHAR, VARCHAR) with LargeUtf8 keys and values
        ("map_access", [[[("k", "v")], [("a", "b"), ("k", "w")], []], ["k", "k", "k"]], ["v", "w", None]),
        # a TUPLE(VARCHAR, INT NULL) result
        ("split_at", [["x,2", "y", "z,5"], [3, 1, 0]], [("x", 6), ("y", None), ("z", 0)]),
        # BINARY as LargeBinary
        ("binary_reverse", [[b"abc", None, b""]], [b"cba", None, b""]),
        # DECIMAL(p, s) as Decimal128
        (
            "decimal_div",
            [
                [decimal.Decimal("1"), decimal.Decimal("-7.5"), None],
                [decimal.Decimal("3"), decimal.Decimal("2"), decimal.Decimal("1")],
            ],
            [decimal.Decimal("0.333333"), decimal.Decimal("-3.750000"), None],
        ),
    ]
    for name, columns, expected in calls:
        values, field = call(ours, name, columns)
        expect(values, expected, name)
        declared = info(ours, name).schema
        declared = declared.field(len(declared) - 1)
        expect(describe(field)[:2], describe(declared)[:2], f"{name} result field")
        expect(call(reference, name, columns)[0], expected, f"{name} on the reference server")


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def gcd_slice(start, rows):
    schema = pa.schema([pa.field("arg1", pa.int32()), pa.field("arg2", pa.int32())])
    a = [(i * 7919) % 1_000_003 + 1 for i in range(start, start + rows)]
    b = [(i * 104_729) % 999_983 + 1 for i in range(start, start + rows)]
    batch = pa.RecordBatch.from_arrays([pa.array(a, pa.int32()), pa.array(b, pa.int32())], schema=schema)
    return batch, [gcd(x, y) for x, y in zip(a, b)]


def case_slices(ours, _reference, _file, _addr):
    # 200,000 rows as Databend sends them: 65,536-row slices, one after another in one exchange.
    total = 200_000
    slices = [gcd_slice(start, min(SLICE, total - start)) for start in range(0, total, SLICE)]
    expect([b.num_rows for b, _ in slices], [SLICE, SLICE, SLICE, total - 3 * SLICE], "slice sizes")
    results = exchange(ours, "gcd", [b for b, _ in slices])
    values = [v for r in results for v in r.column(0).to_pylist()]
    expect(len(values), total, "rows back")
    expect(values == [v for _, e in slices for v in e], True, "gcd over 200,000 rows")


def case_concurrent(ours, _reference, _file, addr):
    # Many exchanges at once, each a 65,536-row slice, each over its own connection as
    # Databend's executor threads do; results must match row for row.
    def one(k):
        batch, expected = gcd_slice(k * SLICE, SLICE)
        started = time.monotonic()
        results = exchange(connect(addr), "gcd", [batch])
        values = [v for r in results for v in r.column(0).to_pylist()]
        return k, values == expected, len(values), time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(one, range(8)))
    for k, same, rows, _ in outcomes:
        expect((same, rows), (True, SLICE), f"concurrent exchange {k}")
    print("concurrent exchanges: " + ", ".join(f"{t:.2f}s" for *_, t in outcomes))


CASES = {
    "health": case_health,
    "schemas": case_schemas,
    "types": case_types,
    "slices": case_slices,
    "concurrent": case_concurrent,
}


def main():
    addr, reference_addr, *rest = sys.argv[1:]
    files = [a for a in rest if a.endswith(".py")]
    cases = [a for a in rest if not a.endswith(".py")]
    ours, reference = connect(addr), connect(reference_addr)
    for case in cases:
        CASES[case](ours, reference, files, addr)
        print(f"ok {case}", flush=True)


if __name__ == "__main__":
    main()
