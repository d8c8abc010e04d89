//! One trait for every backend, and the `FunctionSet` wrapper the engine talks to.
//!
//! A [`Backend`] moves [`WireColumn`]s in and out of a Python runtime (the wasm sandbox or the
//! embedded interpreter). [`FunctionSet`] owns one, converts Arrow arrays to and from the wire
//! format, casts arguments to the declared types and checks what comes back, so the SQL layer
//! cannot tell the backends apart.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{make_array, new_null_array, Array, ArrayRef, BinaryArray, Int32Array, StructArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};

use crate::error::{Error, Result, UdfError, UdfErrorKind};
use crate::limits::Limits;
use crate::types::{self, arrow_field, udf_type_of};
use crate::wire::{self, PackedColumn, WireColumn};

pub mod bounds;
#[cfg(feature = "wasm")]
mod determinism;
#[cfg(feature = "native")]
pub mod native;
mod pool;
pub mod process;
#[cfg(feature = "wasm")]
mod result_stream;
pub mod row;
#[cfg(feature = "wasm")]
mod snapshot;
mod sources;
#[cfg(feature = "wasm")]
pub mod wasm;

/// Where UDFs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// CPython compiled to WebAssembly, in a wasmtime sandbox (the default).
    #[default]
    Wasm,
    /// The machine's CPython through pyo3: trusted code only, no isolation.
    Native,
    /// Worker processes of the machine's CPython, batches over pipes (PyFlink's default
    /// "process mode"): a crash or hang ends a worker, not the host; trusted code only.
    Process,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Wasm => "wasm",
            Mode::Native => "native",
            Mode::Process => "process",
        })
    }
}

/// What a UDF file registered, as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    /// `scalar`, `table`, `aggregate` or `table_aggregate`.
    pub kind: String,
    /// `general` (row at a time) or `pandas` (vectorized).
    pub func_type: String,
    /// Declared input types; `None` when they follow from the call site.
    pub input_types: Option<Vec<String>>,
    pub result_type: String,
    pub deterministic: bool,
    /// The Python parameter names of the data arguments, in order (`arg0`, `arg1`, ... where the
    /// function takes `*args`); as many as `input_types` when those are declared.
    pub input_names: Vec<String>,
    /// The Python API that registered the function: `udfbox` (udfbox's and PyFlink's),
    /// `arrow-udf` or `databend-udf` (see [`DIALECTS`]).
    pub dialect: String,
}

/// The values of [`FunctionInfo::dialect`].
pub const DIALECTS: &[&str] = &["udfbox", "arrow-udf", "databend-udf"];

/// What happens to a row whose UDF call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ErrorPolicy {
    /// The query fails with the error (the default).
    #[default]
    Fail,
    /// The row's result becomes NULL and the error is reported (logged, and counted in
    /// [`FunctionSet::failures`]). An exception or a bad value nulls its own row; a fault that
    /// ends the sandbox (timeout, memory, stack, fuel) fails the whole batch it happened in: the
    /// batch is then replayed in halves in fresh sandboxes to pin the rows that cause it (see
    /// [`MAX_REPLAY_FAULTS`]), and only those become NULL.
    Null,
}

impl fmt::Display for ErrorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorPolicy::Fail => "fail",
            ErrorPolicy::Null => "null",
        })
    }
}

/// What one boundary crossing came to: its result, what UDFs printed meanwhile, and the fuel it
/// used when the backend meters fuel.
#[derive(Debug)]
pub struct Reply<T> {
    pub result: Result<T>,
    pub output: String,
    pub fuel_used: Option<u64>,
}

impl<T> Reply<T> {
    pub fn failed(error: Error) -> Self {
        Self { result: Err(error), output: String::new(), fuel_used: None }
    }
}

/// What a table function (or table aggregate) produced: for each output row, the input row (or
/// group) it came from (INT), and the rows themselves (a ROW of the result columns).
#[derive(Debug)]
pub struct TableOutput {
    pub sources: PackedColumn,
    pub rows: PackedColumn,
}

/// What kind of metric a UDF registered (PyFlink's metric types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    Counter,
    Gauge,
    Meter,
    Distribution,
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Meter => "meter",
            MetricKind::Distribution => "distribution",
        })
    }
}

/// A metric's value, as [`FunctionSet::metrics`] reports it (summed over the set's sandboxes).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub function: String,
    /// Sub-group names (`add_group`), outermost first.
    pub group: Vec<String>,
    pub name: String,
    pub kind: MetricKind,
    /// Counter value, meter events, distribution count.
    pub count: i64,
    /// Gauge value, meter events per second, distribution sum.
    pub value: f64,
    /// Distribution minimum and maximum (0 when it has no values).
    pub min: f64,
    pub max: f64,
}

/// How an aggregate batch updates accumulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    Accumulate,
    /// Undo rows leaving a sliding window frame (`retract`).
    Retract,
    /// The argument is a BYTES column of accumulators to fold into their groups (`merge`).
    Merge,
}

impl AggregateOp {
    /// The runtime's name for it (`Runtime.aggregate`'s `op`).
    pub fn name(self) -> &'static str {
        match self {
            AggregateOp::Accumulate => "accumulate",
            AggregateOp::Retract => "retract",
            AggregateOp::Merge => "merge",
        }
    }
}

/// A batch call's result.
#[derive(Debug)]
pub struct CallResult {
    pub column: PackedColumn,
    /// Rows that failed and became NULL (the `null` error policy).
    pub failed_rows: u32,
    /// The first of those failures.
    pub first_failure: Option<UdfError>,
}

/// A row-path call's result ([`Backend::call_row`]).
#[derive(Debug)]
pub struct RowReply {
    /// One byte, 1 for NULL, else 0 followed by the value in the row encoding ([`row`]).
    pub value: Vec<u8>,
    /// Under the `null` policy, the failure that made the value NULL.
    pub failure: Option<UdfError>,
}

/// A Python runtime that UDF files are loaded into and functions called in.
///
/// Implementations: [`wasm::WasmBackend`] and [`native::NativeBackend`]. Every
/// method is one boundary crossing; `call` carries a whole batch. Methods may be called from
/// several threads at once.
pub trait Backend: Send + Sync {
    fn mode(&self) -> Mode;
    /// Runs a UDF file's source; `params` are the job parameters for `FunctionContext`.
    fn load(&self, filename: &str, source: &str, params: &[(String, String)]) -> Reply<Vec<FunctionInfo>>;
    /// Calls `function` once over `num_rows` rows.
    fn call(&self, function: &str, num_rows: usize, args: Vec<WireColumn>, on_error: ErrorPolicy) -> Reply<CallResult>;
    /// The row-path id of `function`, which must have a compact row encoding ([`row`]). Ids
    /// follow the order functions were registered in, so every instance of a pool agrees.
    fn prepare_row(&self, function: &str) -> Reply<u32>;
    /// Calls the function with row-path id `id` (named `function`) on one row in the row
    /// encoding.
    fn call_row(&self, function: &str, id: u32, row: &[u8], on_error: ErrorPolicy) -> Reply<RowReply>;
    /// Calls table function `function` for every one of `num_rows` rows.
    fn call_table(&self, function: &str, num_rows: usize, args: Vec<WireColumn>) -> Reply<TableOutput>;
    /// Updates the accumulators `states` (BYTES, pickled; NULL: new) with a batch whose rows
    /// belong to the groups `groups` (INT indexes into `states`); returns the new states.
    fn aggregate(
        &self,
        function: &str,
        op: AggregateOp,
        states: WireColumn,
        groups: WireColumn,
        args: Vec<WireColumn>,
    ) -> Reply<PackedColumn>;
    /// `get_value` of every accumulator.
    fn finish(&self, function: &str, states: WireColumn) -> Reply<PackedColumn>;
    /// The rows a table aggregate emits for every accumulator.
    fn emit(&self, function: &str, states: WireColumn) -> Reply<TableOutput>;
    /// Calls `close()` on every opened function.
    fn close(&self) -> Reply<()>;
    /// The metrics UDFs registered, one entry per metric and runtime instance.
    fn metrics(&self) -> Reply<Vec<Metric>>;
    /// The most linear memory a sandbox has grown to, in bytes (wasm only).
    fn memory_peak(&self) -> Option<usize> {
        None
    }
    /// Bytes of the post-`open()` image (wasm with `Options::snapshot` only).
    fn snapshot_bytes(&self) -> Option<usize> {
        None
    }
}

/// Options for a [`FunctionSet`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub mode: Mode,
    /// Job parameters, read by UDFs through `FunctionContext.get_job_parameter`.
    pub params: Vec<(String, String)>,
    /// Resource limits of the sandbox (wasm mode only).
    pub limits: Limits,
    /// A directory of pure-Python packages and resource files the UDFs may import and read,
    /// never write: `/deps` in the sandbox (read-only), on `sys.path` in both modes. Relative
    /// paths given to `open()` in a UDF file resolve in it. `None` (the default) grants nothing.
    pub deps: Option<PathBuf>,
    /// What a failing row does, for functions without an entry in `error_policies`.
    pub on_error: ErrorPolicy,
    /// Error policy per function name.
    pub error_policies: BTreeMap<String, ErrorPolicy>,
    /// A name for logs: output and warnings of this set's UDFs are tagged with it.
    pub tenant: Option<String>,
    /// Bundling knobs (PyFlink's `python.fn-execution.*`).
    pub config: crate::config::Config,
    /// The Python interpreter process mode's workers run; `None`: `$UDFBOX_PYTHON`, else
    /// `python3` on the `PATH`.
    pub python: Option<PathBuf>,
    /// Replayable execution (wasm mode only): the sandbox's wall and monotonic clocks are
    /// virtual, and its random sources (and Python's `random` module) are seeded, all reset at
    /// every call from the call's function and arguments, so the same input gives
    /// byte-identical output across runs, sandboxes and recoveries. See the README,
    /// "Deterministic mode".
    pub deterministic: bool,
    /// Snapshot after `open()`: every load runs `open()` of the loaded functions at once (as
    /// PyFlink's operator does), and a sandbox or worker made later (the pool grows, or one
    /// faulted) starts from the state the loads and `open()` left, without running either
    /// again. wasm: a copy-on-write image of the sandbox's memory; process: a worker forked
    /// from the one that loaded; native has one interpreter, so only the eager `open()`
    /// applies. See the README, "Snapshot after open()".
    pub snapshot: bool,
}

/// Rows a function's failures turned into NULLs (the `null` error policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    pub rows: u64,
    /// The first failure, as its message.
    pub first: String,
}

/// A registered function with its Arrow types resolved.
#[derive(Debug, Clone)]
pub struct Function {
    pub info: FunctionInfo,
    pub result_type: DataType,
    /// The result as an Arrow field ([`crate::types::arrow_field`]): nullability and the logical type
    /// metadata of `JSON` and `NUMERIC`.
    pub result_field: Field,
    /// Declared input types as (udfbox type, Arrow type).
    pub input_types: Option<Vec<(String, DataType)>>,
    /// Declared input types as Arrow fields, named after the Python parameters (`input_names`).
    pub input_fields: Option<Vec<Field>>,
}

/// The functions of one or more UDF files, loaded into one Python runtime: in wasm mode, a
/// pool of sandboxes of their own. One set per tenant isolates tenants from each other.
pub struct FunctionSet {
    backend: Box<dyn Backend>,
    options: Options,
    functions: BTreeMap<String, Function>,
    /// Fuel used per function so far (metered sandboxes only).
    fuel: Mutex<BTreeMap<String, u64>>,
    /// Rows nulled per function under the `null` error policy.
    failures: Mutex<BTreeMap<String, Failures>>,
}

impl fmt::Debug for FunctionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionSet")
            .field("mode", &self.options.mode)
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl FunctionSet {
    /// Starts an empty runtime in the given mode.
    pub fn new(options: Options) -> Result<Self> {
        if let Some(deps) = &options.deps {
            if !deps.is_dir() {
                return Err(Error::Io {
                    path: deps.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
                });
            }
        }
        if options.deterministic && options.mode != Mode::Wasm {
            return Err(Error::Invalid(format!(
                "deterministic mode needs the wasm sandbox: --mode {} runs on the machine's own clocks and random numbers",
                options.mode
            )));
        }
        let backend: Box<dyn Backend> = match options.mode {
            #[cfg(feature = "wasm")]
            Mode::Wasm => Box::new(self::wasm::WasmBackend::with_options(
                options.limits.clone(),
                options.deps.clone(),
                options.deterministic,
                options.snapshot,
            )?),
            #[cfg(feature = "native")]
            Mode::Native => {
                Box::new(self::native::NativeBackend::with_options(options.deps.as_deref(), options.snapshot)?)
            }
            Mode::Process => Box::new(self::process::ProcessBackend::with_options(
                options.python.clone().unwrap_or_else(self::process::default_python),
                options.limits.clone(),
                options.deps.clone(),
                options.snapshot,
            )?),
            #[allow(unreachable_patterns, reason = "when a backend feature is off")]
            mode => return Err(Error::Invalid(format!("udfbox was built without the {mode} backend"))),
        };
        Ok(Self {
            backend,
            options,
            functions: BTreeMap::new(),
            fuel: Default::default(),
            failures: Default::default(),
        })
    }

    /// The options the set was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The error policy of function `name`.
    pub fn error_policy(&self, name: &str) -> ErrorPolicy {
        self.options.error_policies.get(name).copied().unwrap_or(self.options.on_error)
    }

    /// Sets the error policy of function `name` (it need not be loaded yet).
    pub fn set_error_policy(&mut self, name: &str, policy: ErrorPolicy) {
        self.options.error_policies.insert(name.to_string(), policy);
    }

    pub fn mode(&self) -> Mode {
        self.options.mode
    }

    /// Loads a UDF file from disk.
    pub fn load_file(&mut self, path: impl AsRef<Path>) -> Result<Vec<FunctionInfo>> {
        let path = path.as_ref();
        let source =
            std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        // Editors on Windows start UTF-8 files with a byte-order mark; Python's compile() rejects it.
        let source = source.strip_prefix('\u{feff}').unwrap_or(&source);
        self.load_source(&path.display().to_string(), source)
    }

    /// Loads UDF source code; `filename` is what tracebacks and errors name.
    pub fn load_source(&mut self, filename: &str, source: &str) -> Result<Vec<FunctionInfo>> {
        let reply = off_async_workers(|| self.backend.load(filename, source, &self.options.params));
        self.forward_output(None, &reply.output);
        let infos = reply.result?;
        bounds::check_functions(filename, &infos)?;
        let mut resolved = Vec::with_capacity(infos.len());
        for info in &infos {
            check_info(info)?;
            let result_field = arrow_field(&info.result_type)?;
            let input_fields = match &info.input_types {
                None => None,
                Some(types) => Some(
                    types
                        .iter()
                        .zip(&info.input_names)
                        .map(|(t, name)| Ok(arrow_field(t)?.with_name(name)))
                        .collect::<Result<Vec<_>>>()?,
                ),
            };
            let input_types = info.input_types.as_ref().zip(input_fields.as_ref()).map(|(types, fields)| {
                types.iter().zip(fields).map(|(t, f)| (t.clone(), f.data_type().clone())).collect()
            });
            resolved.push(Function {
                info: info.clone(),
                result_type: result_field.data_type().clone(),
                result_field,
                input_types,
                input_fields,
            });
        }
        for function in resolved {
            self.functions.insert(function.info.name.clone(), function);
        }
        Ok(infos)
    }

    /// Every registered function, by name.
    pub fn functions(&self) -> impl Iterator<Item = &Function> {
        self.functions.values()
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.get(name)
    }

    /// The udfbox type each argument is passed as, and the Arrow type it is cast to first.
    pub fn argument_types(&self, name: &str, args: &[DataType]) -> Result<Vec<(String, DataType)>> {
        let function = self.function(name).ok_or_else(|| unknown(name))?;
        if let Some(declared) = &function.input_types {
            if declared.len() != args.len() {
                return Err(Error::Invalid(format!(
                    "function '{name}' takes {} argument{} ({}), got {}",
                    declared.len(),
                    if declared.len() == 1 { "" } else { "s" },
                    declared.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(", "),
                    args.len()
                )));
            }
            // Cast targets allow NULL at every depth; `encode_args` checks NOT NULL itself.
            return Ok(declared.iter().map(|(t, ty)| (t.clone(), types::nullable_type(ty))).collect());
        }
        args.iter()
            .enumerate()
            .map(|(i, ty)| {
                udf_type_of(ty).ok_or_else(|| {
                    Error::Invalid(format!(
                        "argument {} of '{name}' has type {ty}, which udfbox cannot pass to Python",
                        i + 1
                    ))
                })
            })
            .collect()
    }

    /// Calls `name` over one batch of `num_rows` rows; every argument has `num_rows` values.
    /// A batch larger than `config.arrow_batch_size` crosses the boundary in several calls.
    pub fn call(&self, name: &str, args: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let chunk = self.options.config.arrow_batch_size.max(1);
        if num_rows <= chunk {
            return self.call_chunk(name, args, num_rows);
        }
        let mut parts = Vec::with_capacity(num_rows.div_ceil(chunk));
        for start in (0..num_rows).step_by(chunk) {
            let len = chunk.min(num_rows - start);
            let slices: Vec<ArrayRef> = args.iter().map(|a| a.slice(start, len)).collect();
            parts.push(self.call_chunk(name, &slices, len)?);
        }
        let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
        Ok(arrow::compute::concat(&parts)?)
    }

    fn call_chunk(&self, name: &str, args: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let function = self.function(name).ok_or_else(|| unknown(name))?;
        let policy = self.error_policy(name);
        match self.call_once(name, function, args, num_rows, policy) {
            Ok(array) => Ok(array),
            // A fault that ended the sandbox cannot be pinned to a row by the runtime: the batch
            // is replayed in halves, in fresh sandboxes, to find the rows that cause it. A NOT
            // NULL result has no NULL to put in place of a failed row.
            Err(error) if policy == ErrorPolicy::Null && nullable(&error) && function.result_field.is_nullable() => {
                let mut replay = Replay { faults_left: MAX_REPLAY_FAULTS, pinned: Vec::new(), unpinned: 0 };
                let array = self.replay(name, function, args, 0..num_rows, &mut replay);
                let rows = replay.pinned.len() + replay.unpinned;
                self.note_failures(name, rows as u64, num_rows, fault_detail(&error, &replay.pinned, replay.unpinned));
                Ok(array)
            }
            Err(error) => Err(error),
        }
    }

    /// One boundary crossing of a batch; rows the runtime nulled under the `null` policy are
    /// counted here.
    fn call_once(
        &self,
        name: &str,
        function: &Function,
        args: &[ArrayRef],
        num_rows: usize,
        policy: ErrorPolicy,
    ) -> Result<ArrayRef> {
        let columns = self.encode_args(name, args, num_rows)?;
        let reply = off_async_workers(|| self.backend.call(name, num_rows, columns, policy));
        let result = self.settle(name, reply)?;
        let array = wire::decode(&function.result_type, result.column).map_err(|e| bad_result(name, e))?;
        if array.len() != num_rows {
            return Err(bad_result(name, format!("returned {} rows for a batch of {num_rows}", array.len())));
        }
        check_result(function, array.as_ref())?;
        if result.failed_rows > 0 {
            let first = result.first_failure.map_or_else(|| "unknown error".to_string(), |e| e.to_string());
            self.note_failures(name, u64::from(result.failed_rows), num_rows, first);
        }
        Ok(array)
    }

    /// The results of `rows` of a batch whose call faulted: each half is called again (in a
    /// fresh sandbox, the faulted one being gone), and a half that faults again is split again,
    /// down to single rows, which become NULL. At most [`MAX_REPLAY_FAULTS`] replays may fault,
    /// which bounds the time pinning takes (each costs at most one timeout); rows still
    /// unresolved then become NULL together.
    fn replay(
        &self,
        name: &str,
        function: &Function,
        args: &[ArrayRef],
        rows: std::ops::Range<usize>,
        replay: &mut Replay,
    ) -> ArrayRef {
        let len = rows.len();
        if len == 1 {
            replay.pinned.push(rows.start);
            return new_null_array(&function.result_type, 1);
        }
        let middle = rows.start + len / 2;
        let mut parts = Vec::with_capacity(2);
        for half in [rows.start..middle, middle..rows.end] {
            let rows_in_half = half.len();
            let slices: Vec<ArrayRef> = args.iter().map(|a| a.slice(half.start, half.len())).collect();
            let part = if replay.faults_left == 0 {
                Err(())
            } else {
                self.call_once(name, function, &slices, half.len(), ErrorPolicy::Null).map_err(|error| {
                    if nullable(&error) {
                        replay.faults_left -= 1;
                    }
                })
            };
            parts.push(match part {
                Ok(array) => array,
                Err(()) if replay.faults_left > 0 => self.replay(name, function, args, half, replay),
                Err(()) => {
                    replay.unpinned += rows_in_half;
                    new_null_array(&function.result_type, rows_in_half)
                }
            });
        }
        let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
        arrow::compute::concat(&parts).unwrap_or_else(|_| new_null_array(&function.result_type, len))
    }

    /// Arguments cast to the types `name` takes and encoded for the boundary.
    fn encode_args(&self, name: &str, args: &[ArrayRef], num_rows: usize) -> Result<Vec<WireColumn>> {
        let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
        let targets = self.argument_types(name, &types)?;
        let fields = self.function(name).and_then(|f| f.input_fields.as_ref());
        let mut columns = Vec::with_capacity(args.len());
        for (i, (array, (udf_type, arrow_type))) in args.iter().zip(&targets).enumerate() {
            if array.len() != num_rows {
                return Err(Error::Invalid(format!(
                    "argument of '{name}' has {} rows, the batch {num_rows}",
                    array.len()
                )));
            }
            let refused =
                |detail: String| Error::Invalid(format!("argument {} of '{name}' is {udf_type}, but {detail}", i + 1));
            if fields.and_then(|f| f.get(i)).is_some_and(|f| !f.is_nullable()) && array.null_count() > 0 {
                return Err(refused(format!("row {} is NULL", first_null(array.as_ref()))));
            }
            let mut array = if array.data_type() == arrow_type { array.clone() } else { cast(array, arrow_type)? };
            if let Some(strict) = fields.and_then(|f| f.get(i)).map(|f| f.data_type()).filter(|t| *t != arrow_type) {
                let data = types::restrict(array.to_data(), strict)
                    .map_err(|e| refused(format!("it holds a NULL where the type allows none ({e})")))?;
                array = make_array(data);
            }
            columns.push(wire::encode(udf_type, &array)?);
        }
        Ok(columns)
    }

    /// Accounts a reply's fuel and forwards its output; returns its result.
    fn settle<T>(&self, name: &str, reply: Reply<T>) -> Result<T> {
        if let Some(used) = reply.fuel_used.filter(|_| self.options.limits.fuel.is_some()) {
            *self.fuel.lock().unwrap_or_else(|e| e.into_inner()).entry(name.to_string()).or_default() += used;
        }
        self.forward_output(Some(name), &reply.output);
        reply.result
    }

    fn function_of_kind(&self, name: &str, kinds: &[&str]) -> Result<&Function> {
        let function = self.function(name).ok_or_else(|| unknown(name))?;
        if !kinds.contains(&function.info.kind.as_str()) {
            return Err(Error::Invalid(format!(
                "'{name}' is a {} function, not {}",
                function.info.kind.replace('_', "-"),
                kinds.join(" or ").replace('_', "-")
            )));
        }
        Ok(function)
    }

    /// The rows a table function or table aggregate produced, checked against its row type.
    fn table_output(&self, name: &str, function: &Function, output: TableOutput) -> Result<(Int32Array, StructArray)> {
        let sources = wire::decode(&DataType::Int32, output.sources).map_err(|e| bad_result(name, e))?;
        let rows = wire::decode(&function.result_type, output.rows).map_err(|e| bad_result(name, e))?;
        let sources = sources.as_any().downcast_ref::<Int32Array>().cloned();
        let rows = rows.as_any().downcast_ref::<StructArray>().cloned();
        match (sources, rows) {
            (Some(sources), Some(rows)) if sources.len() == rows.len() && sources.null_count() == 0 => {
                check_result(function, &rows)?;
                Ok((sources, rows))
            }
            _ => Err(bad_result(name, "malformed table output")),
        }
    }

    /// Calls table function `name` for each of `num_rows` rows. Returns, for every output row,
    /// the input row it came from, and the output rows (a struct of the result columns `f0`, ...).
    pub fn call_table(&self, name: &str, args: &[ArrayRef], num_rows: usize) -> Result<(Int32Array, StructArray)> {
        let chunk = self.options.config.arrow_batch_size.max(1);
        if num_rows <= chunk {
            return self.call_table_chunk(name, args, num_rows);
        }
        let (mut sources, mut parts) = (Vec::new(), Vec::new());
        for start in (0..num_rows).step_by(chunk) {
            let len = chunk.min(num_rows - start);
            let slices: Vec<ArrayRef> = args.iter().map(|a| a.slice(start, len)).collect();
            let (chunk_sources, rows) = self.call_table_chunk(name, &slices, len)?;
            sources.extend(chunk_sources.values().iter().map(|&row| row + start as i32));
            parts.push(rows);
        }
        let parts: Vec<&dyn Array> = parts.iter().map(|p| p as &dyn Array).collect();
        let rows = arrow::compute::concat(&parts)?;
        let rows =
            rows.as_any().downcast_ref::<StructArray>().cloned().ok_or_else(|| bad_result(name, "malformed rows"))?;
        Ok((Int32Array::from(sources), rows))
    }

    fn call_table_chunk(&self, name: &str, args: &[ArrayRef], num_rows: usize) -> Result<(Int32Array, StructArray)> {
        let function = self.function_of_kind(name, &["table"])?;
        let columns = self.encode_args(name, args, num_rows)?;
        let output = self.settle(name, off_async_workers(|| self.backend.call_table(name, num_rows, columns)))?;
        let (sources, rows) = self.table_output(name, function, output)?;
        if sources.values().iter().any(|&row| row < 0 || row as usize >= num_rows) {
            return Err(bad_result(name, "an output row names an input row outside the batch"));
        }
        Ok((sources, rows))
    }

    /// Updates accumulators with one batch. `states` holds the pickled accumulator of each group
    /// the batch touches (NULL: not created yet), `groups` each row's index into `states`. For
    /// [`AggregateOp::Merge`], `args` is one binary column of accumulators to merge. Returns the
    /// updated states, one per entry of `states`.
    pub fn aggregate(
        &self,
        name: &str,
        op: AggregateOp,
        states: &BinaryArray,
        groups: &Int32Array,
        args: &[ArrayRef],
    ) -> Result<BinaryArray> {
        self.function_of_kind(name, &["aggregate", "table_aggregate"])?;
        let chunk = self.options.config.arrow_batch_size.max(1);
        if groups.len() > chunk {
            // Each chunk carries the states the previous one left.
            let mut states = states.clone();
            for start in (0..groups.len()).step_by(chunk) {
                let len = chunk.min(groups.len() - start);
                let slices: Vec<ArrayRef> = args.iter().map(|a| a.slice(start, len)).collect();
                states = self.aggregate(name, op, &states, &groups.slice(start, len), &slices)?;
            }
            return Ok(states);
        }
        let columns = match op {
            AggregateOp::Merge => match args {
                [others] => vec![wire::encode("BYTES", cast(others, &DataType::Binary)?.as_ref())?],
                _ => return Err(Error::Invalid("merge takes one column of accumulators".into())),
            },
            _ => self.encode_args(name, args, groups.len())?,
        };
        let states_column = wire::encode("BYTES", states)?;
        let groups_column = wire::encode("INT", groups)?;
        let reply = off_async_workers(|| self.backend.aggregate(name, op, states_column, groups_column, columns));
        let updated = self.settle(name, reply)?;
        let updated = wire::decode(&DataType::Binary, updated).map_err(|e| bad_result(name, e))?;
        match updated.as_any().downcast_ref::<BinaryArray>() {
            Some(updated) if updated.len() == states.len() => Ok(updated.clone()),
            _ => Err(bad_result(name, "returned the wrong number of accumulators")),
        }
    }

    /// The results of aggregate `name` for every accumulator in `states` (`get_value`).
    pub fn finish(&self, name: &str, states: &BinaryArray) -> Result<ArrayRef> {
        let function = self.function_of_kind(name, &["aggregate"])?;
        let states_column = wire::encode("BYTES", states)?;
        let values = self.settle(name, off_async_workers(|| self.backend.finish(name, states_column)))?;
        let values = wire::decode(&function.result_type, values).map_err(|e| bad_result(name, e))?;
        if values.len() != states.len() {
            return Err(bad_result(name, "returned the wrong number of results"));
        }
        check_result(function, values.as_ref())?;
        Ok(values)
    }

    /// The rows table aggregate `name` emits for every accumulator in `states`: for each output
    /// row, the accumulator (group) it came from, and the rows.
    pub fn emit(&self, name: &str, states: &BinaryArray) -> Result<(Int32Array, StructArray)> {
        let function = self.function_of_kind(name, &["table_aggregate"])?;
        let states_column = wire::encode("BYTES", states)?;
        let output = self.settle(name, off_async_workers(|| self.backend.emit(name, states_column)))?;
        let (sources, rows) = self.table_output(name, function, output)?;
        if sources.values().iter().any(|&group| group < 0 || group as usize >= states.len()) {
            return Err(bad_result(name, "an output row names a group that does not exist"));
        }
        Ok((sources, rows))
    }

    /// Counts rows nulled by the `null` policy; the first batch with failures is logged as a
    /// warning, later ones at debug level (a bad function must not flood the log).
    fn note_failures(&self, name: &str, rows: u64, num_rows: usize, first: String) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures.entry(name.to_string()).or_default();
        let tenant = self.tenant_tag();
        let name = crate::shown::line(name);
        if entry.rows == 0 {
            tracing::warn!(
                target: "udfbox::udf",
                "[udf {tenant}{name}] {rows} of {num_rows} rows became NULL (on-error null): {first}"
            );
            entry.first = first;
        } else {
            tracing::debug!(target: "udfbox::udf", "[udf {tenant}{name}] {rows} more rows became NULL: {first}");
        }
        entry.rows += rows;
    }

    /// Rows of `name` that the `null` error policy turned into NULLs so far.
    pub fn failures(&self, name: &str) -> Option<Failures> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// The most linear memory the current sandbox has grown to, in bytes (wasm mode only).
    pub fn memory_peak(&self) -> Option<usize> {
        self.backend.memory_peak()
    }

    /// Bytes of the post-`open()` image new sandboxes start from (`Options::snapshot`, wasm
    /// mode, once a load was snapshotted): memory the set keeps for it, shared by its sandboxes.
    pub fn snapshot_bytes(&self) -> Option<usize> {
        self.backend.snapshot_bytes()
    }

    /// Fuel `name` has used so far, when the sandbox meters fuel (`Limits::fuel`).
    pub fn fuel_used(&self, name: &str) -> Option<u64> {
        self.fuel.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied()
    }

    /// The metrics the UDFs registered through `function_context.get_metric_group()`, sorted by
    /// function, group and name. In wasm mode each sandbox of the set keeps its own: counters,
    /// meters and gauges are summed over them, distributions merged. A sandbox discarded after a
    /// fault takes its metrics with it.
    pub fn metrics(&self) -> Result<Vec<Metric>> {
        let reply = off_async_workers(|| self.backend.metrics());
        self.forward_output(None, &reply.output);
        let (reported, dropped) = bounds::metrics(reply.result?);
        if dropped > 0 {
            tracing::warn!(target: "udfbox::udf", "[udf {}-] {dropped} metrics beyond udfbox's bounds dropped", self.tenant_tag());
        }
        let mut merged: BTreeMap<(String, Vec<String>, String, MetricKind), Metric> = BTreeMap::new();
        for metric in reported {
            let key = (metric.function.clone(), metric.group.clone(), metric.name.clone(), metric.kind);
            match merged.get_mut(&key) {
                None => {
                    merged.insert(key, metric);
                }
                Some(total) => {
                    if metric.kind == MetricKind::Distribution && metric.count > 0 {
                        total.min = if total.count > 0 { total.min.min(metric.min) } else { metric.min };
                        total.max = if total.count > 0 { total.max.max(metric.max) } else { metric.max };
                    }
                    total.count = total.count.saturating_add(metric.count);
                    total.value += metric.value;
                }
            }
        }
        Ok(merged.into_values().collect())
    }

    /// Calls `close()` on every opened function. Also done when the set is dropped.
    pub fn close(&self) -> Result<()> {
        let reply = off_async_workers(|| self.backend.close());
        self.forward_output(None, &reply.output);
        reply.result
    }

    fn tenant_tag(&self) -> String {
        self.options.tenant.as_ref().map(|t| format!("{t}/")).unwrap_or_default()
    }

    /// What UDFs print goes to the host's log, tagged with the tenant and function, escaped and
    /// bounded per call ([`crate::shown::log_lines`]).
    fn forward_output(&self, function: Option<&str>, output: &str) {
        if output.is_empty() {
            return;
        }
        let tag = format!("[udf {}{}] ", self.tenant_tag(), crate::shown::line(function.unwrap_or("-")));
        for line in crate::shown::log_lines(&tag, output) {
            tracing::info!(target: "udfbox::udf", "{line}");
        }
    }
}

/// Replays of a faulted batch that may fault again while pinning the rows that cause it (see
/// `FunctionSet::replay`): enough for two bad rows in a batch of 8,192; each costs at most the
/// call timeout.
pub const MAX_REPLAY_FAULTS: usize = 16;

/// The state of pinning a faulted batch's rows.
struct Replay {
    faults_left: usize,
    /// Rows of the batch found to fault on their own.
    pinned: Vec<usize>,
    /// Rows nulled without being pinned, once the replay budget ran out.
    unpinned: usize,
}

/// Runs a guest call without holding an async runtime's worker: inside a multi-threaded tokio
/// runtime (DataFusion's execution, a service) the worker hands its other tasks to another
/// thread for the call's duration, so one tenant's slow call (up to its timeout) does not stall
/// other tenants' tasks. Elsewhere, and on a current-thread runtime, the call just runs.
pub(crate) fn off_async_workers<T>(call: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(call)
        }
        _ => call(),
    }
}

/// How a fault that the `null` policy turned into NULLs is reported: the error, and the rows of
/// the batch that replaying it pinned the fault to (`unpinned`: rows nulled without being pinned).
pub(crate) fn fault_detail(error: &Error, pinned: &[usize], unpinned: usize) -> String {
    let shown: Vec<String> = pinned.iter().take(10).map(|row| row.to_string()).collect();
    match (pinned.len(), unpinned) {
        (0, _) => format!("{error} (the fault could not be pinned to rows)"),
        (_, 0) => format!("{error} (caused by row {} of the batch)", shown.join(", ")),
        (_, unpinned) => {
            format!("{error} (caused by row {} of the batch; {unpinned} more rows not pinned)", shown.join(", "))
        }
    }
}

/// Errors the `null` policy turns into NULLs: the function failed, not the request.
pub(crate) fn nullable(error: &Error) -> bool {
    match error {
        Error::Udf(e) => matches!(e.kind, UdfErrorKind::Exception | UdfErrorKind::BadResult),
        Error::Timeout { .. }
        | Error::MemoryLimit { .. }
        | Error::FuelExhausted { .. }
        | Error::StackOverflow { .. }
        | Error::Sandbox { .. }
        | Error::WorkerExited { .. } => true,
        Error::Io { .. } | Error::Invalid(_) | Error::Native(_) | Error::Arrow(_) => false,
    }
}

impl Drop for FunctionSet {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(target: "udfbox::udf", "close() failed: {e}");
        }
    }
}

/// What Arrow's validation of a result leaves to check: NULL where the result type is NOT NULL,
/// and the text of `JSON` and `NUMERIC` values.
fn check_result(function: &Function, array: &dyn Array) -> Result<()> {
    let name = &function.info.name;
    if !function.result_field.is_nullable() && array.null_count() > 0 {
        let row = first_null(array);
        return Err(bad_result(name, format!("row {row}: expected {}, got NULL", function.info.result_type)));
    }
    types::check_values(&function.result_field, array).map_err(|e| bad_result(name, e))
}

/// The first NULL row of an array that has one.
fn first_null(array: &dyn Array) -> usize {
    (0..array.len()).find(|&r| array.is_null(r)).unwrap_or_default()
}

/// What the runtime reported about a function is untrusted (the sandbox may be subverted): the
/// parts no later step checks are checked here.
fn check_info(info: &FunctionInfo) -> Result<()> {
    let name = &info.name;
    if !DIALECTS.contains(&info.dialect.as_str()) {
        return Err(Error::Invalid(format!("function '{name}' reports an unknown dialect '{}'", info.dialect)));
    }
    if let Some(types) = &info.input_types {
        if types.len() != info.input_names.len() {
            return Err(Error::Invalid(format!(
                "function '{name}' reports {} input names for {} input types",
                info.input_names.len(),
                types.len()
            )));
        }
    }
    if info.input_names.iter().any(|n| n.is_empty() || n.len() > MAX_INPUT_NAME_CHARS) {
        return Err(Error::Invalid(format!(
            "function '{name}' reports an input name that is empty or longer than {MAX_INPUT_NAME_CHARS} bytes"
        )));
    }
    Ok(())
}

/// Python identifiers are short; this bounds what a subverted runtime can report.
const MAX_INPUT_NAME_CHARS: usize = 256;

fn unknown(name: &str) -> Error {
    Error::Invalid(format!("unknown function '{name}'"))
}

pub(crate) fn bad_result(name: &str, error: impl fmt::Display) -> Error {
    Error::Udf(UdfError {
        kind: UdfErrorKind::BadResult,
        function: Some(name.to_string()),
        row: None,
        exception_type: String::new(),
        message: error.to_string(),
        traceback: String::new(),
    })
}

/// Shares a set between the SQL functions registered from it.
pub type SharedFunctionSet = Arc<FunctionSet>;
