//! Errors carry the function, the exception type and message, the row and the user's traceback,
//! identically in both modes.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use udfbox::{Error, UdfError, UdfErrorKind};

use crate::harness::{function_set, repo_root, MODES};

fn udf_error(result: Result<impl std::fmt::Debug, Error>) -> UdfError {
    match result {
        Err(Error::Udf(e)) => e,
        other => panic!("expected a UDF error, got {other:?}"),
    }
}

fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn load_example(mode: udfbox::Mode, name: &str) -> Result<udfbox::FunctionSet, Error> {
    let mut set = udfbox::FunctionSet::new(udfbox::Options { mode, ..Default::default() })?;
    set.load_file(format!("udfs/errors/{name}.py")).map(|_| set)
}

fn in_repo<T>(f: impl FnOnce() -> T) -> T {
    // UDF files are named relative to the repository, as users name them on the command line.
    static CWD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = CWD.lock().unwrap();
    std::env::set_current_dir(repo_root()).unwrap();
    f()
}

#[test]
fn exceptions_carry_type_message_row_and_traceback() {
    let mut seen = Vec::new();
    for mode in MODES {
        let set = in_repo(|| load_example(mode, "raises")).unwrap();
        let e = udf_error(set.call("divide", &[ints(&[1, 2, 3]), ints(&[1, 2, 0])], 3));
        assert_eq!(e.kind, UdfErrorKind::Exception);
        assert_eq!(e.function.as_deref(), Some("divide"));
        assert_eq!(e.exception_type, "ZeroDivisionError");
        assert_eq!(e.message, "division by zero");
        assert_eq!(e.row, Some(2));
        assert!(e.traceback.contains("File \"udfs/errors/raises.py\", line 10, in divide"), "{}", e.traceback);
        assert!(e.traceback.contains("File \"udfs/errors/raises.py\", line 5, in ratio"), "{}", e.traceback);
        assert!(!e.traceback.contains("runtime.py"), "runtime frames are hidden: {}", e.traceback);
        seen.push((e.kind, e.function, e.row, e.exception_type, e.message));
    }
    assert_eq!(seen[0], seen[1], "wasm and native disagree");
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    for mode in MODES {
        let e = udf_error(in_repo(|| load_example(mode, "syntax_error")));
        assert_eq!(e.kind, UdfErrorKind::Syntax);
        assert_eq!(e.exception_type, "SyntaxError");
        assert!(e.message.starts_with("udfs/errors/syntax_error.py, line 5: "), "{mode}: {}", e.message);
        assert!(e.traceback.contains("def broken(x)"), "{mode}: {}", e.traceback);
    }
}

#[test]
fn load_failures_and_invalid_registrations() {
    for mode in MODES {
        let e = udf_error(in_repo(|| load_example(mode, "load_fails")));
        assert_eq!((e.kind, e.exception_type.as_str()), (UdfErrorKind::Load, "KeyError"), "{mode}");
        assert!(e.message.contains("'treshold'"), "{}", e.message);
        assert!(e.traceback.contains("line 4, in <module>"), "{}", e.traceback);

        let e = udf_error(in_repo(|| load_example(mode, "no_result_type")));
        assert_eq!(e.kind, UdfErrorKind::Load);
        assert!(e.message.contains("udf <lambda> needs a result_type"), "{mode}: {}", e.message);

        let mut set = function_set(mode, "from udfbox import udf\nf = udf(lambda: 1, result_type='BIGINT')\n").unwrap();
        let e =
            udf_error(set.load_source("other.py", "from udfbox import udf\nf = udf(lambda: 2, result_type='INT')\n"));
        assert_eq!(e.message, "function 'f' in other.py is already defined in test_udfs.py", "{mode}");

        let e = udf_error(function_set(mode, "from udfbox import udf\nf = udf(lambda: 1, result_type='LONG')\n"));
        assert!(e.message.contains("unknown type LONG"), "{mode}: {}", e.message);
    }
}

#[test]
fn open_failures_and_exits_are_exceptions_not_crashes() {
    let source = r#"
import sys
from udfbox import DataTypes, ScalarFunction, udf
class NeedsModel(ScalarFunction):
    def open(self, ctx):
        raise FileNotFoundError("model.pkl")
    def eval(self, x):
        return x
needs_model = udf(NeedsModel(), result_type=DataTypes.BIGINT())
quits = udf(lambda x: sys.exit(3), result_type=DataTypes.BIGINT())
interrupts = udf(lambda x: (_ for _ in ()).throw(KeyboardInterrupt()), result_type=DataTypes.BIGINT())
"#;
    for mode in MODES {
        let set = function_set(mode, source).unwrap();
        let e = udf_error(set.call("needs_model", &[ints(&[1])], 1));
        assert_eq!((e.exception_type.as_str(), e.message.as_str()), ("FileNotFoundError", "model.pkl (in open())"));
        let e = udf_error(set.call("quits", &[ints(&[1])], 1));
        assert_eq!((e.exception_type.as_str(), e.message.as_str(), e.row), ("SystemExit", "3", Some(0)), "{mode}");
        let e = udf_error(set.call("interrupts", &[ints(&[1])], 1));
        assert_eq!(e.exception_type, "KeyboardInterrupt", "{mode}");
        // The runtime is still healthy.
        set.call("quits", &[ints(&[])], 0).unwrap();
    }
}

#[test]
fn host_side_mistakes_are_clear_errors() {
    let source = "from udfbox import udf, DataTypes\nadd = udf(lambda a, b: a + b, ['BIGINT', 'BIGINT'], 'BIGINT')\n";
    for mode in MODES {
        let set = function_set(mode, source).unwrap();
        let e = set.call("nope", &[], 0).unwrap_err();
        assert_eq!(e.to_string(), "unknown function 'nope'");
        let e = set.call("add", &[ints(&[1])], 1).unwrap_err();
        assert_eq!(e.to_string(), "function 'add' takes 2 arguments (BIGINT, BIGINT), got 1");
        let e = set.call("add", &[ints(&[1]), ints(&[1, 2])], 1).unwrap_err();
        assert_eq!(e.to_string(), "argument of 'add' has 2 rows, the batch 1");
    }
}

/// What the host checks of a result does not depend on the runtime that produced it: the
/// corpus's malformed and out-of-range results (made by patching the runtime's encoder, which
/// is why native mode, sharing this process's interpreter, is left out) fail the call with the
/// same bad-result error naming the function, in the sandbox and in a worker process.
#[test]
fn malformed_and_out_of_range_results_fail_alike_in_every_isolated_mode() {
    for attack in [
        "decimal_beyond_precision",
        "date_out_of_range",
        "time_out_of_range",
        "timestamp_out_of_range",
        "short_validity_bitmap",
        "ragged_offsets",
        "overlapping_buffers",
    ] {
        let source = std::fs::read_to_string(repo_root().join(format!("udfs/adversarial/{attack}.py"))).unwrap();
        let message = source.lines().find_map(|l| l.strip_prefix("# message: ")).unwrap();
        for mode in [udfbox::Mode::Wasm, udfbox::Mode::Process] {
            let set = function_set(mode, &source).unwrap();
            let error = udf_error(set.call("attack", &[ints(&[1])], 1));
            let shown = error.to_string();
            assert_eq!(error.kind, UdfErrorKind::BadResult, "{attack} in {mode}: {shown}");
            assert!(shown.starts_with("function 'attack' returned a bad result: "), "{attack} in {mode}: {shown}");
            assert!(shown.contains(message), "{attack} in {mode}: {shown}");
        }
    }
}
