//! The sandbox's fixed costs: Cranelift compile of the guest component, loading the cached
//! compiled artifact, and instantiating a sandbox from the pre-linked component.
//!
//! `cargo bench --bench sandbox` (the component size is printed first).

use criterion::{criterion_group, criterion_main, Criterion};
use udfbox::wasm::{self, Prepared};
use udfbox::Limits;

fn sandbox(c: &mut Criterion) {
    println!("guest component: {} bytes", wasm::GUEST_COMPONENT.len());
    let engine = wasm::engine(false).unwrap();
    let mut group = c.benchmark_group("sandbox");
    group.sample_size(10);
    group.bench_function("compile_component", |bench| bench.iter(|| wasm::compile(&engine).unwrap()));
    // Make sure the cache holds this build's artifact, then time loading it.
    wasm::load_component(&engine).unwrap();
    println!("compiled artifact: {} bytes", std::fs::metadata(wasm::cache_path(&engine)).unwrap().len());
    group.bench_function("load_cached_component", |bench| bench.iter(|| wasm::load_component(&engine).unwrap()));
    group.finish();

    let prepared = Prepared::get(false).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let limits = Limits::default();
    let mut group = c.benchmark_group("sandbox");
    group.bench_function("instantiate", |bench| {
        bench.iter(|| runtime.block_on(prepared.instantiate(&limits, None)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, sandbox);
criterion_main!(benches);
