//! The sandbox backend: CPython compiled to WASI (a component built by componentize-py from
//! `guest-runtime/`), run by wasmtime.
//!
//! What the guest may touch is decided here, in one place, and is nothing by default: no
//! environment variables, no arguments, no preopened directories, no sockets or name lookups, no
//! stdin; stdout carries results back to the host ([`super::result_stream`]) and stderr goes to a
//! bounded in-memory pipe. It keeps the ordinary WASI clocks and
//! random numbers. The one grant there is: a read-only dependency directory, `/deps` in the
//! guest, when [`crate::Options::deps`] names one.
//!
//! A [`WasmBackend`] is a pool of sandboxes (instances) with the same files loaded, up to
//! [`Limits::max_instances`]; a call checks one out, runs on the caller's thread, and returns it
//! warm. Calls to different sets, and concurrent calls to one set, share no lock beyond the
//! checkout. Guest code runs through async wasmtime, driven on the caller's thread, with timers
//! on one shared background runtime. That is what makes [`Limits::timeout`] hold for every kind
//! of stall: a busy loop yields at each epoch tick (10 ms) and a host-blocking call such as
//! `time.sleep` is a timer future; [`drive`] ends both at the deadline, arming a timer only for a
//! call still running at its first yield (a short call costs no timer registration). Memory growth beyond the
//! limit is refused by a `ResourceLimiter`. After a trap, timeout or memory exhaustion the
//! instance is discarded; the next checkout makes a fresh one from the pre-initialized image and
//! loads the same UDF files into it.
//!
//! Cranelift needs seconds to compile the ~22 MB component, so the compiled artifact is cached on
//! disk (see [`cache_path`]) and compiled once per guest build; in a process the engine, compiled
//! component and `InstancePre` are made once and shared.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable, ResourceTableError};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bounds;
use super::determinism::{seed_of, Determinism};
use super::pool::{Lease, Load, Pool, Pooled};
use super::result_stream::ResultStream;
use super::snapshot::{self, HostMemories, Image, MemoryRegion};
use crate::backend::{
    AggregateOp, Backend, CallResult, ErrorPolicy, FunctionInfo, Metric, MetricKind, Mode, Reply, RowReply, TableOutput,
};
use crate::error::{Error, Result, UdfError, UdfErrorKind};
use crate::limits::Limits;
use crate::wire::{self, PackedColumn, WireColumn};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "udfbox-guest",
        imports: { default: async },
        exports: { default: async },
    });
}

use bindings::udfbox::runtime::types as wit;
use bindings::{UdfboxGuest, UdfboxGuestPre};

/// The guest component, built by `build.rs`.
pub static GUEST_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/udfbox_guest.wasm"));

/// Bytes of C-level stdout forwarded per call, and of C-level stderr per sandbox (Python-level
/// output is bounded by the runtime).
const PIPE_CAPACITY: usize = 64 * 1024;

/// WASI handles (open files and directories, streams, timers) a sandbox may hold at once; a
/// sandbox that opens more traps and is replaced. The runtime itself holds about ten.
pub const MAX_WASI_HANDLES: usize = 64;

/// How often the epoch advances: the granularity of timeouts.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The longest instantiating a sandbox from the image may take.
const INSTANTIATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Refuses linear-memory growth beyond the limit (the guest's allocation fails; it does not trap).
struct MemoryLimiter {
    limit: usize,
    refused: bool,
    /// The largest linear memory the guest has grown to, in bytes.
    peak: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Per-sandbox host state: the WASI context, the pipes it writes to, the memory limiter.
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: ResultStream,
    stderr: MemoryOutputPipe,
    limiter: MemoryLimiter,
    /// Deterministic mode's clocks and random sources, reset at every call.
    determinism: Option<Determinism>,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn sandbox_error(function: Option<&str>, error: impl std::fmt::Display) -> Error {
    Error::Sandbox { function: function.map(str::to_string), message: format!("{error:#}") }
}

/// The engine every sandbox uses; `fuel` turns on fuel metering (it changes the compiled code,
/// so metered and unmetered sandboxes use two engines and two compiled artifacts).
pub fn engine(fuel: bool) -> Result<Engine> {
    engine_for(fuel, false)
}

/// [`engine`], with linear memories the host allocates when `host_memory` is set: what a
/// snapshotting set's sandboxes need ([`super::snapshot`]). Such an engine cannot initialize
/// memories from wasmtime's copy-on-write images, so it compiles its own artifact and each
/// instantiation copies the data segments.
pub fn engine_for(fuel: bool, host_memory: bool) -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
    if host_memory {
        config.with_host_memory(Arc::new(HostMemories));
        config.memory_init_cow(false);
    }
    // `UDFBOX_PROFILE=perfmap` names the compiled guest functions for `perf` (docs/BENCHMARKS.md).
    if std::env::var_os("UDFBOX_PROFILE").is_some_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config).map_err(|e| sandbox_error(None, e))
}

/// Where the compiled component for this guest build and this engine is cached:
/// `$UDFBOX_CACHE_DIR`, else the user's cache directory (`~/.cache/udfbox`), else the temp dir.
pub fn cache_path(engine: &Engine) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let dir = std::env::var_os("UDFBOX_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("udfbox")))
        .unwrap_or_else(|| std::env::temp_dir().join("udfbox-cache"));
    dir.join(format!("guest-{}-{:016x}.cwasm", env!("UDFBOX_GUEST_HASH"), hasher.finish()))
}

/// Compiles the guest component with Cranelift (seconds) into a serialized artifact.
pub fn compile(engine: &Engine) -> Result<Vec<u8>> {
    engine.precompile_component(GUEST_COMPONENT).map_err(|e| sandbox_error(None, e))
}

/// Loads the compiled component from the cache, compiling and caching it first if needed.
/// Processes that start together wait for one compile instead of each running their own.
pub fn load_component(engine: &Engine) -> Result<Component> {
    let path = cache_path(engine);
    if let Some(component) = load_cached(engine, &path) {
        return Ok(component);
    }
    let lock = path.parent().and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        let file = std::fs::File::create(path.with_extension("lock")).ok()?;
        file.lock().ok()?;
        Some(file)
    });
    if let Some(component) = load_cached(engine, &path) {
        return Ok(component);
    }
    let compiled = compile(engine)?;
    // Write then rename, so that a reader never sees a half-written file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if let Err(e) = std::fs::write(&tmp, &compiled).and_then(|()| std::fs::rename(&tmp, &path)) {
        tracing::warn!("cannot cache the compiled guest at {}: {e}", path.display());
    }
    drop(lock);
    // SAFETY: `compiled` was just produced by `precompile_component` on this engine.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| sandbox_error(None, e))
}

fn load_cached(engine: &Engine, path: &std::path::Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the file is one `load_component` wrote with `precompile_component` for an engine
    // with the same compatibility hash (it is in the file name); wasmtime checks its header too.
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!("recompiling the guest: cached {} is unusable: {e}", path.display());
            None
        }
    }
}

/// The engine and pre-linked component, made once per process (per fuel setting).
pub struct Prepared {
    engine: Engine,
    pre: UdfboxGuestPre<SandboxState>,
}

static PREPARED: [OnceLock<std::result::Result<Arc<Prepared>, String>>; 4] =
    [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];

impl Prepared {
    /// The shared instance, prepared on first use.
    pub fn get(fuel: bool) -> Result<Arc<Prepared>> {
        Self::get_for(fuel, false)
    }

    /// The shared instance for [`engine_for`]`(fuel, host_memory)`, prepared on first use.
    pub fn get_for(fuel: bool, host_memory: bool) -> Result<Arc<Prepared>> {
        PREPARED[usize::from(fuel) + 2 * usize::from(host_memory)]
            .get_or_init(|| Self::new_for(fuel, host_memory).map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|message| Error::Sandbox { function: None, message })
    }

    pub fn new(fuel: bool) -> Result<Self> {
        Self::new_for(fuel, false)
    }

    fn new_for(fuel: bool, host_memory: bool) -> Result<Self> {
        let engine = engine_for(fuel, host_memory)?;
        let component = load_component(&engine)?;
        let mut linker = Linker::new(&engine);
        // The guest links against WASI 0.2; what it can reach is limited by the WasiCtx below.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| sandbox_error(None, e))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| sandbox_error(None, e))?;
        let pre = UdfboxGuestPre::new(pre).map_err(|e| sandbox_error(None, e))?;
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("udfbox-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                ticker.increment_epoch();
            })
            .map_err(|e| sandbox_error(None, e))?;
        Ok(Self { engine, pre })
    }

    /// Creates a fresh sandbox: a new Store and an instance from the pre-initialized image.
    /// `deps` is preopened read-only as `/deps`.
    /// `deterministic`: virtual clocks and seeded random sources (see `determinism`).
    pub async fn instantiate(&self, limits: &Limits, deps: Option<&Path>, deterministic: bool) -> Result<Sandbox> {
        // Results cannot outgrow the sandbox's memory: its limit bounds what one call may write.
        let stdout = ResultStream::new(limits.memory_bytes);
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            // File operations run on the timer runtime's blocking pool, never on the calling
            // thread: a read that blocks cannot stop the call's deadline from ending it.
            .allow_blocking_current_thread(false);
        if let Some(deps) = deps {
            wasi.preopened_dir(deps, DEPS_GUEST_PATH, FsPerms::ReadOnly).map_err(|e| Error::Io {
                path: deps.display().to_string(),
                source: std::io::Error::other(format!("{e:#}")),
            })?;
        }
        let determinism = deterministic.then(Determinism::default);
        if let Some(determinism) = &determinism {
            wasi.wall_clock(determinism.wall_clock())
                .monotonic_clock(determinism.monotonic_clock())
                .secure_random(determinism.random())
                .insecure_random(determinism.random())
                .insecure_random_seed(0);
        }
        let wasi = wasi.build();
        let limiter = MemoryLimiter { limit: limits.memory_bytes, refused: false, peak: 0 };
        let mut table = ResourceTable::new();
        // Each open file under `/deps` holds a host descriptor: the cap bounds a sandbox's share.
        table.set_max_capacity(MAX_WASI_HANDLES);
        let state = SandboxState { wasi, table, stdout, stderr, limiter, determinism };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Yield to the executor at every epoch tick, so a timeout can end a busy loop.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        if limits.fuel.is_some() {
            store.set_fuel(u64::MAX).map_err(|e| sandbox_error(None, e))?;
        }
        snapshot::take_created();
        let instantiated = self.pre.instantiate_async(&mut store).await;
        // On a host-memory engine, the memory this sandbox got (a component with more than one
        // is not snapshotted).
        let memory = match snapshot::take_created().as_slice() {
            [memory] => Some(memory.clone()),
            _ => None,
        };
        let guest = instantiated.map_err(|e| {
            if store.data().limiter.refused {
                Error::Invalid(format!(
                    "the memory limit of {} bytes is below what the sandbox needs to start",
                    limits.memory_bytes
                ))
            } else {
                sandbox_error(None, e)
            }
        })?;
        Ok(Sandbox { store, guest, memory })
    }
}

/// Where the dependency directory appears inside the sandbox (`udfbox.deps_dir()`).
pub const DEPS_GUEST_PATH: &str = "/deps";

/// Entries of a dependency directory [`check_deps`] looks at before giving up.
const MAX_DEPS_ENTRIES: usize = 1_000_000;

/// Refuses a dependency directory holding anything but regular files and directories: a FIFO,
/// socket or device can block a read forever (the call's deadline ends the call, but not the
/// host thread blocked in the read).
fn check_deps(deps: &Path) -> Result<()> {
    let mut pending = vec![deps.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
            seen += 1;
            if seen > MAX_DEPS_ENTRIES {
                return Err(Error::Invalid(format!(
                    "the dependency directory {} holds more than {MAX_DEPS_ENTRIES} entries",
                    deps.display()
                )));
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(|source| Error::Io { path: path.display().to_string(), source })?;
            if kind.is_dir() {
                pending.push(path);
            } else if !kind.is_file() && !kind.is_symlink() {
                // Symlinks are followed by nothing here; inside the sandbox one that leaves
                // `/deps` is refused, and one inside it names an entry checked on its own.
                return Err(Error::Invalid(format!(
                    "the dependency directory may hold only regular files and directories: {} is not one",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// One guest instance and its store.
pub struct Sandbox {
    store: Store<SandboxState>,
    guest: UdfboxGuest,
    /// Its linear memory, when the host allocated it (a snapshotting set's sandbox).
    memory: Option<Arc<MemoryRegion>>,
}

/// The runtime whose timers every sandbox uses: guest sleeps and call timeouts. One background
/// thread drives them, so a call can run on any thread, inside or outside an async executor.
fn timers() -> Result<&'static tokio::runtime::Runtime> {
    static TIMERS: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    TIMERS
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("udfbox-timers")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| sandbox_error(None, format!("cannot start the timer runtime: {e}")))
}

/// What a guest entry came to, before it is turned into a udfbox result.
type Outcome<T> = std::result::Result<wasmtime::Result<T>, Elapsed>;

/// A guest entry ran past its time limit.
#[derive(Debug)]
struct Elapsed;

/// What one host call may spend in the guest: its deadline (the fuel budget is the store's).
#[derive(Debug, Clone, Copy)]
struct Budget {
    deadline: tokio::time::Instant,
}

/// The instant `limit` from now, on the timer runtime's clock.
fn deadline_in(limit: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + limit
}

/// Runs a guest future to completion on this thread, until `deadline` at the latest.
/// Every guest entry of one host call shares one deadline (see [`WasmBackend::with_instance`]).
fn drive<F: Future>(deadline: tokio::time::Instant, future: F) -> Result<std::result::Result<F::Output, Elapsed>> {
    let _timers = timers()?.enter();
    Ok(pollster::block_on(Deadline { future: std::pin::pin!(future), deadline, timer: None }))
}

/// A future ended at `deadline`. Most guest calls finish in their first poll, so the timer
/// (a registration in the shared timer runtime, microseconds per call) is armed only when the
/// guest first yields: at an epoch tick of a long computation, or blocked in a host call such
/// as `time.sleep`, which only a timer can end.
struct Deadline<'a, F: Future> {
    future: std::pin::Pin<&'a mut F>,
    deadline: tokio::time::Instant,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<F: Future> Future for Deadline<'_, F> {
    type Output = std::result::Result<F::Output, Elapsed>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = self.get_mut();
        if let Poll::Ready(output) = this.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // The clock as well as the timer: a guest that yields at every tick keeps this polled.
        if tokio::time::Instant::now() >= deadline || timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    }
}

/// A pooled sandbox and what the pool knows about it.
struct Instance {
    sandbox: Sandbox,
    /// How many of the pool's loads this instance has run.
    loaded: usize,
    /// Bytes of the stderr pipe already forwarded.
    seen_stderr: usize,
    /// C-level stdout text written during a call, before its results; not yet forwarded.
    stdout_text: Vec<u8>,
    /// Linear memory after the instance's first call, when it has made one.
    settled: Option<usize>,
    /// Set while guest code runs and cleared when it ended cleanly: an instance dropped with it
    /// set (a failure, or a panic on the way) is never used again.
    in_guest: bool,
    /// The instance has grown too far: close it and let a fresh one take its place.
    retire: bool,
    /// The last call returned what UDFs printed with its result.
    output_taken: bool,
    /// Snapshotting sets: WASI handles it held once primed.
    primed_handles: usize,
    /// Snapshotting sets: a call ran in it since it was loaded or restored.
    called: bool,
    /// Snapshotting sets: a load and `open()` just ran in it; its memory becomes the image once
    /// the load's output is taken, before any call.
    capture: bool,
}

impl Instance {
    /// A snapshotting set's sandbox made ahead of time, restored or still blank.
    fn from_blank(blank: Blank) -> Self {
        let loaded = blank.restored.as_ref().map_or(0, |image| image.loaded);
        Instance { primed_handles: blank.handles, loaded, ..Instance::new(blank.sandbox) }
    }

    fn new(sandbox: Sandbox) -> Self {
        Instance {
            sandbox,
            loaded: 0,
            seen_stderr: 0,
            stdout_text: Vec::new(),
            settled: None,
            in_guest: false,
            retire: false,
            output_taken: false,
            primed_handles: 0,
            called: false,
            capture: false,
        }
    }
}

impl Pooled for Instance {
    fn reusable(&self) -> bool {
        !self.in_guest && !self.retire
    }
}

/// The sandbox backend: a pool of sandboxes with the same UDF files loaded.
pub struct WasmBackend {
    prepared: Arc<Prepared>,
    limits: Limits,
    deps: Option<PathBuf>,
    /// Every file loaded so far, in order.
    loads: Mutex<Vec<Arc<Load>>>,
    /// Held through a whole `load`, so that every instance runs the files in one order.
    loading: Mutex<()>,
    pool: Pool<Instance>,
    /// The most linear memory any instance has grown to.
    peak: AtomicUsize,
    /// Deterministic mode (`Options::deterministic`).
    deterministic: bool,
    /// Snapshot after `open()` (`Options::snapshot`).
    snapshots: Option<Snapshots>,
}

/// A snapshotting set's image and its spare sandbox.
struct Snapshots {
    spare: Arc<Spare>,
    /// A load could not be snapshotted: later sandboxes replay the loads (warned once).
    refused: std::sync::atomic::AtomicBool,
}

/// A sandbox of a snapshotting set made ahead of time: instantiated, primed and, when the set
/// has an image, restored from it.
struct Blank {
    sandbox: Sandbox,
    /// WASI handles it held once primed.
    handles: usize,
    /// The image it was restored from.
    restored: Option<Arc<Image>>,
}

/// The set's newest image, and one sandbox made ahead of time from it, so that a checkout that
/// needs a new sandbox finds it ready (instantiating on a host-memory engine copies the data
/// segments, and mapping the image over them frees their pages: milliseconds).
struct Spare {
    prepared: Arc<Prepared>,
    limits: Limits,
    deps: Option<PathBuf>,
    deterministic: bool,
    /// The newest image, once a load has run in a sandbox that could be snapshotted.
    image: Mutex<Option<Arc<Image>>>,
    slot: Mutex<Option<Blank>>,
    making: std::sync::atomic::AtomicBool,
}

impl Spare {
    fn image(&self) -> Option<Arc<Image>> {
        self.image.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes `image` the one new sandboxes start from; a spare made from an older one is dropped.
    fn set_image(self: &Arc<Self>, image: Option<Arc<Image>>) {
        *self.image.lock().unwrap_or_else(|e| e.into_inner()) = image;
        let stale = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(stale);
        self.refill();
    }

    /// A new sandbox, primed, and restored from the newest image if there is one. If restoring
    /// fails, a new blank sandbox instead, which replays the loads (a half-restored one is not
    /// to be trusted).
    fn make(&self) -> Result<Blank> {
        let mut blank = self.blank()?;
        let Some(image) = self.image() else { return Ok(blank) };
        match restore_sandbox(&mut blank.sandbox, &image, self.limits.memory_bytes) {
            Ok(true) => {
                blank.restored = Some(image);
                Ok(blank)
            }
            Ok(false) => self.blank(),
            Err(e) => {
                tracing::warn!("cannot restore a sandbox from the snapshot ({e}): replaying the loads instead");
                self.blank()
            }
        }
    }

    /// A new sandbox, primed, not restored.
    fn blank(&self) -> Result<Blank> {
        let made = drive(
            deadline_in(INSTANTIATE_TIMEOUT),
            self.prepared.instantiate(&self.limits, self.deps.as_deref(), self.deterministic),
        )?;
        let mut sandbox = made.map_err(|_| Error::Timeout { function: None, limit: INSTANTIATE_TIMEOUT })??;
        let handles = prime(&mut sandbox, 0, self.limits.memory_bytes)?;
        Ok(Blank { sandbox, handles, restored: None })
    }

    /// The spare if there is one (and a new one started in the background), else a new sandbox.
    fn take(self: &Arc<Self>) -> Result<Blank> {
        let spare = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        let blank = match spare {
            Some(spare) => Ok(spare),
            None => self.make(),
        };
        self.refill();
        blank
    }

    /// Makes a spare in the background unless one exists or is being made.
    fn refill(self: &Arc<Self>) {
        if self.slot.lock().unwrap_or_else(|e| e.into_inner()).is_some() || self.making.swap(true, Ordering::AcqRel) {
            return;
        }
        let spare = self.clone();
        let started = std::thread::Builder::new().name("udfbox-spare".into()).spawn(move || {
            // An image that changed meanwhile makes the spare stale: make it again.
            for _ in 0..3 {
                match spare.make() {
                    Ok(made) => {
                        let mut slot = spare.slot.lock().unwrap_or_else(|e| e.into_inner());
                        if made.restored.as_ref().map(Arc::as_ptr) == spare.image().as_ref().map(Arc::as_ptr) {
                            *slot = Some(made);
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("cannot prepare a spare sandbox: {e}");
                        break;
                    }
                }
            }
            spare.making.store(false, Ordering::Release);
        });
        if started.is_err() {
            self.making.store(false, Ordering::Release);
        }
    }
}

/// Maps `image` over a primed sandbox no load ran in (growing its memory first if needed) and
/// reseeds its Python `random`. `Ok(false)`: the image does not fit this sandbox (it holds other
/// WASI handles than the snapshotted one did); it is left as it was.
fn restore_sandbox(sandbox: &mut Sandbox, image: &Image, limit: usize) -> Result<bool> {
    let Some(memory) = sandbox.memory.clone() else { return Ok(false) };
    let handles = sandbox.store.data_mut().table.iter_mut().count();
    if handles != image.handles {
        tracing::warn!(
            "a new sandbox holds {handles} WASI handles, the snapshot {}: replaying the loads instead",
            image.handles
        );
        return Ok(false);
    }
    if memory.size() < image.size() {
        prime(sandbox, image.size(), limit)?;
    }
    // SAFETY: no guest code runs in the sandbox (the caller holds it), it was primed like the
    // sandbox the image came from, and its memory is at least the image's size.
    unsafe { image.map_over(&memory) }.map_err(|e| sandbox_error(None, format!("cannot map the snapshot: {e}")))?;
    // The image's `random` state is the snapshotted sandbox's: give this one its own.
    let seed = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), image.loaded);
    let runtime = sandbox.guest.udfbox_runtime_runtime();
    match drive(deadline_in(INSTANTIATE_TIMEOUT), runtime.call_reseed(&mut sandbox.store, seed))? {
        Ok(Ok(())) => Ok(true),
        Ok(Err(e)) => Err(sandbox_error(None, e)),
        Err(Elapsed) => Err(Error::Timeout { function: None, limit: INSTANTIATE_TIMEOUT }),
    }
}

/// Readies a fresh sandbox of a snapshotting set (the WIT's `prime`): takes the handles an
/// image's libc holds, grows the memory to at least `size` bytes (within `limit`), and drops the
/// byte the priming wrote to stdout. Returns the WASI handles the sandbox holds.
fn prime(sandbox: &mut Sandbox, size: usize, limit: usize) -> Result<usize> {
    let deadline = deadline_in(INSTANTIATE_TIMEOUT);
    let Some(memory) = sandbox.memory.clone() else {
        return Err(sandbox_error(None, "a snapshotting sandbox needs a memory the host allocated"));
    };
    let mut reserve = 0;
    // Free space inside the heap serves part of each reserve: ask for twice as much each step.
    for step in 0..16 {
        let runtime = sandbox.guest.udfbox_runtime_runtime();
        match drive(deadline, runtime.call_prime(&mut sandbox.store, reserve))? {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(sandbox_error(None, e)),
            Err(Elapsed) => return Err(Error::Timeout { function: None, limit: INSTANTIATE_TIMEOUT }),
        }
        let current = memory.size();
        if current >= size {
            sandbox.store.data().stdout.take_all();
            return Ok(sandbox.store.data_mut().table.iter_mut().count());
        }
        reserve = ((size - current + 65536) << step).min(limit.saturating_sub(current)) as u64;
    }
    Err(sandbox_error(None, format!("cannot grow a sandbox's memory to the snapshot's {size} bytes")))
}

impl WasmBackend {
    pub fn new(limits: Limits, deps: Option<PathBuf>) -> Result<Self> {
        Self::with_options(limits, deps, false, false)
    }

    /// A pool whose sandboxes are deterministic when `deterministic` is set.
    pub fn with_options(limits: Limits, deps: Option<PathBuf>, deterministic: bool, snapshot: bool) -> Result<Self> {
        if limits.max_instances == 0 {
            return Err(Error::Invalid("max_instances must be at least 1".into()));
        }
        if let Some(deps) = &deps {
            check_deps(deps)?;
        }
        let prepared = Prepared::get_for(limits.fuel.is_some(), snapshot)?;
        let snapshots = snapshot.then(|| Snapshots {
            spare: Arc::new(Spare {
                prepared: prepared.clone(),
                limits: limits.clone(),
                deps: deps.clone(),
                deterministic,
                image: Mutex::new(None),
                slot: Mutex::new(None),
                making: Default::default(),
            }),
            refused: Default::default(),
        });
        let backend = Self {
            snapshots,
            prepared,
            pool: Pool::new(limits.max_instances),
            limits,
            deps,
            loads: Mutex::new(Vec::new()),
            loading: Mutex::new(()),
            peak: AtomicUsize::new(0),
            deterministic,
        };
        // One warm instance from the start: a bad limit or directory shows here, and the first
        // load does not pay for instantiation.
        drop(backend.checkout()?);
        Ok(backend)
    }

    /// Instances alive in the pool now (idle or busy).
    pub fn live_instances(&self) -> usize {
        self.pool.live()
    }

    /// Checks an instance out and returns it: what a call pays for the pool (`benches/sandbox.rs`).
    pub fn checkout_and_return(&self) -> Result<()> {
        drop(self.checkout()?);
        Ok(())
    }

    /// Drops every idle sandbox, as a fault would: the next call needs a new one (benches).
    pub fn discard_idle(&self) {
        for mut lease in self.pool.idle() {
            lease.get().in_guest = true;
        }
    }

    /// Waits up to `limit` for a snapshotting set's spare sandbox to be ready; whether it is.
    pub fn wait_for_spare(&self, limit: Duration) -> bool {
        let Some(snapshots) = &self.snapshots else { return false };
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if snapshots.spare.slot.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Checks out a sandbox brought up to date with the loads (restored from the snapshot, or
    /// the files replayed) and returns it: what a new sandbox costs before its first call.
    pub fn checkout_ready(&self) -> Result<()> {
        let mut lease = self.checkout()?;
        self.restore_if_behind(lease.get(), false)?;
        let budget = Budget { deadline: deadline_in(self.limits.timeout) };
        self.catch_up(lease.get(), budget, None)
    }

    /// Takes an idle instance, or makes one if fewer than `max_instances` exist, or waits for
    /// one to be returned. The caller brings it up to date with the loaded files ([`Self::catch_up`]).
    fn checkout(&self) -> Result<Lease<'_, Instance>> {
        self.pool.checkout(|| {
            if let Some(snapshots) = &self.snapshots {
                return Ok(Instance::from_blank(snapshots.spare.take()?));
            }
            // Instantiating runs no UDF code, so the UDFs' timeout does not apply: a short one
            // must not fail a loaded machine. The bound only guards against a hung host.
            let made = drive(
                deadline_in(INSTANTIATE_TIMEOUT),
                self.prepared.instantiate(&self.limits, self.deps.as_deref(), self.deterministic),
            )?;
            let sandbox = made.map_err(|_| Error::Timeout { function: None, limit: INSTANTIATE_TIMEOUT })??;
            Ok(Instance::new(sandbox))
        })
    }

    /// The newest image of a snapshotting set.
    fn image(&self) -> Option<Arc<Image>> {
        self.snapshots.as_ref()?.spare.image()
    }

    /// For a snapshotting set: swaps a sandbox behind the newest image, or one calls have run in
    /// when `for_load` (the next image must hold the loads and `open()` only), for the spare,
    /// which is restored from the newest image (or, if that failed, blank: `catch_up` replays).
    fn restore_if_behind(&self, instance: &mut Instance, for_load: bool) -> Result<()> {
        let Some(snapshots) = &self.snapshots else { return Ok(()) };
        let behind = self.image().is_some_and(|image| image.loaded > instance.loaded);
        if behind || (for_load && instance.called) {
            *instance = Instance::from_blank(snapshots.spare.take()?);
        }
        Ok(())
    }

    /// Takes the image of an instance a load and `open()` just ran in (its output taken, no
    /// call made since), unless it holds WASI handles a fresh sandbox would not.
    fn capture(&self, instance: &mut Instance) {
        let Some(snapshots) = &self.snapshots else { return };
        let handles = instance.sandbox.store.data_mut().table.iter_mut().count();
        let refuse = |why: String| {
            if !snapshots.refused.swap(true, Ordering::AcqRel) {
                tracing::warn!("no snapshot after open(): {why}; new sandboxes run the files and open() again");
            }
            snapshots.spare.set_image(None);
        };
        let Some(memory) = instance.sandbox.memory.clone() else {
            return refuse("the sandbox's memory is not the host's".into());
        };
        if handles != instance.primed_handles {
            return refuse(format!(
                "the UDFs hold {} WASI handles (open files, streams) after loading",
                handles.saturating_sub(instance.primed_handles)
            ));
        }
        match Image::capture(&memory, instance.loaded, handles) {
            Ok(image) => {
                // The sandbox's memory is the image now: mapped over it, its pages are shared
                // with the image instead of being a private copy of it.
                // SAFETY: no guest code runs in it (checked out), and the image is its own memory.
                if let Err(e) = unsafe { image.map_over(&memory) } {
                    tracing::debug!("the snapshotted sandbox keeps its own pages: {e}");
                }
                snapshots.spare.set_image(Some(Arc::new(image)))
            }
            Err(e) => refuse(format!("cannot copy the sandbox's memory: {e}")),
        }
    }

    /// Loads into the instance the files it has not run yet: user code, so it spends the
    /// budget of the call that needed the instance.
    fn catch_up(&self, instance: &mut Instance, budget: Budget, function: Option<&str>) -> Result<()> {
        let missing: Vec<Arc<Load>> = {
            let loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
            loads.get(instance.loaded..).unwrap_or_default().to_vec()
        };
        let mut replayed = false;
        for load in missing {
            self.begin(instance, budget.deadline, &[load.filename.as_bytes(), load.source.as_bytes()])?;
            self.prepare(instance);
            let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
            let outcome = drive(
                budget.deadline,
                runtime.call_load(&mut instance.sandbox.store, &load.filename, &load.source, &load.params),
            )?;
            match self.finish(instance, function, outcome) {
                Ok(_) => {}
                Err(e @ (Error::Timeout { .. } | Error::FuelExhausted { .. } | Error::MemoryLimit { .. })) => {
                    return Err(e)
                }
                Err(_) => {
                    instance.in_guest = true; // never enter it again
                    return Err(sandbox_error(
                        function,
                        format!("{} could not be loaded into a fresh sandbox", load.filename),
                    ));
                }
            }
            // What the file printed was shown when it was first loaded.
            self.take_output(instance, budget, function)?;
            instance.loaded += 1;
            replayed = true;
        }
        if replayed && self.snapshots.is_some() {
            // Without an image, a snapshotting set's sandbox still opens its functions at load.
            self.open_all(instance, budget.deadline, function)?;
            self.take_output(instance, budget, function)?;
        }
        Ok(())
    }

    /// Runs `open()` of every function not opened yet (`Runtime.open_all`).
    fn open_all(&self, instance: &mut Instance, deadline: tokio::time::Instant, function: Option<&str>) -> Result<()> {
        self.prepare(instance);
        let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
        let outcome = drive(deadline, runtime.call_open_all(&mut instance.sandbox.store))?;
        let unopened = self.finish(instance, function, outcome.map(|r| r.map(Ok)))?;
        if !unopened.is_empty() {
            tracing::debug!("open() failed at load for {unopened:?}: their first call runs it again");
        }
        Ok(())
    }

    /// Readies an instance for one guest entry.
    fn prepare(&self, instance: &mut Instance) {
        instance.sandbox.store.data_mut().limiter.refused = false;
        instance.in_guest = true;
    }

    /// In deterministic mode, starts a call whose input is `input` over: clocks and random
    /// sources reset to a state derived from it, and Python's `random` module reseeded.
    fn begin(&self, instance: &mut Instance, deadline: tokio::time::Instant, input: &[&[u8]]) -> Result<()> {
        let Some(determinism) = instance.sandbox.store.data().determinism.clone() else {
            return Ok(());
        };
        let seed = seed_of(input);
        determinism.begin(seed);
        self.prepare(instance);
        let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
        let outcome = drive(deadline, runtime.call_reseed(&mut instance.sandbox.store, seed))?;
        self.finish(instance, None, outcome.map(|r| r.map(Ok)))?;
        determinism.begin(seed);
        Ok(())
    }

    /// Gives the instance `fuel` to spend (when fuel is metered), for all the guest entries of
    /// one host call.
    fn refuel(&self, instance: &mut Instance, fuel: u64) -> Result<()> {
        if self.limits.fuel.is_some() {
            instance.sandbox.store.set_fuel(fuel).map_err(|e| sandbox_error(None, e))?;
        }
        Ok(())
    }

    /// Fuel left in the instance (`u64::MAX` when unmetered).
    fn fuel_left(&self, instance: &Instance) -> u64 {
        match self.limits.fuel {
            Some(_) => instance.sandbox.store.get_fuel().unwrap_or(0),
            None => u64::MAX,
        }
    }

    /// Takes what the guest printed: the runtime's captured output and the raw WASI pipes.
    /// The runtime's side is guest code (a UDF may have replaced the runtime's buffer), so it
    /// runs within the call's budget, fails as a call does when it overruns it, and what it
    /// returns is bounded by the host.
    fn take_output(&self, instance: &mut Instance, budget: Budget, function: Option<&str>) -> Result<String> {
        self.prepare(instance);
        let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
        let outcome = drive(budget.deadline, runtime.call_take_output(&mut instance.sandbox.store))?;
        let output = self.finish(instance, function, outcome.map(|r| r.map(Ok)))?;
        let mut output = bounds::captured_output(output);
        output.push_str(&self.pipe_output(instance));
        Ok(output)
    }

    /// [`Self::take_output`] for a caller that goes on whatever happened: a failure is noted in
    /// the output itself (the instance, left marked as in the guest, is not used again).
    fn take_output_or_note(&self, instance: &mut Instance, budget: Budget) -> String {
        self.take_output(instance, budget, None)
            .unwrap_or_else(|e| format!("[udfbox: the sandbox failed while handing over its output: {e}]\n"))
    }

    /// Whatever reached stdout and stderr directly (C-level writes) since the last look.
    fn pipe_output(&self, instance: &mut Instance) -> String {
        let mut output = String::new();
        let state = instance.sandbox.store.data();
        let (out, err) = (state.stdout.take_all(), state.stderr.contents());
        keep_stdout_text(instance, &out);
        let text = std::mem::take(&mut instance.stdout_text);
        output.push_str(&String::from_utf8_lossy(&text));
        output.push_str(&String::from_utf8_lossy(&err[instance.seen_stderr.min(err.len())..]));
        instance.seen_stderr = err.len();
        output
    }

    /// Runs after a guest entry that returned `value`: takes the results it wrote to stdout (the
    /// bytes `value` declares) and keeps the text written before them for [`Self::pipe_output`].
    fn take_streamed<T: Streams>(&self, instance: &mut Instance, value: T, function: &str) -> Result<(T, Streamed)> {
        let stream = instance.sandbox.store.data().stdout.clone();
        let (text, results) = stream.take_results(value.streamed_bytes(), function)?;
        keep_stdout_text(instance, &text);
        Ok((value, Streamed(results)))
    }

    /// Retires an instance once it has grown halfway from its size after the first call to the
    /// memory limit. Memory a UDF keeps growing (a cache, a global list) would otherwise end in a
    /// memory error; retiring between calls bounds it. UDF state is reset: `open()`
    /// runs again in the fresh instance.
    fn note_growth(&self, instance: &mut Instance) {
        let peak = instance.sandbox.store.data().limiter.peak;
        match instance.settled {
            None => instance.settled = Some(peak),
            Some(settled) => {
                let threshold = settled + self.limits.memory_bytes.saturating_sub(settled) / 2;
                if peak >= threshold {
                    tracing::debug!("retiring a sandbox grown from {settled} to {peak} bytes");
                    instance.retire = true;
                }
            }
        }
    }

    /// Turns the outcome of a guest entry into a result. The instance stays usable only after a
    /// clean return; anything else leaves `in_guest` set, so the lease drops it.
    fn finish<T>(
        &self,
        instance: &mut Instance,
        function: Option<&str>,
        outcome: Outcome<std::result::Result<T, wit::UdfError>>,
    ) -> Result<T> {
        let refused_memory = instance.sandbox.store.data().limiter.refused;
        let function_name = function.map(str::to_string);
        let failure = match outcome {
            Ok(Ok(Ok(value))) => {
                // After a refused allocation CPython survived, but its heap is not to be trusted.
                if !refused_memory {
                    instance.in_guest = false;
                    if function.is_some() {
                        self.note_growth(instance);
                    }
                }
                return Ok(value);
            }
            // After a refused allocation any error (MemoryError, or worse) is the memory limit.
            Ok(Ok(Err(_))) if refused_memory => {
                Error::MemoryLimit { function: function_name, limit: self.limits.memory_bytes }
            }
            // Left marked as in the guest, the instance is replaced when its lease ends.
            Ok(Ok(Err(e))) if e.kind == wit::ErrorKind::BrokenSandbox => {
                sandbox_error(function, bounds::udf_error(udf_error_of(e)).message)
            }
            Ok(Ok(Err(e))) => {
                instance.in_guest = false;
                return Err(udf_error(e));
            }
            Err(_elapsed) => Error::Timeout { function: function_name, limit: self.limits.timeout },
            Ok(Err(trap)) => match trap.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => {
                    Error::FuelExhausted { function: function_name, limit: self.limits.fuel.unwrap_or(0) }
                }
                Some(Trap::StackOverflow) => Error::StackOverflow { function: function_name },
                _ if refused_memory => Error::MemoryLimit { function: function_name, limit: self.limits.memory_bytes },
                _ if trap.chain().any(|e| matches!(e.downcast_ref(), Some(ResourceTableError::Full))) => sandbox_error(
                    function,
                    format!("the UDF held more than {MAX_WASI_HANDLES} open files or other WASI handles at once"),
                ),
                _ => sandbox_error(function, trap),
            },
        };
        Err(failure)
    }

    /// Runs `f` with an instance checked out and caught up. Everything the guest runs for this
    /// one host call (catching a fresh instance up with the loaded files, the call, handing
    /// over output, a retire-time `close()`) shares one deadline and one fuel budget, so no
    /// step gets a fresh allowance. A panic inside becomes an error (the instance, mid-way
    /// through anything, is dropped).
    fn with_instance<T>(&self, function: Option<&str>, f: impl FnOnce(&mut Instance, Budget) -> Result<T>) -> Reply<T> {
        let mut output = String::new();
        let mut fuel_used = None;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut lease = self.checkout()?;
            let instance = lease.get();
            // Host work, before the UDFs' budget starts: bringing a snapshotting set's sandbox
            // to the newest image (a load, `function` None, needs one no call has touched).
            self.restore_if_behind(instance, function.is_none())?;
            if function.is_some() {
                instance.called = true;
            }
            let budget = Budget { deadline: deadline_in(self.limits.timeout) };
            let fuel = self.limits.fuel.unwrap_or(u64::MAX);
            self.refuel(instance, fuel)?;
            let mut result = self.catch_up(instance, budget, function).and_then(|()| f(instance, budget));
            if instance.output_taken {
                // The call brought its output back with its result.
                instance.output_taken = false;
                output.push_str(&self.pipe_output(instance));
            } else if !instance.in_guest {
                match self.take_output(instance, budget, function) {
                    Ok(text) => output.push_str(&text),
                    // Guest code overran the call's budget after the call returned: the call
                    // fails as if the call itself had.
                    Err(e) => result = result.and(Err(e)),
                }
            }
            if std::mem::take(&mut instance.capture) && !instance.in_guest && result.is_ok() {
                self.capture(instance);
            }
            self.peak.fetch_max(instance.sandbox.store.data().limiter.peak, Ordering::Relaxed);
            if instance.retire && !instance.in_guest {
                // Let the functions close as they would at the end; a failure there is moot.
                self.prepare(instance);
                let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
                if let Ok(Ok(Ok(_))) = drive(budget.deadline, runtime.call_close(&mut instance.sandbox.store)) {
                    instance.in_guest = false;
                    output.push_str(&self.take_output_or_note(instance, budget));
                }
            }
            fuel_used = self.limits.fuel.map(|_| fuel.saturating_sub(self.fuel_left(instance)));
            result
        }));
        let result = result.unwrap_or_else(|_| Err(sandbox_error(None, "internal error while calling the sandbox")));
        Reply { result, output, fuel_used }
    }
}

type GuestRuntime = bindings::exports::udfbox::runtime::runtime::Guest;

impl WasmBackend {
    /// Runs one guest call of `function` in a checked-out instance; `call` drives it (with
    /// [`drive`], until the budget's deadline) and returns its outcome.
    /// `returns_output`: a successful call brings what UDFs printed back with its result.
    fn guest_call<T: Streams>(
        &self,
        function: &str,
        returns_output: bool,
        input: &[&[u8]],
        call: impl FnOnce(
            &GuestRuntime,
            &mut Store<SandboxState>,
            tokio::time::Instant,
        ) -> Result<Outcome<std::result::Result<T, wit::UdfError>>>,
    ) -> Reply<(T, Streamed)> {
        self.with_instance(Some(function), |instance, budget| {
            if self.deterministic {
                // Only this mode needs the call's identity: no allocation on the ordinary path.
                let identity: Vec<&[u8]> = std::iter::once(function.as_bytes()).chain(input.iter().copied()).collect();
                self.begin(instance, budget.deadline, &identity)?;
            }
            self.prepare(instance);
            let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
            let outcome = call(runtime, &mut instance.sandbox.store, budget.deadline)?;
            let result = self
                .finish(instance, Some(function), outcome)
                .and_then(|value| self.take_streamed(instance, value, function));
            instance.output_taken = returns_output && result.is_ok();
            result
        })
    }
}

impl WasmBackend {
    /// Runs `f` in every idle instance (the busy ones are mid-call); output goes to `output`.
    /// The instances share one deadline and one fuel budget, as the guest entries of a call do.
    /// An instance that fails is dropped; the first error is returned after all have run.
    fn each_idle<T>(
        &self,
        output: &mut String,
        mut f: impl FnMut(&mut Instance, tokio::time::Instant) -> Result<T>,
    ) -> Result<Vec<T>> {
        let budget = Budget { deadline: deadline_in(self.limits.timeout) };
        let mut fuel = self.limits.fuel.unwrap_or(u64::MAX);
        let idle = self.pool.idle();
        let mut results = Vec::with_capacity(idle.len());
        let mut first_error = None;
        for mut lease in idle {
            let instance = lease.get();
            let result = self.refuel(instance, fuel).and_then(|()| {
                self.prepare(instance);
                f(instance, budget.deadline)
            });
            fuel = self.fuel_left(instance);
            if !instance.in_guest {
                output.push_str(&self.take_output_or_note(instance, budget));
                fuel = self.fuel_left(instance);
            }
            match result {
                Ok(value) => results.push(value),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            // Dropping the lease returns the instance, or ends it if it failed.
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }
}

fn map_reply<T, U>(reply: Reply<T>, f: impl FnOnce(T) -> Result<U>) -> Reply<U> {
    Reply { result: reply.result.and_then(f), output: reply.output, fuel_used: reply.fuel_used }
}

fn table_output((result, mut streamed): (wit::TableResult, Streamed), function: &str) -> Result<TableOutput> {
    Ok(TableOutput {
        sources: from_wit(result.sources, &mut streamed, function)?,
        rows: from_wit(result.rows, &mut streamed, function)?,
    })
}

fn udf_error(e: wit::UdfError) -> Error {
    Error::Udf(udf_error_of(e))
}

fn udf_error_of(e: wit::UdfError) -> UdfError {
    bounds::udf_error(UdfError {
        kind: match e.kind {
            wit::ErrorKind::Syntax => UdfErrorKind::Syntax,
            wit::ErrorKind::Load => UdfErrorKind::Load,
            wit::ErrorKind::Exception => UdfErrorKind::Exception,
            wit::ErrorKind::BadResult => UdfErrorKind::BadResult,
            wit::ErrorKind::BadRequest => UdfErrorKind::BadRequest,
            // `finish` turns this one into a sandbox error before it gets here.
            wit::ErrorKind::BrokenSandbox => UdfErrorKind::BadResult,
        },
        function: e.function,
        row: e.row,
        exception_type: e.exception_type,
        message: e.message,
        traceback: e.traceback,
    })
}

/// The value of `result`, or else, from the enclosing backend method, the failed reply.
macro_rules! or_fail {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(e) => return Reply::failed(e),
        }
    };
}

fn to_wit(columns: Vec<WireColumn>) -> Result<wit::Columns> {
    let flat = wire::flatten(columns)?;
    Ok(wit::Columns { data_types: flat.data_types, layout: flat.layout, data: flat.data })
}

/// Keeps C-level stdout text to forward with the call's output, up to [`PIPE_CAPACITY`] bytes.
fn keep_stdout_text(instance: &mut Instance, text: &[u8]) {
    let room = PIPE_CAPACITY.saturating_sub(instance.stdout_text.len());
    instance.stdout_text.extend_from_slice(&text[..text.len().min(room)]);
}

/// A guest entry's result, and how many bytes of it travelled on the result stream.
trait Streams {
    fn streamed_bytes(&self) -> u64 {
        0
    }
}

impl Streams for u32 {}
impl Streams for wit::RowResult {}

impl Streams for wit::PackedColumn {
    fn streamed_bytes(&self) -> u64 {
        self.streamed_bytes.into()
    }
}

impl Streams for wit::CallResult {
    fn streamed_bytes(&self) -> u64 {
        self.column.streamed_bytes()
    }
}

impl Streams for wit::TableResult {
    fn streamed_bytes(&self) -> u64 {
        self.sources.streamed_bytes() + self.rows.streamed_bytes()
    }
}

/// The bytes a call wrote to its result stream, read back in the order the guest wrote them.
struct Streamed(bytes::Bytes);

impl Streamed {
    fn next(&mut self, length: u32) -> Result<bytes::Bytes> {
        let length = length as usize;
        if length > self.0.len() {
            // `take_streamed` checked the total; this guards the parts.
            return Err(Error::Invalid("a result part runs past the bytes the sandbox wrote".into()));
        }
        Ok(self.0.split_to(length))
    }
}

fn from_wit(column: wit::PackedColumn, streamed: &mut Streamed, function: &str) -> Result<PackedColumn> {
    let layout = latin1_bytes(column.layout, function)?;
    let data = match column.streamed_bytes {
        0 => latin1_bytes(column.data, function)?,
        _ if !column.data.is_empty() => return Err(super::bad_result(function, "a result both streamed and inline")),
        length => streamed.next(length)?.to_vec(),
    };
    wire::unflatten(column.data_type, &layout, data)
}

/// Bytes sent as text, one character (U+0000 to U+00FF) per byte (see `packed-column` in the
/// WIT). In UTF-8 those characters are one byte below 0x80 or two starting 0xC2 or 0xC3.
fn latin1_bytes(text: String, function: &str) -> Result<Vec<u8>> {
    if text.is_ascii() {
        return Ok(text.into_bytes());
    }
    let utf8 = text.as_bytes();
    let mut bytes = Vec::with_capacity(utf8.len());
    let mut at = 0;
    while let Some(&lead) = utf8.get(at) {
        match (lead, utf8.get(at + 1)) {
            (0..0x80, _) => {
                bytes.push(lead);
                at += 1;
            }
            (0xC2 | 0xC3, Some(&next)) => {
                bytes.push((lead & 0x1F) << 6 | (next & 0x3F));
                at += 2;
            }
            _ => return Err(super::bad_result(function, "a result's bytes hold a character beyond U+00FF")),
        }
    }
    Ok(bytes)
}

impl Backend for WasmBackend {
    fn mode(&self) -> Mode {
        Mode::Wasm
    }

    fn load(&self, filename: &str, source: &str, params: &[(String, String)]) -> Reply<Vec<FunctionInfo>> {
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        self.with_instance(None, |instance, budget| {
            self.begin(instance, budget.deadline, &[filename.as_bytes(), source.as_bytes()])?;
            self.prepare(instance);
            let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
            let outcome =
                drive(budget.deadline, runtime.call_load(&mut instance.sandbox.store, filename, source, params))?;
            let infos = self.finish(instance, None, outcome)?;
            if self.snapshots.is_some() {
                self.open_all(instance, budget.deadline, None)?;
                instance.capture = true;
            }
            let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
            loads.push(Arc::new(Load {
                filename: filename.to_string(),
                source: source.to_string(),
                params: params.to_vec(),
            }));
            instance.loaded = loads.len();
            Ok(infos
                .into_iter()
                .map(|i| FunctionInfo {
                    name: i.name,
                    kind: i.kind,
                    func_type: i.func_type,
                    input_types: i.input_types,
                    result_type: i.result_type,
                    deterministic: i.deterministic,
                    input_names: i.input_names,
                    dialect: i.dialect,
                })
                .collect())
        })
    }

    fn call(&self, function: &str, num_rows: usize, args: Vec<WireColumn>, on_error: ErrorPolicy) -> Reply<CallResult> {
        let Ok(num_rows) = u32::try_from(num_rows) else {
            return Reply::failed(Error::Invalid("batch too large".into()));
        };
        let args = or_fail!(to_wit(args));
        let on_error = match on_error {
            ErrorPolicy::Fail => wit::ErrorPolicy::Fail,
            ErrorPolicy::Null => wit::ErrorPolicy::Null,
        };
        let rows = num_rows.to_le_bytes();
        let input = [&rows[..], &args.layout, &args.data];
        let reply = self.guest_call(function, true, &input, |runtime, store, deadline| {
            drive(deadline, runtime.call_call(store, function, num_rows, &args, on_error))
        });
        let mut reply = map_reply(reply, |(result, mut streamed)| {
            Ok((
                CallResult {
                    column: from_wit(result.column, &mut streamed, function)?,
                    failed_rows: result.failed_rows,
                    first_failure: result.first_failure.map(udf_error_of),
                },
                result.output,
            ))
        });
        let result = match reply.result {
            Ok((result, printed)) => {
                reply.output.insert_str(0, &bounds::captured_output(printed));
                Ok(result)
            }
            Err(e) => Err(e),
        };
        Reply { result, output: reply.output, fuel_used: reply.fuel_used }
    }

    fn prepare_row(&self, function: &str) -> Reply<u32> {
        let reply = self.guest_call(function, false, &[], |runtime, store, deadline| {
            drive(deadline, runtime.call_prepare(store, function))
        });
        map_reply(reply, |(id, _)| Ok(id))
    }

    fn call_row(&self, function: &str, id: u32, row: &[u8], on_error: ErrorPolicy) -> Reply<RowReply> {
        let on_error = match on_error {
            ErrorPolicy::Fail => wit::ErrorPolicy::Fail,
            ErrorPolicy::Null => wit::ErrorPolicy::Null,
        };
        let function_id = id.to_le_bytes();
        let reply = self.guest_call(function, true, &[&function_id[..], row], |runtime, store, deadline| {
            drive(deadline, runtime.call_call_row(store, id, row, on_error))
        });
        let Reply { result, mut output, fuel_used } = reply;
        let result = result.and_then(|(result, _)| {
            output.insert_str(0, &bounds::captured_output(result.output));
            Ok(RowReply { value: latin1_bytes(result.value, function)?, failure: result.failure.map(udf_error_of) })
        });
        Reply { result, output, fuel_used }
    }

    fn call_table(&self, function: &str, num_rows: usize, args: Vec<WireColumn>) -> Reply<TableOutput> {
        let Ok(num_rows) = u32::try_from(num_rows) else {
            return Reply::failed(Error::Invalid("batch too large".into()));
        };
        let args = or_fail!(to_wit(args));
        let rows = num_rows.to_le_bytes();
        let input = [&rows[..], &args.layout, &args.data];
        let reply = self.guest_call(function, false, &input, |runtime, store, deadline| {
            drive(deadline, runtime.call_call_table(store, function, num_rows, &args))
        });
        map_reply(reply, |result| table_output(result, function))
    }

    fn aggregate(
        &self,
        function: &str,
        op: AggregateOp,
        states: WireColumn,
        groups: WireColumn,
        args: Vec<WireColumn>,
    ) -> Reply<PackedColumn> {
        let (states, groups, args) =
            (or_fail!(to_wit(vec![states])), or_fail!(to_wit(vec![groups])), or_fail!(to_wit(args)));
        let op = match op {
            AggregateOp::Accumulate => wit::AggregateOp::Accumulate,
            AggregateOp::Retract => wit::AggregateOp::Retract,
            AggregateOp::Merge => wit::AggregateOp::Merge,
        };
        let op_code = [op as u8];
        let input =
            [&op_code[..], &states.layout, &states.data, &groups.layout, &groups.data, &args.layout, &args.data];
        let reply = self.guest_call(function, false, &input, |runtime, store, deadline| {
            drive(deadline, runtime.call_aggregate(store, function, op, &states, &groups, &args))
        });
        map_reply(reply, |(column, mut streamed)| from_wit(column, &mut streamed, function))
    }

    fn finish(&self, function: &str, states: WireColumn) -> Reply<PackedColumn> {
        let states = or_fail!(to_wit(vec![states]));
        let reply = self.guest_call(function, false, &[&states.layout, &states.data], |runtime, store, deadline| {
            drive(deadline, runtime.call_finish(store, function, &states))
        });
        map_reply(reply, |(column, mut streamed)| from_wit(column, &mut streamed, function))
    }

    fn emit(&self, function: &str, states: WireColumn) -> Reply<TableOutput> {
        let states = or_fail!(to_wit(vec![states]));
        let reply = self.guest_call(function, false, &[&states.layout, &states.data], |runtime, store, deadline| {
            drive(deadline, runtime.call_emit(store, function, &states))
        });
        map_reply(reply, |result| table_output(result, function))
    }

    fn metrics(&self) -> Reply<Vec<Metric>> {
        let mut reply = Reply { result: Ok(Vec::new()), output: String::new(), fuel_used: None };
        let metrics = self.each_idle(&mut reply.output, |instance, deadline| {
            let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
            let outcome = drive(deadline, runtime.call_metrics(&mut instance.sandbox.store))?;
            self.finish(instance, None, outcome.map(|r| r.map(Ok)))
        });
        reply.result = metrics.map(|lists| {
            lists
                .into_iter()
                .flatten()
                .map(|m| Metric {
                    function: m.function,
                    group: m.group,
                    name: m.name,
                    kind: match m.kind {
                        wit::MetricKind::Counter => MetricKind::Counter,
                        wit::MetricKind::Gauge => MetricKind::Gauge,
                        wit::MetricKind::Meter => MetricKind::Meter,
                        wit::MetricKind::Distribution => MetricKind::Distribution,
                    },
                    count: m.count,
                    value: m.value,
                    min: m.min,
                    max: m.max,
                })
                .collect()
        });
        reply
    }

    fn close(&self) -> Reply<()> {
        let mut reply = Reply { result: Ok(()), output: String::new(), fuel_used: None };
        reply.result = self
            .each_idle(&mut reply.output, |instance, deadline| {
                let runtime = instance.sandbox.guest.udfbox_runtime_runtime();
                let outcome = drive(deadline, runtime.call_close(&mut instance.sandbox.store))?;
                self.finish(instance, None, outcome)
            })
            .map(drop);
        reply
    }

    fn snapshot_bytes(&self) -> Option<usize> {
        self.image().map(|image| image.size())
    }

    fn memory_peak(&self) -> Option<usize> {
        Some(self.peak.load(Ordering::Relaxed))
    }
}
