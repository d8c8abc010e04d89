//! The sandbox backend: CPython compiled to WASI (a component built by componentize-py from
//! `guest-runtime/`), run by wasmtime.
//!
//! What the guest may touch is decided here, in one place, and is nothing by default: no
//! environment variables, no arguments, no preopened directories, no sockets or name lookups, no
//! stdin; stdout and stderr go to bounded in-memory pipes. It keeps the ordinary WASI clocks and
//! random numbers.
//!
//! Each sandbox lives on a thread of its own with a single-threaded tokio runtime, and is called
//! through async wasmtime. That is what makes [`Limits::timeout`] hold for every kind of stall:
//! a busy loop yields at each epoch tick (10 ms) and a host-blocking call such as `time.sleep` is
//! a future, so `tokio::time::timeout` ends both. Memory growth beyond the limit is refused by a
//! `ResourceLimiter`. After a trap, timeout or memory exhaustion the instance is discarded and a
//! fresh one is made from the pre-initialized image, with the loaded UDF files loaded again.
//!
//! Cranelift needs seconds to compile the ~22 MB component, so the compiled artifact is cached on
//! disk (see [`cache_path`]) and compiled once per guest build; in a process the engine, compiled
//! component and `InstancePre` are made once and shared.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::backend::{Backend, FunctionInfo, Mode};
use crate::error::{Error, Result, UdfError, UdfErrorKind};
use crate::limits::Limits;
use crate::wire::{PackedColumn, PackedNode, Span, WireColumn};

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

/// Bytes of C-level stdout/stderr kept per sandbox (Python-level output is bounded by the runtime).
const PIPE_CAPACITY: usize = 64 * 1024;

/// How often the epoch advances: the granularity of timeouts.
const EPOCH_TICK: Duration = Duration::from_millis(10);

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
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    limiter: MemoryLimiter,
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
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
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

static PREPARED: [OnceLock<std::result::Result<Arc<Prepared>, String>>; 2] = [OnceLock::new(), OnceLock::new()];

impl Prepared {
    /// The shared instance, prepared on first use.
    pub fn get(fuel: bool) -> Result<Arc<Prepared>> {
        PREPARED[usize::from(fuel)]
            .get_or_init(|| Self::new(fuel).map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|message| Error::Sandbox { function: None, message })
    }

    pub fn new(fuel: bool) -> Result<Self> {
        let engine = engine(fuel)?;
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
    pub async fn instantiate(&self, limits: &Limits) -> Result<Sandbox> {
        let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limiter = MemoryLimiter { limit: limits.memory_bytes, refused: false, peak: 0 };
        let state = SandboxState { wasi, table: ResourceTable::new(), stdout, stderr, limiter };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Yield to the executor at every epoch tick, so a timeout can end a busy loop.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        if limits.fuel.is_some() {
            store.set_fuel(u64::MAX).map_err(|e| sandbox_error(None, e))?;
        }
        let guest = self.pre.instantiate_async(&mut store).await.map_err(|e| {
            if store.data().limiter.refused {
                Error::Invalid(format!(
                    "the memory limit of {} bytes is below what the sandbox needs to start",
                    limits.memory_bytes
                ))
            } else {
                sandbox_error(None, e)
            }
        })?;
        Ok(Sandbox { store, guest, seen: (0, 0) })
    }
}

/// One guest instance and its store.
pub struct Sandbox {
    store: Store<SandboxState>,
    guest: UdfboxGuest,
    /// Bytes of the stdout and stderr pipes already forwarded.
    seen: (usize, usize),
}

/// The sandbox backend: a worker thread that owns the sandbox; calls are sent to it in turn.
pub struct WasmBackend {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// What UDFs printed, collected by each job on the sandbox thread so that handing it over
    /// costs no second trip there.
    output: Arc<std::sync::Mutex<String>>,
}

type Job = Box<dyn FnOnce(&mut Host) + Send>;

/// What the worker thread owns.
struct Host {
    runtime: tokio::runtime::Runtime,
    prepared: Arc<Prepared>,
    limits: Limits,
    /// `None` after a failure, until the next call makes a fresh one.
    sandbox: Option<Sandbox>,
    /// The files loaded so far, replayed into a replacement sandbox.
    loads: Vec<(String, String, Vec<(String, String)>)>,
    /// Fuel the last call used, when metered.
    fuel_used: Option<u64>,
    /// Linear memory after the sandbox's first call, when it has made one.
    settled: Option<usize>,
    /// The sandbox has grown too far: replace it before the next call.
    recycle: bool,
}

impl WasmBackend {
    pub fn new(limits: Limits) -> Result<Self> {
        let prepared = Prepared::get(limits.fuel.is_some())?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let (started, start) = mpsc::sync_channel::<Result<()>>(1);
        // The sandbox and its executor are made on their own thread: the caller may itself be
        // running on an async executor, where blocking on another one is not allowed.
        let thread = std::thread::Builder::new()
            .name("udfbox-sandbox".into())
            .spawn(move || {
                let made = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| sandbox_error(None, e))
                    .and_then(|runtime| {
                        let sandbox = runtime.block_on(prepared.instantiate(&limits))?;
                        Ok(Host {
                            runtime,
                            prepared,
                            limits,
                            sandbox: Some(sandbox),
                            loads: Vec::new(),
                            fuel_used: None,
                            settled: None,
                            recycle: false,
                        })
                    });
                let mut host = match made {
                    Ok(host) => {
                        let _ = started.send(Ok(()));
                        host
                    }
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                for job in queue {
                    // A bug in a job must not take the thread (and every later call) down.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut host))).is_err() {
                        host.sandbox = None;
                    }
                }
            })
            .map_err(|e| sandbox_error(None, e))?;
        start.recv().map_err(|_| sandbox_error(None, "the sandbox thread stopped while starting"))??;
        Ok(Self { jobs: Some(jobs), thread: Some(thread), output: Default::default() })
    }

    /// Runs guest code (`f`) on the sandbox thread and waits for its result; what UDFs printed
    /// meanwhile is collected into `output`.
    fn run<R: Send + 'static>(&self, f: impl FnOnce(&mut Host) -> Result<R> + Send + 'static) -> Result<R> {
        let output = self.output.clone();
        self.on_thread(move |host| {
            let result = f(host);
            let printed = host.take_output();
            output.lock().unwrap_or_else(|e| e.into_inner()).push_str(&printed);
            result
        })
    }

    /// Runs `f` on the sandbox thread and waits for its result.
    fn on_thread<R: Send + 'static>(&self, f: impl FnOnce(&mut Host) -> Result<R> + Send + 'static) -> Result<R> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |host| {
            let _ = reply.send(f(host));
        });
        let gone = || sandbox_error(None, "the sandbox thread has stopped");
        self.jobs.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for WasmBackend {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `future` on the sandbox's executor, for at most `limit`.
fn within<F: std::future::Future>(
    executor: &tokio::runtime::Runtime,
    limit: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    executor.block_on(async move { tokio::time::timeout(limit, future).await })
}

/// What a guest call came to, before it is turned into a udfbox result.
type Outcome<T> = std::result::Result<wasmtime::Result<T>, tokio::time::error::Elapsed>;

impl Host {
    /// The live sandbox, replacing a failed or outgrown one first (loading the same files again).
    fn ensure_sandbox(&mut self) -> Result<()> {
        if self.recycle {
            self.recycle = false;
            if let Some(mut old) = self.sandbox.take() {
                // Let the functions close as they would at the end; a failure there is moot.
                let runtime = old.guest.udfbox_runtime_runtime();
                let _ = within(&self.runtime, self.limits.timeout, runtime.call_close(&mut old.store));
            }
        }
        if self.sandbox.is_some() {
            return Ok(());
        }
        self.settled = None;
        let mut sandbox = self.runtime.block_on(self.prepared.instantiate(&self.limits))?;
        for (filename, source, params) in &self.loads {
            let runtime = sandbox.guest.udfbox_runtime_runtime();
            let replay = within(
                &self.runtime,
                self.limits.timeout,
                runtime.call_load(&mut sandbox.store, filename, source, params),
            );
            if !matches!(replay, Ok(Ok(Ok(_)))) {
                return Err(sandbox_error(None, format!("{filename} could not be loaded into a fresh sandbox")));
            }
        }
        self.sandbox = Some(sandbox);
        Ok(())
    }

    /// Readies the sandbox for one guest entry; returns the executor and the sandbox. Fuel
    /// limits batch calls (`metered`); loading a file is bounded by the timeout only.
    fn begin(&mut self, metered: bool) -> Result<(&tokio::runtime::Runtime, &mut Sandbox)> {
        self.ensure_sandbox()?;
        let sandbox = self.sandbox.as_mut().expect("ensured above");
        sandbox.store.data_mut().limiter.refused = false;
        if let Some(fuel) = self.limits.fuel {
            let fuel = if metered { fuel } else { u64::MAX };
            sandbox.store.set_fuel(fuel).map_err(|e| sandbox_error(None, e))?;
        }
        Ok((&self.runtime, sandbox))
    }

    /// Takes what the guest printed: the runtime's captured output and the raw WASI pipes.
    fn take_output(&mut self) -> String {
        let Some(sandbox) = self.sandbox.as_mut() else { return String::new() };
        let runtime = sandbox.guest.udfbox_runtime_runtime();
        let outcome = within(&self.runtime, self.limits.timeout, runtime.call_take_output(&mut sandbox.store));
        let Ok(Ok(mut output)) = outcome else {
            self.sandbox = None;
            return "[udfbox: the sandbox failed while handing over its output]\n".to_string();
        };
        // Whatever reached the WASI pipes directly (C-level writes).
        let state = sandbox.store.data();
        let (out, err) = (state.stdout.contents(), state.stderr.contents());
        output.push_str(&String::from_utf8_lossy(&out[sandbox.seen.0.min(out.len())..]));
        output.push_str(&String::from_utf8_lossy(&err[sandbox.seen.1.min(err.len())..]));
        sandbox.seen = (out.len(), err.len());
        output
    }

    /// Schedules a fresh sandbox once this one has grown halfway from its size after the first
    /// call to the memory limit. Memory a guest leaks, or that componentize-py's result lowering
    /// keeps (about one result's size per call, as measured), would otherwise end in a memory
    /// error after some millions of rows; recycling between calls bounds it. UDF state is reset:
    /// `open()` runs again in the fresh sandbox.
    fn note_growth(&mut self) {
        let Some(sandbox) = self.sandbox.as_ref() else { return };
        let peak = sandbox.store.data().limiter.peak;
        match self.settled {
            None => self.settled = Some(peak),
            Some(settled) => {
                let threshold = settled + self.limits.memory_bytes.saturating_sub(settled) / 2;
                if peak >= threshold {
                    tracing::debug!("recycling a sandbox grown from {settled} to {peak} bytes");
                    self.recycle = true;
                }
            }
        }
    }

    /// Turns the outcome of a guest call into a result; a failed sandbox is dropped.
    fn finish<T>(
        &mut self,
        function: Option<&str>,
        outcome: Outcome<std::result::Result<T, wit::UdfError>>,
    ) -> Result<T> {
        let Some(sandbox) = self.sandbox.as_mut() else { unreachable!("begin() made a sandbox") };
        let refused_memory = sandbox.store.data().limiter.refused;
        if let Some(fuel) = self.limits.fuel {
            self.fuel_used = sandbox.store.get_fuel().ok().map(|left| fuel.saturating_sub(left));
        }
        let function_name = function.map(str::to_string);
        let failure = match outcome {
            Ok(Ok(Ok(value))) => {
                if refused_memory {
                    // CPython survived an allocation failure, but its heap is not to be trusted.
                    self.sandbox = None;
                } else if function.is_some() {
                    self.note_growth();
                }
                return Ok(value);
            }
            // After a refused allocation any error (MemoryError, or worse) is the memory limit.
            Ok(Ok(Err(_))) if refused_memory => {
                Error::MemoryLimit { function: function_name, limit: self.limits.memory_bytes }
            }
            Ok(Ok(Err(e))) => return Err(udf_error(e)),
            Err(_elapsed) => Error::Timeout { function: function_name, limit: self.limits.timeout },
            Ok(Err(trap)) => match trap.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => {
                    Error::FuelExhausted { function: function_name, limit: self.limits.fuel.unwrap_or(0) }
                }
                Some(Trap::StackOverflow) => Error::StackOverflow { function: function_name },
                _ if refused_memory => Error::MemoryLimit { function: function_name, limit: self.limits.memory_bytes },
                _ => sandbox_error(function, trap),
            },
        };
        // The instance may be mid-way through anything: never enter it again.
        self.sandbox = None;
        Err(failure)
    }
}

fn udf_error(e: wit::UdfError) -> Error {
    Error::Udf(UdfError {
        kind: match e.kind {
            wit::ErrorKind::Syntax => UdfErrorKind::Syntax,
            wit::ErrorKind::Load => UdfErrorKind::Load,
            wit::ErrorKind::Exception => UdfErrorKind::Exception,
            wit::ErrorKind::BadResult => UdfErrorKind::BadResult,
            wit::ErrorKind::BadRequest => UdfErrorKind::BadRequest,
        },
        function: e.function,
        row: e.row,
        exception_type: e.exception_type,
        message: e.message,
        traceback: e.traceback,
    })
}

fn to_wit(column: WireColumn) -> wit::Column {
    wit::Column {
        data_type: column.data_type,
        nodes: column
            .nodes
            .into_iter()
            .map(|n| wit::ArrayNode {
                length: n.length,
                null_count: n.null_count,
                validity: n.validity,
                buffers: n.buffers,
            })
            .collect(),
    }
}

fn from_wit(column: wit::PackedColumn) -> PackedColumn {
    let span = |s: wit::Span| Span { offset: s.offset, length: s.length };
    PackedColumn {
        data_type: column.data_type,
        nodes: column
            .nodes
            .into_iter()
            .map(|n| PackedNode {
                length: n.length,
                null_count: n.null_count,
                validity: span(n.validity),
                first_buffer: n.first_buffer,
                buffer_count: n.buffer_count,
            })
            .collect(),
        buffers: column.buffers.into_iter().map(span).collect(),
        data: column.data,
    }
}

impl Backend for WasmBackend {
    fn mode(&self) -> Mode {
        Mode::Wasm
    }

    fn load(&self, filename: &str, source: &str, params: &[(String, String)]) -> Result<Vec<FunctionInfo>> {
        let (filename, source, params) = (filename.to_string(), source.to_string(), params.to_vec());
        self.run(move |host| {
            let timeout = host.limits.timeout;
            let (executor, sandbox) = host.begin(false)?;
            let runtime = sandbox.guest.udfbox_runtime_runtime();
            let outcome = within(executor, timeout, runtime.call_load(&mut sandbox.store, &filename, &source, &params));
            let infos = host.finish(None, outcome)?;
            host.loads.push((filename, source, params));
            Ok(infos
                .into_iter()
                .map(|i| FunctionInfo {
                    name: i.name,
                    kind: i.kind,
                    func_type: i.func_type,
                    input_types: i.input_types,
                    result_type: i.result_type,
                    deterministic: i.deterministic,
                })
                .collect())
        })
    }

    fn call(&self, function: &str, num_rows: usize, args: Vec<WireColumn>) -> Result<PackedColumn> {
        let num_rows = u32::try_from(num_rows).map_err(|_| Error::Invalid("batch too large".into()))?;
        let args: Vec<wit::Column> = args.into_iter().map(to_wit).collect();
        let function = function.to_string();
        self.run(move |host| {
            let timeout = host.limits.timeout;
            let (executor, sandbox) = host.begin(true)?;
            let runtime = sandbox.guest.udfbox_runtime_runtime();
            let outcome = within(executor, timeout, runtime.call_call(&mut sandbox.store, &function, num_rows, &args));
            host.finish(Some(&function), outcome).map(from_wit)
        })
    }

    fn close(&self) -> Result<()> {
        self.run(|host| {
            if host.sandbox.is_none() {
                return Ok(()); // a replaced sandbox has opened nothing yet
            }
            let timeout = host.limits.timeout;
            let (executor, sandbox) = host.begin(false)?;
            let runtime = sandbox.guest.udfbox_runtime_runtime();
            let outcome = within(executor, timeout, runtime.call_close(&mut sandbox.store));
            host.finish(None, outcome)
        })
    }

    fn take_output(&self) -> Result<String> {
        Ok(std::mem::take(&mut *self.output.lock().unwrap_or_else(|e| e.into_inner())))
    }

    fn fuel_used(&self) -> Option<u64> {
        self.on_thread(|host| Ok(host.fuel_used)).ok().flatten()
    }

    fn memory_peak(&self) -> Option<usize> {
        self.on_thread(|host| Ok(host.sandbox.as_ref().map(|s| s.store.data().limiter.peak))).ok().flatten()
    }
}
