//! Unbounded tables for continuous queries: lines of JSON objects or CSV records read from
//! standard input, a named pipe or a file, cut into bundles with PyFlink's meaning of
//! `python.fn-execution.bundle.size` and `bundle.time`, and fed to DataFusion as they close.
//!
//! A reader thread turns each line into a one-row batch (a bad line is reported with its line
//! number and skipped, or ends the stream under [`BadInput::Fail`]); the table's stream gathers
//! rows into a bundle and yields it when it holds `bundle_size` rows, when its oldest row has
//! waited `bundle_time`, at end of input, or when [`Stop::stop`] is called (SIGINT in the CLI).
//! [`execute`] plans a query over such a table so that nothing downstream waits for more rows:
//! one partition, filters that do not coalesce, and a clear error for operators that need the
//! whole input (aggregates, ORDER BY, joins).
//!
//! ```no_run
//! # async fn example(set: std::sync::Arc<udfbox::FunctionSet>) -> udfbox::Result<()> {
//! use futures::StreamExt;
//! use udfbox::sql::stream::{self, Opened, Stop, StreamOptions, StreamSpec};
//!
//! let ctx = stream::session_for(&set);
//! udfbox::sql::register_functions(&ctx, &set)?;
//! let spec = StreamSpec::parse("-").expect("`-` is standard input");
//! let options = StreamOptions::from_config(&set.options().config);
//! if let Opened::Ready = stream::register(&ctx, "e", spec, options, &Stop::default()).await? {
//!     let frame = udfbox::sql::query(&ctx, &set, "SELECT upper(s) FROM e").await.map_err(|e| {
//!         udfbox::Error::Invalid(udfbox::sql::describe(&e))
//!     })?;
//!     let mut results = stream::execute(frame).await?;
//!     while let Some(batch) = results.next().await {
//!         println!("{} rows", batch.map_err(|e| udfbox::Error::Invalid(e.to_string()))?.num_rows());
//!     }
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::backend::FunctionSet;
use crate::config::Config;
use crate::error::{Error, Result};

/// What a line that cannot be read as a row of the table does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BadInput {
    /// Reported (table, line number, reason) as a warning, and skipped.
    #[default]
    Skip,
    /// Ends the query with an error naming the line, after the rows before it were processed.
    Fail,
}

/// How each line is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// One JSON object per line (NDJSON); fields missing from a line are NULL, unknown ones ignored.
    Json,
    /// One CSV record per line (no quoted line breaks); an empty unquoted field is NULL. The first
    /// line is the header unless the schema is declared.
    Csv,
}

/// Where a streaming table's lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamInput {
    Stdin,
    Path(PathBuf),
}

/// A streaming table's input and line format, from the PATH of `--table NAME=PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub input: StreamInput,
    pub format: LineFormat,
}

/// The prefix that makes any path a streaming table (read line by line until it ends).
pub const STREAM_PREFIX: &str = "stream:";

impl StreamSpec {
    /// The stream `path` names, if it names one: `-` is standard input as JSON lines (`-.csv`:
    /// CSV; `-.json`, `-.jsonl`, `-.ndjson`: JSON lines), `stream:PATH` any file or pipe read as
    /// it grows to its end, and a path to a named pipe (FIFO) is a stream by itself. A path ending
    /// in `.csv` is CSV, anything else JSON lines. `None`: a plain table file.
    pub fn parse(path: &str) -> Option<StreamSpec> {
        let format_of = |name: &str| {
            if name.to_ascii_lowercase().ends_with(".csv") {
                LineFormat::Csv
            } else {
                LineFormat::Json
            }
        };
        if path == "-" || (path.starts_with("-.") && !path.contains('/')) {
            return Some(StreamSpec { input: StreamInput::Stdin, format: format_of(path) });
        }
        if let Some(rest) = path.strip_prefix(STREAM_PREFIX) {
            return Some(StreamSpec { input: StreamInput::Path(PathBuf::from(rest)), format: format_of(rest) });
        }
        is_fifo(Path::new(path))
            .then(|| StreamSpec { input: StreamInput::Path(PathBuf::from(path)), format: format_of(path) })
    }
}

#[cfg(unix)]
fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).map(|m| m.file_type().is_fifo()).unwrap_or(false)
}

#[cfg(not(unix))]
fn is_fifo(_path: &Path) -> bool {
    false
}

/// How a streaming table bundles its rows and treats bad lines.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// A bundle goes to the query once it holds this many rows (`bundle.size`) ...
    pub bundle_size: usize,
    /// ... or once its oldest row has waited this long (`bundle.time`).
    pub bundle_time: Duration,
    pub on_bad_input: BadInput,
    /// The table's columns; `None` infers them from the first line (the first data line for CSV).
    pub schema: Option<SchemaRef>,
}

impl StreamOptions {
    /// PyFlink's bundling knobs of `config`, bad lines skipped, the schema inferred.
    pub fn from_config(config: &Config) -> Self {
        Self {
            bundle_size: config.bundle_size,
            bundle_time: config.bundle_time,
            on_bad_input: BadInput::Skip,
            schema: None,
        }
    }
}

/// Parses a declared schema, `a BIGINT, b STRING` (udfbox type strings; names may be quoted
/// with backticks).
pub fn parse_schema(text: &str) -> Result<SchemaRef> {
    // A schema is a ROW type's field list: one parser for both.
    match crate::types::arrow_type(&format!("ROW<{text}>")) {
        Ok(DataType::Struct(fields)) => Ok(Arc::new(Schema::new(fields))),
        Ok(_) => Err(Error::Invalid(format!("invalid schema '{text}'"))),
        Err(e) => {
            // The parser's message names the ROW<...> text and its positions: make it the user's.
            let reason = e.to_string();
            let reason = reason.rsplit_once("': ").map_or(reason.as_str(), |(_, r)| r);
            let reason = match reason.rsplit_once(" at position ") {
                Some((what, at)) => match at.parse::<usize>() {
                    Ok(at) => {
                        format!("{} at position {}", what.replace("expected '>'", "expected ','"), at.saturating_sub(4))
                    }
                    Err(_) => reason.to_string(),
                },
                None => reason.to_string(),
            };
            Err(Error::Invalid(format!("invalid schema '{text}': {reason}; expected 'name TYPE, name TYPE, ...'")))
        }
    }
}

/// Ends every streaming table registered with it: each yields the rows it has read so far as a
/// last bundle and ends, as at end of input. Cloning shares the signal.
#[derive(Debug, Clone)]
pub struct Stop(Arc<watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Stop {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    async fn stopped(&self) {
        let mut receiver = self.0.subscribe();
        // The sender lives as long as `self`, so this only returns once stopped.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }
}

/// Whether [`register`] registered the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Ready,
    /// The input ended (or [`Stop`] was called) before a line gave the table its schema: there is
    /// nothing to run a query over. Only when the schema is not declared.
    Ended,
}

/// A session for continuous queries over the functions of `set`: one partition, so rows come out
/// in input order and no repartitioning step sits between a bundle and its UDF calls.
pub fn session_for(set: &FunctionSet) -> SessionContext {
    let config = SessionConfig::new().with_batch_size(set.options().config.bundle_size).with_target_partitions(1);
    super::session_with_config(config)
}

/// Registers streaming table `name` in `ctx` and starts reading its input. Without a declared
/// schema this waits for the first line (CSV: the header and the first record) to learn the
/// columns.
pub async fn register(
    ctx: &SessionContext,
    name: &str,
    spec: StreamSpec,
    options: StreamOptions,
    stop: &Stop,
) -> Result<Opened> {
    let (rows, receiver) = mpsc::channel(1024);
    let (schema_sender, schema) = oneshot::channel();
    let (table, format, on_bad_input) = (name.to_string(), spec.format, options.on_bad_input);
    let declared = options.schema.clone();
    // A thread of its own, not a tokio blocking task: a read from a terminal or a pipe cannot be
    // cancelled, and the runtime would wait for it at exit. It opens the input too: opening a
    // named pipe waits for a writer, and a stop must still end the wait.
    let read = move || {
        let input: Box<dyn BufRead + Send> = match &spec.input {
            StreamInput::Stdin => Box::new(std::io::BufReader::new(std::io::stdin())),
            StreamInput::Path(path) => match std::fs::File::open(path) {
                Ok(file) => Box::new(std::io::BufReader::new(file)),
                Err(e) => {
                    let _ = schema_sender.send(Err(format!("cannot read {}: {e}", path.display())));
                    return;
                }
            },
        };
        LineReader { table, format, on_bad_input, input, line_number: 0, rows }.run(declared, schema_sender)
    };
    std::thread::Builder::new()
        .name(format!("udfbox-stream-{name}"))
        .spawn(read)
        .map_err(|e| Error::Invalid(format!("cannot start the reader of table {name}: {e}")))?;
    let schema = tokio::select! {
        // A schema already sent wins over a stop that came after it.
        biased;
        schema = schema => schema,
        _ = stop.stopped() => return Ok(Opened::Ended),
    };
    let schema = match schema {
        Ok(Ok(Some(schema))) => schema,
        Ok(Ok(None)) | Err(_) => return Ok(Opened::Ended),
        Ok(Err(message)) => return Err(Error::Invalid(message)),
    };
    let bundler = Bundler {
        schema: schema.clone(),
        receiver,
        stop: stop.clone(),
        bundle_size: options.bundle_size.max(1),
        bundle_time: options.bundle_time,
        pending: Vec::new(),
        oldest: None,
        failure: None,
        done: false,
    };
    let partition = Arc::new(LinePartition { schema: schema.clone(), bundler: Mutex::new(Some(bundler)) });
    let table = StreamingTable::try_new(schema, vec![partition])
        .map_err(|e| Error::Invalid(e.to_string()))?
        .with_infinite_table(true);
    ctx.register_table(name, Arc::new(table))
        .map_err(|e| Error::Invalid(format!("cannot register table {name}: {e}")))?;
    Ok(Opened::Ready)
}

/// What the reader thread sends: a row, or the error that ends the table.
enum Line {
    Row(RecordBatch),
    Failed(String),
}

struct LineReader {
    table: String,
    format: LineFormat,
    on_bad_input: BadInput,
    input: Box<dyn BufRead + Send>,
    line_number: u64,
    rows: mpsc::Sender<Line>,
}

/// A schema learnt from the input, and the line (number, text) it was learnt from.
type Inferred = (SchemaRef, (u64, Vec<u8>));

/// The schema (or why there is none) from the reader thread: `Ok(None)` when the input ended first.
type SchemaReply = std::result::Result<Option<SchemaRef>, String>;

impl LineReader {
    fn run(mut self, declared: Option<SchemaRef>, schema_sender: oneshot::Sender<SchemaReply>) {
        let (schema, first) = match declared {
            Some(schema) => (schema, None),
            None => match self.infer() {
                Ok(Some((schema, first))) => (schema, Some(first)),
                Ok(None) => {
                    let _ = schema_sender.send(Ok(None));
                    return;
                }
                Err(message) => {
                    let _ = schema_sender.send(Err(message));
                    return;
                }
            },
        };
        if schema_sender.send(Ok(Some(schema.clone()))).is_err() {
            return;
        }
        let mut decoder = match RowDecoder::new(self.format, schema) {
            Ok(decoder) => decoder,
            Err(message) => {
                let _ = self.rows.blocking_send(Line::Failed(format!("table {}: {message}", self.table)));
                return;
            }
        };
        if let Some((line_number, text)) = first {
            if !self.decode(&mut decoder, line_number, &text) {
                return;
            }
        }
        loop {
            match self.next_line() {
                Ok(Some(text)) => {
                    let line_number = self.line_number;
                    if !self.decode(&mut decoder, line_number, &text) {
                        return;
                    }
                }
                Ok(None) => return,
                Err(message) => {
                    let _ = self.rows.blocking_send(Line::Failed(message));
                    return;
                }
            }
        }
    }

    /// The next line that is not blank, without its line break; `None` at end of input.
    fn next_line(&mut self) -> std::result::Result<Option<Vec<u8>>, String> {
        loop {
            let mut line = Vec::new();
            let read = self
                .input
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("table {}: cannot read line {}: {e}", self.table, self.line_number + 1))?;
            if read == 0 {
                return Ok(None);
            }
            self.line_number += 1;
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(line));
            }
        }
    }

    /// Reports a bad line; `false` when the table must end (`BadInput::Fail`).
    fn bad_line(&self, line_number: u64, reason: &str) -> std::result::Result<(), String> {
        match self.on_bad_input {
            BadInput::Skip => {
                tracing::warn!("table {}: line {line_number} skipped: {reason}", self.table);
                Ok(())
            }
            BadInput::Fail => Err(format!(
                "table {}: bad input at line {line_number}: {reason} (--on-bad-input skip skips such lines)",
                self.table
            )),
        }
    }

    /// Decodes one line and sends its row; `false` when reading ends.
    fn decode(&self, decoder: &mut RowDecoder, line_number: u64, text: &[u8]) -> bool {
        let line = match decoder.decode(text) {
            Ok(row) => Line::Row(row),
            Err(reason) => match self.bad_line(line_number, &reason) {
                Ok(()) => return true,
                Err(message) => Line::Failed(message),
            },
        };
        let failed = matches!(line, Line::Failed(_));
        // An error here means the query is gone (it ended, e.g. at a LIMIT): stop reading.
        self.rows.blocking_send(line).is_ok() && !failed
    }

    /// The schema from the first good line (CSV: the header, then the first good record), and
    /// that line to decode as the first row. `Ok(None)`: the input ended first.
    fn infer(&mut self) -> std::result::Result<Option<Inferred>, String> {
        let header = match self.format {
            LineFormat::Json => None,
            LineFormat::Csv => {
                let Some(text) = self.next_line()? else { return Ok(None) };
                let names = split_csv(&String::from_utf8_lossy(&text)).map_err(|reason| {
                    format!("table {}: the CSV header (line {}) {reason}", self.table, self.line_number)
                })?;
                if let Some(empty) = names.iter().position(|n| n.as_deref().unwrap_or("").trim().is_empty()) {
                    return Err(format!(
                        "table {}: the CSV header (line {}) has no name for column {}",
                        self.table,
                        self.line_number,
                        empty + 1
                    ));
                }
                Some(names.into_iter().map(|n| n.unwrap_or_default().trim().to_string()).collect::<Vec<_>>())
            }
        };
        while let Some(text) = self.next_line()? {
            let inferred = match &header {
                None => infer_json(&text),
                Some(names) => infer_csv(names, &text),
            };
            match inferred {
                Ok(schema) => return Ok(Some((Arc::new(schema), (self.line_number, text)))),
                Err(reason) => self.bad_line(self.line_number, &reason)?,
            }
        }
        Ok(None)
    }
}

fn infer_json(text: &[u8]) -> std::result::Result<Schema, String> {
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    let schema =
        arrow::json::reader::infer_json_schema_from_iterator(std::iter::once(Ok(value))).map_err(|e| e.to_string())?;
    if schema.fields().is_empty() {
        return Err("an empty object gives the table no columns (declare them with --schema)".into());
    }
    if let Some(field) = schema.fields().iter().find(|f| has_null_type(f.data_type())) {
        return Err(format!(
            "field '{}' is null, so its type is unknown (declare the schema with --schema)",
            field.name()
        ));
    }
    // serde_json's objects sort their keys; the table's columns follow the line instead.
    let order = top_level_keys(text);
    let position = |name: &str| order.iter().position(|k| k == name).unwrap_or(usize::MAX);
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.sort_by_key(|f| position(f.name()));
    Ok(Schema::new(fields))
}

/// The keys of the JSON object `text` (known to be valid JSON), in the order written.
fn top_level_keys(text: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < text.len() {
        match text[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(text.len());
                let is_key = text[end..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
                if depth == 1 && is_key {
                    if let Ok(key) = serde_json::from_slice::<String>(&text[start..end]) {
                        keys.push(key);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    keys
}

fn has_null_type(ty: &DataType) -> bool {
    match ty {
        DataType::Null => true,
        DataType::List(item) => has_null_type(item.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_null_type(f.data_type())),
        _ => false,
    }
}

/// Column types from the first record: BIGINT, DOUBLE, BOOLEAN where every character fits, else
/// STRING (an empty field too).
fn infer_csv(names: &[String], text: &[u8]) -> std::result::Result<Schema, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_string())?;
    let values = split_csv(text)?;
    if values.len() != names.len() {
        return Err(format!("{} fields where the header has {}", values.len(), names.len()));
    }
    let fields = names.iter().zip(&values).map(|(name, value)| {
        let value = value.as_deref().unwrap_or("").trim();
        let ty = if value.parse::<i64>().is_ok() {
            DataType::Int64
        } else if value.parse::<f64>().is_ok() && !value.is_empty() {
            DataType::Float64
        } else if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
            DataType::Boolean
        } else {
            DataType::Utf8
        };
        Field::new(name, ty, true)
    });
    Ok(Schema::new(fields.collect::<Vec<_>>()))
}

/// One CSV record on one line: comma-separated, fields optionally double-quoted with `""` for a
/// quote inside. An empty unquoted field is `None` (NULL).
fn split_csv(line: &str) -> std::result::Result<Vec<Option<String>>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("has an unterminated quoted field".into()),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("has text after a closing quote".into());
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                field.push(c);
                chars.next();
            }
        }
        fields.push((quoted || !field.is_empty()).then_some(field));
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

/// Turns one line into a one-row batch of the table's schema.
enum RowDecoder {
    Json { schema: SchemaRef, decoder: arrow::json::reader::Decoder },
    Csv { schema: SchemaRef },
}

impl RowDecoder {
    fn new(format: LineFormat, schema: SchemaRef) -> std::result::Result<Self, String> {
        Ok(match format {
            LineFormat::Json => Self::Json { decoder: json_decoder(&schema)?, schema },
            LineFormat::Csv => Self::Csv { schema },
        })
    }

    fn decode(&mut self, text: &[u8]) -> std::result::Result<RecordBatch, String> {
        match self {
            Self::Json { schema, decoder } => {
                // A JSON line that is not one object is caught here: the Arrow decoder would read
                // `1 2` as two rows and `[1]` as a row of NULLs.
                match serde_json::from_slice::<serde_json::Value>(text) {
                    Ok(value) if value.is_object() => {}
                    Ok(_) => return Err("not a JSON object".into()),
                    Err(e) => return Err(format!("not JSON: {e}")),
                }
                let decoded = decoder.decode(text).and_then(|_| decoder.flush());
                match decoded {
                    Ok(Some(batch)) if batch.num_rows() == 1 => Ok(batch),
                    Ok(_) => {
                        *decoder = json_decoder(schema)?;
                        Err("not one JSON object".into())
                    }
                    Err(e) => {
                        // The decoder keeps a failed line's partial state: start a fresh one.
                        *decoder = json_decoder(schema)?;
                        Err(e.to_string().trim_start_matches("Json error: ").to_string())
                    }
                }
            }
            Self::Csv { schema } => {
                let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_string())?;
                let values = split_csv(text)?;
                if values.len() != schema.fields().len() {
                    return Err(format!(
                        "{} fields where the table has {} columns",
                        values.len(),
                        schema.fields().len()
                    ));
                }
                let mut columns: Vec<ArrayRef> = Vec::with_capacity(values.len());
                for (field, value) in schema.fields().iter().zip(values) {
                    let value = match field.data_type() {
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => value,
                        _ => value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
                    };
                    if value.is_none() && !field.is_nullable() {
                        return Err(format!("column '{}' is NOT NULL but empty", field.name()));
                    }
                    let text: ArrayRef = Arc::new(StringArray::from(vec![value]));
                    let options = arrow::compute::CastOptions { safe: false, ..Default::default() };
                    let column =
                        arrow::compute::cast_with_options(&text, field.data_type(), &options).map_err(|e| {
                            format!("column '{}': {}", field.name(), e.to_string().trim_start_matches("Cast error: "))
                        })?;
                    columns.push(column);
                }
                RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
            }
        }
    }
}

fn json_decoder(schema: &SchemaRef) -> std::result::Result<arrow::json::reader::Decoder, String> {
    arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(1)
        .build_decoder()
        .map_err(|e| format!("cannot read JSON into these columns: {e}"))
}

/// Gathers the reader's rows into bundles.
struct Bundler {
    schema: SchemaRef,
    receiver: mpsc::Receiver<Line>,
    stop: Stop,
    bundle_size: usize,
    bundle_time: Duration,
    pending: Vec<RecordBatch>,
    /// When the oldest row of the pending bundle arrived.
    oldest: Option<Instant>,
    /// The error that ends the table, returned after the rows before it.
    failure: Option<String>,
    done: bool,
}

impl Bundler {
    /// The next bundle, or the error that ended the input; `None` at the end.
    async fn next(&mut self) -> Option<DfResult<RecordBatch>> {
        loop {
            if self.pending.len() >= self.bundle_size {
                return Some(self.flush());
            }
            if self.done {
                if !self.pending.is_empty() {
                    return Some(self.flush());
                }
                let failure = self.failure.take()?;
                return Some(Err(DataFusionError::External(Box::new(Error::Invalid(failure)))));
            }
            let deadline = self.oldest.map(|t| t + self.bundle_time);
            // Checked here too: under a steady flow of rows the receive below is always ready,
            // and the timer would only be looked at once the bundle is full.
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Some(self.flush());
            }
            // Every row waiting is taken at once (up to a full bundle), not one select per row.
            let room = self.bundle_size - self.pending.len();
            let mut incoming = Vec::new();
            tokio::select! {
                // Checked first so that a stop ends a busy stream too.
                biased;
                _ = self.stop.stopped() => {
                    // Rows already read belong to the last bundle.
                    while let Ok(line) = self.receiver.try_recv() {
                        self.accept(line);
                    }
                    self.done = true;
                }
                received = self.receiver.recv_many(&mut incoming, room) => {
                    // Zero: the reader is gone, the input ended.
                    if received == 0 {
                        self.done = true;
                    }
                    for line in incoming {
                        self.accept(line);
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return Some(self.flush());
                }
            }
        }
    }

    fn accept(&mut self, line: Line) {
        if self.done {
            return;
        }
        match line {
            Line::Row(row) => {
                if self.pending.is_empty() {
                    self.oldest = Some(Instant::now());
                }
                self.pending.push(row);
            }
            Line::Failed(message) => {
                self.failure = Some(message);
                self.done = true;
            }
        }
    }

    fn flush(&mut self) -> DfResult<RecordBatch> {
        self.oldest = None;
        let rows = std::mem::take(&mut self.pending);
        Ok(arrow::compute::concat_batches(&self.schema, &rows)?)
    }
}

/// The one partition of a streaming table; its rows can be read once.
struct LinePartition {
    schema: SchemaRef,
    bundler: Mutex<Option<Bundler>>,
}

impl fmt::Debug for LinePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinePartition").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl PartitionStream for LinePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = self.schema.clone();
        let Some(bundler) = self.bundler.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            let error = "a streaming table's rows can be read once: use it once per query";
            let once = futures::stream::once(async move { Err(DataFusionError::Execution(error.into())) });
            return Box::pin(RecordBatchStreamAdapter::new(schema, once));
        };
        let bundles =
            futures::stream::unfold(bundler, |mut bundler| async move { bundler.next().await.map(|b| (b, bundler)) });
        Box::pin(RecordBatchStreamAdapter::new(schema, bundles))
    }
}

/// Operators a row passes through without waiting for others (`FilterExec` after
/// [`unbuffered`] has replaced it).
const STREAMING_OPERATORS: &[&str] = &[
    "StreamingTableExec",
    "ProjectionExec",
    "StreamFilterExec",
    "LateralTableExec",
    "CooperativeExec",
    "GlobalLimitExec",
    "LocalLimitExec",
    "CoalescePartitionsExec",
    "UnionExec",
];

/// Plans `frame` (a query over streaming tables, from a session of [`session_for`]) and starts
/// it: each bundle's results come out of the stream as soon as they are computed.
pub async fn execute(frame: DataFrame) -> Result<SendableRecordBatchStream> {
    let task = Arc::new(frame.task_ctx());
    let plan = frame.create_physical_plan().await.map_err(|e| Error::Invalid(plan_error(&e)))?;
    let plan = unbuffered(plan)?;
    datafusion::physical_plan::execute_stream(plan, task).map_err(|e| Error::Invalid(super::describe(&e)))
}

const WHAT_STREAMS: &str = "a query over a streaming table may project, filter (WHERE), call scalar \
     UDFs and LATERAL TABLE functions, and LIMIT";

fn plan_error(error: &DataFusionError) -> String {
    let text = error.to_string();
    match text.split_once("Cannot execute pipeline breaking queries, operator: ") {
        Some((_, operator)) => {
            let operator = operator.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
            format!(
                "{operator} needs its whole input before it can produce a row, and a streaming table never ends \
                 (aggregates, ORDER BY, window functions and joins are not supported over one); {WHAT_STREAMS}"
            )
        }
        None => super::describe(error),
    }
}

/// `plan` with every operator over unbounded input checked to pass rows on as they come, and
/// filters replaced by [`StreamFilterExec`]: DataFusion's `FilterExec` coalesces its output up
/// to the batch size, which would hold a bundle's results until more bundles arrive.
pub fn unbuffered(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let plan = plan
        .transform_up(|node| {
            let Some(filter) = node.downcast_ref::<FilterExec>() else { return Ok(Transformed::no(node)) };
            if !filter.input().properties().boundedness.is_unbounded() {
                return Ok(Transformed::no(node));
            }
            let replacement = StreamFilterExec {
                predicate: filter.predicate().clone(),
                input: filter.input().clone(),
                projection: filter.projection().clone(),
                fetch: filter.fetch(),
                properties: filter.properties().clone(),
            };
            Ok(Transformed::yes(Arc::new(replacement) as Arc<dyn ExecutionPlan>))
        })
        .map_err(|e| Error::Invalid(super::describe(&e)))?
        .data;
    let mut refused = None;
    plan.apply(|node| {
        let streams = node.children().iter().any(|c| c.properties().boundedness.is_unbounded());
        if streams && !STREAMING_OPERATORS.contains(&node.name()) {
            refused = Some(node.name().to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| Error::Invalid(super::describe(&e)))?;
    match refused {
        Some(operator) => Err(Error::Invalid(format!(
            "{operator} would hold rows of a streaming table back until more arrive or the input ends; {WHAT_STREAMS}"
        ))),
        None => Ok(plan),
    }
}

/// A filter that passes each input batch's matching rows on at once (see [`unbuffered`]).
#[derive(Debug)]
pub struct StreamFilterExec {
    predicate: Arc<dyn PhysicalExpr>,
    input: Arc<dyn ExecutionPlan>,
    projection: Option<datafusion::physical_expr::projection::ProjectionRef>,
    fetch: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl DisplayAs for StreamFilterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "StreamFilterExec: {}", self.predicate)
    }
}

impl ExecutionPlan for StreamFilterExec {
    fn name(&self) -> &str {
        "StreamFilterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        f(&self.predicate)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| DataFusionError::Plan("StreamFilterExec takes one input".into()))?;
        Ok(Arc::new(StreamFilterExec {
            predicate: self.predicate.clone(),
            input,
            projection: self.projection.clone(),
            fetch: self.fetch,
            properties: self.properties.clone(),
        }))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let (predicate, projection) = (self.predicate.clone(), self.projection.clone());
        let filtered = input.map(move |batch| {
            let batch = batch?;
            let mask = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
            let Some(mask) = mask.as_boolean_opt() else {
                return Err(DataFusionError::Plan("a filter's predicate must be boolean".into()));
            };
            let batch = arrow::compute::filter_record_batch(&batch, mask)?;
            Ok(match &projection {
                Some(columns) => batch.project(columns.as_ref())?,
                None => batch,
            })
        });
        // A fetch (a LIMIT pushed into the filter) ends the stream as soon as that many rows
        // passed, without waiting for another bundle.
        let limited = futures::stream::unfold((filtered.boxed(), self.fetch), |(mut input, left)| async move {
            if left == Some(0) {
                return None;
            }
            let (item, left) = match (input.next().await?, left) {
                (Ok(batch), Some(left)) => {
                    let rows = batch.num_rows().min(left);
                    (Ok(batch.slice(0, rows)), Some(left - rows))
                }
                (item, left) => (item, left),
            };
            Some((item, (input, left)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), limited)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_specs() {
        let stdin = |format| Some(StreamSpec { input: StreamInput::Stdin, format });
        assert_eq!(StreamSpec::parse("-"), stdin(LineFormat::Json));
        assert_eq!(StreamSpec::parse("-.csv"), stdin(LineFormat::Csv));
        assert_eq!(StreamSpec::parse("-.ndjson"), stdin(LineFormat::Json));
        assert_eq!(
            StreamSpec::parse("stream:/tmp/in.CSV"),
            Some(StreamSpec { input: StreamInput::Path("/tmp/in.CSV".into()), format: LineFormat::Csv })
        );
        assert_eq!(StreamSpec::parse("udfs/data/people.csv"), None);
    }

    #[test]
    fn csv_lines_split_with_quotes_and_nulls() {
        assert_eq!(
            split_csv(r#"1,"a, ""b""",,"""#).unwrap(),
            vec![Some("1".into()), Some("a, \"b\"".into()), None, Some(String::new())]
        );
        assert_eq!(split_csv("x").unwrap(), vec![Some("x".into())]);
        assert_eq!(split_csv(r#"1,"a"#).unwrap_err(), "has an unterminated quoted field");
        assert_eq!(split_csv(r#""a"b"#).unwrap_err(), "has text after a closing quote");
    }

    #[test]
    fn declared_schemas_parse() {
        let schema = parse_schema("a BIGINT, `b c` STRING, d ARRAY<DOUBLE>").unwrap();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["a", "b c", "d"]);
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        let error = parse_schema("a BIGINT b").unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid schema 'a BIGINT b': expected ',' at position 9; expected 'name TYPE, name TYPE, ...'"
        );
        let error = parse_schema("a BIGNUM").unwrap_err().to_string();
        assert!(error.starts_with("invalid schema 'a BIGNUM': unknown type BIGNUM"), "{error}");
    }

    #[test]
    fn json_lines_decode_one_row_each() {
        let schema = parse_schema("a BIGINT, s STRING").unwrap();
        let mut decoder = RowDecoder::new(LineFormat::Json, schema).unwrap();
        assert_eq!(decoder.decode(br#"{"a": 1, "s": "x", "extra": true}"#).unwrap().num_rows(), 1);
        let error = decoder.decode(br#"{"a": "one"}"#).unwrap_err();
        assert!(error.contains("a"), "{error}");
        assert_eq!(decoder.decode(b"[1]").unwrap_err(), "not a JSON object");
        assert!(decoder.decode(b"{\"a\": ").unwrap_err().starts_with("not JSON"));
        // The decoder recovered from the bad lines.
        let row = decoder.decode(br#"{"s": "y"}"#).unwrap();
        assert_eq!((row.column(0).null_count(), row.column(1).as_string::<i32>().value(0)), (1, "y"));
    }

    #[test]
    fn types_are_inferred_from_the_first_line() {
        let schema = infer_json(br#"{"n": 1, "x": 1.5, "s": "a", "b": true}"#).unwrap();
        let types: Vec<_> = schema.fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(types, [DataType::Int64, DataType::Float64, DataType::Utf8, DataType::Boolean]);
        assert!(infer_json(br#"{"n": null}"#).unwrap_err().contains("--schema"));
        let schema = infer_json(br#"{"z": {"a": 1}, "y\"{": [{"b": 2}], "a": 3}"#).unwrap();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["z", "y\"{", "a"]);
        let names = ["n".to_string(), "x".into(), "s".into(), "b".into()];
        let schema = infer_csv(&names, b"1,1.5,a,true").unwrap();
        let types: Vec<_> = schema.fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(types, [DataType::Int64, DataType::Float64, DataType::Utf8, DataType::Boolean]);
    }
}
