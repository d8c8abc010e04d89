//! The function kinds beyond row-at-a-time scalars, every mode (wasm, native, process) side by
//! side in one criterion group each, with DataFusion's own operator as the floor where one exists:
//! - `vectorized_add_1m_rows`: `func_type="pandas"` `add(a, b)` over 1M BIGINT rows in 8,192-row
//!   batches;
//! - `aggregate_100k_groups`: a Python `AggregateFunction` (accumulate + merge) over 200k rows in
//!   100k groups, through DataFusion SQL (`GROUP BY`, two partitions);
//! - `table_function`: a `udtf` splitting 8,192 lines into 32,768 rows, one `call-table`.
//!
//! `cargo bench --bench functions`

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use udfbox::{FunctionSet, Mode, Options};

const MODES: [Mode; 3] = [Mode::Wasm, Mode::Native, Mode::Process];

const SOURCE: &str = r#"
from udfbox import AggregateFunction, DataTypes, udaf, udf, udtf

vadd = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT(), func_type="pandas")

class Total(AggregateFunction):
    def create_accumulator(self):
        return [0]

    def accumulate(self, acc, v):
        acc[0] += v

    def merge(self, acc, others):
        for other in others:
            acc[0] += other[0]

    def get_value(self, acc):
        return acc[0]

total = udaf(Total(), [DataTypes.BIGINT()], DataTypes.BIGINT())

@udtf(result_types=[DataTypes.STRING()])
def words(line):
    for word in line.split(" "):
        yield word
"#;

fn sets() -> Vec<(Mode, Arc<FunctionSet>)> {
    MODES
        .into_iter()
        .map(|mode| {
            let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
            set.load_source("functions.py", SOURCE).unwrap();
            (mode, Arc::new(set))
        })
        .collect()
}

fn vectorized(c: &mut Criterion, sets: &[(Mode, Arc<FunctionSet>)]) {
    const ROWS: usize = 1_000_000;
    const BATCH: usize = 8192;
    let data: Vec<(ArrayRef, ArrayRef, usize)> = (0..ROWS)
        .step_by(BATCH)
        .map(|start| {
            let len = BATCH.min(ROWS - start);
            let a: ArrayRef = Arc::new(Int64Array::from_iter_values((start..start + len).map(|i| i as i64)));
            let b: ArrayRef = Arc::new(Int64Array::from_iter_values((start..start + len).map(|i| 3 * i as i64)));
            (a, b, len)
        })
        .collect();
    let mut group = c.benchmark_group("vectorized_add_1m_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    for (mode, set) in sets {
        group.bench_function(BenchmarkId::new("vadd", mode), |bench| {
            bench.iter(|| {
                for (a, b, len) in &data {
                    assert_eq!(set.call("vadd", &[a.clone(), b.clone()], *len).unwrap().len(), *len);
                }
            })
        });
    }
    group.bench_function("arrow_kernel", |bench| {
        bench.iter(|| {
            for (a, b, _) in &data {
                std::hint::black_box(arrow::compute::kernels::numeric::add(a, b).unwrap());
            }
        })
    });
    group.finish();
}

fn aggregate(c: &mut Criterion, sets: &[(Mode, Arc<FunctionSet>)]) {
    const ROWS: i64 = 200_000;
    const GROUPS: i64 = 100_000;
    let batch = RecordBatch::try_from_iter([
        ("g", Arc::new(Int64Array::from_iter_values((0..ROWS).map(|i| (i * 7919) % GROUPS))) as ArrayRef),
        ("v", Arc::new(Int64Array::from_iter_values(0..ROWS)) as ArrayRef),
    ])
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let context = |set: Option<&Arc<FunctionSet>>| {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        if let Some(set) = set {
            udfbox::sql::register_functions(&ctx, set).unwrap();
        }
        let half = (ROWS / 2) as usize;
        let partitions = vec![vec![batch.slice(0, half)], vec![batch.slice(half, ROWS as usize - half)]];
        ctx.register_table("t", Arc::new(MemTable::try_new(batch.schema(), partitions).unwrap())).unwrap();
        ctx
    };
    let run = |ctx: &SessionContext, sql: &str| {
        runtime.block_on(async {
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), GROUPS as usize);
        })
    };
    let mut group = c.benchmark_group("aggregate_100k_groups");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    for (mode, set) in sets {
        let ctx = context(Some(set));
        group.bench_function(BenchmarkId::new("total", mode), |bench| {
            bench.iter(|| run(&ctx, "SELECT g, total(v) FROM t GROUP BY g"))
        });
    }
    let ctx = context(None);
    group.bench_function("datafusion_sum", |bench| bench.iter(|| run(&ctx, "SELECT g, sum(v) FROM t GROUP BY g")));
    group.finish();
}

fn table_function(c: &mut Criterion, sets: &[(Mode, Arc<FunctionSet>)]) {
    const ROWS: usize = 8192;
    let lines: ArrayRef = Arc::new(StringArray::from_iter_values((0..ROWS).map(|i| format!("w{i} x{i} y z"))));
    let mut group = c.benchmark_group("table_function");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    for (mode, set) in sets {
        group.bench_function(BenchmarkId::new("words", mode), |bench| {
            bench.iter(|| {
                let (sources, rows) = set.call_table("words", std::slice::from_ref(&lines), ROWS).unwrap();
                assert_eq!((sources.len(), rows.len()), (4 * ROWS, 4 * ROWS));
            })
        });
    }
    group.finish();
}

fn functions(c: &mut Criterion) {
    let sets = sets();
    vectorized(c, &sets);
    aggregate(c, &sets);
    table_function(c, &sets);
}

criterion_group!(benches, functions);
criterion_main!(benches);
