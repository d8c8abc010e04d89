//! A bounded load test of many tenants' SQL on one shared async runtime (a service embedding
//! udfbox): 50 benign tenants run queries with their UDFs all at once on a tokio runtime with
//! as many workers as cores, first alone, then alongside hostile tenants (an endless loop, a
//! memory bomb, a sleep) running on the same runtime. Every benign result must be exact and
//! every hostile query must fail with its typed error. Latencies of the benign queries with
//! and without the hostile ones are printed, not asserted (`cargo test sql_load -- --nocapture`).
//! Then the benign tenants go on alone for more rounds, and their sandboxes' memory must stay
//! flat: what it was after the warm-up round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use udfbox::{FunctionSet, Limits, Mode, Options};

const BENIGN: usize = 50;
const ROWS: i64 = 2_000;
const ROUNDS: usize = 3;
/// Rounds of benign queries after the latency rounds, over which memory must stay flat.
const SUSTAINED_ROUNDS: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Benign(i64),
    BusyLoop,
    MemoryBomb,
    Sleep,
}

fn source(kind: Kind) -> String {
    let body = match kind {
        Kind::Benign(k) => format!("return x * {k} + {}", k % 7),
        Kind::BusyLoop => "while True:\n        x += 1".to_string(),
        Kind::MemoryBomb => "hoard = []\n    while True:\n        hoard.append(bytearray(16 << 20))".to_string(),
        Kind::Sleep => "import time\n    time.sleep(60)\n    return x".to_string(),
    };
    format!(
        "from udfbox import DataTypes, udf\n\n\
         @udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())\n\
         def work(x):\n    {body}\n"
    )
}

struct Tenant {
    name: String,
    kind: Kind,
    ctx: SessionContext,
    set: Arc<FunctionSet>,
}

fn tenant(name: String, kind: Kind, table: &RecordBatch) -> Tenant {
    let limits =
        Limits { memory_bytes: 64 << 20, timeout: Duration::from_secs(1), max_instances: 1, ..Limits::default() };
    let mut set = FunctionSet::new(Options { mode: Mode::Wasm, limits, ..Default::default() }).unwrap();
    set.load_source("work.py", &source(kind)).unwrap();
    let set = Arc::new(set);
    let ctx = udfbox::sql::session();
    udfbox::sql::register_functions(&ctx, &set).unwrap();
    let mem = MemTable::try_new(table.schema(), vec![vec![table.clone()]]).unwrap();
    ctx.register_table("t", Arc::new(mem)).unwrap();
    Tenant { name, kind, ctx, set }
}

async fn query(tenant: &Tenant) -> Result<Vec<Option<i64>>, String> {
    let frame = udfbox::sql::query(&tenant.ctx, &tenant.set, "SELECT work(x) AS y FROM t").await;
    let batches =
        frame.map_err(|e| udfbox::sql::describe(&e))?.collect().await.map_err(|e| udfbox::sql::describe(&e))?;
    Ok(batches
        .iter()
        .flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().iter().collect::<Vec<_>>())
        .collect())
}

/// Every tenant queries once, all at once, each as its own task; the benign queries' latencies.
async fn round(tenants: &[Arc<Tenant>]) -> Vec<Duration> {
    let tasks: Vec<_> = tenants
        .iter()
        .map(|tenant| {
            let tenant = tenant.clone();
            // From the spawn, not from when the task first runs: waiting for a worker counts.
            let start = Instant::now();
            tokio::spawn(async move {
                let result = query(&tenant).await;
                (tenant, result, start.elapsed())
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        let (tenant, result, elapsed) = task.await.unwrap();
        let name = &tenant.name;
        match tenant.kind {
            Kind::Benign(k) => {
                let expected: Vec<Option<i64>> = (0..ROWS).map(|x| Some(x * k + k % 7)).collect();
                let got = result.unwrap_or_else(|e| panic!("benign {name} failed: {e}"));
                assert!(got == expected, "{name}: wrong results");
                latencies.push(elapsed);
            }
            kind => {
                let error = result.expect_err(&format!("hostile {name} ({kind:?}) succeeded"));
                let expected = match kind {
                    Kind::MemoryBomb => "memory limit",
                    _ => "timed out",
                };
                assert!(error.contains(expected), "{name} ({kind:?}): {error}");
            }
        }
    }
    latencies
}

fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    format!("{} queries, p50 {:?}, p99 {:?}, max {:?}", latencies.len(), at(0.5), at(0.99), latencies.last().unwrap())
}

#[test]
fn fifty_tenants_share_one_runtime_with_hostile_ones() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let table =
        RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from_iter_values(0..ROWS)) as ArrayRef)]).unwrap();
    let benign: Vec<Arc<Tenant>> =
        (0..BENIGN).map(|i| Arc::new(tenant(format!("tenant{i:02}"), Kind::Benign(i as i64 + 2), &table))).collect();
    let hostile: Vec<Arc<Tenant>> = [Kind::BusyLoop, Kind::MemoryBomb, Kind::Sleep]
        .into_iter()
        .flat_map(|kind| (0..2).map(move |j| (kind, j)))
        .map(|(kind, j)| Arc::new(tenant(format!("hostile-{kind:?}-{j}"), kind, &table)))
        .collect();
    // The hostile queries start first, so that they hold whatever they can before the benign ones run.
    let everyone: Vec<Arc<Tenant>> = hostile.iter().chain(&benign).cloned().collect();
    let mut warm_memory = Vec::new();
    runtime.block_on(async {
        round(&benign).await; // warm-up
        warm_memory = benign.iter().map(|tenant| tenant.set.memory_peak().unwrap()).collect();
        let mut alone = Vec::new();
        let mut together = Vec::new();
        for _ in 0..ROUNDS {
            alone.extend(round(&benign).await);
            together.extend(round(&everyone).await);
        }
        println!(
            "sql load, {BENIGN} benign tenants on one runtime ({} workers): alone {}; with {} hostile tenants {}",
            std::thread::available_parallelism().map_or(1, usize::from),
            summary(alone),
            hostile.len(),
            summary(together)
        );
        for _ in 0..SUSTAINED_ROUNDS {
            round(&benign).await;
        }
    });
    // Sandbox memory grows in 64 KiB pages: one page per tenant is the interpreter's own slack.
    // Before results left the sandbox on its result stream, each query left its 16,000-byte
    // result behind: 16 MB over these rounds.
    let grown: usize =
        benign.iter().zip(&warm_memory).map(|(tenant, warm)| tenant.set.memory_peak().unwrap() - warm).sum();
    println!(
        "sandbox memory of the {BENIGN} benign tenants grew by {grown} bytes in all over {} more queries each",
        2 * ROUNDS + SUSTAINED_ROUNDS
    );
    assert!(grown <= BENIGN * (64 << 10), "benign sandboxes grew by {grown} bytes under sustained load");
    for tenant in &benign {
        let peak = tenant.set.memory_peak().unwrap();
        assert!(peak <= 64 << 20, "{}: sandbox memory {peak} beyond its limit", tenant.name);
    }
}
