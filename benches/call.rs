//! Per-row cost of `add(a, b)` over 1M BIGINT rows, in 8,192-row batches as DataFusion delivers
//! them, in each mode side by side (one criterion group, so ratios come from one run).
//!
//! `cargo bench --bench call`

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use udfbox::{FunctionSet, Mode, Options};

const ROWS: usize = 1_000_000;
const BATCH: usize = 8192;

const ADD: &str = "from udfbox import udf, DataTypes\n\
add = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())\n\
vadd = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT(), func_type='pandas')\n";

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
    for mode in [Mode::Wasm, Mode::Native] {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("add.py", ADD).unwrap();
        for function in ["add", "vadd"] {
            group.bench_with_input(BenchmarkId::new(function, mode), &data, |bench, data| {
                bench.iter(|| {
                    for (a, b, len) in data {
                        let sum = set.call(function, &[a.clone(), b.clone()], *len).unwrap();
                        assert_eq!(sum.len(), *len);
                    }
                })
            });
        }
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
    for mode in [Mode::Wasm, Mode::Native] {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("add.py", ADD).unwrap();
        group.bench_function(BenchmarkId::new("add", mode), |bench| {
            bench.iter(|| set.call("add", &[a.clone(), a.clone()], 1).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, add_1m_rows, single_row_call);
criterion_main!(benches);
