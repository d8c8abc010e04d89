//! `udfbox serve` against the reference Python UDF servers over Arrow Flight, side by side in one
//! criterion group: the same UDF (`gcd(a, b)` over Int32, Euclid's loop in Python), 65,536-row
//! batches (Databend's slice size), 2 clients calling at once, each over its own connection.
//! - `udfbox_serve/arrow-udf_file` and `udfbox_serve/databend-udf_file`: `udfbox serve` (wasm
//!   sandboxes, default settings) on `benches/servers/gcd_arrow_udf.py` and `gcd_databend_udf.py`;
//! - `arrow-udf` and `databend-udf`: the same two files served by the PyPI servers (one CPython
//!   process, one GIL), started by `benches/servers/reference_server.py` from the project's venv
//!   (`scripts/bootstrap` installs them; without them they are skipped with a note);
//! - `in_process`: `FunctionSet::call` of the same batch, twice at once on two threads, in the
//!   same wasm sandboxes without Flight: the remote overhead is `udfbox_serve / in_process`.
//!
//! One iteration is one batch from each client (131,072 rows); throughput in rows.
//!
//! `cargo bench --bench serve`

use std::process::Command;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, RecordBatch};
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::{FlightClient, FlightDescriptor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::TryStreamExt;
use udfbox::{FunctionSet, Mode, Options};

mod harness {
    pub fn repo_root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }
}
#[path = "../tests/all/flight.rs"]
#[expect(dead_code, reason = "the bench uses the servers of the tests' Flight helpers, not their tenants")]
mod flight;

use flight::Server;

const ROWS: usize = 65_536;
/// Rows per batch when `cargo test` runs the bench once as a smoke test (databend-udf's server
/// takes ~40 s for two full batches on this machine).
const SMOKE_ROWS: usize = 2_048;
const CLIENTS: usize = 2;
const ARROW_UDF_FILE: &str = "benches/servers/gcd_arrow_udf.py";
const DATABEND_UDF_FILE: &str = "benches/servers/gcd_databend_udf.py";

fn input(rows: usize) -> RecordBatch {
    // Positive numbers below 1M, where Euclid's loop takes a dozen or so steps.
    let a = Int32Array::from_iter_values((0..rows as i64).map(|i| (i * 7919 % 1_000_003 + 1) as i32));
    let b = Int32Array::from_iter_values((0..rows as i64).map(|i| (i * 104_729 % 999_983 + 1) as i32));
    RecordBatch::try_from_iter([("a", Arc::new(a) as ArrayRef), ("b", Arc::new(b) as ArrayRef)]).unwrap()
}

fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn expected(input: &RecordBatch) -> Vec<Option<i32>> {
    let column = |i: usize| input.column(i).as_any().downcast_ref::<Int32Array>().unwrap().clone();
    column(0).values().iter().zip(column(1).values().iter()).map(|(a, b)| Some(gcd(*a, *b))).collect()
}

fn values(array: &ArrayRef) -> Vec<Option<i32>> {
    array.as_any().downcast_ref::<Int32Array>().expect("an Int32 result").iter().collect()
}

/// One `do_exchange` of `gcd` over `input`; the result column.
async fn call(client: &mut FlightClient, input: &RecordBatch) -> Vec<Option<i32>> {
    let batch = input.clone();
    let request = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_path(vec!["gcd".to_string()])))
        .build(futures::stream::once(async move { Ok(batch) }));
    let batches: Vec<RecordBatch> = client.do_exchange(request).await.unwrap().try_collect().await.unwrap();
    batches.iter().flat_map(|batch| values(batch.column(0))).collect()
}

/// Whether the project's venv has the reference servers (`scripts/bootstrap` installs them).
fn reference_servers_installed() -> bool {
    let python = harness::repo_root().join(".venv/bin/python");
    Command::new(python)
        .args(["-c", "import pyarrow.flight, arrow_udf, databend_udf"])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn serve_gcd(c: &mut Criterion) {
    // Criterion measures under `cargo bench` (which passes `--bench`); `cargo test` runs each
    // bench once.
    let rows = if std::env::args().any(|a| a == "--bench") { ROWS } else { SMOKE_ROWS };
    let input = input(rows);
    let expected = expected(&input);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("serve_gcd");
    group.throughput(Throughput::Elements((rows * CLIENTS) as u64));
    group.sample_size(10);

    let mut set = FunctionSet::new(Options { mode: Mode::Wasm, ..Default::default() }).unwrap();
    set.load_file(harness::repo_root().join(ARROW_UDF_FILE)).unwrap();
    let args: Vec<ArrayRef> = input.columns().to_vec();
    assert_eq!(values(&set.call("gcd", &args, rows).unwrap()), expected);
    group.bench_function("in_process", |bench| {
        bench.iter(|| {
            std::thread::scope(|scope| {
                for _ in 0..CLIENTS {
                    scope.spawn(|| set.call("gcd", &args, rows).unwrap());
                }
            })
        })
    });
    drop(set);

    let mut servers: Vec<(&str, Box<dyn Fn() -> Server>)> = vec![
        ("udfbox_serve/arrow-udf_file", Box::new(|| Server::udfbox(&["--udf", ARROW_UDF_FILE]))),
        ("udfbox_serve/databend-udf_file", Box::new(|| Server::udfbox(&["--udf", DATABEND_UDF_FILE]))),
    ];
    if reference_servers_installed() {
        servers.push(("arrow-udf", Box::new(|| Server::reference("arrow-udf", &[ARROW_UDF_FILE]))));
        servers.push(("databend-udf", Box::new(|| Server::reference("databend-udf", &[DATABEND_UDF_FILE]))));
    } else {
        println!("serve_gcd: the reference servers (arrow-udf, databend-udf) are not in .venv; run scripts/bootstrap to compare with them");
    }
    for (name, start) in servers {
        let server = start();
        let mut clients = runtime.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..CLIENTS {
                let channel = tonic::transport::Endpoint::new(server.url()).unwrap().connect().await.unwrap();
                clients.push(FlightClient::new(channel));
            }
            clients
        });
        for client in &mut clients {
            assert!(runtime.block_on(call(client, &input)) == expected, "{name}: wrong gcd results");
        }
        group.bench_function(name, |bench| {
            bench.iter(|| {
                runtime.block_on(futures::future::join_all(clients.iter_mut().map(|client| call(client, &input))))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, serve_gcd);
criterion_main!(benches);
