//! `udfbox sql`: a DataFusion query with Python UDFs, results printed or written to a file.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use udfbox::output::{self, Format};
use udfbox::Mode;

use crate::setup::{key_value, load, SetupArgs};

/// Run a SQL query (DataFusion) with Python UDFs.
#[derive(clap::Args)]
pub struct SqlArgs {
    /// A Python file whose module-level UDF objects are registered (repeatable).
    #[arg(long = "udf", value_name = "FILE")]
    pub udfs: Vec<PathBuf>,
    /// A table to query, read by extension: .csv (with header), .parquet, .json/.jsonl, .arrow (repeatable).
    #[arg(long = "table", value_name = "NAME=PATH")]
    pub tables: Vec<String>,
    /// Where UDFs run: `wasm` (sandboxed), `native` (in this process) or `process` (worker
    /// processes); the last two for trusted code only.
    #[arg(long, value_enum, default_value_t = Mode::Wasm)]
    pub mode: Mode,
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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
    let SqlArgs { udfs, tables, mode, format, output, setup, on_error, metrics, query } = args;

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
