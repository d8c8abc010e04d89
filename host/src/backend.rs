//! One trait for every backend, and the `FunctionSet` wrapper the engine talks to.
//!
//! A [`Backend`] moves [`WireColumn`]s in and out of a Python runtime (the wasm sandbox or the
//! embedded interpreter). [`FunctionSet`] owns one, converts Arrow arrays to and from the wire
//! format, casts arguments to the declared types and checks what comes back, so the SQL layer
//! cannot tell the backends apart.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::cast;
use arrow::datatypes::DataType;

use crate::error::{Error, Result, UdfError, UdfErrorKind};
use crate::limits::Limits;
use crate::types::{arrow_type, udf_type_of};
use crate::wire::{self, PackedColumn, WireColumn};

/// Where UDFs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// CPython compiled to WebAssembly, in a wasmtime sandbox (the default).
    #[default]
    Wasm,
    /// The machine's CPython through pyo3: trusted code only, no isolation.
    Native,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Wasm => "wasm",
            Mode::Native => "native",
        })
    }
}

/// What a UDF file registered, as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    /// `scalar`.
    pub kind: String,
    /// `general` (row at a time) or `pandas` (vectorized).
    pub func_type: String,
    /// Declared input types; `None` when they follow from the call site.
    pub input_types: Option<Vec<String>>,
    pub result_type: String,
    pub deterministic: bool,
}

/// A Python runtime that UDF files are loaded into and functions called in.
///
/// Implementations: [`crate::wasm::WasmBackend`] and [`crate::native::NativeBackend`]. Every
/// method is one boundary crossing; `call` carries a whole batch.
pub trait Backend: Send + Sync {
    fn mode(&self) -> Mode;
    /// Runs a UDF file's source; `params` are the job parameters for `FunctionContext`.
    fn load(&self, filename: &str, source: &str, params: &[(String, String)]) -> Result<Vec<FunctionInfo>>;
    /// Calls `function` once over `num_rows` rows.
    fn call(&self, function: &str, num_rows: usize, args: Vec<WireColumn>) -> Result<PackedColumn>;
    /// Calls `close()` on every opened function.
    fn close(&self) -> Result<()>;
    /// Returns and clears what UDFs printed since the last call.
    fn take_output(&self) -> Result<String>;
    /// Fuel the last call used, when the backend meters fuel.
    fn fuel_used(&self) -> Option<u64> {
        None
    }
    /// The most linear memory the current sandbox has grown to, in bytes (wasm only).
    fn memory_peak(&self) -> Option<usize> {
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
}

/// A registered function with its Arrow types resolved.
#[derive(Debug, Clone)]
pub struct Function {
    pub info: FunctionInfo,
    pub result_type: DataType,
    /// Declared input types as (udfbox type, Arrow type).
    pub input_types: Option<Vec<(String, DataType)>>,
}

/// The functions of one or more UDF files, loaded into one Python runtime.
pub struct FunctionSet {
    backend: Box<dyn Backend>,
    options: Options,
    functions: BTreeMap<String, Function>,
    /// Fuel used per function so far (metered sandboxes only).
    fuel: std::sync::Mutex<BTreeMap<String, u64>>,
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
        let backend: Box<dyn Backend> = match options.mode {
            #[cfg(feature = "wasm")]
            Mode::Wasm => Box::new(crate::wasm::WasmBackend::new(options.limits.clone())?),
            #[cfg(feature = "native")]
            Mode::Native => Box::new(crate::native::NativeBackend::new()?),
            #[allow(unreachable_patterns, reason = "when a backend feature is off")]
            mode => return Err(Error::Invalid(format!("udfbox was built without the {mode} backend"))),
        };
        Ok(Self { backend, options, functions: BTreeMap::new(), fuel: Default::default() })
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
        let result = self.backend.load(filename, source, &self.options.params);
        self.forward_output(None);
        let infos = result?;
        let mut resolved = Vec::with_capacity(infos.len());
        for info in &infos {
            let result_type = arrow_type(&info.result_type)?;
            let input_types = match &info.input_types {
                None => None,
                Some(types) => Some(types.iter().map(|t| Ok((t.clone(), arrow_type(t)?))).collect::<Result<Vec<_>>>()?),
            };
            resolved.push(Function { info: info.clone(), result_type, input_types });
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
            return Ok(declared.clone());
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
    pub fn call(&self, name: &str, args: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let function = self.function(name).ok_or_else(|| unknown(name))?;
        let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
        let targets = self.argument_types(name, &types)?;
        let mut columns = Vec::with_capacity(args.len());
        for (array, (udf_type, arrow_type)) in args.iter().zip(&targets) {
            if array.len() != num_rows {
                return Err(Error::Invalid(format!(
                    "argument of '{name}' has {} rows, the batch {num_rows}",
                    array.len()
                )));
            }
            let array = if array.data_type() == arrow_type { array.clone() } else { cast(array, arrow_type)? };
            columns.push(wire::encode(udf_type, &array)?);
        }
        let result = self.backend.call(name, num_rows, columns);
        if self.options.limits.fuel.is_some() {
            if let Some(used) = self.backend.fuel_used() {
                let mut fuel = self.fuel.lock().unwrap_or_else(|e| e.into_inner());
                *fuel.entry(name.to_string()).or_default() += used;
            }
        }
        self.forward_output(Some(name));
        let result = result?;
        let array = wire::decode(&function.result_type, result).map_err(|e| bad_result(name, e))?;
        if array.len() != num_rows {
            return Err(bad_result(name, format!("returned {} rows for a batch of {num_rows}", array.len())));
        }
        Ok(array)
    }

    /// The most linear memory the current sandbox has grown to, in bytes (wasm mode only).
    pub fn memory_peak(&self) -> Option<usize> {
        self.backend.memory_peak()
    }

    /// Fuel `name` has used so far, when the sandbox meters fuel (`Limits::fuel`).
    pub fn fuel_used(&self, name: &str) -> Option<u64> {
        self.fuel.lock().unwrap_or_else(|e| e.into_inner()).get(name).copied()
    }

    /// Calls `close()` on every opened function. Also done when the set is dropped.
    pub fn close(&self) -> Result<()> {
        let result = self.backend.close();
        self.forward_output(None);
        result
    }

    /// What UDFs print goes to the host's log, tagged with the function.
    fn forward_output(&self, function: Option<&str>) {
        let Ok(output) = self.backend.take_output() else { return };
        for line in output.lines() {
            tracing::info!(target: "udfbox::udf", "[udf {}] {line}", function.unwrap_or("-"));
        }
    }
}

impl Drop for FunctionSet {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(target: "udfbox::udf", "close() failed: {e}");
        }
    }
}

fn unknown(name: &str) -> Error {
    Error::Invalid(format!("unknown function '{name}'"))
}

fn bad_result(name: &str, error: impl fmt::Display) -> Error {
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
