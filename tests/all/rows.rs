//! The row path (`FunctionSet::prepare` / `RowHandle::call_row`): in every mode, each case gives
//! what a one-row batch call gives, and the modes agree.

use std::time::Duration;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::prelude::SessionConfig;
use datafusion::scalar::ScalarValue;
use udfbox::{Backend, Error, ErrorPolicy, FunctionSet, Limits, Mode, Options, UdfErrorKind};

use crate::harness::{check_in, function_set, MODES, WHICH_PATH_PY};

const SOURCE: &str = r#"
import time
from udfbox import udf, DataTypes

add = udf(lambda a, b: None if a is None or b is None else a + b,
          [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())
upper = udf(lambda s: None if s is None else s.upper(), [DataTypes.STRING()], DataTypes.STRING())

@udf(input_types=[DataTypes.INT(), DataTypes.DOUBLE(), DataTypes.STRING()],
     result_type=DataTypes.STRING())
def three(a, b, c):
    print("three called with", a)
    return "%s|%s|%s" % (a, b, c)

@udf(input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def div(a, b):
    if b == 0:
        raise ValueError("no dividing %d by zero" % a)
    return a // b
greater = udf(lambda a, b: None if a is None else a > b, [DataTypes.FLOAT(), DataTypes.SMALLINT()],
              DataTypes.BOOLEAN())
widen = udf(lambda a: a * 2**40, [DataTypes.INT()], DataTypes.INT())
never_null = udf(lambda a: None, [DataTypes.BIGINT()], DataTypes.BIGINT(False))
strict = udf(lambda a: a + 1, [DataTypes.BIGINT(False)], DataTypes.BIGINT())
unsigned = udf(lambda a, b: a + b, [DataTypes.UTINYINT(), DataTypes.UBIGINT()], DataTypes.UBIGINT())
cents = udf(lambda a: None if a is None else a * 2, [DataTypes.DECIMAL(10, 2)], DataTypes.DECIMAL(10, 2))
nothing = udf(lambda: "constant", [], DataTypes.STRING())
sleepy = udf(lambda s: time.sleep(s) or s, [DataTypes.DOUBLE()], DataTypes.DOUBLE())

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def spin(n):
    while True:
        n += 1
"#;

fn i64s(values: &[Option<i64>]) -> Vec<ScalarValue> {
    values.iter().map(|v| ScalarValue::Int64(*v)).collect()
}

/// The cases: function, arguments.
fn cases() -> Vec<(&'static str, Vec<ScalarValue>)> {
    let text = |s: Option<&str>| ScalarValue::Utf8(s.map(str::to_string));
    vec![
        ("add", i64s(&[Some(1), Some(2)])),
        ("add", i64s(&[None, Some(2)])),
        ("add", i64s(&[Some(i64::MAX), Some(1)])),
        ("add", vec![ScalarValue::Int32(Some(40)), ScalarValue::Int8(Some(2))]),
        ("add", vec![ScalarValue::Utf8(Some("5".into())), ScalarValue::Int64(Some(2))]),
        ("add", i64s(&[Some(1)])),
        ("upper", vec![text(Some("straße ünïcode"))]),
        ("upper", vec![text(Some(""))]),
        ("upper", vec![text(None)]),
        ("upper", vec![ScalarValue::LargeUtf8(Some("large".into()))]),
        ("three", vec![ScalarValue::Int32(Some(7)), ScalarValue::Float64(Some(1.5)), text(Some("x"))]),
        ("three", vec![ScalarValue::Int32(None), ScalarValue::Float64(None), text(None)]),
        ("three", vec![ScalarValue::Int32(Some(-1)), ScalarValue::Float64(Some(f64::INFINITY)), text(Some("é"))]),
        ("div", i64s(&[Some(7), Some(2)])),
        ("div", i64s(&[Some(7), Some(0)])),
        ("greater", vec![ScalarValue::Float32(Some(2.5)), ScalarValue::Int16(Some(2))]),
        ("greater", vec![ScalarValue::Float32(Some(1.5)), ScalarValue::Int16(Some(2))]),
        ("greater", vec![ScalarValue::Float32(None), ScalarValue::Int16(Some(2))]),
        ("widen", vec![ScalarValue::Int32(Some(3))]),
        ("widen", vec![ScalarValue::Int32(Some(0))]),
        ("never_null", i64s(&[Some(1)])),
        ("strict", i64s(&[Some(1)])),
        ("strict", i64s(&[None])),
        ("unsigned", vec![ScalarValue::UInt8(Some(255)), ScalarValue::UInt64(Some(u64::MAX - 255))]),
        ("unsigned", vec![ScalarValue::UInt8(Some(1)), ScalarValue::UInt64(Some(u64::MAX))]),
        ("cents", vec![ScalarValue::Decimal128(Some(1234), 10, 2)]),
        ("cents", vec![ScalarValue::Decimal128(None, 10, 2)]),
        ("nothing", vec![]),
    ]
}

/// A result or error as text, comparable across paths and modes.
fn outcome(result: Result<ScalarValue, Error>) -> String {
    match result {
        Ok(value) => format!("{value:?}"),
        Err(Error::Udf(e)) => {
            format!("udf error {:?} {:?} row {:?} {}: {}", e.kind, e.function, e.row, e.exception_type, e.message)
        }
        Err(e) => format!("error {e}"),
    }
}

fn batch_call(set: &FunctionSet, name: &str, args: &[ScalarValue]) -> Result<ScalarValue, Error> {
    let arrays: Vec<ArrayRef> = args.iter().map(|v| v.to_array().unwrap()).collect();
    let result = set.call(name, &arrays, 1)?;
    Ok(ScalarValue::try_from_array(&result, 0).unwrap())
}

#[test]
fn row_path_matches_one_row_batches_in_every_mode() {
    let mut per_mode = Vec::new();
    for mode in MODES {
        let set = function_set(mode, SOURCE).unwrap();
        let mut outcomes = Vec::new();
        for (name, args) in cases() {
            let handle = set.prepare(name).unwrap();
            assert_eq!(handle.is_compact(), name != "cents", "{mode}: {name}");
            // Twice through one handle: its reused buffer must not carry anything over.
            let row = outcome(handle.call_row(&args));
            assert_eq!(outcome(handle.call_row(&args)), row, "{mode}: {name}{args:?} second call");
            let batch = outcome(batch_call(&set, name, &args));
            assert_eq!(row, batch, "{mode}: {name}{args:?}: row path and batch path differ");
            outcomes.push(row);
        }
        per_mode.push((mode, outcomes));
    }
    let (_, wasm) = &per_mode[0];
    for (mode, outcomes) in &per_mode[1..] {
        assert_eq!(outcomes, wasm, "{mode} and wasm differ");
    }
    // The expected values themselves, so that two equally wrong paths cannot pass.
    let expected = [
        "Int64(3)",
        "Int64(NULL)",
        "udf error BadResult Some(\"add\") row Some(0) TypeError: row 0: value 9223372036854775808 is out of range for BIGINT",
        "Int64(42)",
        "Int64(7)",
        "error function 'add' takes 2 arguments (BIGINT, BIGINT), got 1",
        "Utf8(\"STRASSE ÜNÏCODE\")",
        "Utf8(\"\")",
        "Utf8(NULL)",
        "Utf8(\"LARGE\")",
        "Utf8(\"7|1.5|x\")",
        "Utf8(\"None|None|None\")",
        "Utf8(\"-1|inf|é\")",
        "Int64(3)",
        "udf error Exception Some(\"div\") row Some(0) ValueError: no dividing 7 by zero",
        "Boolean(true)",
        "Boolean(false)",
        "Boolean(NULL)",
        "udf error BadResult Some(\"widen\") row Some(0) TypeError: row 0: value 3298534883328 is out of range for INT",
        "Int32(0)",
    ];
    for (got, want) in wasm.iter().zip(expected) {
        assert_eq!(got, want);
    }
    let tail = &wasm[expected.len()..];
    assert!(tail[0].contains("BadResult") && tail[0].contains("got NULL"), "{}", tail[0]);
    assert_eq!(tail[1], "Int64(2)");
    assert!(tail[2].contains("is BIGINT NOT NULL, but row 0 is NULL"), "{}", tail[2]);
    assert_eq!(tail[3], format!("UInt64({})", u64::MAX));
    assert!(tail[4].contains("out of range for UBIGINT"), "{}", tail[4]);
    assert_eq!(tail[5], "Decimal128(24.68,10,2)");
    assert_eq!(tail[6], "Decimal128(NULL,10,2)");
    assert_eq!(tail[7], "Utf8(\"constant\")");
}

#[test]
fn null_policy_nulls_the_failing_row_as_a_batch_does() {
    for mode in MODES {
        let mut set = function_set(mode, SOURCE).unwrap();
        set.set_error_policy("div", ErrorPolicy::Null);
        set.set_error_policy("widen", ErrorPolicy::Null);
        set.set_error_policy("never_null", ErrorPolicy::Null);
        let div = set.prepare("div").unwrap();
        assert_eq!(div.call_row(&i64s(&[Some(7), Some(0)])).unwrap(), ScalarValue::Int64(None), "{mode}");
        assert_eq!(div.call_row(&i64s(&[Some(7), Some(7)])).unwrap(), ScalarValue::Int64(Some(1)), "{mode}");
        let failures = set.failures("div").unwrap();
        assert_eq!(failures.rows, 1, "{mode}");
        assert!(failures.first.contains("no dividing 7 by zero"), "{mode}: {}", failures.first);
        let widen = set.prepare("widen").unwrap();
        assert_eq!(widen.call_row(&[ScalarValue::Int32(Some(3))]).unwrap(), ScalarValue::Int32(None), "{mode}");
        assert_eq!(set.failures("widen").unwrap().rows, 1, "{mode}");
        // A NOT NULL result has no NULL to put in place of a failure.
        let never_null = set.prepare("never_null").unwrap();
        assert!(matches!(
            never_null.call_row(&i64s(&[Some(1)])),
            Err(Error::Udf(e)) if e.kind == UdfErrorKind::BadResult
        ));
        assert_eq!(
            outcome(never_null.call_row(&i64s(&[Some(1)]))),
            outcome(batch_call(&set, "never_null", &i64s(&[Some(1)]))),
            "{mode}"
        );
    }
}

#[test]
fn handles_refuse_what_is_not_a_scalar_function() {
    let source =
        format!("{SOURCE}\nfrom udfbox import udtf\nchars = udtf(lambda s: list(s or ''), result_types='STRING')\n");
    for mode in MODES {
        let set = function_set(mode, &source).unwrap();
        assert!(matches!(set.prepare("missing"), Err(Error::Invalid(m)) if m.contains("unknown function 'missing'")));
        assert!(matches!(set.prepare("chars"), Err(Error::Invalid(m)) if m.contains("is a table function")), "{mode}");
    }
}

#[test]
fn a_timeout_ends_a_row_call_and_the_handle_works_after() {
    // Native mode has no timeout: it runs trusted code in the host's own thread.
    for mode in [Mode::Wasm, Mode::Process] {
        let limits = Limits { timeout: Duration::from_secs(1), ..Limits::default() };
        let mut set = FunctionSet::new(Options { mode, limits, ..Default::default() }).unwrap();
        set.load_source("test_udfs.py", SOURCE).unwrap();
        let sleepy = set.prepare("sleepy").unwrap();
        let spin = set.prepare("spin").unwrap();
        let add = set.prepare("add").unwrap();
        let slept = sleepy.call_row(&[ScalarValue::Float64(Some(30.0))]);
        assert!(matches!(slept, Err(Error::Timeout { .. })), "{mode}: {slept:?}");
        assert_eq!(add.call_row(&i64s(&[Some(1), Some(2)])).unwrap(), ScalarValue::Int64(Some(3)), "{mode}");
        let spun = spin.call_row(&i64s(&[Some(0)]));
        assert!(matches!(spun, Err(Error::Timeout { .. })), "{mode}: {spun:?}");
        // The sandbox or worker that timed out was replaced; the same handles reach its successor.
        let woke = sleepy.call_row(&[ScalarValue::Float64(Some(0.0))]).unwrap();
        assert_eq!(woke, ScalarValue::Float64(Some(0.0)), "{mode}");
        assert_eq!(add.call_row(&i64s(&[Some(2), Some(2)])).unwrap(), ScalarValue::Int64(Some(4)), "{mode}");
        drop((sleepy, spin, add));
        // Under the null policy a timeout nulls the row, as it nulls a batch.
        set.set_error_policy("spin", ErrorPolicy::Null);
        let spin = set.prepare("spin").unwrap();
        assert_eq!(spin.call_row(&i64s(&[Some(0)])).unwrap(), ScalarValue::Int64(None), "{mode}");
        assert_eq!(set.failures("spin").unwrap().rows, 1, "{mode}");
    }
}

/// The backends themselves, for what `FunctionSet` does not show: output and malformed rows.
fn backends() -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(udfbox::wasm::WasmBackend::new(Limits::default(), None).unwrap()),
        Box::new(udfbox::native::NativeBackend::new(None).unwrap()),
        Box::new(
            udfbox::process::ProcessBackend::new(udfbox::process::default_python(), Limits::default(), None).unwrap(),
        ),
    ]
}

#[test]
fn row_calls_bring_their_output_and_refuse_malformed_rows() {
    for backend in backends() {
        let mode = backend.mode();
        backend.load("test_udfs.py", SOURCE, &[]).result.unwrap();
        let three = backend.prepare_row("three").result.unwrap();
        // INT 7, DOUBLE 1.5, STRING "x", no NULL.
        let mut row = vec![0u8];
        row.extend_from_slice(&7i32.to_le_bytes());
        row.extend_from_slice(&1.5f64.to_le_bytes());
        row.extend_from_slice(&1u32.to_le_bytes());
        row.push(b'x');
        let reply = backend.call_row("three", three, &row, ErrorPolicy::Fail);
        assert_eq!(reply.result.unwrap().value, b"\x007|1.5|x".to_vec(), "{mode}");
        assert!(reply.output.contains("three called with 7"), "{mode}: output {:?}", reply.output);
        // A string length running past the row, a short row, an id nothing has.
        for (id, bad) in [(three, &row[..row.len() - 1]), (three, &row[..3]), (9999, &row[..])] {
            let error = backend.call_row("three", id, bad, ErrorPolicy::Null).result.unwrap_err();
            assert!(matches!(&error, Error::Udf(e) if e.kind == UdfErrorKind::BadRequest), "{mode}: {error}");
        }
        // Functions without a compact encoding have no row-path id.
        let error = backend.prepare_row("cents").result.unwrap_err();
        assert!(matches!(&error, Error::Udf(e) if e.kind == UdfErrorKind::BadRequest), "{mode}: {error}");
    }
}

/// In SQL, a one-row batch of a function with a row encoding goes through the row path (a
/// table of one-row batches, and a call on literals, which DataFusion folds on one row of
/// scalars while planning); a batch of several rows stays a batch. In every mode.
#[tokio::test]
async fn sql_calls_one_row_batches_through_the_row_path() {
    let source = format!(
        "{WHICH_PATH_PY}\nfrom udfbox import udf, DataTypes\n\
         path = udf(lambda n: '%s %s' % (n, _path()), [DataTypes.BIGINT()], DataTypes.STRING())\n"
    );
    let rows =
        |values: Vec<i64>| RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(values)) as ArrayRef)]).unwrap();
    let sql = "SELECT path(n) AS p FROM t";
    let one_row_batches = vec![vec![rows(vec![1]), rows(vec![2]), rows(vec![3])]];
    check_in(&source, one_row_batches, SessionConfig::new(), sql, "p\n1 row\n2 row\n3 row").await;
    let one_batch = vec![vec![rows(vec![1, 2, 3])]];
    check_in(&source, one_batch, SessionConfig::new(), sql, "p\n1 batch\n2 batch\n3 batch").await;
    check_in(&source, vec![], SessionConfig::new(), "SELECT path(7) AS p", "p\n7 row").await;
}
