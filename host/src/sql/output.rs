//! Query results as a readable table, CSV (header line, NULL as an empty field) or JSON lines
//! (one object per row, NULL as `null`).

use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Json,
}

/// Writes `batches` (with `schema`) to `out` in `format`.
pub fn write(format: Format, schema: &SchemaRef, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let io = |e: std::io::Error| Error::Invalid(format!("cannot write the output: {e}"));
    match format {
        Format::Table => {
            let table = arrow::util::pretty::pretty_format_batches_with_schema(schema.clone(), batches)?;
            writeln!(out, "{table}").map_err(io)?;
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *out);
            let empty = [RecordBatch::new_empty(schema.clone())];
            let batches = if batches.is_empty() { &empty[..] } else { batches };
            for batch in batches {
                writer.write(&as_text(batch)?)?;
            }
        }
        Format::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    out.flush().map_err(io)
}

/// Every column rendered as text the way the table format shows it (nested values included),
/// with NULL as a null string, which the CSV writer prints as an empty field.
fn as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let values: StringArray =
            (0..column.len()).map(|i| column.is_valid(i).then(|| formatter.value(i).to_string())).collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(values));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// Writes a streaming query's results batch by batch, each flushed as soon as it is written:
/// CSV prints its header at once, JSON one object per line. The table format needs every row
/// before it can size its columns, so it cannot stream.
pub struct StreamWriter<'a> {
    format: Format,
    out: &'a mut dyn Write,
}

impl<'a> StreamWriter<'a> {
    /// A writer for results with `schema`; CSV's header is written (and flushed) here.
    pub fn new(format: Format, schema: &SchemaRef, out: &'a mut dyn Write) -> Result<Self> {
        if format == Format::Table {
            return Err(Error::Invalid(
                "the table format prints once every row is known, which a streaming query never is: use --format csv or json"
                    .into(),
            ));
        }
        let mut writer = Self { format, out };
        if format == Format::Csv {
            let mut csv = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *writer.out);
            csv.write(&as_text(&RecordBatch::new_empty(schema.clone()))?)?;
            drop(csv);
            writer.flush()?;
        }
        Ok(writer)
    }

    /// Writes `batch`'s rows and flushes them.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match self.format {
            Format::Csv => {
                arrow::csv::WriterBuilder::new().with_header(false).build(&mut *self.out).write(&as_text(batch)?)?
            }
            Format::Json | Format::Table => {
                let mut writer = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::LineDelimited>(&mut *self.out);
                writer.write(batch)?;
                writer.finish()?;
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::Invalid(format!("cannot write the output: {e}")))
    }
}
