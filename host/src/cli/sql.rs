//! `udfbox sql`: a DataFusion query with Python UDFs, results printed or written to a file.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use udfbox::output::{self, Format};
use udfbox::sql::stream::{BadInput, Opened, Stop, StreamInput, StreamOptions, StreamSpec};
use udfbox::{FunctionSet, Mode};

use crate::setup::{key_value, load, SetupArgs};

/// Run a SQL query (DataFusion) with Python UDFs.
#[derive(clap::Args)]
pub struct SqlArgs {
    /// A Python file whose module-level UDF objects are registered (repeatable).
    #[arg(long = "udf", value_name = "FILE")]
    pub udfs: Vec<PathBuf>,
    /// A table to query, read by extension: .csv (with header), .parquet, .json/.jsonl, .arrow
    /// (repeatable). A stream makes the query continuous: `-` (JSON lines on standard input;
    /// `-.csv`: CSV lines), `stream:PATH`, or the path of a named pipe (JSON lines; CSV when the
    /// path ends in .csv).
    #[arg(long = "table", value_name = "NAME=PATH")]
    pub tables: Vec<String>,
    /// The columns of streaming table NAME, e.g. `e='a BIGINT, b STRING'` (repeatable); without
    /// it they come from the first line (CSV: the header, types from the first record).
    #[arg(long = "schema", value_name = "NAME=COLUMNS")]
    pub schemas: Vec<String>,
    /// What a line of a streaming table that cannot be read does: `skip` (the default; reported
    /// on stderr with its line number) or `fail` (the query ends with an error).
    #[arg(long, value_enum, default_value_t = BadInput::Skip)]
    pub on_bad_input: BadInput,
    /// Where UDFs run: `wasm` (sandboxed), `native` (in this process) or `process` (worker
    /// processes); the last two for trusted code only.
    #[arg(long, value_enum, default_value_t = Mode::Wasm)]
    pub mode: Mode,
    /// How results are printed: `table` (the default), `csv` or `json`; a streaming query
    /// prints rows as they come, as `json` unless `csv` is asked for.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write results to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub setup: SetupArgs,
    /// What a failing row does: `fail` (the default) or `null` (the row becomes NULL and the
    /// error is reported); `NAME=POLICY` sets it for one function (repeatable).
    #[arg(long = "on-error", value_name = "POLICY|NAME=POLICY")]
    pub on_error: Vec<String>,
    /// After the query, print the metrics UDFs registered (to standard error).
    #[arg(long)]
    pub metrics: bool,
    /// The SQL query.
    pub query: String,
}

pub async fn run(args: SqlArgs) -> Result<(), String> {
    let SqlArgs { udfs, tables, schemas, on_bad_input, mode, format, output, setup, on_error, metrics, query } = args;

    let tables = tables.iter().map(|t| key_value("--table", t)).collect::<Result<Vec<_>, _>>()?;
    let (streams, files): (Vec<_>, Vec<_>) =
        tables.into_iter().map(|(name, path)| (StreamSpec::parse(&path), name, path)).partition(|t| t.0.is_some());
    let streams: Vec<(String, StreamSpec)> = streams.into_iter().filter_map(|(s, name, _)| Some((name, s?))).collect();
    let mut declared = std::collections::HashMap::new();
    for entry in &schemas {
        let (name, columns) = key_value("--schema", entry)?;
        if !streams.iter().any(|(stream, _)| *stream == name) {
            return Err(format!(
                "--schema names '{name}', which is not a streaming table (--table {name}=- or stream:PATH)"
            ));
        }
        let schema = udfbox::sql::stream::parse_schema(&columns).map_err(|e| format!("--schema {name}: {e}"))?;
        declared.insert(name, schema);
    }
    if streams.iter().filter(|(_, spec)| spec.input == StreamInput::Stdin).count() > 1 {
        return Err("only one --table can read standard input (-)".into());
    }
    let set = Arc::new(load(&udfs, mode, &setup, &on_error)?);
    let streaming = !streams.is_empty();
    let ctx = if streaming { udfbox::sql::stream::session_for(&set) } else { udfbox::sql::session_for(&set) };
    udfbox::sql::register_functions(&ctx, &set).map_err(|e| e.to_string())?;
    for (_, name, path) in &files {
        udfbox::sql::register_table(&ctx, name, &PathBuf::from(path)).await.map_err(|e| e.to_string())?;
    }
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    if streaming {
        let format = format.unwrap_or(Format::Json);
        if format == Format::Table {
            return Err(
                "--format table prints once every row is known, which a streaming query never is: use csv or json"
                    .into(),
            );
        }
        let stop = Stop::default();
        stop_on_interrupt(&stop)?;
        for (name, spec) in streams {
            let mut options = StreamOptions::from_config(&set.options().config);
            options.on_bad_input = on_bad_input;
            options.schema = declared.remove(&name);
            let opened =
                udfbox::sql::stream::register(&ctx, &name, spec, options, &stop).await.map_err(|e| e.to_string())?;
            if opened == Opened::Ended {
                eprintln!("udfbox: table {name}: the input ended (or udfbox was interrupted) before a line gave it its columns; nothing to run");
                return Ok(());
            }
        }
        let frame = udfbox::sql::query(&ctx, &set, &query).await.map_err(|e| udfbox::sql::describe(&e))?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let mut results = udfbox::sql::stream::execute(frame).await.map_err(|e| e.to_string())?;
        let mut writer = output::StreamWriter::new(format, &schema, &mut out).map_err(|e| e.to_string())?;
        while let Some(batch) = results.next().await {
            let batch = batch.map_err(|e| udfbox::sql::describe(&e))?;
            writer.write(&batch).map_err(|e| e.to_string())?;
        }
        drop(results);
        drop(ctx);
        let metrics = finish(&set, &setup, metrics)?;
        return print_metrics(metrics);
    }
    let frame = udfbox::sql::query(&ctx, &set, &query).await.map_err(|e| udfbox::sql::describe(&e))?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(|e| udfbox::sql::describe(&e))?;
    drop(ctx);
    let metrics = finish(&set, &setup, metrics)?;
    output::write(format.unwrap_or(Format::Table), &schema, &batches, &mut out).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    print_metrics(metrics)
}

/// After the query: reads the UDFs' metrics (when asked), closes the set, and reports fuel used
/// and rows nulled by `--on-error null`.
fn finish(set: &FunctionSet, setup: &SetupArgs, metrics: bool) -> Result<Option<arrow::array::RecordBatch>, String> {
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
    Ok(metrics)
}

fn print_metrics(metrics: Option<arrow::array::RecordBatch>) -> Result<(), String> {
    if let Some(batch) = metrics {
        let mut err = std::io::stderr().lock();
        output::write(Format::Table, &batch.schema(), &[batch], &mut err).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The first SIGINT ends the streaming tables (every row read so far still produces its
/// results, then udfbox exits 0); a second one exits at once.
fn stop_on_interrupt(stop: &Stop) -> Result<(), String> {
    // Registered here, before any input is read, so an early SIGINT cannot kill the process.
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    let stop = stop.clone();
    tokio::spawn(async move {
        if interrupts.recv().await.is_some() {
            stop.stop();
            if interrupts.recv().await.is_some() {
                eprintln!("udfbox: interrupted twice: exiting without waiting for the last results");
                std::process::exit(130);
            }
        }
    });
    Ok(())
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
