//! Snapshot after `open()` (`Options::snapshot`, `--snapshot`): loads run `open()` at once, and
//! a sandbox or worker made later (here: after a call timed out and its sandbox was dropped)
//! starts from the state the loads and `open()` left, without running either again. The same
//! cases run in every mode; native mode has one interpreter and never makes a new one.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use udfbox::{Error, FunctionSet, Limits, Mode, Options};

use crate::harness::MODES;

/// `token` shows open()'s random value, how many times open() ran in this sandbox, and a job
/// parameter; `calls` counts calls in its sandbox; `spin` never returns.
const TOKEN: &str = r#"
import os
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

OPENS = []

class Token(ScalarFunction):
    def open(self, function_context):
        OPENS.append(1)
        self.token = os.urandom(8).hex()
        self.label = function_context.get_job_parameter("label", "none")
        print("token opened")

    def eval(self, x):
        return "%s/%d/%s" % (self.token, len(OPENS), self.label)

class Calls(ScalarFunction):
    def open(self, function_context):
        self.n = 0

    def eval(self, x):
        self.n += 1
        return self.n

class Broken(ScalarFunction):
    def open(self, function_context):
        raise ValueError("no model here")

    def eval(self, x):
        return x

token = udf(Token(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())
calls = udf(Calls(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
broken = udf(Broken(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def spin(x):
    while True:
        pass
"#;

/// A second file, loaded after [`TOKEN`].
const SECOND: &str = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

class Second(ScalarFunction):
    def open(self, function_context):
        import os
        self.token = os.urandom(8).hex()

    def eval(self, x):
        return self.token

second = udf(Second(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())
"#;

fn set(mode: Mode, snapshot: bool, sources: &[(&str, &str)]) -> FunctionSet {
    let limits = Limits { timeout: Duration::from_millis(1500), max_instances: 1, ..Limits::default() };
    let options =
        Options { mode, snapshot, limits, params: vec![("label".into(), "blue".into())], ..Default::default() };
    let mut set = FunctionSet::new(options).unwrap();
    for (name, source) in sources {
        set.load_source(name, source).unwrap();
    }
    set
}

fn one_row() -> Vec<ArrayRef> {
    vec![Arc::new(Int64Array::from(vec![1]))]
}

fn text(set: &FunctionSet, function: &str) -> String {
    let result = set.call(function, &one_row(), 1).unwrap();
    result.as_any().downcast_ref::<StringArray>().unwrap().value(0).to_string()
}

fn number(set: &FunctionSet, function: &str) -> i64 {
    let result = set.call(function, &one_row(), 1).unwrap();
    result.as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

/// Makes the set replace its sandbox or worker: a call that times out.
fn fault(set: &FunctionSet) {
    let error = set.call("spin", &one_row(), 1).unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
}

/// The modes whose sets replace a faulted sandbox or worker (native runs trusted code in this
/// process: there is no timeout to fault it, and nothing to replace).
const REPLACING: [Mode; 2] = [Mode::Wasm, Mode::Process];

#[test]
fn a_replaced_sandbox_starts_from_the_state_open_left() {
    for mode in REPLACING {
        let set = set(mode, true, &[("token.py", TOKEN)]);
        let first = text(&set, "token");
        assert!(first.ends_with("/1/blue"), "{mode}: open() ran once, with the job parameters: {first}");
        // Only the sandbox keeps an image in the host's memory (a worker's is the template process).
        assert_eq!(set.snapshot_bytes().is_some(), mode == Mode::Wasm, "{mode}");
        assert_eq!((number(&set, "calls"), number(&set, "calls")), (1, 2), "{mode}");
        fault(&set);
        assert_eq!(text(&set, "token"), first, "{mode}: open() did not run again, its state is there");
        assert_eq!(number(&set, "calls"), 1, "{mode}: what calls did to the old sandbox is not in the snapshot");
        fault(&set);
        assert_eq!(text(&set, "token"), first, "{mode}: a second replacement starts from the same snapshot");
    }
}

#[test]
fn without_a_snapshot_a_replaced_sandbox_runs_open_again() {
    for mode in REPLACING {
        let set = set(mode, false, &[("token.py", TOKEN)]);
        let first = text(&set, "token");
        fault(&set);
        let second = text(&set, "token");
        assert_ne!(second, first, "{mode}: open() ran again in the new sandbox");
        assert!(second.ends_with("/1/blue"), "{mode}: {second}");
    }
}

#[test]
fn every_mode_opens_at_load_and_agrees() {
    for mode in MODES {
        let set = set(mode, true, &[("token.py", TOKEN), ("second.py", SECOND)]);
        let token = text(&set, "token");
        let second = text(&set, "second");
        assert!(token.ends_with("/1/blue"), "{mode}: {token}");
        assert_eq!(second.len(), 16, "{mode}: {second}");
        assert_eq!((number(&set, "calls"), number(&set, "calls")), (1, 2), "{mode}");
        if mode != Mode::Native {
            fault(&set);
            assert_eq!(text(&set, "token"), token, "{mode}: the first file's open() state");
            assert_eq!(text(&set, "second"), second, "{mode}: the second file's open() state");
        }
    }
}

#[test]
fn an_open_that_fails_at_load_fails_the_first_call_as_without_a_snapshot() {
    for mode in MODES {
        let errors: Vec<String> = [false, true]
            .into_iter()
            .map(|snapshot| {
                let set = set(mode, snapshot, &[("token.py", TOKEN)]);
                let error = set.call("broken", &one_row(), 1).unwrap_err().to_string();
                // The other functions work.
                assert_eq!(number(&set, "calls"), 1, "{mode}");
                error
            })
            .collect();
        assert!(errors[0].contains("no model here") && errors[0].contains("open()"), "{mode}: {}", errors[0]);
        assert_eq!(errors[0], errors[1], "{mode}: the same error with and without a snapshot");
    }
}

/// The image is taken right after the load: what later calls did to the loading sandbox is not
/// in it, and a file loaded after calls starts from the previous file's image, not from them.
#[test]
fn a_load_after_calls_snapshots_the_loads_not_the_calls() {
    for mode in REPLACING {
        let mut set = set(mode, true, &[("token.py", TOKEN)]);
        let token = text(&set, "token");
        assert_eq!((number(&set, "calls"), number(&set, "calls")), (1, 2), "{mode}");
        set.load_source("second.py", SECOND).unwrap();
        assert_eq!(number(&set, "calls"), 1, "{mode}: the load ran in a sandbox restored from the first image");
        assert_eq!(text(&set, "token"), token, "{mode}");
        let second = text(&set, "second");
        fault(&set);
        assert_eq!((text(&set, "token"), text(&set, "second")), (token.clone(), second), "{mode}");
        assert_eq!(number(&set, "calls"), 1, "{mode}");
    }
}

/// Holding a file open across `open()` is a WASI handle a new sandbox would not have: no image
/// is taken, and new sandboxes run the files and `open()` again (still correct).
#[test]
fn a_sandbox_holding_a_file_open_is_not_snapshotted() {
    let deps = tempfile::tempdir().unwrap();
    std::fs::write(deps.path().join("words.txt"), "alpha\nbeta\n").unwrap();
    const HOLDS_FILE: &str = r#"
import os
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

class Reader(ScalarFunction):
    def open(self, function_context):
        self.file = open("words.txt")
        self.token = os.urandom(8).hex()

    def eval(self, x):
        self.file.seek(0)
        return "%s %s" % (self.token, self.file.readline().strip())

class Loaded(ScalarFunction):
    def open(self, function_context):
        with open("words.txt") as f:
            self.words = f.read().split()
        self.token = os.urandom(8).hex()

    def eval(self, x):
        return "%s %s" % (self.token, self.words[1])

reader = udf(Reader(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())
loaded = udf(Loaded(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def spin(x):
    while True:
        pass
"#;
    let make = |source: &str| {
        let limits = Limits { timeout: Duration::from_millis(1500), max_instances: 1, ..Limits::default() };
        let options =
            Options { mode: Mode::Wasm, snapshot: true, limits, deps: Some(deps.path().into()), ..Default::default() };
        let mut set = FunctionSet::new(options).unwrap();
        set.load_source("words.py", source).unwrap();
        set
    };
    // A file read and closed in open(): the image is taken, with /deps granted.
    let set = make(
        &HOLDS_FILE
            .replace("reader = udf(Reader(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())", ""),
    );
    let first = text(&set, "loaded");
    assert!(first.ends_with(" beta"), "{first}");
    fault(&set);
    assert_eq!(text(&set, "loaded"), first);
    assert!(set.snapshot_bytes().is_some());
    // A file kept open: no image; the new sandbox runs open() again, and works.
    let set = make(HOLDS_FILE);
    assert_eq!(set.snapshot_bytes(), None);
    let first = text(&set, "reader");
    assert!(first.ends_with(" alpha"), "{first}");
    fault(&set);
    let again = text(&set, "reader");
    assert!(again.ends_with(" alpha"), "{again}");
    assert_ne!(again, first, "open() ran again");
}

/// Python's `random` state is not shared between sandboxes restored from one image.
#[test]
fn restored_sandboxes_do_not_replay_the_same_random_numbers() {
    const RANDOM: &str = r#"
import random
from pyflink.table import DataTypes
from pyflink.table.udf import udf

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())
def draw(x):
    return "%.17f" % random.random()

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def spin(x):
    while True:
        pass
"#;
    let set = set(Mode::Wasm, true, &[("random.py", RANDOM)]);
    let mut draws = Vec::new();
    for _ in 0..3 {
        fault(&set);
        draws.push(text(&set, "draw"));
    }
    draws.dedup();
    assert_eq!(draws.len(), 3, "{draws:?}");
}

/// The row path (`FunctionSet::prepare`) reaches the restored state as a batch does.
#[test]
fn the_row_path_reaches_a_restored_sandbox() {
    use datafusion::scalar::ScalarValue;
    for mode in REPLACING {
        let set = set(mode, true, &[("token.py", TOKEN)]);
        let token = set.prepare("token").unwrap();
        let first = token.call_row(&[ScalarValue::Int64(Some(1))]).unwrap();
        fault(&set);
        assert_eq!(token.call_row(&[ScalarValue::Int64(Some(1))]).unwrap(), first, "{mode}");
        assert_eq!(text(&set, "token"), first.to_string(), "{mode}");
    }
}

/// An `open()` that fills most of the memory limit: the image is nearly as large as the limit,
/// and a new sandbox still starts from it.
#[test]
fn a_snapshot_near_the_memory_limit_restores() {
    const BIG: &str = r#"
import os
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

class Big(ScalarFunction):
    def open(self, function_context):
        self.blob = bytearray(os.urandom(1 << 16)) * 1200   # 75 MiB
        self.token = os.urandom(8).hex()

    def eval(self, x):
        return "%s %d %d" % (self.token, len(self.blob), self.blob[123456])

big = udf(Big(), input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def spin(x):
    while True:
        pass
"#;
    let limits =
        Limits { timeout: Duration::from_millis(1500), max_instances: 1, memory_bytes: 128 << 20, ..Limits::default() };
    let mut set = FunctionSet::new(Options { mode: Mode::Wasm, snapshot: true, limits, ..Default::default() }).unwrap();
    set.load_source("big.py", BIG).unwrap();
    let first = text(&set, "big");
    assert!(set.snapshot_bytes().unwrap() > 75 << 20);
    fault(&set);
    assert_eq!(text(&set, "big"), first);
}

/// Fuel metering and snapshots together (a metered engine with host-allocated memories).
#[test]
fn a_metered_set_snapshots_too() {
    let limits = Limits {
        timeout: Duration::from_millis(1500),
        max_instances: 1,
        fuel: Some(20_000_000_000),
        ..Limits::default()
    };
    let options = Options { mode: Mode::Wasm, snapshot: true, limits, ..Default::default() };
    let mut set = FunctionSet::new(options).unwrap();
    set.load_source("token.py", TOKEN).unwrap();
    let first = text(&set, "token");
    assert!(set.fuel_used("token").is_some_and(|fuel| fuel > 0));
    fault(&set);
    assert_eq!(text(&set, "token"), first);
}
