//! The `udfbox` command line: `udfbox sql ...` and `udfbox functions ...`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use udfbox::output::{self, Format};
use udfbox::{ErrorPolicy, FunctionSet, Limits, Mode, Options};

#[derive(Parser)]
#[command(name = "udfbox", version, about = "Python UDFs in SQL, in a WebAssembly sandbox or natively")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a SQL query (DataFusion) with Python UDFs.
    Sql {
        /// A Python file whose module-level UDF objects are registered (repeatable).
        #[arg(long = "udf", value_name = "FILE")]
        udfs: Vec<PathBuf>,
        /// A table to query, read by extension: .csv (with header), .parquet, .json/.jsonl, .arrow (repeatable).
        #[arg(long = "table", value_name = "NAME=PATH")]
        tables: Vec<String>,
        /// Where UDFs run: `wasm` (sandboxed), `native` (in this process) or `process` (worker
        /// processes); the last two for trusted code only.
        #[arg(long, value_enum, default_value_t = Mode::Wasm)]
        mode: Mode,
        /// How results are printed.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write results to this file instead of standard output.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
        #[command(flatten)]
        setup: SetupArgs,
        /// What a failing row does: `fail` (the default) or `null` (the row becomes NULL and the
        /// error is reported); `NAME=POLICY` sets it for one function (repeatable).
        #[arg(long = "on-error", value_name = "POLICY|NAME=POLICY")]
        on_error: Vec<String>,
        /// After the query, print the metrics UDFs registered (to standard error).
        #[arg(long)]
        metrics: bool,
        /// The SQL query.
        query: String,
    },
    /// List the functions a UDF file registers.
    Functions {
        #[arg(long = "udf", value_name = "FILE", required = true)]
        udfs: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Mode::Wasm)]
        mode: Mode,
        #[command(flatten)]
        setup: SetupArgs,
    },
}

/// What UDFs get: job parameters, dependencies, limits.
#[derive(clap::Args)]
struct SetupArgs {
    /// A job parameter for `FunctionContext.get_job_parameter` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// A directory of pure-Python packages and resource files, importable and readable by the
    /// UDFs, never writable (`/deps` in the sandbox).
    #[arg(long, value_name = "DIR")]
    deps: Option<PathBuf>,
    /// A PyFlink bundling knob: python.fn-execution.bundle.size (100000), .bundle.time (1000 ms)
    /// or .arrow.batch.size (10000) (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// The Python interpreter of process mode's workers (default: $UDFBOX_PYTHON, else python3).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Sandbox limits (wasm mode); see `udfbox::Limits` for what each one does.
#[derive(clap::Args)]
struct LimitArgs {
    /// Linear memory per sandbox, e.g. 256MiB (the default).
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Time per call, e.g. 10s (the default) or 500ms.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Fuel (about one unit per WebAssembly instruction) per call; also reports fuel used.
    #[arg(long, value_name = "UNITS")]
    fuel: Option<u64>,
    /// Sandboxes run at once for parallel query partitions (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_instances: Option<u32>,
}

impl LimitArgs {
    fn limits(&self) -> Result<Limits, String> {
        let mut limits = Limits::default();
        if let Some(size) = &self.memory_limit {
            limits.memory_bytes = udfbox::limits::parse_size(size).map_err(|e| e.to_string())?;
        }
        if let Some(timeout) = &self.timeout {
            limits.timeout = udfbox::limits::parse_duration(timeout).map_err(|e| e.to_string())?;
        }
        limits.fuel = self.fuel;
        if let Some(n) = self.max_instances {
            limits.max_instances = n as usize;
        }
        Ok(limits)
    }
}

fn main() -> ExitCode {
    // A panic is a bug, but it must still reach the user as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error (please report): {message}");
    }));
    let filter = tracing_subscriber::EnvFilter::try_from_env("UDFBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,udfbox::udf=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn key_value(flag: &str, text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(format!(
            "invalid {flag} '{text}': expected {}",
            if flag == "--table" { "NAME=PATH" } else { "KEY=VALUE" }
        )),
    }
}

/// `--on-error fail|null` for every function, or `--on-error NAME=fail|null` for one.
fn error_policies(args: &[String], options: &mut Options) -> Result<(), String> {
    for arg in args {
        let invalid = || format!("invalid --on-error '{arg}': expected fail or null, or NAME=fail|null");
        let parse = |text: &str| <ErrorPolicy as clap::ValueEnum>::from_str(text.trim(), true).map_err(|_| invalid());
        match arg.split_once('=') {
            Some((name, policy)) if !name.trim().is_empty() => {
                options.error_policies.insert(name.trim().to_string(), parse(policy)?);
            }
            Some(_) => return Err(invalid()),
            None => options.on_error = parse(arg)?,
        }
    }
    Ok(())
}

fn load(udfs: &[PathBuf], mode: Mode, setup: &SetupArgs, on_error: &[String]) -> Result<FunctionSet, String> {
    let params = setup.params.iter().map(|p| key_value("--param", p)).collect::<Result<Vec<_>, _>>()?;
    let limits = setup.limits.limits()?;
    match mode {
        Mode::Native => {
            eprintln!(
                "udfbox: note: --mode native runs UDFs unsandboxed in this process; use it for trusted code only"
            );
            if limits != Limits::default() {
                eprintln!(
                    "udfbox: note: --memory-limit, --timeout, --fuel and --max-instances apply in wasm and process mode only"
                );
            }
        }
        Mode::Process => {
            eprintln!(
                "udfbox: note: --mode process runs UDFs in worker processes with your rights, unsandboxed; use it for trusted code only"
            );
            if setup.limits.fuel.is_some() {
                eprintln!("udfbox: note: --fuel applies in wasm mode only");
            }
        }
        Mode::Wasm => {}
    }
    let mut options =
        Options { mode, params, limits, deps: setup.deps.clone(), python: setup.python.clone(), ..Default::default() };
    for entry in &setup.config {
        let (key, value) = key_value("--config", entry)?;
        options.config.set(&key, &value).map_err(|e| e.to_string())?;
    }
    error_policies(on_error, &mut options)?;
    let mut set = FunctionSet::new(options).map_err(|e| e.to_string())?;
    for path in udfs {
        set.load_file(path).map_err(|e| e.to_string())?;
    }
    for name in set.options().error_policies.keys() {
        if set.function(name).is_none() {
            return Err(format!("--on-error names '{name}', which no --udf file defines"));
        }
    }
    Ok(set)
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Sql { udfs, tables, mode, format, output, setup, on_error, metrics, query } => {
            let tables = tables.iter().map(|t| key_value("--table", t)).collect::<Result<Vec<_>, _>>()?;
            let set = Arc::new(load(&udfs, mode, &setup, &on_error)?);
            let ctx = udfbox::sql::session_for(&set);
            udfbox::sql::register_functions(&ctx, &set).map_err(|e| e.to_string())?;
            for (name, path) in &tables {
                udfbox::sql::register_table(&ctx, name, &PathBuf::from(path)).await.map_err(|e| e.to_string())?;
            }
            let frame = udfbox::sql::query(&ctx, &set, &query).await.map_err(|e| udfbox::sql::describe(&e))?;
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(|e| udfbox::sql::describe(&e))?;
            drop(ctx);
            let metrics = if metrics {
                Some(metrics_table(&set.metrics().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?)
            } else {
                None
            };
            set.close().map_err(|e| e.to_string())?;
            for function in set.functions() {
                let name = &function.info.name;
                if let Some(used) = set.fuel_used(name).filter(|_| setup.limits.fuel.is_some()) {
                    eprintln!("udfbox: fuel used by {name}: {used}");
                }
                if let Some(failures) = set.failures(name) {
                    eprintln!(
                        "udfbox: {name}: {} rows became NULL (on-error null); first error: {}",
                        failures.rows, failures.first
                    );
                }
            }
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            output::write(format, &schema, &batches, &mut out).map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            if let Some(batch) = metrics {
                let mut err = std::io::stderr().lock();
                output::write(Format::Table, &batch.schema(), &[batch], &mut err).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Command::Functions { udfs, mode, setup } => {
            let set = load(&udfs, mode, &setup, &[])?;
            if set.functions().next().is_none() {
                eprintln!("udfbox: note: no UDF objects found (module-level names bound to udf(...))");
            }
            let batch = functions_table(&set).map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            output::write(Format::Table, &batch.schema(), &[batch], &mut out).map_err(|e| e.to_string())
        }
    }
}

fn metrics_table(metrics: &[udfbox::backend::Metric]) -> Result<arrow::array::RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{ArrayRef, StringArray};
    use udfbox::backend::MetricKind;
    let column = |values: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let value = |m: &udfbox::backend::Metric| match m.kind {
        MetricKind::Counter => m.count.to_string(),
        MetricKind::Gauge => m.value.to_string(),
        MetricKind::Meter => format!("{} events, {:.3}/s", m.count, m.value),
        MetricKind::Distribution if m.count == 0 => "no values".to_string(),
        MetricKind::Distribution => {
            format!(
                "count {}, sum {}, min {}, max {}, mean {}",
                m.count,
                m.value,
                m.min,
                m.max,
                m.value / m.count as f64
            )
        }
    };
    arrow::array::RecordBatch::try_from_iter(vec![
        ("function", column(metrics.iter().map(|m| m.function.clone()).collect())),
        (
            "metric",
            column(
                metrics
                    .iter()
                    .map(|m| m.group.iter().chain([&m.name]).cloned().collect::<Vec<_>>().join("."))
                    .collect(),
            ),
        ),
        ("kind", column(metrics.iter().map(|m| m.kind.to_string()).collect())),
        ("value", column(metrics.iter().map(value).collect())),
    ])
}

fn functions_table(set: &FunctionSet) -> Result<arrow::array::RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{ArrayRef, StringArray};
    let functions: Vec<_> = set.functions().map(|f| &f.info).collect();
    let column = |values: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    arrow::array::RecordBatch::try_from_iter(vec![
        ("name", column(functions.iter().map(|f| f.name.clone()).collect())),
        ("kind", column(functions.iter().map(|f| f.kind.clone()).collect())),
        ("func_type", column(functions.iter().map(|f| f.func_type.clone()).collect())),
        (
            "input_types",
            column(
                functions
                    .iter()
                    .map(|f| f.input_types.as_ref().map_or("(from call site)".to_string(), |t| t.join(", ")))
                    .collect(),
            ),
        ),
        ("result_type", column(functions.iter().map(|f| f.result_type.clone()).collect())),
        ("deterministic", column(functions.iter().map(|f| f.deterministic.to_string()).collect())),
    ])
}
