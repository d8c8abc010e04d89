//! Table functions (`udtf`) and Flink's `LATERAL TABLE(...)` joins: every way `eval` may produce
//! rows, inner and LEFT joins, NULL and empty input, qualifiers and filters on the produced
//! columns, the Rust API. Every case in both modes.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use udfbox::{FunctionSet, Options};

use crate::harness::{both, check, MODES};

const SOURCE: &str = r#"
from udfbox import DataTypes, Row, TableFunction, udtf

@udtf(result_types=[DataTypes.STRING(), DataTypes.INT()])
def split(line):
    if line is None:
        return None
    for word in line.split(" "):
        yield word, len(word)

class Range(TableFunction):
    def eval(self, n):
        return [Row(i) for i in range(n or 0)]

range_ = udtf(Range(), result_types=DataTypes.BIGINT(), name="range_rows")

# Single values for a one-column result; a returned list instead of a generator.
chars = udtf(lambda s: list(s or ""), result_types="STRING")
# A returned scalar is one row.
echo = udtf(lambda x: x, result_types=["BIGINT"])
"#;

fn table() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("line", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(StringArray::from(vec![Some("a bb"), None, Some(""), Some("ccc")])),
            Arc::new(Int64Array::from(vec![Some(2), None, Some(0), Some(1)])),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn lateral_joins_in_flink_syntax() {
    check(
        SOURCE,
        Some(table()),
        "SELECT id, w, l FROM t, LATERAL TABLE(split(line)) AS T(w, l) ORDER BY id, w",
        "id,w,l
         1,a,1
         1,bb,2
         3,,0
         4,ccc,3",
    )
    .await;
    // LEFT JOIN keeps rows that produced nothing (NULL input: eval returned None), with NULLs.
    check(
        SOURCE,
        Some(table()),
        "SELECT t.id, T.w FROM t LEFT JOIN LATERAL TABLE(split(t.line)) AS T(w, l) ON TRUE WHERE t.id IN (1, 2) ORDER BY t.id, T.w",
        "id,w
         1,a
         1,bb
         2,",
    )
    .await;
    // Class-based, single-column, renamed; filters and aggregates over the produced columns.
    check(
        SOURCE,
        Some(table()),
        "SELECT id, count(*) AS c, sum(i) AS s FROM t CROSS JOIN LATERAL TABLE(range_rows(n)) AS R(i) GROUP BY id ORDER BY id",
        "id,c,s
         1,2,1
         4,1,0",
    )
    .await;
    check(
        SOURCE,
        Some(table()),
        "SELECT id, c FROM t JOIN LATERAL TABLE(chars(line)) AS C(c) ON TRUE WHERE c <> 'c' ORDER BY id, c",
        "id,c
         1,
         1,a
         1,b
         1,b",
    )
    .await;
    check(
        SOURCE,
        Some(table()),
        "SELECT id, e FROM t, LATERAL TABLE(echo(id)) AS E(e) WHERE id > 2 ORDER BY id",
        "id,e\n3,3\n4,4",
    )
    .await;
    // No input rows: no output rows.
    check(SOURCE, Some(table()), "SELECT id, w FROM t, LATERAL TABLE(split(line)) AS T(w, l) WHERE id > 10", "id,w")
        .await;
}

#[tokio::test]
async fn lateral_mistakes_are_plan_errors() {
    for (sql, message) in [
        ("SELECT * FROM t, LATERAL TABLE(nope(line)) AS T(w)", "'nope' is not a table function"),
        ("SELECT * FROM t JOIN LATERAL TABLE(split(line)) AS T(w, l) ON t.id = 1", "takes ON TRUE"),
        ("SELECT * FROM LATERAL TABLE(split('a b')) AS T(w, l)", "needs a table before it"),
    ] {
        let error = both(SOURCE, Some(table()), sql).await.unwrap_err();
        assert!(error.contains(message), "{sql}: {error}");
    }
}

#[test]
fn table_functions_from_rust() {
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("tables.py", SOURCE).unwrap();
        let lines: ArrayRef = Arc::new(StringArray::from(vec![Some("x yy"), None, Some("zzz")]));
        let (sources, rows) = set.call_table("split", &[lines], 3).unwrap();
        assert_eq!(sources, Int32Array::from(vec![0, 0, 2]), "{mode}");
        assert_eq!(rows.column(0).as_ref(), &StringArray::from(vec!["x", "yy", "zzz"]) as &dyn Array);
        assert_eq!(rows.column(1).as_ref(), &Int32Array::from(vec![1, 2, 3]) as &dyn Array);
        assert!(matches!(set.call("split", &[], 0), Err(udfbox::Error::Udf(_))), "not a scalar function");
        let error = set.call_table("split", &[Arc::new(Int64Array::from(vec![1])) as ArrayRef], 1).unwrap_err();
        assert!(error.to_string().contains("AttributeError"), "{mode}: {error}");
    }
}

#[test]
fn functions_lists_every_kind() {
    for mode in ["wasm", "native"] {
        let (code, out, err) = crate::harness::udfbox(&[
            "functions",
            "--mode",
            mode,
            "--udf",
            "udfs/top2.py",
            "--udf",
            "udfs/split.py",
            "--udf",
            "udfs/weighted_avg.py",
            "--udf",
            "udfs/vectorized.py",
        ]);
        assert_eq!(code, 0, "{err}");
        let rows: Vec<Vec<&str>> =
            out.lines().map(|l| l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect()).collect();
        for expected in [
            ["top2", "table_aggregate", "general", "(from call site)", "ROW<`value` BIGINT, `rank` INT>", "true"],
            ["split", "table", "general", "(from call site)", "ROW<`f0` STRING, `f1` INT>", "true"],
            ["weighted_avg", "aggregate", "general", "(from call site)", "DOUBLE", "true"],
            ["raise_salary", "scalar", "pandas", "DOUBLE", "DOUBLE", "true"],
        ] {
            assert!(rows.iter().any(|r| r.as_slice() == expected), "{mode}: no {expected:?} in\n{out}");
        }
    }
}

/// PyFlink's Table API entry points import (documentation files load) but are a clear error
/// when used.
#[test]
fn unsupported_pyflink_parts_are_clear_errors() {
    for mode in crate::harness::MODES {
        let source = "from pyflink.table import EnvironmentSettings, TableEnvironment\n\
                      t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())\n";
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        let error = set.load_source("docs.py", source).unwrap_err().to_string();
        assert!(error.contains("NotImplementedError") && error.contains("not PyFlink's Table API"), "{mode}: {error}");
    }
}

/// open() runs before the first call and close() after the last, for table and aggregate
/// functions too; what they print reaches the log tagged with the function.
#[test]
fn lifecycle_of_table_and_aggregate_functions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lifecycle.py");
    std::fs::write(
        &file,
        r#"
from udfbox import AggregateFunction, TableFunction, udaf, udtf

class Explode(TableFunction):
    def open(self, function_context):
        print("open explode", function_context.get_job_parameter("tag", "?"))
    def eval(self, n):
        yield from range(n)
    def close(self):
        print("close explode")

class Total(AggregateFunction):
    def open(self, function_context):
        print("open total")
    def create_accumulator(self):
        return [0]
    def accumulate(self, acc, v):
        acc[0] += v
    def get_value(self, acc):
        return acc[0]
    def close(self):
        print("close total")

explode = udtf(Explode(), result_types="BIGINT")
total = udaf(Total(), result_type="BIGINT")
"#,
    )
    .unwrap();
    for mode in ["wasm", "native"] {
        let (code, out, err) = crate::harness::udfbox(&[
            "sql",
            "--mode",
            mode,
            "--format",
            "csv",
            "--param",
            "tag=t1",
            "--udf",
            file.to_str().unwrap(),
            "SELECT total(x) AS s FROM (VALUES (3)) AS t(n), LATERAL TABLE(explode(n)) AS E(x)",
        ]);
        assert_eq!(code, 0, "{mode}: {err}");
        assert_eq!(out, "s\n3\n", "{mode}");
        for line in ["open explode t1", "close explode", "open total", "close total"] {
            assert!(err.contains(line), "{mode}: no '{line}' in\n{err}");
        }
        assert!(err.find("open explode").unwrap() < err.find("close explode").unwrap(), "{mode}");
    }
}
