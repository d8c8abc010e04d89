//! PyFlink's bundling knobs: `python.fn-execution.bundle.size` is the batch size the engine
//! gathers, `python.fn-execution.arrow.batch.size` the most rows one call into Python carries.
//! A vectorized UDF that returns the size of the batch it was given makes both visible.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use udfbox::{Config, FunctionSet, Options};

use crate::harness::{assert_no_panic, udfbox, MODES};

const BATCH_SIZE: &str = "from udfbox import udf\n\
    batch_size = udf(lambda x: [len(x)] * len(x), result_type='BIGINT', func_type='pandas')\n";

#[test]
fn arrow_batch_size_splits_calls() {
    for mode in MODES {
        let config = Config { arrow_batch_size: 3, ..Config::default() };
        let mut set = FunctionSet::new(Options { mode, config, ..Default::default() }).unwrap();
        set.load_source("batch_size.py", BATCH_SIZE).unwrap();
        let input: ArrayRef = Arc::new(Int64Array::from_iter_values(0..7));
        let sizes = set.call("batch_size", &[input], 7).unwrap();
        assert_eq!(sizes.as_ref(), &Int64Array::from(vec![3, 3, 3, 3, 3, 3, 1]), "{mode}");
    }
}

#[test]
fn knobs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch_size.py");
    std::fs::write(&file, BATCH_SIZE).unwrap();
    let file = file.to_str().unwrap();
    let query = "SELECT max(batch_size(value)) AS largest, count(*) AS n FROM generate_series(1, 50)";
    for mode in ["wasm", "native"] {
        for (config, largest) in [
            (vec![], 50),
            (vec!["--config", "python.fn-execution.bundle.size=8"], 8),
            (vec!["--config", "python.fn-execution.arrow.batch.size=5"], 5),
        ] {
            let mut args = vec!["sql", "--mode", mode, "--format", "csv", "--udf", file];
            args.extend(config.iter());
            args.push(query);
            let (code, out, err) = udfbox(&args);
            assert_eq!(code, 0, "{mode} {config:?}: {err}");
            assert_eq!(out, format!("largest,n\n{largest},50\n"), "{mode} {config:?}");
        }
    }
    let (code, _, err) = udfbox(&["sql", "--config", "python.fn-execution.bundle.time=soon", "SELECT 1"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid duration 'soon'"), "{err}");
    assert_no_panic(&err);
}
