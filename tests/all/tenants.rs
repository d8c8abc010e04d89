//! Many tenants in one process: isolated Python state, per-tenant limits, calls in parallel
//! (no process-wide lock), and a bounded load test with hostile tenants among good ones.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::prelude::SessionContext;
use udfbox::{Error, FunctionSet, Limits, Mode, Options, Tenants};

fn one() -> ArrayRef {
    Arc::new(Int64Array::from(vec![1]))
}

fn text(array: &ArrayRef) -> String {
    array.as_any().downcast_ref::<StringArray>().unwrap().value(0).to_string()
}

const PATCHER: &str = r#"
import builtins, json, sys
import udfbox
builtins.abs = lambda obj: -1
json.dumps = lambda obj, **kw: "patched"
sys.modules["math"] = None
SHARED = "tenant a"
seen = udfbox.udf(lambda x: "%s %s %s" % (abs(-3), json.dumps([x]), SHARED), result_type="STRING")
udfbox.udf.__defaults__ = None  # breaks every later udf(...) call in this tenant
"#;

const INNOCENT: &str = r#"
import json
from udfbox import udf
seen = udf(lambda x: "%s %s %s" % (abs(-3), json.dumps([x]), globals().get("SHARED")), result_type="STRING")
sqrt = udf(lambda x: __import__("math").sqrt(x), result_type="DOUBLE")
"#;

/// Globals, module caches and patched builtins of one tenant are invisible to another.
#[test]
fn one_tenants_python_state_never_reaches_another() {
    let tenants = Tenants::new();
    let options = || Options { mode: Mode::Wasm, ..Default::default() };
    let a = tenants.create("a", options(), |set| set.load_source("a.py", PATCHER).map(drop)).unwrap();
    let b = tenants.create("b", options(), |set| set.load_source("b.py", INNOCENT).map(drop)).unwrap();
    assert_eq!(text(&a.call("seen", &[one()], 1).unwrap()), "-1 patched tenant a", "the patches took effect");
    assert_eq!(text(&b.call("seen", &[one()], 1).unwrap()), "3 [1] None");
    assert!(b.call("sqrt", &[one()], 1).is_ok());
    assert_eq!(tenants.ids(), ["a", "b"]);
    assert!(tenants.create("a", options(), |_| Ok(())).is_err(), "ids are unique");
    // A failing setup registers nothing.
    assert!(tenants.create("c", options(), |set| set.load_source("c.py", "raise ValueError()").map(drop)).is_err());
    assert!(tenants.get("c").is_none());
    assert!(tenants.remove("a").is_some() && tenants.get("a").is_none());
    assert_eq!(
        text(&a.call("seen", &[one()], 1).unwrap()),
        "-1 patched tenant a",
        "a removed set still serves its queries"
    );
}

/// Returns when it started and ended (microseconds of the wall clock), sleeping in between.
const SPAN: &str = r#"
import time
from udfbox import udf
@udf(result_type="STRING")
def span(x):
    start = time.time()
    time.sleep(0.4)
    return "%d,%d" % (start * 1e6, time.time() * 1e6)
"#;

fn spans_overlap(sets: [&FunctionSet; 2]) -> bool {
    let spans: Vec<(i64, i64)> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            sets.iter().map(|set| scope.spawn(move || text(&set.call("span", &[one()], 1).unwrap()))).collect();
        handles
            .into_iter()
            .map(|h| {
                let span = h.join().unwrap();
                let (start, end) = span.split_once(',').unwrap();
                (start.parse().unwrap(), end.parse().unwrap())
            })
            .collect()
    });
    spans[0].0.max(spans[1].0) < spans[0].1.min(spans[1].1)
}

/// Calls to different sets, and concurrent calls to one set with room for two instances, run at
/// the same time; with `max_instances = 1` one set's calls take turns.
#[test]
fn calls_run_in_parallel_without_a_global_lock() {
    let make = |max_instances| {
        let limits = Limits { max_instances, ..Limits::default() };
        let mut set = FunctionSet::new(Options { mode: Mode::Wasm, limits, ..Default::default() }).unwrap();
        set.load_source("span.py", SPAN).unwrap();
        set
    };
    let (first, second) = (make(1), make(1));
    assert!(spans_overlap([&first, &second]), "two tenants' calls were serialized");
    let pooled = make(2);
    assert!(spans_overlap([&pooled, &pooled]), "one set's concurrent calls were serialized");
    assert!(!spans_overlap([&first, &first]), "max_instances = 1 must let one call in at a time");
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Good,
    BusyLoop,
    MemoryBomb,
    Raises,
}

fn source(kind: Kind, factor: i64) -> String {
    let body = match kind {
        Kind::Good => format!("return x * {factor} + 1"),
        Kind::BusyLoop => "while True:\n        pass".to_string(),
        Kind::MemoryBomb => "blocks = []\n    while True:\n        blocks.append(bytearray(1 << 20))".to_string(),
        Kind::Raises => "raise RuntimeError('tenant bug')".to_string(),
    };
    format!("from udfbox import udf\n@udf(result_type='BIGINT')\ndef f(x):\n    {body}\n")
}

async fn tenant_query(tenants: Arc<Tenants>, id: String, kind: Kind, factor: i64) -> Result<(), String> {
    // Limits are per tenant: the busy loop gets a short timeout, the memory bomb a small memory
    // limit (and the default 10 s, so that a loaded machine cannot turn it into a timeout).
    let limits = match kind {
        // 1 s rather than less: the same timeout bounds loading the file, on a loaded machine.
        Kind::BusyLoop => Limits { timeout: Duration::from_secs(1), ..Limits::default() },
        Kind::MemoryBomb => Limits { memory_bytes: 96 << 20, ..Limits::default() },
        Kind::Good | Kind::Raises => Limits::default(),
    };
    let options = Options { mode: Mode::Wasm, limits, ..Default::default() };
    let setup_tenants = tenants.clone();
    let setup_id = id.clone();
    let set = tokio::task::spawn_blocking(move || {
        setup_tenants.create(&setup_id, options, |set| set.load_source("tenant.py", &source(kind, factor)).map(drop))
    })
    .await
    .unwrap()
    .map_err(|e| format!("{id}: setup failed: {e}"))?;
    let ctx = SessionContext::new();
    udfbox::sql::register_functions(&ctx, &set).unwrap();
    let result = async {
        let frame = ctx.sql("SELECT sum(f(value)) AS total FROM generate_series(1, 20000)").await?;
        frame.collect().await
    }
    .await;
    match (kind, result) {
        (Kind::Good, Ok(batches)) => {
            let total = batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
            let expected = factor * (20000 * 20001 / 2) + 20000;
            if total != expected {
                return Err(format!("{id}: got {total}, expected {expected}"));
            }
        }
        (Kind::Good, Err(e)) => return Err(format!("{id}: a good tenant failed: {}", udfbox::sql::describe(&e))),
        (_, Ok(_)) => return Err(format!("{id}: a hostile {kind:?} tenant succeeded")),
        (_, Err(e)) => {
            let message = udfbox::sql::describe(&e);
            let expected = match kind {
                Kind::BusyLoop => "timed out",
                Kind::MemoryBomb => "exceeded the memory limit",
                _ => "raised RuntimeError: tenant bug",
            };
            if !message.contains(expected) {
                return Err(format!("{id}: {kind:?} failed with '{message}', expected '{expected}'"));
            }
        }
    }
    // A hostile tenant's own next call succeeds once the bad input is gone.
    if !matches!(kind, Kind::Good) {
        let fresh = set.call("f", &[one()], 1);
        if !matches!(fresh, Err(Error::Timeout { .. } | Error::MemoryLimit { .. } | Error::Udf(_))) {
            return Err(format!("{id}: a repeated hostile call was not contained: {fresh:?}"));
        }
    }
    Ok(())
}

/// 60 tenants query at once from tokio tasks; one in four is hostile (busy loop, memory bomb,
/// exception). Every good tenant gets its exact result, every hostile one its typed error, and
/// once the tenants are gone resident memory is back within a small margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_tenants_query_concurrently_and_leave_nothing_behind() {
    let tenants = Arc::new(Tenants::new());
    // Warm the process (engine, compiled component, DataFusion) before measuring.
    tenant_query(tenants.clone(), "warm-up".into(), Kind::Good, 1).await.unwrap();
    tenants.remove("warm-up");
    let before = resident_bytes();

    let mut tasks = Vec::new();
    for i in 0..60i64 {
        let kind = match i % 8 {
            1 => Kind::BusyLoop,
            3 => Kind::MemoryBomb,
            5 => Kind::Raises,
            _ => Kind::Good,
        };
        tasks.push(tokio::spawn(tenant_query(tenants.clone(), format!("tenant-{i}"), kind, i)));
    }
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} tenants misbehaved:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(tenants.len(), 60);
    let during = resident_bytes();
    for id in tenants.ids() {
        tenants.remove(&id);
    }
    let after = resident_bytes();
    eprintln!(
        "resident memory: {} MiB before, {} MiB with 60 tenants, {} MiB after",
        before >> 20,
        during >> 20,
        after >> 20
    );
    assert!(
        after < before + (64 << 20),
        "{} MiB resident after the tenants left, {} MiB before",
        after >> 20,
        before >> 20
    );
}
