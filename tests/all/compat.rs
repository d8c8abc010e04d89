//! UDF files written for RisingWave's arrow-udf and Databend's databend-udf packages load
//! unchanged, in every mode: their types, input names, dialects, calling conventions and options.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Int32Array, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow::datatypes::Int64Type;
use udfbox::{FunctionSet, Mode, Options};

use crate::harness::{check, function_set, repo_root, MODES};

fn example(mode: Mode, name: &str) -> FunctionSet {
    let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
    set.load_file(repo_root().join("udfs").join(name)).unwrap();
    set
}

/// `(name, kind, func_type, input types, result type, input names)` of every function of `set`.
fn signatures(set: &FunctionSet, dialect: &str) -> Vec<(String, String, String, String, String, String)> {
    set.functions()
        .map(|f| {
            assert_eq!(f.info.dialect, dialect, "{}", f.info.name);
            (
                f.info.name.clone(),
                f.info.kind.clone(),
                f.info.func_type.clone(),
                f.info.input_types.as_ref().map_or("?".into(), |t| t.join(", ")),
                f.info.result_type.clone(),
                f.info.input_names.join(", "),
            )
        })
        .collect()
}

fn owned(rows: &[[&str; 6]]) -> Vec<(String, String, String, String, String, String)> {
    rows.iter().map(|r| (r[0].into(), r[1].into(), r[2].into(), r[3].into(), r[4].into(), r[5].into())).collect()
}

fn strings(array: &ArrayRef) -> Vec<Option<String>> {
    if let Some(large) = array.as_any().downcast_ref::<LargeStringArray>() {
        return large.iter().map(|v| v.map(str::to_string)).collect();
    }
    let text = array.as_any().downcast_ref::<StringArray>().expect("a string column");
    text.iter().map(|v| v.map(str::to_string)).collect()
}

#[test]
fn arrow_udf_example_in_every_mode() {
    for mode in MODES {
        let set = example(mode, "arrow_udf_example.py");
        assert_eq!(
            signatures(&set, "arrow-udf"),
            owned(&[
                ["array_len_batch", "scalar", "pandas", "ARRAY<STRING>", "INT", "arrays"],
                ["decimal_add", "scalar", "general", "NUMERIC, NUMERIC", "NUMERIC", "a, b"],
                [
                    "extract_tcp_info",
                    "scalar",
                    "general",
                    "STRING",
                    "ROW<`src_ip` STRING, `dst_ip` STRING, `src_port` SMALLINT, `dst_port` SMALLINT>",
                    "tcp_packet",
                ],
                ["gcd", "scalar", "general", "INT, INT", "INT", "x, y"],
                ["json_get", "scalar", "general", "JSON, STRING", "JSON", "value, key"],
                ["series", "table", "general", "INT", "ROW<`series` INT>", "n"],
            ]),
            "{mode}"
        );
        let gcd = set.call(
            "gcd",
            &[Arc::new(Int32Array::from(vec![25, 7])) as ArrayRef, Arc::new(Int32Array::from(vec![15, 3]))],
            2,
        );
        assert_eq!(gcd.unwrap().as_ref(), &Int32Array::from(vec![5, 1]) as &dyn Array, "{mode}");

        let big: ArrayRef = Arc::new(StringArray::from(vec![Some("12345678901234567890123456789.5"), None]));
        let one: ArrayRef = Arc::new(StringArray::from(vec![Some("0.25"), Some("1")]));
        let sum = set.call("decimal_add", &[big, one], 2);
        // arrow-udf passes NULL on to the function (it has no skip_null), which fails on it.
        assert!(sum.unwrap_err().to_string().contains("unsupported operand type(s) for +"), "{mode}");
        let big: ArrayRef = Arc::new(StringArray::from(vec!["1234567890123456789012345.5"]));
        let one: ArrayRef = Arc::new(StringArray::from(vec!["0.25"]));
        let sum = set.call("decimal_add", &[big, one], 1).unwrap();
        assert_eq!(strings(&sum), [Some("1234567890123456789012345.75".into())], "{mode}");
        assert_eq!(
            set.function("decimal_add").unwrap().result_field.metadata().get(udfbox::types::LOGICAL_TYPE_KEY),
            Some(&"NUMERIC".to_string())
        );

        let json: ArrayRef = Arc::new(StringArray::from(vec![Some(r#"{"k": {"x": [1]}}"#), Some("[1]"), None]));
        let keys: ArrayRef = Arc::new(StringArray::from(vec!["k", "k", "k"]));
        let got = set.call("json_get", &[json, keys], 3).unwrap();
        assert_eq!(strings(&got), [Some(r#"{"x": [1]}"#.into()), None, None], "{mode}");

        let (sources, rows) =
            set.call_table("series", &[Arc::new(Int32Array::from(vec![2, 0, 1])) as ArrayRef], 3).unwrap();
        assert_eq!(sources, Int32Array::from(vec![0, 0, 2]), "{mode}");
        assert_eq!(rows.column(0).as_ref(), &Int32Array::from(vec![0, 1, 0]) as &dyn Array, "{mode}");

        // batch=True: one call with the whole column, as a list.
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![]),
        ]));
        let got = set.call("array_len_batch", &[lists], 3).unwrap();
        assert_eq!(got.as_ref(), &Int32Array::from(vec![Some(2), None, Some(0)]) as &dyn Array, "{mode}");
    }
}

#[test]
fn databend_udf_example_in_every_mode() {
    for mode in MODES {
        let set = example(mode, "databend_udf_example.py");
        assert_eq!(
            signatures(&set, "databend-udf"),
            owned(&[
                ["add_batch", "scalar", "pandas", "BIGINT, BIGINT", "BIGINT", "a, b"],
                ["array_index_of", "scalar", "general", "ARRAY<BIGINT>, BIGINT", "INT NOT NULL", "array, item"],
                ["gcd", "scalar", "general", "INT, INT", "INT", "x, y"],
                ["json_access", "scalar", "general", "JSON, LARGE_STRING", "JSON", "data, field"],
                [
                    "map_access",
                    "scalar",
                    "general",
                    "MAP<LARGE_STRING NOT NULL, LARGE_STRING NOT NULL>, LARGE_STRING",
                    "LARGE_STRING",
                    "map, key",
                ],
                [
                    "split_at",
                    "scalar",
                    "general",
                    "LARGE_STRING, INT",
                    "ROW<`1` LARGE_STRING NOT NULL, `2` INT>",
                    "text, index",
                ],
                ["squares", "table", "general", "INT", "ROW<`num` INT, `square` BIGINT>", "n"],
            ]),
            "{mode}"
        );
        // skip_null: a NULL argument gives NULL without calling gcd.
        let x: ArrayRef = Arc::new(Int32Array::from(vec![Some(25), None, Some(9)]));
        let y: ArrayRef = Arc::new(Int32Array::from(vec![Some(15), Some(3), None]));
        let got = set.call("gcd", &[x, y], 3).unwrap();
        assert_eq!(got.as_ref(), &Int32Array::from(vec![Some(5), None, None]) as &dyn Array, "{mode}");

        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![10, 20, 30]));
        let got = set.call("add_batch", &[a, b], 3).unwrap();
        assert_eq!(got.as_ref(), &Int64Array::from(vec![11, 22, 33]) as &dyn Array, "{mode}");

        let texts: ArrayRef = Arc::new(LargeStringArray::from(vec!["a,2", "b"]));
        let factors: ArrayRef = Arc::new(Int32Array::from(vec![3, 1]));
        let got = set.call("split_at", &[texts, factors], 2).unwrap();
        let tuples = got.as_any().downcast_ref::<StructArray>().unwrap();
        assert!(!tuples.fields()[0].is_nullable() && tuples.fields()[1].is_nullable(), "{mode}");
        assert_eq!(tuples.column(1).as_ref(), &Int32Array::from(vec![Some(6), None]) as &dyn Array, "{mode}");

        let (sources, rows) =
            set.call_table("squares", &[Arc::new(Int32Array::from(vec![0, 3])) as ArrayRef], 2).unwrap();
        assert_eq!(sources, Int32Array::from(vec![1, 1, 1]), "{mode}");
        assert_eq!(rows.column_by_name("square").unwrap().as_ref(), &Int64Array::from(vec![0, 1, 4]) as &dyn Array);
    }
}

const ARROW_UDF_CONVENTIONS: &str = r#"
import socket
from arrow_udf import udf, udtf, UdfServer

@udf(input_types=["STRUCT<a: INT, b: STRUCT<c: VARCHAR>>[]"], result_type="VARCHAR")
def describe(items):
    return ";".join("%s %r" % (type(item).__name__, item) for item in items)

@udf(input_types=["INT8", "UINT64", "INTERVAL DAY TO SECOND", "LARGE_STRING", "LARGE_BINARY", "FLOAT32"],
     result_type="VARCHAR", io_threads=8)
def kinds(a, b, c, d, e, f):
    return " ".join(type(v).__name__ for v in (a, b, c, d, e, f))

@udtf(input_types=["INT"], result_types=["INT", "VARCHAR"], name="pairs")
def make_pairs(n):
    for i in range(n):
        yield i, str(i) * i

@udf(input_types=[], result_type="VARCHAR")
def connect():
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    except OSError as exc:
        return "refused"
    return "connected"

server = UdfServer(location="0.0.0.0:8815")
server.add_function(describe)
server.serve()
try:
    server.add_function(describe)
except ValueError as exc:
    duplicate = str(exc)
"#;

#[tokio::test]
async fn arrow_udf_calling_conventions() {
    check(
        ARROW_UDF_CONVENTIONS,
        None,
        "SELECT describe([named_struct('a', 1, 'b', named_struct('c', 'x'))]) AS d, \
         kinds(CAST(1 AS TINYINT), CAST(2 AS BIGINT UNSIGNED), INTERVAL '1 day', 'l', CAST('b' AS BYTEA), 1.5) AS k, \
         x, y FROM (VALUES (3)) AS v(n), LATERAL TABLE(pairs(n)) AS t(x, y) ORDER BY x",
        r#"d,k,x,y
        "dict {'a': 1, 'b': {'c': 'x'}}",int int MonthDayNano str bytes float,0,
        "dict {'a': 1, 'b': {'c': 'x'}}",int int MonthDayNano str bytes float,1,1
        "dict {'a': 1, 'b': {'c': 'x'}}",int int MonthDayNano str bytes float,2,22"#,
    )
    .await;
    let set = function_set(Mode::Wasm, ARROW_UDF_CONVENTIONS).unwrap();
    assert!(set.function("make_pairs").is_none(), "name= names the function");
    // A list of result types: columns f0, f1, ... (a single result type is named after the function).
    assert_eq!(set.function("pairs").unwrap().info.result_type, "ROW<`f0` INT, `f1` STRING>");
    // Sockets import in the sandbox; connecting is refused.
    let got = set.call("connect", &[], 1).unwrap();
    assert_eq!(strings(&got), [Some("refused".to_string())]);
}

const DATABEND_UDF_CONVENTIONS: &str = r#"
from databend_udf import Headers, StageLocation, UDFServer, udf

@udf(input_types=["TUPLE(INT, ARRAY(TUPLE(VARCHAR NULL, BOOLEAN)))", "MAP(STRING, VARIANT)"], result_type="VARCHAR")
def describe(t, m):
    return "%r %r" % (t, m)

@udf(input_types=["BIGINT UNSIGNED", "DATETIME", "BINARY", "DECIMAL(10, 2)"], result_type="VARCHAR NOT NULL",
     io_threads=4, max_concurrency=2, concurrency_timeout=1.5)
def kinds(a, b, c, d, headers):
    return " ".join(type(v).__name__ for v in (a, b, c, d, headers)) + " tenant=%r" % headers.tenant

@udf(input_types=["INT"], result_type=["INT", ("label", "VARCHAR NULL")])
def rows(n):
    if n == 0:
        return None
    if n == 1:
        return {"col0": [1, 2], "label": ["a", None]}
    return [{"col0": n, "label": "x"}, [n + 1, "y"]]

server = UDFServer("0.0.0.0:8815", metric_location="0.0.0.0:8816")
server.add_function(describe)
server.serve()
"#;

#[tokio::test]
async fn databend_udf_calling_conventions() {
    check(
        DATABEND_UDF_CONVENTIONS,
        None,
        "SELECT describe(named_struct('1', 7, '2', [named_struct('1', CAST(NULL AS VARCHAR), '2', true)]), MAP {'k': '[1]'}) AS d, \
         kinds(CAST(1 AS BIGINT UNSIGNED), TIMESTAMP '2024-01-02 03:04:05', CAST('b' AS BYTEA), 1.5) AS k",
        r#"d,k
        "(7, [(None, True)]) {'k': [1]}",int datetime bytes Decimal Headers tenant=''"#,
    )
    .await;
    for mode in MODES {
        let set = function_set(mode, DATABEND_UDF_CONVENTIONS).unwrap();
        assert_eq!(set.function("rows").unwrap().info.result_type, "ROW<`col0` INT, `label` LARGE_STRING>");
        assert_eq!(set.function("kinds").unwrap().info.input_names, ["a", "b", "c", "d"], "{mode}");
        let (sources, rows) =
            set.call_table("rows", &[Arc::new(Int32Array::from(vec![0, 1, 5])) as ArrayRef], 3).unwrap();
        assert_eq!(sources, Int32Array::from(vec![1, 1, 2, 2]), "{mode}");
        assert_eq!(rows.column(0).as_ref(), &Int32Array::from(vec![1, 2, 5, 6]) as &dyn Array, "{mode}");
        assert_eq!(strings(rows.column(1)), [Some("a".into()), None, Some("x".into()), Some("y".into())]);
    }
}

#[tokio::test]
async fn unsupported_types_and_options_are_clear_errors() {
    let cases = [
        (
            "from arrow_udf import udf\n@udf(input_types=['DOUBLE'], result_type='INT')\ndef f(x):\n    return 1\n",
            "arrow-udf function f: input type 'DOUBLE': unsupported type (arrow-udf spells it FLOAT64 or DOUBLE PRECISION)",
        ),
        (
            "from arrow_udf import udtf\n@udtf(input_types='INT', result_types='NULL')\ndef g(x):\n    yield x\n",
            "arrow-udf function g: result type 'NULL': unsupported type",
        ),
        (
            "from databend_udf import udf\n@udf(input_types=['VECTOR(8)'], result_type='INT')\ndef h(x):\n    return 1\n",
            "databend-udf function h: input type 'VECTOR(8)': VECTOR is not supported by udfbox",
        ),
        (
            "from databend_udf import udf\n@udf(input_types=['INT'], result_type='DECIMAL(50, 2)')\ndef k(x):\n    return 1\n",
            "databend-udf function k: result type 'DECIMAL(50, 2)': DECIMAL precision above 38 is not supported by udfbox",
        ),
        (
            "from databend_udf import udf\n@udf(input_types=['INT', 'INT'], result_type='INT')\ndef m(x):\n    return 1\n",
            "Function m expects 1 data argument(s) but 2 input type(s) were provided",
        ),
        (
            "from databend_udf import udf\n@udf(input_types=['INT'], result_type='INT NOT NULL', skip_null=True)\n\
             def n(x):\n    return 1\n",
            "Return type of function n must be nullable when skip_null is True",
        ),
        (
            "from databend_udf import udf\n@udf(input_types=['INT', 'VARCHAR'], result_type='INT', stage_refs=['s'])\n\
             def p(x, s):\n    return 1\n",
            "databend-udf function p takes stage locations (stage_refs / StageLocation), which udfbox does not support: \
             the sandbox cannot reach Databend stages",
        ),
        (
            "from databend_udf import udf\n@udf(input_types=['INT'], result_type=['INT'], batch_mode=True)\n\
             def q(x):\n    return [x]\n",
            "databend-udf function q: batch_mode table functions are not supported by udfbox",
        ),
    ];
    for (source, message) in cases {
        for mode in MODES {
            let error = function_set(mode, source).unwrap_err().to_string();
            assert!(error.contains(message), "{mode}: {error}\nexpected: {message}");
        }
    }
}

#[tokio::test]
async fn both_libraries_load_beside_udfbox_functions() {
    // One set, three dialects: each function reports its own.
    let source = "from udfbox import udf as flink_udf\nfrom arrow_udf import udf as arrow_udf\n\
                  from databend_udf import udf as databend_udf\n\
                  a = flink_udf(lambda x: x, ['BIGINT'], 'BIGINT')\n\
                  @arrow_udf(input_types=['BIGINT'], result_type='BIGINT')\ndef b(x):\n    return x\n\
                  @databend_udf(input_types=['BIGINT'], result_type='BIGINT')\ndef c(x):\n    return x\n\
                  if __name__ == '__main__':\n    raise SystemExit('a UDF file is not the main module')\n";
    for mode in MODES {
        let set = function_set(mode, source).unwrap();
        let dialects: Vec<&str> = set.functions().map(|f| f.info.dialect.as_str()).collect();
        assert_eq!(dialects, ["udfbox", "arrow-udf", "databend-udf"], "{mode}");
    }
    let table = RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(vec![4])) as ArrayRef)]).unwrap();
    check(source, Some(table), "SELECT a(v) a, b(v) b, c(v) c FROM t", "a,b,c\n4,4,4").await;
}
