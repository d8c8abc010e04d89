//! Tenants sharing one async runtime (a service running many tenants' SQL on one tokio runtime)
//! must not wait on each other's guest calls: a call that takes its whole timeout holds no
//! runtime worker that other tenants' queries need.

use std::sync::Arc;
use std::time::Duration;

use udfbox::{FunctionSet, Limits, Mode, Options};

fn set(source: &str, timeout: Duration) -> Arc<FunctionSet> {
    let limits = Limits { timeout, ..Limits::default() };
    let mut set = FunctionSet::new(Options { mode: Mode::Wasm, limits, ..Default::default() }).unwrap();
    set.load_source("shared_runtime.py", source).unwrap();
    Arc::new(set)
}

async fn sql(set: Arc<FunctionSet>, query: &str) -> String {
    let ctx = udfbox::sql::session();
    udfbox::sql::register_functions(&ctx, &set).unwrap();
    let frame = udfbox::sql::query(&ctx, &set, query).await.unwrap();
    let batches = frame.collect().await.unwrap();
    arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string()
}

#[test]
fn a_slow_tenant_does_not_hold_the_runtime_workers() {
    const SLOW: &str = "import time\nfrom udfbox import udf\n\n@udf(result_type='BIGINT', input_types=['BIGINT'])\ndef slow(x):\n    time.sleep(8)\n    return x\n";
    const QUICK: &str =
        "from udfbox import udf\nquick = udf(lambda x: x + 1, result_type='BIGINT', input_types=['BIGINT'])\n";
    let hostile: Vec<_> = (0..4).map(|_| set(SLOW, Duration::from_secs(60))).collect();
    let benign = set(QUICK, Duration::from_secs(60));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // Twice as many slow queries as workers: each would hold a worker for 8 s.
        let slow: Vec<_> = hostile
            .into_iter()
            .map(|set| tokio::spawn(sql(set, "SELECT slow(v) AS s FROM (VALUES (1), (2)) AS t(v)")))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let quick = tokio::spawn(sql(benign, "SELECT quick(v) AS q FROM (VALUES (41)) AS t(v)")).await.unwrap();
        assert!(quick.contains("42"), "{quick}");
        let finished = slow.iter().filter(|task| task.is_finished()).count();
        assert_eq!(finished, 0, "the quick query waited for slow tenants' calls to end");
        for task in slow {
            assert!(task.await.unwrap().contains('1'));
        }
    });
}
