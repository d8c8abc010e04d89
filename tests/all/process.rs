//! Process mode's own contract: a worker that crashes, hangs or exhausts memory fails its call
//! with a typed error, and the next call runs in a fresh worker with the same files loaded. The
//! UDF semantics themselves are covered by every differential test (they run in all modes).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array};
use udfbox::{Error, FunctionSet, Limits, Mode, Options};

const SOURCE: &str = "import os, time\n\
from udfbox import udf\n\
pid = udf(lambda x: os.getpid(), result_type='BIGINT')\n\
double = udf(lambda x: 2 * x, result_type='BIGINT')\n\
crash = udf(lambda x: os._exit(3), result_type='BIGINT')\n\
hang = udf(lambda x: time.sleep(30), result_type='BIGINT')\n\
hog = udf(lambda x: len(b'x' * (x << 20)), result_type='BIGINT')\n";

fn set(limits: Limits) -> FunctionSet {
    let mut set = FunctionSet::new(Options { mode: Mode::Process, limits, ..Default::default() }).unwrap();
    set.load_source("process_udfs.py", SOURCE).unwrap();
    set
}

fn one(value: i64) -> Vec<ArrayRef> {
    vec![Arc::new(Int64Array::from(vec![value]))]
}

fn worker_pid(set: &FunctionSet) -> i64 {
    let pid = set.call("pid", &one(0), 1).unwrap();
    pid.as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

fn assert_recovered(set: &FunctionSet, before: i64) {
    let doubled = set.call("double", &one(21), 1).unwrap();
    assert_eq!(doubled.as_ref(), &Int64Array::from(vec![42]), "the files are loaded into the fresh worker");
    assert_ne!(worker_pid(set), before, "a fresh worker took the failed one's place");
}

#[test]
fn udfs_run_in_another_process() {
    let set = set(Limits { max_instances: 1, ..Limits::default() });
    let pid = worker_pid(&set);
    assert_ne!(pid, i64::from(std::process::id()));
    assert_eq!(worker_pid(&set), pid, "the worker stays warm between calls");
}

#[test]
fn a_crashed_worker_is_a_typed_error_and_is_replaced() {
    let set = set(Limits { max_instances: 1, ..Limits::default() });
    let before = worker_pid(&set);
    match set.call("crash", &one(1), 1) {
        Err(Error::WorkerExited { function, message }) => {
            assert_eq!(function.as_deref(), Some("crash"));
            assert!(message.contains("exit status: 3"), "{message}");
        }
        other => panic!("expected WorkerExited, got {other:?}"),
    }
    assert_recovered(&set, before);
}

#[test]
fn a_hung_worker_times_out_and_is_replaced() {
    let set = set(Limits { max_instances: 1, timeout: Duration::from_millis(500), ..Limits::default() });
    let before = worker_pid(&set);
    match set.call("hang", &one(1), 1) {
        Err(Error::Timeout { function, .. }) => assert_eq!(function.as_deref(), Some("hang")),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_recovered(&set, before);
}

#[test]
fn a_worker_over_its_memory_limit_is_ended_and_replaced() {
    let set = set(Limits { max_instances: 1, memory_bytes: 64 << 20, ..Limits::default() });
    let before = worker_pid(&set);
    // Well within the limit first.
    assert_eq!(set.call("hog", &one(8), 1).unwrap().as_ref(), &Int64Array::from(vec![8 << 20]));
    match set.call("hog", &one(2048), 1) {
        Err(Error::MemoryLimit { function, limit }) => {
            assert_eq!(function.as_deref(), Some("hog"));
            assert_eq!(limit, 64 << 20);
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    assert_recovered(&set, before);
}

#[test]
fn parallel_calls_use_separate_workers() {
    let slow = "import os, time\nfrom udfbox import udf\n\
        slow_pid = udf(lambda x: (time.sleep(0.3), os.getpid())[1], result_type='BIGINT')\n";
    let mut with_slow = FunctionSet::new(Options {
        mode: Mode::Process,
        limits: Limits { max_instances: 2, ..Limits::default() },
        ..Default::default()
    })
    .unwrap();
    with_slow.load_source("slow.py", slow).unwrap();
    let with_slow = Arc::new(with_slow);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let set = with_slow.clone();
            std::thread::spawn(move || {
                let pid = set.call("slow_pid", &one(0), 1).unwrap();
                pid.as_any().downcast_ref::<Int64Array>().unwrap().value(0)
            })
        })
        .collect();
    let pids: Vec<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_ne!(pids[0], pids[1], "two calls at once ran in two workers");
}

#[test]
fn a_missing_interpreter_is_a_clear_error() {
    let options = Options { mode: Mode::Process, python: Some("/nonexistent/python3".into()), ..Default::default() };
    let error = FunctionSet::new(options).unwrap_err().to_string();
    assert!(error.contains("/nonexistent/python3"), "{error}");
}
