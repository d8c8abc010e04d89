//! Deterministic mode (`Options::deterministic`, `--deterministic`, wasm only): the same input
//! gives byte-identical output across runs, sandboxes and recoveries, whatever the UDF reads of
//! clocks and random sources.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use udfbox::{Error, FunctionSet, Limits, Mode, Options};

use crate::harness::udfbox;

/// Everything nondeterministic a UDF can reach in the sandbox.
const NOISY: &str = r#"
import datetime, os, random, secrets, time, uuid
from udfbox import udf

AT_LOAD = random.random()

@udf(result_type="STRING", input_types=["BIGINT"])
def noisy(x):
    while x < 0:
        pass
    return " ".join(str(v) for v in (
        x, AT_LOAD, random.random(), random.randint(0, 10**9), time.time(), time.monotonic_ns(),
        datetime.datetime.now().isoformat(), uuid.uuid4(), os.urandom(4).hex(), secrets.token_hex(4),
    ))
"#;

fn set(deterministic: bool) -> FunctionSet {
    let limits = Limits { timeout: Duration::from_millis(500), max_instances: 1, ..Limits::default() };
    let options = Options { mode: Mode::Wasm, limits, deterministic, ..Default::default() };
    let mut set = FunctionSet::new(options).unwrap();
    set.load_source("noisy.py", NOISY).unwrap();
    set
}

fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn texts(array: &ArrayRef) -> Vec<String> {
    let strings = array.as_any().downcast_ref::<StringArray>().unwrap();
    (0..strings.len()).map(|i| strings.value(i).to_string()).collect()
}

#[test]
fn the_same_input_gives_the_same_output_across_runs_and_recoveries() {
    let batch = ints(&[1, 2, 3]);
    let first = texts(&set(true).call("noisy", &[batch.clone()], 3).unwrap());
    // Rows of one call differ: the clocks and random sources advance within a call.
    assert_ne!(first[0].split_once(' ').unwrap().1, first[1].split_once(' ').unwrap().1, "{first:?}");

    let set = set(true);
    // Another batch first, then a fault that replaces the sandbox: neither changes the result.
    set.call("noisy", &[ints(&[7])], 1).unwrap();
    assert!(matches!(set.call("noisy", &[ints(&[-1])], 1), Err(Error::Timeout { .. })));
    let again = texts(&set.call("noisy", &[batch.clone()], 3).unwrap());
    assert_eq!(first, again);
    assert_eq!(first, texts(&set.call("noisy", &[batch], 3).unwrap()));

    // Without the mode, two runs differ.
    let a = texts(&self::set(false).call("noisy", &[ints(&[1])], 1).unwrap());
    let b = texts(&self::set(false).call("noisy", &[ints(&[1])], 1).unwrap());
    assert_ne!(a, b);
}

#[test]
fn only_the_sandbox_can_be_deterministic() {
    for mode in [Mode::Native, Mode::Process] {
        let error = FunctionSet::new(Options { mode, deterministic: true, ..Default::default() }).err().unwrap();
        assert!(error.to_string().contains("deterministic mode needs the wasm sandbox"), "{mode}: {error}");
    }
}

#[test]
fn deterministic_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("noisy.py");
    std::fs::write(&file, NOISY).unwrap();
    let query = "SELECT noisy(x) AS n FROM (VALUES (1), (2)) AS t(x)";
    let run = || udfbox(&["sql", "--deterministic", "--udf", file.to_str().unwrap(), "--format", "csv", query]);
    let (code, first, err) = run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(first.lines().count(), 3, "{first}");
    assert_eq!(run().1, first);
}
