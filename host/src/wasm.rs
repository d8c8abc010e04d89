//! The sandbox backend: CPython compiled to WASI (a component built by componentize-py from
//! `guest-runtime/`), run by wasmtime.
//!
//! What the guest may touch is decided here, in one place, and is nothing by default: no
//! environment variables, no arguments, no preopened directories, no sockets or name lookups, no
//! stdin; stdout and stderr go to bounded in-memory pipes. It keeps the ordinary WASI clocks and
//! random numbers.
//!
//! Cranelift needs seconds to compile the ~20 MB component, so the compiled artifact is cached on
//! disk (see [`cache_path`]) and compiled once per guest build; in a process the engine, compiled
//! component and `InstancePre` are made once and shared.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::backend::{Backend, FunctionInfo, Mode};
use crate::error::{Error, Result, UdfError, UdfErrorKind};
use crate::wire::{WireColumn, WireNode};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "udfbox-guest",
    });
}

use bindings::udfbox::runtime::types as wit;
use bindings::{UdfboxGuest, UdfboxGuestPre};

/// The guest component, built by `build.rs`.
pub static GUEST_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/udfbox_guest.wasm"));

/// Bytes of C-level stdout/stderr kept per sandbox (Python-level output is bounded by the runtime).
const PIPE_CAPACITY: usize = 64 * 1024;

/// Per-sandbox host state: the WASI context and the pipes it writes to.
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn sandbox_error(function: Option<&str>, error: impl std::fmt::Display) -> Error {
    Error::Sandbox { function: function.map(str::to_string), message: format!("{error:#}") }
}

/// The engine configuration every sandbox uses.
pub fn engine() -> Result<Engine> {
    let config = Config::new();
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

/// The engine and pre-linked component, made once per process.
pub struct Prepared {
    engine: Engine,
    pre: UdfboxGuestPre<SandboxState>,
}

static PREPARED: OnceLock<std::result::Result<Arc<Prepared>, String>> = OnceLock::new();

impl Prepared {
    /// The shared instance, prepared on first use.
    pub fn get() -> Result<Arc<Prepared>> {
        PREPARED
            .get_or_init(|| Self::new().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|message| Error::Sandbox { function: None, message })
    }

    pub fn new() -> Result<Self> {
        let engine = engine()?;
        let component = load_component(&engine)?;
        let mut linker = Linker::new(&engine);
        // The guest links against WASI 0.2; what it can reach is limited by the WasiCtx below.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| sandbox_error(None, e))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| sandbox_error(None, e))?;
        let pre = UdfboxGuestPre::new(pre).map_err(|e| sandbox_error(None, e))?;
        Ok(Self { engine, pre })
    }

    /// Creates a fresh sandbox: a new Store and an instance from the pre-initialized image.
    pub fn instantiate(&self) -> Result<Sandbox> {
        let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = SandboxState { wasi, table: ResourceTable::new(), stdout, stderr };
        let mut store = Store::new(&self.engine, state);
        let guest = self.pre.instantiate(&mut store).map_err(|e| sandbox_error(None, e))?;
        Ok(Sandbox { store, guest, seen: (0, 0), broken: None })
    }
}

/// One guest instance and its store.
pub struct Sandbox {
    store: Store<SandboxState>,
    guest: UdfboxGuest,
    /// Bytes of the stdout and stderr pipes already forwarded.
    seen: (usize, usize),
    /// Set after a trap: a trapped instance cannot be entered again.
    broken: Option<String>,
}

impl Sandbox {
    fn check(&self, function: Option<&str>) -> Result<()> {
        match &self.broken {
            Some(why) => Err(sandbox_error(function, format!("the sandbox failed earlier ({why})"))),
            None => Ok(()),
        }
    }

    fn trapped(&mut self, function: Option<&str>, error: wasmtime::Error) -> Error {
        let message = format!("{error:#}");
        self.broken = Some(message.lines().next().unwrap_or_default().to_string());
        sandbox_error(function, message)
    }
}

/// The sandbox backend. Calls are serialized on the one instance it owns.
pub struct WasmBackend {
    sandbox: Mutex<Sandbox>,
}

impl WasmBackend {
    pub fn new() -> Result<Self> {
        Ok(Self { sandbox: Mutex::new(Prepared::get()?.instantiate()?) })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Sandbox) -> R) -> R {
        let mut guard = self.sandbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
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

impl Backend for WasmBackend {
    fn mode(&self) -> Mode {
        Mode::Wasm
    }

    fn load(&self, filename: &str, source: &str, params: &[(String, String)]) -> Result<Vec<FunctionInfo>> {
        self.with(|sb| {
            sb.check(None)?;
            let runtime = sb.guest.udfbox_runtime_runtime();
            match runtime.call_load(&mut sb.store, filename, source, params) {
                Ok(Ok(infos)) => Ok(infos
                    .into_iter()
                    .map(|i| FunctionInfo {
                        name: i.name,
                        kind: i.kind,
                        func_type: i.func_type,
                        input_types: i.input_types,
                        result_type: i.result_type,
                        deterministic: i.deterministic,
                    })
                    .collect()),
                Ok(Err(e)) => Err(udf_error(e)),
                Err(trap) => Err(sb.trapped(None, trap)),
            }
        })
    }

    fn call(&self, function: &str, num_rows: usize, args: Vec<WireColumn>) -> Result<WireColumn> {
        let num_rows = u32::try_from(num_rows).map_err(|_| Error::Invalid("batch too large".into()))?;
        let args: Vec<wit::Column> = args
            .into_iter()
            .map(|c| wit::Column {
                data_type: c.data_type,
                nodes: c
                    .nodes
                    .into_iter()
                    .map(|n| wit::ArrayNode {
                        length: n.length,
                        null_count: n.null_count,
                        validity: n.validity,
                        buffers: n.buffers,
                    })
                    .collect(),
            })
            .collect();
        self.with(|sb| {
            sb.check(Some(function))?;
            let runtime = sb.guest.udfbox_runtime_runtime();
            match runtime.call_call(&mut sb.store, function, num_rows, &args) {
                Ok(Ok(column)) => Ok(WireColumn {
                    data_type: column.data_type,
                    nodes: column
                        .nodes
                        .into_iter()
                        .map(|n| WireNode {
                            length: n.length,
                            null_count: n.null_count,
                            validity: n.validity,
                            buffers: n.buffers,
                        })
                        .collect(),
                }),
                Ok(Err(e)) => Err(udf_error(e)),
                Err(trap) => Err(sb.trapped(Some(function), trap)),
            }
        })
    }

    fn close(&self) -> Result<()> {
        self.with(|sb| {
            if sb.broken.is_some() {
                return Ok(());
            }
            let runtime = sb.guest.udfbox_runtime_runtime();
            match runtime.call_close(&mut sb.store) {
                Ok(result) => result.map_err(udf_error),
                Err(trap) => Err(sb.trapped(None, trap)),
            }
        })
    }

    fn take_output(&self) -> Result<String> {
        self.with(|sb| {
            let mut output = String::new();
            if sb.broken.is_none() {
                let runtime = sb.guest.udfbox_runtime_runtime();
                match runtime.call_take_output(&mut sb.store) {
                    Ok(text) => output = text,
                    Err(trap) => return Err(sb.trapped(None, trap)),
                }
            }
            // Whatever reached the WASI pipes directly (C-level writes).
            let state = sb.store.data();
            let (out, err) = (state.stdout.contents(), state.stderr.contents());
            output.push_str(&String::from_utf8_lossy(&out[sb.seen.0.min(out.len())..]));
            output.push_str(&String::from_utf8_lossy(&err[sb.seen.1.min(err.len())..]));
            sb.seen = (out.len(), err.len());
            Ok(output)
        })
    }
}
