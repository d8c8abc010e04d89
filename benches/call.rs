//! The cost of scalar calls, every mode (wasm, native, process) side by side in one criterion
//! group, so ratios come from one run:
//! - `add_1m_rows`: `add(a, b)` over 1M BIGINT rows, in 8,192-row batches as DataFusion delivers
//!   them, with Arrow's own kernel as the floor (the vectorized form is in `functions.rs`);
//! - `one_row_call`: the fixed cost of one boundary crossing;
//! - `row_call`: one row through the row path (`FunctionSet::prepare` / `call_row`) and through
//!   a one-row batch, for `add(a, b)`, `upper(s)` and the three-column `label(i, x, s)`;
//! - `batch_<function>`: `add`, string `upper` and `gcd` at batch sizes 1, 64, 1024 and 8192,
//!   with a native Rust baseline.
//!
//! `cargo bench --bench call`

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use datafusion::scalar::ScalarValue;
use udfbox::{FunctionSet, Mode, Options};

const ROWS: usize = 1_000_000;
const BATCH: usize = 8192;

const ADD: &str = "from udfbox import udf, DataTypes\n\
add = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())\n\
upper = udf(lambda s: s.upper(), [DataTypes.STRING()], DataTypes.STRING())\n\
import math\n\
gcd = udf(lambda a, b: math.gcd(a, b), [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())\n\
label = udf(lambda i, x, s: s if i > x else s + '!', [DataTypes.INT(), DataTypes.DOUBLE(), DataTypes.STRING()], \
DataTypes.STRING())\n";

const BATCH_SIZES: [usize; 4] = [1, 64, 1024, 8192];

const MODES: [Mode; 3] = [Mode::Wasm, Mode::Native, Mode::Process];

fn batches() -> Vec<(ArrayRef, ArrayRef, usize)> {
    (0..ROWS)
        .step_by(BATCH)
        .map(|start| {
            let len = BATCH.min(ROWS - start);
            let a: ArrayRef = Arc::new(Int64Array::from_iter_values((start..start + len).map(|i| i as i64)));
            let b: ArrayRef = Arc::new(Int64Array::from_iter_values((start..start + len).map(|i| 2 * i as i64)));
            (a, b, len)
        })
        .collect()
}

fn add_1m_rows(c: &mut Criterion) {
    let data = batches();
    let mut group = c.benchmark_group("add_1m_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("add.py", ADD).unwrap();
        group.bench_with_input(BenchmarkId::new("add", mode), &data, |bench, data| {
            bench.iter(|| {
                for (a, b, len) in data {
                    let sum = set.call("add", &[a.clone(), b.clone()], *len).unwrap();
                    assert_eq!(sum.len(), *len);
                }
            })
        });
    }
    // The floor: the same additions by Arrow's kernel, no Python at all.
    group.bench_function("arrow_kernel", |bench| {
        bench.iter(|| {
            for (a, b, _) in &data {
                let sum = arrow::compute::kernels::numeric::add(a, b).unwrap();
                std::hint::black_box(sum);
            }
        })
    });
    group.finish();
}

fn single_row_call(c: &mut Criterion) {
    // The fixed cost of one boundary crossing: a batch of one row.
    let mut group = c.benchmark_group("one_row_call");
    let a: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("add.py", ADD).unwrap();
        group.bench_function(BenchmarkId::new("add", mode), |bench| {
            bench.iter(|| set.call("add", &[a.clone(), a.clone()], 1).unwrap())
        });
    }
    group.finish();
}

/// One row, through the row path and as a one-row batch, per function and mode.
fn row_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("row_call");
    let cases: [(&str, Vec<ScalarValue>, Vec<ArrayRef>); 3] = [
        (
            "add",
            vec![ScalarValue::Int64(Some(1)), ScalarValue::Int64(Some(2))],
            vec![Arc::new(Int64Array::from(vec![1])), Arc::new(Int64Array::from(vec![2]))],
        ),
        ("upper", vec![ScalarValue::Utf8(Some("name 1".into()))], vec![Arc::new(StringArray::from(vec!["name 1"]))]),
        (
            "label",
            vec![ScalarValue::Int32(Some(3)), ScalarValue::Float64(Some(2.5)), ScalarValue::Utf8(Some("x".into()))],
            vec![
                Arc::new(Int32Array::from(vec![3])),
                Arc::new(Float64Array::from(vec![2.5])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        ),
    ];
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("calls.py", ADD).unwrap();
        for (function, row, batch) in &cases {
            let handle = set.prepare(function).unwrap();
            assert!(handle.is_compact());
            group.bench_function(BenchmarkId::new(format!("{function}/row"), mode), |bench| {
                bench.iter(|| handle.call_row(row).unwrap())
            });
            group.bench_function(BenchmarkId::new(format!("{function}/batch"), mode), |bench| {
                bench.iter(|| set.call(function, batch, 1).unwrap())
            });
        }
    }
    group.finish();
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

/// One batch per iteration, per function, batch size and mode; throughput in rows.
fn batch_sizes(c: &mut Criterion) {
    let sets: Vec<(Mode, FunctionSet)> = MODES
        .into_iter()
        .map(|mode| {
            let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
            set.load_source("calls.py", ADD).unwrap();
            (mode, set)
        })
        .collect();
    for function in ["add", "upper", "gcd"] {
        let mut group = c.benchmark_group(format!("batch_{function}"));
        group.sample_size(20);
        for size in BATCH_SIZES {
            group.throughput(Throughput::Elements(size as u64));
            let args: Vec<ArrayRef> = match function {
                "upper" => vec![Arc::new(StringArray::from_iter_values((0..size).map(|i| format!("name {i}"))))],
                _ => vec![
                    Arc::new(Int64Array::from_iter_values((0..size as i64).map(|i| i * 7 + 12))),
                    Arc::new(Int64Array::from_iter_values((0..size as i64).map(|i| i * 3 + 9))),
                ],
            };
            for (mode, set) in &sets {
                group.bench_with_input(BenchmarkId::new(mode.to_string(), size), &args, |bench, args| {
                    bench.iter(|| set.call(function, args, size).unwrap())
                });
            }
            group.bench_with_input(BenchmarkId::new("rust", size), &args, |bench, args| {
                bench.iter(|| -> ArrayRef {
                    match function {
                        "upper" => {
                            let strings = args[0].as_any().downcast_ref::<StringArray>().unwrap();
                            Arc::new(strings.iter().map(|s| s.map(str::to_uppercase)).collect::<StringArray>())
                        }
                        _ => {
                            let (a, b) = (
                                args[0].as_any().downcast_ref::<Int64Array>().unwrap(),
                                args[1].as_any().downcast_ref::<Int64Array>().unwrap(),
                            );
                            if function == "add" {
                                Arc::new(arrow::compute::kernels::numeric::add(a, b).unwrap())
                            } else {
                                Arc::new(a.iter().zip(b.iter()).map(|(a, b)| Some(gcd(a?, b?))).collect::<Int64Array>())
                            }
                        }
                    }
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, add_1m_rows, single_row_call, row_call, batch_sizes);
criterion_main!(benches);
