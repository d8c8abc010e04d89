//! A sandbox's memory stays flat under sustained calls: nothing a call hands back stays behind.
//!
//! Before results travelled on the sandbox's result stream, each call left its result's bytes in
//! the sandbox (componentize-py never frees a `list<u8>` it lowers): 16,000 bytes per call of
//! 2,000 BIGINTs. Every workload here would then grow by at least ten times the bound.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int32Array, Int64Array};
use datafusion::scalar::ScalarValue;
use udfbox::backend::AggregateOp;
use udfbox::{ErrorPolicy, FunctionSet, Limits, Mode, Options};

const SOURCE: &str = r#"
from udfbox import udf, udtf, udaf, AggregateFunction
from udfbox.types import DataTypes

@udf(result_type=DataTypes.BIGINT())
def inc(x):
    return x + 1

@udf(result_type=DataTypes.STRING())
def text(x):
    return "v" * 40 + str(x)

@udf(result_type=DataTypes.BIGINT())
def noisy_odd_fails(x):
    print("row", x)
    if x % 2:
        raise ValueError("odd")
    return x

@udtf(result_types=[DataTypes.BIGINT(), DataTypes.STRING()])
def pairs(x):
    yield x, "a" * 20
    yield x + 1, "b" * 20

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.STRING())
def wide(x):
    return "w" * 8000 + str(x)

class Collect(AggregateFunction):
    def create_accumulator(self):
        return []

    def accumulate(self, acc, value):
        if len(acc) < 8:
            acc.append(value)

    def get_value(self, acc):
        return sum(acc)

collect = udaf(Collect(), [DataTypes.BIGINT()], DataTypes.BIGINT())
"#;

/// What a sandbox may grow by over a workload's calls: a couple of pages for the interpreter's
/// own caches. The leak this guards against grew by 1.6 MB or more.
const BOUND: usize = 128 << 10;

/// Linear memory grown over `calls` calls of `call`, after 20 calls of warm-up.
fn growth(set: &FunctionSet, calls: usize, mut call: impl FnMut()) -> usize {
    for _ in 0..20 {
        call();
    }
    let before = set.memory_peak().unwrap();
    for _ in 0..calls {
        call();
    }
    set.memory_peak().unwrap() - before
}

#[test]
fn a_sandbox_keeps_nothing_of_the_results_it_hands_back() {
    // One sandbox, its limit far above what the calls need: none is retired for growth.
    let limits = Limits { memory_bytes: 1 << 30, max_instances: 1, ..Limits::default() };
    let mut set = FunctionSet::new(Options { mode: Mode::Wasm, limits, ..Default::default() }).unwrap();
    set.load_source("flat.py", SOURCE).unwrap();
    set.set_error_policy("noisy_odd_fails", ErrorPolicy::Null);
    let numbers = |n: i64| -> ArrayRef { Arc::new(Int64Array::from_iter_values(0..n)) };
    let (x2000, x1000) = (numbers(2000), numbers(1000));

    let x1 = numbers(1);
    let mut grown = vec![
        // Small results come back as text, large ones on the result stream: both kinds here.
        ("one-row batches", growth(&set, 500, || drop(set.call("inc", std::slice::from_ref(&x1), 1).unwrap()))),
        ("batch of BIGINT", growth(&set, 100, || drop(set.call("inc", std::slice::from_ref(&x2000), 2000).unwrap()))),
        ("batch of STRING", growth(&set, 100, || drop(set.call("text", std::slice::from_ref(&x1000), 1000).unwrap()))),
        (
            "failures and printed output",
            growth(&set, 100, || drop(set.call("noisy_odd_fails", std::slice::from_ref(&x2000), 2000).unwrap())),
        ),
        (
            "table function",
            growth(&set, 100, || drop(set.call_table("pairs", std::slice::from_ref(&x1000), 1000).unwrap())),
        ),
    ];
    let groups = Int32Array::from_iter_values((0..2000).map(|i| i % 500));
    let fresh = BinaryArray::from(vec![None::<&[u8]>; 500]);
    grown.push((
        "aggregate",
        growth(&set, 100, || {
            let states = set
                .aggregate("collect", AggregateOp::Accumulate, &fresh, &groups, std::slice::from_ref(&x2000))
                .unwrap();
            drop(set.finish("collect", &states).unwrap());
        }),
    ));
    let handle = set.prepare("wide").unwrap();
    let one = [ScalarValue::Int64(Some(7))];
    let wide = handle.call_row(&one).unwrap();
    assert!(matches!(&wide, ScalarValue::Utf8(Some(s)) if s.len() == 8001), "{wide:?}");
    grown.push(("row path", growth(&set, 200, || drop(handle.call_row(&one).unwrap()))));

    for (workload, bytes) in &grown {
        println!("{workload}: grew {bytes} bytes");
    }
    let over: Vec<_> = grown.iter().filter(|(_, bytes)| *bytes > BOUND).collect();
    assert!(over.is_empty(), "sandbox memory grew under sustained calls: {over:?}");
}
