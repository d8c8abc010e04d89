//! Fixed costs of a sandbox, and of the other modes' equivalents:
//! - `sandbox_build`: Cranelift compile of the guest component, and loading the cached artifact
//!   (once per build and once per process respectively);
//! - `sandbox_start`: a sandbox made cold from the compiled image (`wasm/instantiate`) against
//!   a warm one checked out of a set's pool (`wasm/warm_checkout`); a process-mode worker started
//!   (`process/spawn_worker`, a CPython process with the runtime loaded) against a warm one
//!   checked out; a native runtime object (`native/new_runtime`); a sandbox of a snapshotting
//!   set (`wasm/instantiate_host_memory`: memory the host allocates, data segments copied);
//! - `sandbox_ready`: a new sandbox (or worker, or native runtime) made ready for its first call
//!   of a function whose `open()` does 50 ms of work: start, load the file, `open()`, one row.
//!   This is what a replacement sandbox costs after a fault without a snapshot. With one
//!   (`Options::snapshot`): `wasm/snapshot_restore`, a new sandbox at the post-`open()` image
//!   taken from the set (its spare is instantiated, primed and mapped from the image in the
//!   background beforehand, as the set does), and `wasm/snapshot_first_call`, the same plus its
//!   first one-row call (the page faults of the copy-on-write image land there);
//!   `wasm/snapshot_no_spare` makes the new sandbox on the spot: instantiate (host-allocated
//!   memory: the data segments are copied), prime, map the image, reseed. `process/snapshot_fork`:
//!   a new worker forked from the set's post-`open()` template.
//!
//! `cargo bench --bench sandbox` (the component size is printed first).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use udfbox::native::NativeBackend;
use udfbox::process::{default_python, ProcessBackend};
use udfbox::wasm::{self, Prepared, WasmBackend};
use udfbox::{FunctionSet, Limits, Mode, Options};

fn build(c: &mut Criterion) {
    println!("guest component: {} bytes", wasm::GUEST_COMPONENT.len());
    let engine = wasm::engine(false).unwrap();
    let mut group = c.benchmark_group("sandbox_build");
    group.sample_size(10);
    group.bench_function("compile_component", |bench| bench.iter(|| wasm::compile(&engine).unwrap()));
    // Make sure the cache holds this build's artifact, then time loading it.
    wasm::load_component(&engine).unwrap();
    println!("compiled artifact: {} bytes", std::fs::metadata(wasm::cache_path(&engine)).unwrap().len());
    group.bench_function("load_cached_component", |bench| bench.iter(|| wasm::load_component(&engine).unwrap()));
    group.finish();
}

fn start(c: &mut Criterion) {
    let prepared = Prepared::get(false).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let limits = Limits::default();
    let mut group = c.benchmark_group("sandbox_start");
    group.bench_function(BenchmarkId::new("wasm", "instantiate"), |bench| {
        bench.iter(|| runtime.block_on(prepared.instantiate(&limits, None, false)).unwrap())
    });
    // A snapshotting set's sandboxes: memory the host allocates, so no copy-on-write image.
    let host_memory = Prepared::get_for(false, true).unwrap();
    group.bench_function(BenchmarkId::new("wasm", "instantiate_host_memory"), |bench| {
        bench.iter(|| runtime.block_on(host_memory.instantiate(&limits, None, false)).unwrap())
    });
    let pool = WasmBackend::new(limits.clone(), None).unwrap();
    group.bench_function(BenchmarkId::new("wasm", "warm_checkout"), |bench| {
        bench.iter(|| pool.checkout_and_return().unwrap())
    });
    let python: PathBuf = default_python();
    let workers = ProcessBackend::new(python.clone(), limits.clone(), None).unwrap();
    group.bench_function(BenchmarkId::new("process", "warm_checkout"), |bench| {
        bench.iter(|| workers.checkout_and_return().unwrap())
    });
    group.bench_function(BenchmarkId::new("native", "new_runtime"), |bench| {
        bench.iter(|| NativeBackend::new(None).unwrap())
    });
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("process", "spawn_worker"), |bench| {
        bench.iter(|| ProcessBackend::new(python.clone(), limits.clone(), None).unwrap())
    });
    group.finish();
}

/// A function whose `open()` does 50 ms of work (a resource loaded at start).
const SLOW_OPEN: &str = r#"
import time
from udfbox import udf, DataTypes, ScalarFunction

class Lookup(ScalarFunction):
    def open(self, function_context):
        deadline = time.perf_counter() + 0.05
        table = {}
        while time.perf_counter() < deadline:
            table[len(table)] = len(table)
        self.table = table

    def eval(self, x):
        return x + 1

lookup = udf(Lookup(), [DataTypes.BIGINT()], DataTypes.BIGINT())
"#;

fn ready(c: &mut Criterion) {
    let mut group = c.benchmark_group("sandbox_ready");
    group.sample_size(10);
    let one: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    for mode in [Mode::Wasm, Mode::Native, Mode::Process] {
        group.bench_function(BenchmarkId::new(mode.to_string(), "open_50ms"), |bench| {
            bench.iter(|| {
                let limits = Limits { max_instances: 1, ..Limits::default() };
                let mut set = FunctionSet::new(Options { mode, limits, ..Default::default() }).unwrap();
                set.load_source("lookup.py", SLOW_OPEN).unwrap();
                set.call("lookup", std::slice::from_ref(&one), 1).unwrap()
            })
        });
    }
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    use std::time::Duration;
    use udfbox::backend::{Backend, ErrorPolicy};
    let mut group = c.benchmark_group("sandbox_ready");
    group.sample_size(10);
    let limits = Limits { max_instances: 1, ..Limits::default() };
    let backend = WasmBackend::with_options(limits, None, false, true).unwrap();
    backend.load("lookup.py", SLOW_OPEN, &[]).result.unwrap();
    println!("post-open() image: {} bytes", backend.snapshot_bytes().unwrap_or(0));
    let id = backend.prepare_row("lookup").result.unwrap();
    let mut row = vec![0u8];
    row.extend_from_slice(&1i64.to_le_bytes());
    let fresh = || {
        backend.discard_idle();
        assert!(backend.wait_for_spare(Duration::from_secs(30)), "the spare sandbox is not ready");
    };
    group.bench_function(BenchmarkId::new("wasm", "snapshot_restore"), |bench| {
        bench.iter_batched(fresh, |()| backend.checkout_ready().unwrap(), criterion::BatchSize::PerIteration)
    });
    group.bench_function(BenchmarkId::new("wasm", "snapshot_first_call"), |bench| {
        bench.iter_batched(
            fresh,
            |()| backend.call_row("lookup", id, &row, ErrorPolicy::Fail).result.unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.bench_function(BenchmarkId::new("wasm", "snapshot_no_spare"), |bench| {
        bench.iter_batched(
            || {
                fresh();
                // Take the spare away (and let its replacement finish) so this checkout makes its own.
                backend.checkout_ready().unwrap();
                backend.discard_idle();
                std::thread::sleep(Duration::from_millis(1));
            },
            |()| backend.checkout_ready().unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    // Process mode: a new worker forked from the post-open() template, ready for its first call.
    let workers =
        ProcessBackend::with_options(default_python(), Limits { max_instances: 1, ..Limits::default() }, None, true)
            .unwrap();
    workers.load("lookup.py", SLOW_OPEN, &[]).result.unwrap();
    group.bench_function(BenchmarkId::new("process", "snapshot_fork"), |bench| {
        bench.iter_batched(
            || workers.discard_idle(),
            |()| workers.checkout_and_return().unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, build, start, ready, snapshot);
criterion_main!(benches);
