//! The native backend: the machine's CPython through pyo3, running the same `guest-runtime`
//! package as the sandbox (embedded in the binary, imported from memory).
//!
//! **Trusted code only.** A UDF here runs in the host process with the host's rights: it can read
//! files, open sockets, or end the process. It is the fast path and the yardstick for the sandbox.

use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyModule};

use super::sources;
use crate::backend::{
    AggregateOp, Backend, CallResult, ErrorPolicy, FunctionInfo, Metric, MetricKind, Mode, Reply, RowReply, TableOutput,
};
use crate::error::{Error, Result, UdfError, UdfErrorKind};
use crate::wire::{PackedColumn, PackedNode, Span, WireColumn};

/// The `udfbox.runtime` module, imported once per process. A `PyOnceLock` because the import
/// releases the GIL on the way (a plain `OnceLock` deadlocks against a waiter holding the GIL).
static RUNTIME_MODULE: PyOnceLock<std::result::Result<Py<PyModule>, String>> = PyOnceLock::new();

fn native_error(py: Python<'_>, err: PyErr) -> Error {
    let traceback = err.traceback(py).and_then(|tb| tb.format().ok()).unwrap_or_default();
    Error::Native(format!("{err}\n{traceback}").trim_end().to_string())
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::Native("embedded source contains a NUL byte".into()))
}

/// Serves the embedded package from memory, with the importer the sandbox uses for its stdlib.
fn install(py: Python<'_>) -> Result<Py<PyModule>> {
    let importer = PyModule::from_code(
        py,
        &c_string(sources::importer_source())?,
        c"<udfbox>/udfbox/stdlib.py",
        c"_udfbox_embedded_importer",
    )
    .map_err(|e| native_error(py, e))?;
    let zlib = py.import("zlib").map_err(|e| native_error(py, e))?;
    let modules = pyo3::types::PyDict::new(py);
    for (name, is_package, source) in sources::SOURCES {
        let path = sources::origin(name, *is_package);
        let compressed =
            zlib.call_method1("compress", (PyBytes::new(py, source.as_bytes()),)).map_err(|e| native_error(py, e))?;
        modules.set_item(*name, (*is_package, path, compressed)).map_err(|e| native_error(py, e))?;
    }
    let finder =
        importer.getattr("BundledStdlib").and_then(|cls| cls.call1((modules,))).map_err(|e| native_error(py, e))?;
    let sys = py.import("sys").map_err(|e| native_error(py, e))?;
    sys.getattr("meta_path")
        .and_then(|meta_path| meta_path.call_method1("insert", (0, finder)))
        .map_err(|e| native_error(py, e))?;
    let module = py.import("udfbox.runtime").map_err(|e| native_error(py, e))?;
    Ok(module.unbind())
}

fn runtime_module(py: Python<'_>) -> Result<Bound<'_, PyModule>> {
    RUNTIME_MODULE
        .get_or_init(py, || {
            install(py).map_err(|e| match e {
                Error::Native(message) => message,
                other => other.to_string(),
            })
        })
        .as_ref()
        .map(|m| m.bind(py).clone())
        .map_err(|e| Error::Native(e.clone()))
}

/// The native backend: one `udfbox.runtime.Runtime` object in the process's interpreter.
pub struct NativeBackend {
    runtime: Py<PyAny>,
    /// `Options::snapshot`: run `open()` at load. One interpreter means no sandbox is ever made
    /// again, so this is all a snapshot means here.
    open_at_load: bool,
}

impl NativeBackend {
    /// `deps`: the dependency directory, put on the interpreter's `sys.path` (which every native
    /// set shares: native mode has one interpreter).
    pub fn new(deps: Option<&std::path::Path>) -> Result<Self> {
        Self::with_options(deps, false)
    }

    /// With `open_at_load` (`Options::snapshot`), every load runs `open()` of its functions.
    pub fn with_options(deps: Option<&std::path::Path>, open_at_load: bool) -> Result<Self> {
        Python::initialize();
        let deps = deps.map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()));
        Python::attach(|py| {
            let module = runtime_module(py)?;
            let runtime =
                module.getattr("Runtime").and_then(|c| c.call1((deps.as_deref(),))).map_err(|e| native_error(py, e))?;
            Ok(Self { runtime: runtime.unbind(), open_at_load })
        })
    }

    /// Runs `f` holding the GIL and returns its result with what UDFs printed meanwhile.
    fn reply<T>(&self, f: impl FnOnce(Python<'_>) -> Result<T>) -> Reply<T> {
        Python::attach(|py| {
            let result = f(py);
            let output = self.invoke(py, "take_output", ()).and_then(|o| o.extract().map_err(|e| native_error(py, e)));
            Reply { result, output: output.unwrap_or_default(), fuel_used: None }
        })
    }

    fn invoke<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> Result<Bound<'py, PyAny>> {
        self.runtime.bind(py).call_method1(method, args).map_err(|err| udf_error(py, err))
    }
}

/// A `udfbox.runtime.UdfError` becomes [`UdfError`]; anything else is a runtime failure.
fn udf_error(py: Python<'_>, err: PyErr) -> Error {
    let Ok(module) = runtime_module(py) else { return native_error(py, err) };
    let Ok(class) = module.getattr("UdfError") else { return native_error(py, err) };
    let value = err.value(py);
    if !value.is_instance(&class).unwrap_or(false) {
        return native_error(py, err);
    }
    let text = |name: &str| value.getattr(name).and_then(|v| v.extract::<String>()).unwrap_or_default();
    let kind = UdfErrorKind::parse(&text("kind"));
    Error::Udf(UdfError {
        kind,
        function: value.getattr("function").and_then(|v| v.extract()).unwrap_or(None),
        row: value.getattr("row").and_then(|v| v.extract()).unwrap_or(None),
        exception_type: text("exception_type"),
        message: text("message"),
        traceback: text("traceback"),
    })
}

fn bytes_of(value: &Bound<'_, PyAny>) -> Result<Vec<u8>> {
    value
        .cast::<PyBytes>()
        .map(|b| b.as_bytes().to_vec())
        .map_err(|_| Error::Invalid("malformed result column: a buffer is not bytes".into()))
}

/// A wire column as the runtime takes it: `(type, [(length, null_count, validity, buffers)])`.
fn py_column<'py>(py: Python<'py>, column: &WireColumn) -> Result<Bound<'py, PyAny>> {
    let nodes = PyList::empty(py);
    for node in &column.nodes {
        let buffers =
            PyList::new(py, node.buffers.iter().map(|b| PyBytes::new(py, b))).map_err(|e| native_error(py, e))?;
        nodes
            .append((node.length, node.null_count, PyBytes::new(py, &node.validity), buffers))
            .map_err(|e| native_error(py, e))?;
    }
    (column.data_type.as_str(), nodes).into_pyobject(py).map(|t| t.into_any()).map_err(|e| native_error(py, e))
}

fn py_columns<'py>(py: Python<'py>, columns: &[WireColumn]) -> Result<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for column in columns {
        list.append(py_column(py, column)?).map_err(|e| native_error(py, e))?;
    }
    Ok(list)
}

/// A packed result `(type, nodes, spans, data)` (see `runtime.pack`).
fn packed_column(py: Python<'_>, value: &Bound<'_, PyAny>) -> Result<PackedColumn> {
    type Node = (u32, u32, (u32, u32), u32, u32);
    let (data_type, nodes, spans, data): (String, Vec<Node>, Vec<(u32, u32)>, Bound<'_, PyAny>) =
        value.extract().map_err(|e| native_error(py, e))?;
    let span = |(offset, length): (u32, u32)| Span { offset, length };
    Ok(PackedColumn {
        data_type,
        nodes: nodes
            .into_iter()
            .map(|(length, null_count, validity, first_buffer, buffer_count)| PackedNode {
                length,
                null_count,
                validity: span(validity),
                first_buffer,
                buffer_count,
            })
            .collect(),
        buffers: spans.into_iter().map(span).collect(),
        data: bytes_of(&data)?,
    })
}

/// The failure a call under the `null` policy reports (`None`: no row failed).
fn failure(py: Python<'_>, first: Bound<'_, PyAny>) -> Result<Option<UdfError>> {
    if first.is_none() {
        return Ok(None);
    }
    match udf_error(py, PyErr::from_value(first)) {
        Error::Udf(e) => Ok(Some(e)),
        other => Err(other),
    }
}

fn table_output(py: Python<'_>, value: &Bound<'_, PyAny>) -> Result<TableOutput> {
    let (sources, rows): (Bound<'_, PyAny>, Bound<'_, PyAny>) = value.extract().map_err(|e| native_error(py, e))?;
    Ok(TableOutput { sources: packed_column(py, &sources)?, rows: packed_column(py, &rows)? })
}

impl Backend for NativeBackend {
    fn mode(&self) -> Mode {
        Mode::Native
    }

    fn load(&self, filename: &str, source: &str, params: &[(String, String)]) -> Reply<Vec<FunctionInfo>> {
        self.reply(|py| {
            let infos = self.invoke(py, "load", (filename, source, params.to_vec()))?;
            type Info = (String, String, String, Option<Vec<String>>, String, bool, Vec<String>, String);
            let infos: Vec<Info> = infos.extract().map_err(|e| native_error(py, e))?;
            if self.open_at_load {
                self.invoke(py, "open_all", ())?;
            }
            Ok(infos
                .into_iter()
                .map(|(name, kind, func_type, input_types, result_type, deterministic, input_names, dialect)| {
                    FunctionInfo {
                        name,
                        kind,
                        func_type,
                        input_types,
                        result_type,
                        deterministic,
                        input_names,
                        dialect,
                    }
                })
                .collect())
        })
    }

    fn call(&self, function: &str, num_rows: usize, args: Vec<WireColumn>, on_error: ErrorPolicy) -> Reply<CallResult> {
        self.reply(|py| {
            let null_on_error = on_error == ErrorPolicy::Null;
            let result = self.invoke(py, "call", (function, num_rows, py_columns(py, &args)?, null_on_error))?;
            let (packed, failed_rows, first): (Bound<'_, PyAny>, u32, Bound<'_, PyAny>) =
                result.extract().map_err(|e| native_error(py, e))?;
            Ok(CallResult { column: packed_column(py, &packed)?, failed_rows, first_failure: failure(py, first)? })
        })
    }

    fn prepare_row(&self, function: &str) -> Reply<u32> {
        self.reply(|py| self.invoke(py, "prepare_row", (function,))?.extract().map_err(|e| native_error(py, e)))
    }

    fn call_row(&self, _function: &str, id: u32, row: &[u8], on_error: ErrorPolicy) -> Reply<RowReply> {
        self.reply(|py| {
            let result = self.invoke(py, "call_row", (id, PyBytes::new(py, row), on_error == ErrorPolicy::Null))?;
            let (value, first): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                result.extract().map_err(|e| native_error(py, e))?;
            Ok(RowReply { value: bytes_of(&value)?, failure: failure(py, first)? })
        })
    }

    fn call_table(&self, function: &str, num_rows: usize, args: Vec<WireColumn>) -> Reply<TableOutput> {
        self.reply(|py| {
            let result = self.invoke(py, "call_table", (function, num_rows, py_columns(py, &args)?))?;
            table_output(py, &result)
        })
    }

    fn aggregate(
        &self,
        function: &str,
        op: AggregateOp,
        states: WireColumn,
        groups: WireColumn,
        args: Vec<WireColumn>,
    ) -> Reply<PackedColumn> {
        let op = op.name();
        self.reply(|py| {
            let (states, groups) = (py_column(py, &states)?, py_column(py, &groups)?);
            let result = self.invoke(py, "aggregate", (function, op, states, groups, py_columns(py, &args)?))?;
            packed_column(py, &result)
        })
    }

    fn finish(&self, function: &str, states: WireColumn) -> Reply<PackedColumn> {
        self.reply(|py| {
            let result = self.invoke(py, "finish", (function, py_column(py, &states)?))?;
            packed_column(py, &result)
        })
    }

    fn emit(&self, function: &str, states: WireColumn) -> Reply<TableOutput> {
        self.reply(|py| {
            let result = self.invoke(py, "emit", (function, py_column(py, &states)?))?;
            table_output(py, &result)
        })
    }

    fn close(&self) -> Reply<()> {
        self.reply(|py| self.invoke(py, "close", ()).map(|_| ()))
    }

    fn metrics(&self) -> Reply<Vec<Metric>> {
        self.reply(|py| {
            type Row = (String, Vec<String>, String, String, i64, f64, f64, f64);
            let rows: Vec<Row> = self.invoke(py, "metrics", ())?.extract().map_err(|e| native_error(py, e))?;
            Ok(rows
                .into_iter()
                .map(|(function, group, name, kind, count, value, min, max)| Metric {
                    function,
                    group,
                    name,
                    kind: match kind.as_str() {
                        "counter" => MetricKind::Counter,
                        "gauge" => MetricKind::Gauge,
                        "meter" => MetricKind::Meter,
                        _ => MetricKind::Distribution,
                    },
                    count,
                    value,
                    min,
                    max,
                })
                .collect())
        })
    }
}
