//! The per-function error policy: `fail` (the default) ends the query; `null` turns a failing row
//! into NULL and reports it. Same results in both modes; sandbox faults null their whole batch.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Int64Array};
use udfbox::{Error, ErrorPolicy, FunctionSet, Limits, Mode, Options};

use crate::harness::{assert_no_panic, udfbox, MODES};

const SOURCE: &str = r#"
from udfbox import udf, DataTypes

@udf(result_type=DataTypes.BIGINT())
def inverse(x):
    return 100 // x

@udf(result_type=DataTypes.BIGINT())
def wrong_type(x):
    return "two" if x == 2 else x

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def vectorized(x):
    if (x == 0).any():
        raise ValueError("zero in the batch")
    return x * 2
"#;

fn ints(values: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn set(mode: Mode, on_error: ErrorPolicy) -> FunctionSet {
    let mut set = FunctionSet::new(Options { mode, on_error, ..Default::default() }).unwrap();
    set.load_source("policy.py", SOURCE).unwrap();
    set
}

#[test]
fn null_policy_nulls_only_the_failing_rows_in_both_modes() {
    let input = ints(&[Some(4), Some(0), None, Some(2), Some(0)]);
    let mut seen = Vec::new();
    for mode in MODES {
        let set = set(mode, ErrorPolicy::Null);
        let inverse = set.call("inverse", &[input.clone()], 5).unwrap();
        // Row 2 is a NULL input, which the function itself turns into... 100 // None: a TypeError.
        assert_eq!(inverse.as_ref(), &Int64Array::from(vec![Some(25), None, None, Some(50), None]), "{mode}");
        let failures = set.failures("inverse").unwrap();
        assert_eq!(failures.rows, 3, "{mode}");
        assert!(
            failures.first.contains("ZeroDivisionError") && failures.first.contains("row 1"),
            "{mode}: {failures:?}"
        );

        let wrong = set.call("wrong_type", &[input.clone()], 5).unwrap();
        assert_eq!(wrong.as_ref(), &Int64Array::from(vec![Some(4), Some(0), None, None, Some(0)]), "{mode}");
        let failures = set.failures("wrong_type").unwrap();
        assert_eq!(failures.rows, 1, "{mode}");
        assert!(failures.first.contains("row 3") && failures.first.contains("BIGINT"), "{mode}: {failures:?}");

        // A vectorized function fails for its batch as a whole.
        let vectorized = set.call("vectorized", &[input.clone()], 5).unwrap();
        assert_eq!(vectorized.null_count(), 5, "{mode}");
        assert_eq!(set.failures("vectorized").unwrap().rows, 5, "{mode}");
        let fine = set.call("vectorized", &[ints(&[Some(1), Some(2)])], 2).unwrap();
        assert_eq!(fine.as_ref(), &Int64Array::from(vec![2, 4]), "{mode}");
        assert_eq!(set.failures("vectorized").unwrap().rows, 5, "a good batch adds no failures");

        assert!(set.failures("never_failed").is_none());
        seen.push((inverse, wrong));
    }
    assert_eq!(seen[0], seen[1], "wasm and native disagree");
}

#[test]
fn fail_policy_is_the_default_and_can_be_set_per_function() {
    for mode in MODES {
        let mut set = set(mode, ErrorPolicy::Fail);
        let input = ints(&[Some(1), Some(0)]);
        assert!(matches!(set.call("inverse", &[input.clone()], 2), Err(Error::Udf(_))), "{mode}");
        set.set_error_policy("inverse", ErrorPolicy::Null);
        assert_eq!(set.error_policy("inverse"), ErrorPolicy::Null);
        assert_eq!(set.error_policy("wrong_type"), ErrorPolicy::Fail);
        let result = set.call("inverse", &[input.clone()], 2).unwrap();
        assert_eq!(result.as_ref(), &Int64Array::from(vec![Some(100), None]), "{mode}");
        assert!(set.call("wrong_type", &[ints(&[Some(2)])], 1).is_err(), "{mode}: still fails");
    }
}

/// A timeout cannot be pinned to a row by the runtime: under `null` the batch it happened in is
/// replayed in halves (in fresh sandboxes or workers) until the row that hangs is found; only
/// that row becomes NULL and the failure names it. The same in every mode that has a timeout.
#[test]
fn null_policy_pins_a_sandbox_fault_to_its_row() {
    for mode in [Mode::Wasm, Mode::Process] {
        let limits = Limits { timeout: Duration::from_millis(500), ..Limits::default() };
        let options = Options { mode, limits, on_error: ErrorPolicy::Null, ..Default::default() };
        let mut set = FunctionSet::new(options).unwrap();
        set.load_source(
            "hang.py",
            "from udfbox import udf\n\
             @udf(result_type='BIGINT')\n\
             def hang(x):\n    while x < 0:\n        pass\n    return x + 1\n",
        )
        .unwrap();
        let input: Vec<Option<i64>> = (0..16).map(|i| Some(if i == 13 { -1 } else { i })).collect();
        let hung = set.call("hang", &[ints(&input)], 16).unwrap();
        let expected: Int64Array = (0..16).map(|i| (i != 13).then_some(i + 1)).collect();
        assert_eq!(hung.as_ref(), &expected, "{mode}");
        let failures = set.failures("hang").unwrap();
        assert_eq!(failures.rows, 1, "{mode}: {failures:?}");
        assert!(failures.first.contains("timed out") && failures.first.contains("row 13"), "{mode}: {failures:?}");
        let next = set.call("hang", &[ints(&[Some(1), Some(2)])], 2).unwrap();
        assert_eq!(next.as_ref(), &Int64Array::from(vec![2, 3]), "{mode}");
    }
}

#[test]
fn on_error_from_the_command_line() {
    std::fs::create_dir_all(std::env::temp_dir().join("udfbox-policy")).unwrap();
    let file = std::env::temp_dir().join("udfbox-policy/policy.py");
    std::fs::write(&file, SOURCE).unwrap();
    let file = file.to_str().unwrap();
    let query = "SELECT x, inverse(x) AS inv, wrong_type(x) AS w FROM (VALUES (4), (0), (2)) AS t(x) ORDER BY x";
    for mode in ["wasm", "native"] {
        let (code, out, err) =
            udfbox(&["sql", "--mode", mode, "--udf", file, "--on-error", "null", "--format", "csv", query]);
        assert_eq!(code, 0, "{mode}: {err}");
        assert_eq!(out, "x,inv,w\n0,,0\n2,50,\n4,25,4\n", "{mode}");
        assert!(err.contains("inverse: 1 rows became NULL") && err.contains("ZeroDivisionError"), "{mode}: {err}");
        assert!(err.contains("wrong_type: 1 rows became NULL"), "{mode}: {err}");
        assert_no_panic(&err);

        // Per function: `inverse` nulls its failures, `wrong_type` still fails the query.
        let (code, _, err) =
            udfbox(&["sql", "--mode", mode, "--udf", file, "--on-error", "inverse=null", "--format", "csv", query]);
        assert_eq!(code, 1, "{mode}");
        assert!(err.contains("function 'wrong_type' returned a bad result"), "{mode}: {err}");
    }
    for (bad, message) in [
        ("maybe", "invalid --on-error 'maybe'"),
        ("inverse=skip", "invalid --on-error 'inverse=skip'"),
        ("nosuch=null", "--on-error names 'nosuch', which no --udf file defines"),
    ] {
        let (code, _, err) = udfbox(&["sql", "--udf", file, "--on-error", bad, "SELECT 1"]);
        assert_eq!(code, 1, "{bad}");
        assert!(err.contains(message), "{bad}: {err}");
        assert_no_panic(&err);
    }
}
