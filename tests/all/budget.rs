//! One deadline and one fuel budget per host call (wasm mode): catching a fresh sandbox up with
//! the loaded files, the call, handing its output over and a retire-time `close()` all spend the
//! same allowance, so no step of a call gets a fresh one. Each case splits its work over two
//! steps that each fit the limit alone and together exceed it. Sleeps make the split exact:
//! a slow machine only makes each step longer, never shorter.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array};
use udfbox::{Error, FunctionSet, Limits, Mode, Options};

/// Python that replaces the sandbox runtime's output buffer (what a hostile UDF can do), failing
/// loudly if it cannot find it, so a test built on it cannot pass vacuously.
const PATCH_RUNTIME: &str = r#"
import sys
from udfbox.runtime import Runtime

def patch_runtime(output):
    runtimes = [m._RUNTIME for m in list(sys.modules.values()) if isinstance(getattr(m, "_RUNTIME", None), Runtime)]
    assert runtimes, "no runtime found"
    for runtime in runtimes:
        runtime._output = output
"#;

fn set(limits: Limits, source: &str) -> FunctionSet {
    let mut set = FunctionSet::new(Options { mode: Mode::Wasm, limits, ..Default::default() }).unwrap();
    set.load_source("budget.py", source).unwrap();
    set
}

fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

/// Output hand-over is guest code (a UDF can replace the runtime's buffer): it runs within the
/// call's deadline. A table function's output is handed over after the call returns.
#[test]
fn output_hand_over_shares_the_call_deadline() {
    let source = PATCH_RUNTIME.to_string()
        + r#"
import time
from udfbox import DataTypes, udtf

class SlowTake:
    def write(self, text): return len(text)
    def flush(self): pass
    def take(self):
        time.sleep(1.2)
        return ""

patch_runtime(SlowTake())

@udtf(result_types=[DataTypes.BIGINT()])
def slow(x):
    time.sleep(1.2)
    yield x
"#;
    let limits = Limits { timeout: Duration::from_secs(2), ..Limits::default() };
    let set = set(limits, &source);
    match set.call_table("slow", &[ints(&[1])], 1) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected a timeout over the whole call, got {other:?}"),
    }
}

/// A fresh sandbox replays the loaded files first: that is user code of the call that needed
/// the sandbox, within its deadline.
#[test]
fn catching_up_a_fresh_sandbox_shares_the_call_deadline() {
    let source = r#"
import time
from udfbox import DataTypes, udf

time.sleep(1.0)

@udf(result_type=DataTypes.BIGINT())
def work(x):
    time.sleep(5.0 if x == 0 else 2.2)
    return x
"#;
    let limits = Limits { timeout: Duration::from_secs(3), max_instances: 1, ..Limits::default() };
    let set = set(limits, &source);
    // Ends the warm sandbox: the next call needs a fresh one, which loads the file (1 s) first.
    assert!(matches!(set.call("work", &[ints(&[0])], 1), Err(Error::Timeout { .. })));
    match set.call("work", &[ints(&[1])], 1) {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected the replayed load to count against the call, got {other:?}"),
    }
}

/// Fuel: one budget for the call and its output hand-over, and the fuel reported is all of it.
#[test]
fn output_hand_over_shares_the_call_fuel() {
    let source = PATCH_RUNTIME.to_string()
        + r#"
from udfbox import DataTypes, udtf

def burn(n):
    total = 0
    for i in range(n):
        total += i
    return total

class BurningTake:
    def write(self, text): return len(text)
    def flush(self): pass
    def take(self):
        burn(N)
        return ""

@udtf(result_types=[DataTypes.BIGINT()])
def burning(x):
    burn(N)
    yield x

@udtf(result_types=[DataTypes.BIGINT()])
def patch(x):
    patch_runtime(BurningTake())
    yield x

N = 200_000
"#;
    // Measure what one burn costs, then allow a budget between one and two burns.
    let probe = set(Limits { fuel: Some(u64::MAX / 2), ..Limits::default() }, &source);
    probe.call_table("burning", &[ints(&[1])], 1).unwrap();
    let one_burn = probe.fuel_used("burning").unwrap();
    let limits = Limits { fuel: Some(one_burn * 3 / 2), ..Limits::default() };
    let set = set(limits, &source);
    set.call_table("burning", &[ints(&[1])], 1).expect("one burn fits the budget");
    set.call_table("patch", &[ints(&[1])], 1).unwrap();
    match set.call_table("burning", &[ints(&[1])], 1) {
        Err(Error::FuelExhausted { .. }) => {}
        other => panic!("expected the hand-over's burn to exhaust the call's fuel, got {other:?}"),
    }
}
