//! Query results as a readable table, CSV (header line, NULL as an empty field) or JSON lines
//! (one object per row, NULL as `null`).

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder};
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
            // A table is for a terminal: control characters in names and values are escaped.
            let shown = batches.iter().map(|b| as_text(b, true)).collect::<Result<Vec<_>>>()?;
            let table = arrow::util::pretty::pretty_format_batches_with_schema(text_schema(schema, true), &shown)?;
            writeln!(out, "{table}").map_err(io)?;
        }
        Format::Csv => {
            csv_header(schema, out)?;
            for batch in batches {
                csv_rows(batch, out)?;
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

/// Every column of `schema` as a nullable Utf8 column; names escaped when `escaped`.
fn text_schema(schema: &Schema, escaped: bool) -> SchemaRef {
    let name = |n: &str| if escaped { crate::shown::text(n).into_owned() } else { n.to_string() };
    Arc::new(Schema::new(
        schema.fields().iter().map(|f| Field::new(name(f.name()), DataType::Utf8, true)).collect::<Vec<_>>(),
    ))
}

/// Every column rendered as text the way the table format shows it (nested values included),
/// with NULL as a null string, which the CSV writer prints as an empty field. With `escaped`,
/// control characters are escaped ([`crate::shown::text`]).
fn as_text(batch: &RecordBatch, escaped: bool) -> Result<RecordBatch> {
    let options = FormatOptions::default();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut value = String::new();
    for column in batch.columns() {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut values = StringBuilder::new();
        for i in 0..column.len() {
            if column.is_null(i) {
                values.append_null();
                continue;
            }
            value.clear();
            // Display, not `write`: a value Arrow cannot render shows as `ERROR: ...`, as in a table.
            let _ = write!(value, "{}", formatter.value(i));
            if escaped {
                values.append_value(crate::shown::text(&value));
            } else {
                values.append_value(&value);
            }
        }
        columns.push(Arc::new(values.finish()));
    }
    Ok(RecordBatch::try_new(text_schema(&batch.schema(), escaped), columns)?)
}

fn csv_error(e: csv::Error) -> Error {
    Error::Invalid(format!("cannot write the output: {e}"))
}

/// The CSV header line: the column names.
fn csv_header(schema: &Schema, out: &mut dyn Write) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(schema.fields().iter().map(|f| f.name().as_bytes())).map_err(csv_error)?;
    writer.flush().map_err(|e| Error::Invalid(format!("cannot write the output: {e}")))
}

/// `batch`'s rows as CSV lines of their text ([`as_text`]; NULL is an empty field, quoted only
/// where needed). The csv crate quotes a field in pieces of its buffer and searches the rest of
/// the field again for each piece, which is quadratic in the field's length; a buffer that holds
/// the batch's longest record keeps writing linear.
fn csv_rows(batch: &RecordBatch, out: &mut dyn Write) -> Result<()> {
    let text = as_text(batch, false)?;
    let columns: Vec<&StringArray> = text.columns().iter().map(|c| c.as_string::<i32>()).collect();
    let record_len = |row: usize| columns.iter().map(|c| c.value(row).len()).sum::<usize>();
    let longest = (0..text.num_rows()).map(record_len).max().unwrap_or(0);
    // The csv crate's own bound for a record: every byte a quote, plus delimiters, quotes, CRLF.
    let capacity = (2 * longest + 3 * columns.len() + 2).max(8 << 10);
    let mut writer = csv::WriterBuilder::new().buffer_capacity(capacity).from_writer(out);
    for row in 0..text.num_rows() {
        writer.write_record(columns.iter().map(|c| c.value(row).as_bytes())).map_err(csv_error)?;
    }
    writer.flush().map_err(|e| Error::Invalid(format!("cannot write the output: {e}")))
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
            csv_header(schema, writer.out)?;
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
            Format::Csv => csv_rows(batch, self.out)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_of(batch: &RecordBatch) -> String {
        let mut out = Vec::new();
        write(Format::Csv, &batch.schema(), std::slice::from_ref(batch), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_quotes_where_needed_and_writes_nulls_empty() {
        let strings = StringArray::from(vec![Some("plain"), None, Some("a,b"), Some("say \"hi\""), Some("two\nlines")]);
        let numbers = arrow::array::Int64Array::from(vec![Some(1), Some(2), None, Some(4), Some(5)]);
        let batch = RecordBatch::try_from_iter(vec![
            ("s", Arc::new(strings) as ArrayRef),
            ("n", Arc::new(numbers) as ArrayRef),
        ])
        .unwrap();
        assert_eq!(csv_of(&batch), "s,n\nplain,1\n,2\n\"a,b\",\n\"say \"\"hi\"\"\",4\n\"two\nlines\",5\n");
        let empty = RecordBatch::new_empty(batch.schema());
        assert_eq!(csv_of(&empty), "s,n\n");
    }

    /// A long field that must be quoted (a comma, no quote inside) is written whole, quoted once.
    #[test]
    fn csv_writes_a_long_quoted_field_whole() {
        let long = format!("{},{}", "a".repeat(3 << 20), "b".repeat(3 << 20));
        let batch =
            RecordBatch::try_from_iter(vec![("s", Arc::new(StringArray::from(vec![long.clone()])) as ArrayRef)])
                .unwrap();
        assert_eq!(csv_of(&batch), format!("s\n\"{long}\"\n"));
    }

    #[test]
    fn table_escapes_control_characters() {
        let batch = RecordBatch::try_from_iter(vec![(
            "\u{1b}[31mred",
            Arc::new(StringArray::from(vec!["bell\u{7} cr\r esc\u{1b}]0;t"])) as ArrayRef,
        )])
        .unwrap();
        let mut out = Vec::new();
        write(Format::Table, &batch.schema(), &[batch], &mut out).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(!table.chars().any(|c| c.is_control() && c != '\n'), "{table:?}");
        assert!(table.contains("bell\\u{7} cr\\r esc\\u{1b}]0;t"), "{table}");
        assert!(table.contains("\\u{1b}[31mred"), "{table}");
    }
}
