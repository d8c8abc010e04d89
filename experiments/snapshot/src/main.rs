//! Issue 12 item 4, "snapshot after open()": can a udfbox sandbox start from a memory image taken
//! after its UDF file was loaded and `open()` ran, using wasmtime 48's guest-debugging API to reach
//! the core instances inside the component? And what does `guest_debug` cost?
//!
//! `cargo run --release -- <guest.wasm> [restore|calls|all]` (see experiments/snapshot/README.md).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ExternType, Mutability, Ref, Store, Val};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "udfbox-guest",
        imports: { default: async },
        exports: { default: async },
    });
}

use bindings::udfbox::runtime::types as wit;
use bindings::{UdfboxGuest, UdfboxGuestPre};

type Result<T> = wasmtime::Result<T>;

/// A UDF whose `open()` builds a dict for 50 ms (`SLOW_OPEN` of benches/sandbox.rs), and counts
/// its opens and evals so the result shows whether `open()` ran again: `x + 1000 * opens +
/// 1_000_000 * evals`.
const SLOW_OPEN: &str = r#"
import time
from udfbox import udf, DataTypes, ScalarFunction

COUNTS = {"opens": 0, "evals": 0}

class Lookup(ScalarFunction):
    def open(self, function_context):
        COUNTS["opens"] += 1
        deadline = time.perf_counter() + 0.05
        table = {}
        while time.perf_counter() < deadline:
            table[len(table)] = len(table)
        self.table = table

    def eval(self, x):
        COUNTS["evals"] += 1
        assert self.table[5] == 5
        return x + 1000 * COUNTS["opens"] + 1_000_000 * COUNTS["evals"]

lookup = udf(Lookup(), [DataTypes.BIGINT()], DataTypes.BIGINT())
"#;

/// `add(a, b)` of benches/call.rs.
const ADD: &str = "from udfbox import udf, DataTypes\n\
add = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())\n";

/// What a restored sandbox runs before its memory is overwritten: a write to stdout makes wasi-libc
/// take its stdout stream handle (index 1 in the component's handle table), so the fresh store's
/// table holds the handle the copied libc state refers to. (`os.fstat(1)` is not enough: it takes
/// no stream handle.)
const WARM_UP: &str = "import os\nos.write(1, b'\\n')\n";

// ---- the sandbox's stdout (results travel on it, as in udfbox) ----

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl OutputStream for Sink {
    fn write(&mut self, bytes: bytes::Bytes) -> std::result::Result<(), StreamError> {
        self.0.lock().unwrap().extend_from_slice(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> std::result::Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> std::result::Result<usize, StreamError> {
        Ok(1 << 26)
    }
}

#[async_trait::async_trait]
impl Pollable for Sink {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for Sink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Sink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: Sink,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

// ---- linear memories the host allocates (Config::with_host_memory) ----

/// Where a host-allocated linear memory is and how large it is now.
struct HostMemoryInfo {
    base: usize,
    size: std::sync::atomic::AtomicUsize,
}

thread_local! {
    /// The memories made on this thread since the last instantiation began: instantiation runs
    /// on the calling thread, so these are the new sandbox's.
    static CREATED: std::cell::RefCell<Vec<Arc<HostMemoryInfo>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A linear memory in an mmap reservation the host owns: `reserved` bytes that never move,
/// then the guard region wasmtime asks for.
struct HostMemory {
    info: Arc<HostMemoryInfo>,
    reserved: usize,
    mapped: usize,
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: the reservation made in `new_memory`, no longer used by wasmtime.
        unsafe { libc::munmap(self.info.base as *mut libc::c_void, self.mapped) };
    }
}

// SAFETY: the memory stays at `base` for its whole life, `reserved` bytes are reserved there
// and the first `byte_size` are read-write.
unsafe impl wasmtime::LinearMemory for HostMemory {
    fn byte_size(&self) -> usize {
        self.info.size.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn byte_capacity(&self) -> usize {
        self.reserved
    }
    fn grow_to(&mut self, new_size: usize) -> Result<()> {
        if new_size > self.reserved {
            return Err(wasmtime::format_err!("beyond the reservation"));
        }
        let old = self.byte_size();
        // SAFETY: [old, new_size) lies inside the reservation.
        let r = unsafe {
            libc::mprotect(
                (self.info.base + old) as *mut libc::c_void,
                new_size - old,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if r != 0 {
            return Err(wasmtime::format_err!("mprotect failed"));
        }
        self.info.size.store(new_size, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    fn as_ptr(&self) -> *mut u8 {
        self.info.base as *mut u8
    }
}

struct HostMemories;

// SAFETY: the memories honour the reservation and guard sizes wasmtime asks for.
unsafe impl wasmtime::MemoryCreator for HostMemories {
    fn new_memory(
        &self,
        _ty: wasmtime::MemoryType,
        minimum: usize,
        _maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> std::result::Result<Box<dyn wasmtime::LinearMemory>, String> {
        let reserved = reserved_size_in_bytes.unwrap_or(4 << 30);
        let mapped = reserved + guard_size_in_bytes;
        // SAFETY: a fresh anonymous reservation; the first `minimum` bytes made read-write.
        let base = unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err("mmap failed".into());
            }
            if minimum > 0 && libc::mprotect(base, minimum, libc::PROT_READ | libc::PROT_WRITE) != 0 {
                return Err("mprotect failed".into());
            }
            base as usize
        };
        let info = Arc::new(HostMemoryInfo { base, size: minimum.into() });
        CREATED.with(|c| c.borrow_mut().push(info.clone()));
        Ok(Box::new(HostMemory { info, reserved, mapped }))
    }
}

// ---- engine, cached compile, instantiation ----

struct Guest {
    engine: Engine,
    pre: UdfboxGuestPre<State>,
}

struct Sandbox {
    store: Store<State>,
    guest: UdfboxGuest,
    /// The linear memories [`HostMemories`] made for this sandbox (host-memory engine only).
    memories: Vec<Arc<HostMemoryInfo>>,
}

impl Guest {
    /// `debug`: `Config::guest_debug`. `host_memory`: linear memories allocated by
    /// [`HostMemories`] (no copy-on-write image then). Otherwise the engine of `wasm.rs`
    /// (`engine(false)`).
    fn new(component: &[u8], debug: bool, host_memory: bool) -> Result<(Self, Option<Duration>)> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.guest_debug(debug);
        if host_memory {
            config.with_host_memory(Arc::new(HostMemories));
            // wasmtime's copy-on-write images need its own mmap-based memories.
            config.memory_init_cow(false);
        }
        let engine = Engine::new(&config)?;
        let mut hasher = DefaultHasher::new();
        component.hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = std::env::var_os("UDFBOX_CACHE_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        // Its own name: never the file `wasm.rs` would read.
        let path = dir.join(format!(
            "snapshot-experiment-{}-{:016x}.cwasm",
            if debug {
                "guestdebug"
            } else if host_memory {
                "hostmemory"
            } else {
                "plain"
            },
            hasher.finish()
        ));
        let mut compile_time = None;
        if !path.exists() {
            let start = Instant::now();
            let compiled = engine.precompile_component(component)?;
            compile_time = Some(start.elapsed());
            std::fs::create_dir_all(&dir)?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, &compiled)?;
            std::fs::rename(&tmp, &path)?;
        }
        eprintln!("artifact {} ({} bytes)", path.display(), std::fs::metadata(&path)?.len());
        // SAFETY: written above by `precompile_component` for an engine with this compatibility hash.
        let component = unsafe { Component::deserialize_file(&engine, &path)? };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let pre = UdfboxGuestPre::new(linker.instantiate_pre(&component)?)?;
        Ok((Self { engine, pre }, compile_time))
    }

    async fn instantiate(&self) -> Result<Sandbox> {
        let stdout = Sink::default();
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(Sink::default())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(&self.engine, State { wasi, table: ResourceTable::new(), stdout });
        store.set_epoch_deadline(1 << 40);
        CREATED.with(|c| c.borrow_mut().clear());
        let guest = self.pre.instantiate_async(&mut store).await?;
        let memories = CREATED.with(|c| c.borrow_mut().drain(..).collect());
        Ok(Sandbox { store, guest, memories })
    }
}

// ---- calls ----

fn bigint_columns(columns: &[&[i64]]) -> wit::Columns {
    let mut layout = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let push = |layout: &mut Vec<u8>, word: u32| layout.extend_from_slice(&word.to_le_bytes());
    for column in columns {
        for word in [1, column.len() as u32, 0, 1, 0, 0] {
            push(&mut layout, word);
        }
        data.resize(data.len().next_multiple_of(16), 0);
        push(&mut layout, data.len() as u32);
        push(&mut layout, (column.len() * 8) as u32);
        data.extend(column.iter().flat_map(|v| v.to_le_bytes()));
    }
    wit::Columns { data_types: vec!["BIGINT".into(); columns.len()], layout, data }
}

fn udf_error(e: wit::UdfError) -> wasmtime::Error {
    wasmtime::format_err!("{:?}: {}: {}\n{}", e.kind, e.exception_type, e.message, e.traceback)
}

impl Sandbox {
    async fn load(&mut self, filename: &str, source: &str) -> Result<()> {
        let runtime = self.guest.udfbox_runtime_runtime();
        runtime.call_load(&mut self.store, filename, source, &[]).await?.map_err(udf_error)?;
        Ok(())
    }

    async fn call(&mut self, function: &str, rows: usize, args: &wit::Columns) -> Result<Vec<i64>> {
        let runtime = self.guest.udfbox_runtime_runtime();
        let result = runtime
            .call_call(&mut self.store, function, rows as u32, args, wit::ErrorPolicy::Fail)
            .await?
            .map_err(udf_error)?;
        let written = self.store.data().stdout.take();
        let (layout_bytes, data_bytes) = (result.column.layout_bytes as usize, result.column.data_bytes as usize);
        let results = &written[written.len() - layout_bytes - data_bytes..];
        let (layout, data) = results.split_at(layout_bytes);
        let word = |i: usize| u32::from_le_bytes(layout[4 * i..4 * i + 4].try_into().unwrap()) as usize;
        // nodes, length, nulls, buffers, validity offset, validity length, values offset, length
        let (offset, length) = (word(6), word(7));
        Ok(data[offset..offset + length].chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect())
    }
}

// ---- the guest's core state, through the guest-debugging API ----

/// One core instance's defined (not imported) memories, mutable globals and tables.
struct Core {
    instance: wasmtime::Instance,
    name: String,
    memories: Vec<u32>,
    globals: Vec<u32>,
    immutable_globals: usize,
    tables: Vec<u32>,
}

fn cores(store: &mut Store<State>) -> Vec<Core> {
    let instances = store.debug_all_instances();
    let mut cores = Vec::new();
    for instance in instances {
        let module = instance.module(&*store).clone();
        let (mut memories, mut globals, mut tables) = (0u32, 0u32, 0u32);
        for import in module.imports() {
            match import.ty() {
                ExternType::Memory(_) => memories += 1,
                ExternType::Global(_) => globals += 1,
                ExternType::Table(_) => tables += 1,
                _ => {}
            }
        }
        let mut core = Core {
            instance,
            name: module.name().unwrap_or("?").to_string(),
            memories: Vec::new(),
            globals: Vec::new(),
            immutable_globals: 0,
            tables: Vec::new(),
        };
        let mut index = memories;
        while instance.debug_memory(&mut *store, index).is_some() {
            core.memories.push(index);
            index += 1;
        }
        let mut index = globals;
        while let Some(global) = instance.debug_global(&mut *store, index) {
            if global.ty(&*store).mutability() == Mutability::Var {
                core.globals.push(index);
            } else {
                core.immutable_globals += 1;
            }
            index += 1;
        }
        let mut index = tables;
        while instance.debug_table(&mut *store, index).is_some() {
            core.tables.push(index);
            index += 1;
        }
        cores.push(core);
    }
    cores
}

struct MemoryImage {
    core: usize,
    index: u32,
    bytes: Vec<u8>,
}

struct Snapshot {
    memories: Vec<MemoryImage>,
    globals: Vec<(usize, u32, Val)>,
}

fn snapshot(store: &mut Store<State>, cores: &[Core]) -> Snapshot {
    let mut memories = Vec::new();
    let mut globals = Vec::new();
    for (c, core) in cores.iter().enumerate() {
        for &index in &core.memories {
            let memory = core.instance.debug_memory(&mut *store, index).unwrap();
            memories.push(MemoryImage { core: c, index, bytes: memory.data(&*store).to_vec() });
        }
        for &index in &core.globals {
            let global = core.instance.debug_global(&mut *store, index).unwrap();
            globals.push((c, index, global.get(&mut *store)));
        }
    }
    Snapshot { memories, globals }
}

/// The parts of a snapshot's memories that differ from a fresh instance's: contiguous runs of
/// `page`-sized pages (beyond the fresh size: the nonzero pages, as growth gives zeroes).
struct Delta {
    memories: Vec<MemoryDelta>,
    globals: Vec<(usize, u32, Val)>,
}

/// One memory's differing pages: `runs` of (offset, bytes), and the memory's size.
struct MemoryDelta {
    core: usize,
    index: u32,
    size: usize,
    runs: Vec<(usize, Vec<u8>)>,
}

impl Delta {
    fn bytes(&self) -> usize {
        self.memories.iter().flat_map(|m| &m.runs).map(|run| run.1.len()).sum()
    }
    fn runs(&self) -> usize {
        self.memories.iter().map(|m| m.runs.len()).sum()
    }
}

fn delta(snapshot: &Snapshot, fresh: &Snapshot, page: usize) -> Delta {
    let mut memories = Vec::new();
    for (image, base) in snapshot.memories.iter().zip(&fresh.memories) {
        assert_eq!((image.core, image.index), (base.core, base.index));
        let mut runs: Vec<(usize, Vec<u8>)> = Vec::new();
        for (n, chunk) in image.bytes.chunks(page).enumerate() {
            let offset = n * page;
            let same = match base.bytes.get(offset..offset + chunk.len()) {
                Some(old) => old == chunk,
                None => chunk.iter().all(|&b| b == 0),
            };
            if same {
                continue;
            }
            match runs.last_mut() {
                Some((start, bytes)) if *start + bytes.len() == offset => bytes.extend_from_slice(chunk),
                _ => runs.push((offset, chunk.to_vec())),
            }
        }
        memories.push(MemoryDelta { core: image.core, index: image.index, size: image.bytes.len(), runs });
    }
    Delta { memories, globals: snapshot.globals.clone() }
}

fn grow_to(store: &mut Store<State>, memory: wasmtime::Memory, size: usize) -> Result<()> {
    let current = memory.data_size(&*store);
    assert!(current <= size, "a fresh memory larger than the snapshot's");
    if size > current {
        memory.grow(&mut *store, ((size - current) / 65536) as u64)?;
    }
    Ok(())
}

fn set_globals(store: &mut Store<State>, cores: &[Core], globals: &[(usize, u32, Val)]) -> Result<()> {
    for (c, index, value) in globals {
        cores[*c].instance.debug_global(&mut *store, *index).unwrap().set(&mut *store, *value)?;
    }
    Ok(())
}

fn restore_full(store: &mut Store<State>, cores: &[Core], snapshot: &Snapshot) -> Result<()> {
    for image in &snapshot.memories {
        let memory = cores[image.core].instance.debug_memory(&mut *store, image.index).unwrap();
        grow_to(store, memory, image.bytes.len())?;
        memory.data_mut(&mut *store)[..image.bytes.len()].copy_from_slice(&image.bytes);
    }
    set_globals(store, cores, &snapshot.globals)
}

fn restore_delta(store: &mut Store<State>, cores: &[Core], delta: &Delta) -> Result<()> {
    for m in &delta.memories {
        let memory = cores[m.core].instance.debug_memory(&mut *store, m.index).unwrap();
        grow_to(store, memory, m.size)?;
        let data = memory.data_mut(&mut *store);
        for (offset, bytes) in &m.runs {
            data[*offset..*offset + bytes.len()].copy_from_slice(bytes);
        }
    }
    set_globals(store, cores, &delta.globals)
}

/// A memory image in a memfd, to be mapped copy-on-write over a sandbox's linear memory (what
/// wasmtime itself does with a module's initial image): restoring is one `mmap`, and the pages
/// are faulted in, shared with the page cache until written, as the guest touches them.
struct MappedImage {
    core: usize,
    index: u32,
    size: usize,
    fd: libc::c_int,
}

fn memfd_images(snapshot: &Snapshot) -> Vec<MappedImage> {
    snapshot
        .memories
        .iter()
        .map(|image| {
            // SAFETY: plain syscalls on a file descriptor this function owns.
            unsafe {
                let fd = libc::memfd_create(c"snapshot".as_ptr(), 0);
                assert!(fd >= 0);
                let written = libc::write(fd, image.bytes.as_ptr().cast(), image.bytes.len());
                assert_eq!(written as usize, image.bytes.len());
                MappedImage { core: image.core, index: image.index, size: image.bytes.len(), fd }
            }
        })
        .collect()
}

/// Maps the images over the sandbox's memories. Relies on wasmtime's default (on-demand)
/// allocator: each linear memory is its own page-aligned reservation, unmapped whole on drop.
fn restore_mmap(
    store: &mut Store<State>,
    cores: &[Core],
    images: &[MappedImage],
    globals: &[(usize, u32, Val)],
) -> Result<()> {
    for image in images {
        let memory = cores[image.core].instance.debug_memory(&mut *store, image.index).unwrap();
        grow_to(store, memory, image.size)?;
        let base = memory.data_ptr(&*store);
        // SAFETY: [base, base + size) is this memory's accessible range (grown above); no guest
        // code runs while it is replaced, and its contents become the image's.
        let mapped = unsafe {
            libc::mmap(
                base.cast(),
                image.size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                image.fd,
                0,
            )
        };
        assert_eq!(mapped, base.cast());
    }
    set_globals(store, cores, globals)
}

/// Every table entry as (core instance, function index) of the function it holds, so that two
/// stores' tables can be compared.
fn table_contents(store: &mut Store<State>, cores: &[Core]) -> Vec<Vec<Option<(usize, u32)>>> {
    let mut functions: HashMap<usize, (usize, u32)> = HashMap::new();
    for (c, core) in cores.iter().enumerate() {
        let mut index = 0;
        while let Some(func) = core.instance.debug_function(&mut *store, index) {
            functions.entry(func.to_raw(&mut *store) as usize).or_insert((c, index));
            index += 1;
        }
    }
    let mut tables = Vec::new();
    for core in cores {
        for &index in &core.tables {
            let table = core.instance.debug_table(&mut *store, index).unwrap();
            let size = table.size(&*store);
            let entries = (0..size)
                .map(|i| match table.get(&mut *store, i) {
                    Some(Ref::Func(Some(func))) => {
                        Some(functions.get(&(func.to_raw(&mut *store) as usize)).copied().unwrap_or((usize::MAX, 0)))
                    }
                    _ => None,
                })
                .collect();
            tables.push(entries);
        }
    }
    tables
}

// ---- measurements ----

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The process's private dirty memory: what a sandbox costs beyond pages it shares with the page
/// cache (RSS would count every mapping of the compiled image's pages again).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Private_Dirty:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn restore_experiment(guest: &Guest) -> Result<()> {
    let one = bigint_columns(&[&[1]]);

    // A fresh instance: its memories are the pre-initialized image every sandbox starts from.
    let mut fresh = guest.instantiate().await?;
    let fresh_cores = cores(&mut fresh.store);
    println!("core instances in the component instance: {}", fresh_cores.len());
    for (c, core) in fresh_cores.iter().enumerate() {
        let sizes: Vec<usize> = core
            .memories
            .iter()
            .map(|&m| core.instance.debug_memory(&mut fresh.store, m).unwrap().data_size(&fresh.store))
            .collect();
        let table_sizes: Vec<u64> = core
            .tables
            .iter()
            .map(|&t| core.instance.debug_table(&mut fresh.store, t).unwrap().size(&fresh.store))
            .collect();
        println!(
            "  [{c}] {:<40} memories {:?} mutable globals {} (immutable {}) tables {:?}",
            core.name,
            sizes,
            core.globals.len(),
            core.immutable_globals,
            table_sizes
        );
    }
    let fresh_image = snapshot(&mut fresh.store, &fresh_cores);

    // The source: load the file, one call (runs open()), as a pooled sandbox would have.
    let start = Instant::now();
    let mut source = guest.instantiate().await?;
    let instantiated = start.elapsed();
    source.load("lookup.py", SLOW_OPEN).await?;
    let loaded = start.elapsed();
    let first = source.call("lookup", 1, &one).await?;
    let called = start.elapsed();
    println!(
        "cold sandbox: instantiate {}, +load {}, +first call (open) {} = {}; result {first:?}",
        ms(instantiated),
        ms(loaded - instantiated),
        ms(called - loaded),
        ms(called)
    );
    assert_eq!(first, vec![1 + 1000 + 1_000_000]);
    let source_cores = cores(&mut source.store);
    assert_eq!(source_cores.len(), fresh_cores.len());
    for (a, b) in source_cores.iter().zip(&fresh_cores) {
        assert!(wasmtime::Module::same(a.instance.module(&source.store), b.instance.module(&fresh.store)));
    }
    let start = Instant::now();
    let image = snapshot(&mut source.store, &source_cores);
    println!("snapshot (read every memory and mutable global): {}", ms(start.elapsed()));
    for m in &image.memories {
        let base = fresh_image.memories.iter().find(|b| (b.core, b.index) == (m.core, m.index)).unwrap();
        println!(
            "  memory [{}] {} #{}: {} bytes (fresh {})",
            m.core,
            source_cores[m.core].name,
            m.index,
            m.bytes.len(),
            base.bytes.len()
        );
    }
    let changed_globals: Vec<_> = image
        .globals
        .iter()
        .zip(&fresh_image.globals)
        .filter(|((_, _, a), (_, _, b))| format!("{a:?}") != format!("{b:?}"))
        .map(|((c, i, a), (_, _, b))| format!("[{c}]{}#{i}: {b:?} -> {a:?}", source_cores[*c].name))
        .collect();
    println!("mutable globals: {}, changed since instantiation: {changed_globals:#?}", image.globals.len());
    let start = Instant::now();
    let tables_source = table_contents(&mut source.store, &source_cores);
    let tables_fresh = table_contents(&mut fresh.store, &fresh_cores);
    println!(
        "tables: {} ({} entries); identical to a fresh instance's: {} (compared in {})",
        tables_source.len(),
        tables_source.iter().map(Vec::len).sum::<usize>(),
        tables_source == tables_fresh,
        ms(start.elapsed())
    );
    for page in [4096, 65536] {
        let start = Instant::now();
        let d = delta(&image, &fresh_image, page);
        println!(
            "delta at {page}-byte pages: {} bytes in {} runs (computed in {})",
            d.bytes(),
            d.runs(),
            ms(start.elapsed())
        );
    }
    let delta4k = delta(&image, &fresh_image, 4096);
    let total: usize = image.memories.iter().map(|m| m.bytes.len()).sum();

    // 1. Naive: restore into a fresh instance, no warm-up.
    {
        let mut target = guest.instantiate().await?;
        let target_cores = cores(&mut target.store);
        restore_full(&mut target.store, &target_cores, &image)?;
        match target.call("lookup", 1, &one).await {
            Ok(values) => println!("naive restore (no warm-up): call -> {values:?}"),
            Err(e) => println!("naive restore (no warm-up): call FAILED: {e:#}"),
        }
    }

    // 2. Warm-up first (makes wasi-libc take its stdout handle), then restore.
    let mapped = memfd_images(&image);
    for (label, how) in [("full copy", 0), ("4 KiB delta", 1), ("mmap memfd", 2)] {
        for round in 0..5 {
            let r0 = rss_kib();
            let t0 = Instant::now();
            let mut target = guest.instantiate().await?;
            let instantiated = t0.elapsed();
            let r1 = rss_kib();
            let t1 = Instant::now();
            target.load("warm_up.py", WARM_UP).await?;
            target.store.data().stdout.take();
            let warmed = t1.elapsed();
            let r2 = rss_kib();
            let t2 = Instant::now();
            let target_cores = cores(&mut target.store);
            let enumerated = t2.elapsed();
            let t3 = Instant::now();
            let bytes = match how {
                0 => {
                    restore_full(&mut target.store, &target_cores, &image)?;
                    total
                }
                1 => {
                    restore_delta(&mut target.store, &target_cores, &delta4k)?;
                    delta4k.bytes()
                }
                _ => {
                    restore_mmap(&mut target.store, &target_cores, &mapped, &image.globals)?;
                    0
                }
            };
            let restored = t3.elapsed();
            let r4 = rss_kib();
            let t4 = Instant::now();
            let result = target.call("lookup", 1, &one).await;
            let first_call = t4.elapsed();
            let t5 = Instant::now();
            let second = target.call("lookup", 1, &one).await;
            let second_call = t5.elapsed();
            let r6 = rss_kib();
            if round == 0 {
                target.load("add.py", ADD).await?;
                let sum = target.call("add", 1, &bigint_columns(&[&[1], &[2]])).await?;
                let close = target.guest.udfbox_runtime_runtime().call_close(&mut target.store).await?;
                println!("{label}: restored sandbox: another file loads, add(1, 2) = {sum:?}, close() -> {close:?}");
            }
            println!(
                "{label} round {round}: instantiate {}, warm-up {}, enumerate cores {}, restore {} ({bytes} bytes copied), \
                 first call {} -> {:?}, second call {} -> {:?}; private dirty KiB: instantiate +{}, warm-up +{}, restore +{}, calls +{}",
                ms(instantiated),
                ms(warmed),
                ms(enumerated),
                ms(restored),
                ms(first_call),
                result.as_ref().map_err(|e| format!("{e:#}")),
                ms(second_call),
                second.as_ref().map_err(|e| format!("{e:#}")),
                r1 as i64 - r0 as i64,
                r2 as i64 - r1 as i64,
                r4 as i64 - r2 as i64,
                r6 as i64 - r4 as i64,
            );
        }
    }
    Ok(())
}

/// The same restore without guest_debug: the host allocates the linear memory itself, so it
/// knows where it is. Globals are not restored (none changed in the guest_debug experiment) and
/// memory growth is left to the guest (the warm-up grows it to the snapshot's size).
async fn host_memory_experiment(guest: &Guest) -> Result<()> {
    let one = bigint_columns(&[&[1]]);
    let mut fresh_bytes = Vec::new();
    for round in 0..3 {
        let before = rss_kib();
        let start = Instant::now();
        let fresh = guest.instantiate().await?;
        let size = fresh.memories[0].size.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the fresh sandbox's memory, no guest code running.
        fresh_bytes = unsafe { std::slice::from_raw_parts(fresh.memories[0].base as *const u8, size) }.to_vec();
        println!(
            "host-memory fresh instance {round}: instantiate {} (data segments copied, no CoW), \
             memories {:?}, private dirty +{} KiB",
            ms(start.elapsed()),
            fresh.memories.iter().map(|m| m.size.load(std::sync::atomic::Ordering::Relaxed)).collect::<Vec<_>>(),
            rss_kib() as i64 - before as i64
        );
    }
    let mut source = guest.instantiate().await?;
    source.load("lookup.py", SLOW_OPEN).await?;
    assert_eq!(source.call("lookup", 1, &one).await?, vec![1_001_001]);
    let start = Instant::now();
    let images: Vec<MappedImage> = source
        .memories
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let size = m.size.load(std::sync::atomic::Ordering::Relaxed);
            // SAFETY: the sandbox's memory, [base, base + size) read-write, no guest code running.
            let bytes = unsafe { std::slice::from_raw_parts(m.base as *const u8, size) };
            memfd_images(&Snapshot {
                memories: vec![MemoryImage { core: i, index: 0, bytes: bytes.to_vec() }],
                globals: vec![],
            })
            .pop()
            .unwrap()
        })
        .collect();
    println!(
        "host-memory snapshot: {} memories, sizes {:?}, taken in {}",
        images.len(),
        images.iter().map(|i| i.size).collect::<Vec<_>>(),
        ms(start.elapsed())
    );
    {
        let size = source.memories[0].size.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(source.memories[0].base as *const u8, size) }.to_vec();
        let image = Snapshot { memories: vec![MemoryImage { core: 0, index: 0, bytes }], globals: vec![] };
        let fresh = Snapshot { memories: vec![MemoryImage { core: 0, index: 0, bytes: fresh_bytes }], globals: vec![] };
        let d = delta(&image, &fresh, 4096);
        println!("host-memory (plain engine) 4 KiB delta: {} bytes in {} runs", d.bytes(), d.runs());
    }
    for round in 0..5 {
        let r0 = rss_kib();
        let t0 = Instant::now();
        let mut target = guest.instantiate().await?;
        let instantiated = t0.elapsed();
        let missing = |target: &Sandbox| {
            images[0].size.saturating_sub(target.memories[0].size.load(std::sync::atomic::Ordering::Relaxed))
        };
        let t1 = Instant::now();
        target.load("warm_up.py", WARM_UP).await?;
        // Free heap inside the memory serves part of each allocation, so grow until the memory is
        // large enough (the allocations are kept until then, so none is served twice).
        let mut steps = 0;
        while missing(&target) > 0 {
            let source = format!(
                "import udfbox\nudfbox._grow = getattr(udfbox, '_grow', []) + [bytearray({})]\n",
                missing(&target) + 65536
            );
            target.load(&format!("grow{steps}.py"), &source).await?;
            steps += 1;
        }
        target.store.data().stdout.take();
        let warmed = t1.elapsed();
        let r2 = rss_kib();
        let sizes: Vec<usize> =
            target.memories.iter().map(|m| m.size.load(std::sync::atomic::Ordering::Relaxed)).collect();
        let t2 = Instant::now();
        for (memory, image) in target.memories.iter().zip(&images) {
            assert!(memory.size.load(std::sync::atomic::Ordering::Relaxed) >= image.size);
            // SAFETY: the host owns this reservation; [base, base + image.size) is read-write
            // linear memory and no guest code runs while it is replaced.
            let mapped = unsafe {
                libc::mmap(
                    memory.base as *mut libc::c_void,
                    image.size,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    image.fd,
                    0,
                )
            };
            assert_eq!(mapped as usize, memory.base);
        }
        let restored = t2.elapsed();
        let r3 = rss_kib();
        let t3 = Instant::now();
        let first = target.call("lookup", 1, &one).await;
        let first_call = t3.elapsed();
        let t4 = Instant::now();
        let second = target.call("lookup", 1, &one).await;
        let second_call = t4.elapsed();
        if round == 0 {
            target.load("add.py", ADD).await?;
            let sum = target.call("add", 1, &bigint_columns(&[&[1], &[2]])).await?;
            let close = target.guest.udfbox_runtime_runtime().call_close(&mut target.store).await?;
            println!("host-memory restored sandbox: another file loads, add(1, 2) = {sum:?}, close() -> {close:?}");
        }
        println!(
            "host-memory mmap round {round}: instantiate {}, warm-up (grows memory to {sizes:?} in {steps} steps) {}, restore {}, \
             first call {} -> {:?}, second call {} -> {:?}; private dirty KiB: instantiate+warm-up +{}, restore +{}, calls +{}",
            ms(instantiated),
            ms(warmed),
            ms(restored),
            ms(first_call),
            first.as_ref().map_err(|e| format!("{e:#}")),
            ms(second_call),
            second.as_ref().map_err(|e| format!("{e:#}")),
            r2 as i64 - r0 as i64,
            r3 as i64 - r2 as i64,
            rss_kib() as i64 - r3 as i64,
        );
    }
    Ok(())
}

/// Where a guest_debug sandbox's extra private memory comes from: private dirty memory around
/// an `open()` that runs 50 ms and one that runs 200 ms (both calling `time.perf_counter`, a
/// host call, in their loop).
async fn memory_probe(guest: &Guest, label: &str) -> Result<()> {
    let one = bigint_columns(&[&[1]]);
    let mut sandbox = guest.instantiate().await?;
    sandbox.load("lookup.py", SLOW_OPEN).await?;
    let slower = SLOW_OPEN.replace("0.05", "0.2").replace("lookup =", "lookup2 =");
    sandbox.load("lookup2.py", &slower).await?;
    for function in ["lookup", "lookup2"] {
        let before = rss_kib();
        let start = Instant::now();
        sandbox.call(function, 1, &one).await?;
        println!(
            "{label} {function}: first call {} private dirty +{} KiB",
            ms(start.elapsed()),
            rss_kib() as i64 - before as i64
        );
    }
    Ok(())
}

/// Cold start to the first result: instantiate, load SLOW_OPEN, first call (runs open()).
async fn cold(guest: &Guest, label: &str) -> Result<()> {
    let one = bigint_columns(&[&[1]]);
    for round in 0..3 {
        let before = rss_kib();
        let start = Instant::now();
        let mut sandbox = guest.instantiate().await?;
        let t1 = start.elapsed();
        sandbox.load("lookup.py", SLOW_OPEN).await?;
        let t2 = start.elapsed();
        let result = sandbox.call("lookup", 1, &one).await?;
        let t3 = start.elapsed();
        assert_eq!(result, vec![1_001_001]);
        println!(
            "{label} cold round {round}: instantiate {}, load {}, first call (50 ms open) {}, total {}; private dirty +{} KiB",
            ms(t1),
            ms(t2 - t1),
            ms(t3 - t2),
            ms(t3),
            rss_kib() as i64 - before as i64
        );
    }
    Ok(())
}

/// One-row `add` and 8,192-row `add` (benches/call.rs `one_row_call` and `batch_add/8192`).
async fn calls(guest: &Guest, label: &str) -> Result<()> {
    let mut sandbox = guest.instantiate().await?;
    sandbox.load("add.py", ADD).await?;
    let one = bigint_columns(&[&[1], &[1]]);
    let a: Vec<i64> = (0..8192).collect();
    let b: Vec<i64> = (0..8192).map(|i| 2 * i).collect();
    let batch = bigint_columns(&[&a, &b]);
    for _ in 0..200 {
        assert_eq!(sandbox.call("add", 1, &one).await?, vec![2]);
    }
    for round in 0..5 {
        let n = 2000;
        let start = Instant::now();
        for _ in 0..n {
            sandbox.call("add", 1, &one).await?;
        }
        let per_call = start.elapsed() / n;
        let n = 100;
        let start = Instant::now();
        for _ in 0..n {
            let sum = sandbox.call("add", 8192, &batch).await?;
            assert_eq!(sum[8191], 3 * 8191);
        }
        let per_batch = start.elapsed() / n;
        println!(
            "{label} round {round}: one-row add {:.1} µs/call, 8192-row add {:.3} ms/batch",
            per_call.as_secs_f64() * 1e6,
            per_batch.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let component_path = args.next().expect("usage: snapshot-experiment <guest.wasm> [restore|calls|cold|all]");
    let what = args.next().unwrap_or_else(|| "all".into());
    let component = std::fs::read(&component_path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let load_engine = |debug: bool, host_memory: bool| -> Result<Guest> {
        let start = Instant::now();
        let (guest, compiled) = Guest::new(&component, debug, host_memory)?;
        println!(
            "engine guest_debug={debug} host_memory={host_memory}: compile {}, ready (deserialize + link) in {}",
            compiled.map_or("cached".to_string(), ms),
            ms(start.elapsed() - compiled.unwrap_or_default())
        );
        Ok(guest)
    };
    if what == "probe" {
        for (debug, label) in [(false, "plain"), (true, "guest_debug")] {
            let guest = load_engine(debug, false)?;
            runtime.block_on(memory_probe(&guest, label))?;
        }
        return Ok(());
    }
    if what == "hostmem" {
        let guest = load_engine(false, true)?;
        return runtime.block_on(host_memory_experiment(&guest));
    }
    let load = |debug: bool| load_engine(debug, false);
    let plain = (what != "restore").then(|| load(false)).transpose()?;
    let debug = load(true)?;
    runtime.block_on(async {
        if what == "restore" || what == "all" {
            restore_experiment(&debug).await?;
        }
        if what == "cold" || what == "all" {
            cold(plain.as_ref().unwrap(), "plain").await?;
            cold(&debug, "guest_debug").await?;
        }
        if what == "calls" || what == "all" {
            for round in 0..2 {
                println!("-- calls, alternation {round}");
                calls(plain.as_ref().unwrap(), "plain").await?;
                calls(&debug, "guest_debug").await?;
            }
        }
        Ok(())
    })
}
