//! The two wire dialects of remote UDF servers, as small translators around the one
//! [`FunctionSet`](crate::FunctionSet) call path: what a function looks like on the wire (the
//! schema `get_flight_info` describes and `do_exchange` answers with), and result batches in that
//! shape. Arguments need no translation of their own: `FunctionSet::call` casts every column to
//! the declared input type (so Databend's `LargeUtf8`, `LargeList` and VARIANT `LargeBinary` all
//! arrive as udfbox's types).
//!
//! - **RisingWave** (arrow-udf, protocol v2): input fields named after the Python parameters,
//!   then one output field named after the function; `total_records` = number of inputs;
//!   NUMERIC and JSON as Utf8 with `ARROW:extension:name` = `arrowudf.decimal` / `arrowudf.json`;
//!   table functions answer `row: Int32` + the value (a struct of unnamed fields when several);
//!   an optional second Utf8 column `error` carries per-row messages.
//! - **Databend** (databend-udf): the same calls; strings and bytes are `LargeUtf8` /
//!   `LargeBinary` at every depth, JSON is VARIANT (`LargeBinary` with field metadata
//!   `Extension` = `Variant`, JSON text), tuples have unnamed fields; the scalar output field is
//!   `output`, table functions answer their declared columns; schema metadata
//!   `x-databend-udf-input-count`; `total_records` = number of fields (as databend-udf sends).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, RecordBatch, RecordBatchOptions, StringArray, StructArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use crate::backend::Function;
use crate::error::{Error, Result};
use crate::types::LOGICAL_TYPE_KEY;

/// Arrow's key for an extension type's name (RisingWave's decimal and JSON).
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Arrow's key for an extension type's parameters (empty for arrow-udf's types).
pub const EXTENSION_METADATA_KEY: &str = "ARROW:extension:metadata";
/// Databend's field metadata key for its own types (`Variant`).
pub const DATABEND_EXTENSION_KEY: &str = "Extension";
/// Databend's schema metadata: how many leading fields of a flight schema are inputs.
pub const INPUT_COUNT_KEY: &str = "x-databend-udf-input-count";
/// The per-row error column of RisingWave's protocol.
pub const ERROR_COLUMN: &str = "error";

/// Which engine's conventions a function is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// RisingWave's (arrow-udf, protocol v2).
    #[default]
    Risingwave,
    /// Databend's (databend-udf).
    Databend,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Risingwave => "risingwave",
            Dialect::Databend => "databend",
        })
    }
}

impl Dialect {
    /// The dialect of a function registered through `api` (`FunctionInfo::dialect`): each
    /// library's files speak their engine's; udfbox/PyFlink functions the configured default.
    pub fn for_api(api: &str, default: Dialect) -> Dialect {
        match api {
            "arrow-udf" => Dialect::Risingwave,
            "databend-udf" => Dialect::Databend,
            _ => default,
        }
    }

    /// The wire field of a udfbox field (`types::arrow_field`), at every depth.
    pub fn wire_field(self, field: &Field) -> Field {
        let mut metadata = field.metadata().clone();
        let logical = metadata.remove(LOGICAL_TYPE_KEY);
        let data_type = match (self, logical.as_deref()) {
            (Dialect::Risingwave, Some(name @ ("NUMERIC" | "JSON"))) => {
                let extension = if name == "NUMERIC" { "arrowudf.decimal" } else { "arrowudf.json" };
                metadata.insert(EXTENSION_NAME_KEY.into(), extension.into());
                metadata.insert(EXTENSION_METADATA_KEY.into(), String::new());
                DataType::Utf8
            }
            (Dialect::Databend, Some("JSON")) => {
                metadata.insert(DATABEND_EXTENSION_KEY.into(), "Variant".into());
                DataType::LargeBinary
            }
            // Databend has no unbounded decimal: its text travels as a string.
            (Dialect::Databend, Some("NUMERIC")) => DataType::LargeUtf8,
            _ => self.wire_type(field.data_type()),
        };
        Field::new(field.name(), data_type, field.is_nullable()).with_metadata(metadata)
    }

    fn wire_type(self, data_type: &DataType) -> DataType {
        let databend = self == Dialect::Databend;
        match data_type {
            DataType::Utf8 if databend => DataType::LargeUtf8,
            DataType::Binary if databend => DataType::LargeBinary,
            DataType::List(item) => DataType::List(Arc::new(self.wire_field(item))),
            DataType::LargeList(item) => DataType::LargeList(Arc::new(self.wire_field(item))),
            DataType::FixedSizeList(item, n) => DataType::FixedSizeList(Arc::new(self.wire_field(item)), *n),
            DataType::Map(entries, sorted) => DataType::Map(Arc::new(self.wire_field(entries)), *sorted),
            DataType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|f| {
                        let field = self.wire_field(f);
                        // databend-udf's TUPLE fields are unnamed.
                        if databend {
                            field.with_name("")
                        } else {
                            field
                        }
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Scalar or table function (the only kinds these protocols have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Table,
}

/// A function as one dialect serves it.
#[derive(Debug, Clone)]
pub struct Signature {
    pub name: String,
    pub dialect: Dialect,
    pub kind: Kind,
    /// The argument fields, named after the Python parameters.
    pub inputs: Vec<FieldRef>,
    /// What `do_exchange` answers.
    pub output: SchemaRef,
    /// `output` with RisingWave's `error` column (scalar functions in RisingWave's dialect).
    pub output_with_errors: Option<SchemaRef>,
}

impl Signature {
    /// How `dialect` serves `function`; an error says why it cannot be served (aggregates, or
    /// input types that follow from the call site).
    pub fn new(dialect: Dialect, function: &Function) -> Result<Self> {
        let info = &function.info;
        let name = info.name.clone();
        let kind = match info.kind.as_str() {
            "scalar" => Kind::Scalar,
            "table" => Kind::Table,
            other => {
                return Err(Error::Invalid(format!(
                    "'{name}' is a {} function; remote UDF protocols serve scalar and table functions only",
                    other.replace('_', "-")
                )))
            }
        };
        let Some(input_fields) = &function.input_fields else {
            return Err(Error::Invalid(format!(
                "'{name}' declares no input types; a served function needs them (input_types=[...])"
            )));
        };
        // Named after the Python parameters already (`FunctionInfo::input_names`).
        let inputs: Vec<FieldRef> = input_fields.iter().map(|f| Arc::new(dialect.wire_field(f))).collect();
        let result = dialect.wire_field(&function.result_field);
        let output: Vec<Field> = match (kind, dialect) {
            (Kind::Scalar, Dialect::Risingwave) => vec![result.with_name(&name)],
            (Kind::Scalar, Dialect::Databend) => vec![result.with_name("output")],
            (Kind::Table, _) => {
                let DataType::Struct(columns) = result.data_type() else {
                    return Err(Error::Invalid(format!("table function '{name}' has no row type")));
                };
                // The columns with the names they were declared with (wire_field unnamed them
                // for Databend's tuples; a table's columns keep theirs).
                let declared: Vec<String> = match function.result_field.data_type() {
                    DataType::Struct(fields) => fields.iter().map(|f| f.name().clone()).collect(),
                    _ => Vec::new(),
                };
                match dialect {
                    Dialect::Risingwave => {
                        let value = match columns.len() {
                            1 => columns[0].as_ref().clone().with_name(&name),
                            _ => Field::new(
                                &name,
                                DataType::Struct(columns.iter().map(|c| c.as_ref().clone().with_name("")).collect()),
                                true,
                            ),
                        };
                        vec![Field::new("row", DataType::Int32, true), value]
                    }
                    Dialect::Databend => columns
                        .iter()
                        .zip(declared.iter().chain(std::iter::repeat(&String::new())))
                        .map(|(c, n)| c.as_ref().clone().with_name(n))
                        .collect(),
                }
            }
        };
        let output_with_errors = (kind == Kind::Scalar && dialect == Dialect::Risingwave).then(|| {
            let mut fields = output.clone();
            fields.push(Field::new(ERROR_COLUMN, DataType::Utf8, true));
            Arc::new(Schema::new(fields))
        });
        Ok(Self { name, dialect, kind, inputs, output: Arc::new(Schema::new(output)), output_with_errors })
    }

    /// Databend's health functions, which its client calls on its own: `builtin_healthy()`
    /// answers 1, `builtin_echo(VARCHAR)` its argument.
    pub fn builtin(builtin: Builtin) -> Self {
        let databend = Dialect::Databend;
        let (inputs, output) = match builtin {
            Builtin::Healthy => (vec![], Field::new("output", DataType::Int32, true)),
            Builtin::Echo => (
                vec![Arc::new(Field::new("a", DataType::LargeUtf8, true))],
                Field::new("output", DataType::LargeUtf8, true),
            ),
        };
        Self {
            name: builtin.name().to_string(),
            dialect: databend,
            kind: Kind::Scalar,
            inputs,
            output: Arc::new(Schema::new(vec![output])),
            output_with_errors: None,
        }
    }

    /// What `do_exchange` answers: with RisingWave's `error` column when `errors`.
    pub fn output_schema(&self, errors: bool) -> SchemaRef {
        match (&self.output_with_errors, errors) {
            (Some(schema), true) => schema.clone(),
            _ => self.output.clone(),
        }
    }

    /// The schema `get_flight_info` and `list_flights` describe: inputs, then outputs.
    pub fn flight_schema(&self) -> Schema {
        let fields: Vec<FieldRef> = self.inputs.iter().chain(self.output.fields().iter()).cloned().collect();
        // Always present: Databend needs it, other clients ignore schema metadata.
        let metadata = HashMap::from([(INPUT_COUNT_KEY.to_string(), self.inputs.len().to_string())]);
        Schema::new_with_metadata(fields, metadata)
    }

    /// `FlightInfo::total_records`: RisingWave reads it as the number of inputs; databend-udf
    /// sends the number of fields.
    pub fn total_records(&self) -> i64 {
        match self.dialect {
            Dialect::Risingwave => self.inputs.len() as i64,
            Dialect::Databend => (self.inputs.len() + self.output.fields().len()) as i64,
        }
    }

    /// RisingWave's table functions produce no rows for an input row with a NULL argument.
    pub fn skips_null_rows(&self) -> bool {
        self.kind == Kind::Table && self.dialect == Dialect::Risingwave
    }

    /// A scalar result as the dialect's batch, with RisingWave's per-row messages when given.
    pub fn scalar_batch(&self, values: &ArrayRef, errors: Option<StringArray>) -> Result<RecordBatch> {
        let schema = match (&errors, &self.output_with_errors) {
            (Some(_), Some(schema)) => schema.clone(),
            (Some(_), None) => return Err(Error::Invalid(format!("'{}' has no error column", self.name))),
            (None, _) => self.output.clone(),
        };
        let mut columns = vec![conform(values, schema.field(0).data_type())?];
        if let Some(errors) = errors {
            columns.push(Arc::new(errors));
        }
        batch(schema, columns, values.len())
    }

    /// Table function results as the dialect's batch: for each output row, the input row it
    /// came from (`sources`) and its columns (`rows`).
    pub fn table_batch(&self, sources: &Int32Array, rows: &StructArray) -> Result<RecordBatch> {
        let fields = self.output.fields();
        let columns: Vec<ArrayRef> = match self.dialect {
            Dialect::Risingwave => {
                let value: ArrayRef = match rows.num_columns() {
                    1 => rows.column(0).clone(),
                    _ => Arc::new(rows.clone()),
                };
                vec![Arc::new(sources.clone()), conform(&value, fields[1].data_type())?]
            }
            Dialect::Databend => {
                if rows.num_columns() != fields.len() {
                    return Err(Error::Invalid(format!("'{}' produced the wrong number of columns", self.name)));
                }
                rows.columns()
                    .iter()
                    .zip(fields.iter())
                    .map(|(c, f)| conform(c, f.data_type()))
                    .collect::<Result<_>>()?
            }
        };
        batch(self.output.clone(), columns, sources.len())
    }
}

/// The functions every tenant has in Databend's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Healthy,
    Echo,
}

impl Builtin {
    pub const ALL: [Builtin; 2] = [Builtin::Healthy, Builtin::Echo];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Healthy => "builtin_healthy",
            Builtin::Echo => "builtin_echo",
        }
    }

    /// Runs it over one batch (no sandbox: nothing of a tenant's runs).
    pub fn call(self, args: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        match (self, args) {
            (Builtin::Healthy, []) => Ok(Arc::new(Int32Array::from(vec![1; num_rows]))),
            (Builtin::Echo, [a]) => Ok(cast(a, &DataType::LargeUtf8)?),
            _ => Err(Error::Invalid(format!(
                "function '{}' takes {} argument{}, got {}",
                self.name(),
                if self == Builtin::Healthy { 0 } else { 1 },
                if self == Builtin::Healthy { "s" } else { "" },
                args.len()
            ))),
        }
    }
}

/// `array` as the wire type (a cast when the dialect's type differs, e.g. Utf8 -> LargeUtf8).
fn conform(array: &ArrayRef, data_type: &DataType) -> Result<ArrayRef> {
    if array.data_type() == data_type {
        return Ok(array.clone());
    }
    Ok(cast(array, data_type)?)
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>, num_rows: usize) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(num_rows));
    Ok(RecordBatch::try_new_with_options(schema, columns, &options)?)
}

/// For RisingWave's table functions: the rows without a NULL argument, and the index of each
/// in the batch (`None` when every row qualifies).
pub fn rows_without_nulls(args: &[ArrayRef], num_rows: usize) -> Result<Option<(Vec<ArrayRef>, Vec<i32>)>> {
    if args.iter().all(|a| a.null_count() == 0) {
        return Ok(None);
    }
    let keep: Vec<i32> = (0..num_rows).filter(|&i| args.iter().all(|a| a.is_valid(i))).map(|i| i as i32).collect();
    let indices = Int32Array::from(keep.clone());
    let taken = args.iter().map(|a| arrow::compute::take(a.as_ref(), &indices, None)).collect::<Result<Vec<_>, _>>()?;
    Ok(Some((taken, keep)))
}

#[cfg(test)]
mod tests {
    use arrow::array::{BinaryArray, LargeBinaryArray, LargeStringArray, ListArray};
    use arrow::datatypes::{Fields, Int32Type};

    use super::*;
    use crate::backend::FunctionInfo;
    use crate::types::arrow_field;

    /// A function as `FunctionSet` resolves it: `inputs` are (parameter, udfbox type).
    fn function(name: &str, kind: &str, inputs: &[(&str, &str)], result: &str) -> Function {
        let input_fields: Vec<Field> =
            inputs.iter().map(|(param, ty)| arrow_field(ty).unwrap().with_name(*param)).collect();
        let result_field = arrow_field(result).unwrap();
        Function {
            info: FunctionInfo {
                name: name.into(),
                kind: kind.into(),
                func_type: "general".into(),
                input_types: Some(inputs.iter().map(|(_, ty)| ty.to_string()).collect()),
                result_type: result.into(),
                deterministic: true,
                input_names: inputs.iter().map(|(param, _)| param.to_string()).collect(),
                dialect: "udfbox".into(),
            },
            result_type: result_field.data_type().clone(),
            input_types: Some(
                inputs.iter().map(|(_, ty)| (ty.to_string(), arrow_field(ty).unwrap().data_type().clone())).collect(),
            ),
            input_fields: Some(input_fields),
            result_field,
        }
    }

    fn extension(field: &Field) -> Option<&str> {
        field.metadata().get(EXTENSION_NAME_KEY).map(String::as_str)
    }

    #[test]
    fn risingwave_schemas() {
        let f = function("price", "scalar", &[("amount", "NUMERIC"), ("doc", "JSON"), ("n", "INT NOT NULL")], "JSON");
        let signature = Signature::new(Dialect::Risingwave, &f).unwrap();
        let schema = signature.flight_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["amount", "doc", "n", "price"]);
        assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
        assert_eq!(extension(schema.field(0)), Some("arrowudf.decimal"));
        assert_eq!(extension(schema.field(1)), Some("arrowudf.json"));
        assert!(schema.field(1).metadata().get(LOGICAL_TYPE_KEY).is_none());
        assert!(!schema.field(2).is_nullable());
        assert_eq!(extension(schema.field(3)), Some("arrowudf.json"));
        assert_eq!(signature.total_records(), 3);
        assert_eq!(schema.metadata()[INPUT_COUNT_KEY], "3");
        let errors = signature.output_schema(true);
        assert_eq!(errors.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["price", "error"]);

        let one = function("series", "table", &[("n", "INT")], "ROW<`f0` INT>");
        let output = Signature::new(Dialect::Risingwave, &one).unwrap().output;
        assert_eq!(output.field(0), &Field::new("row", DataType::Int32, true));
        assert_eq!(output.field(1), &Field::new("series", DataType::Int32, true));
        let two = function("pairs", "table", &[("n", "INT")], "ROW<`f0` INT, `f1` NUMERIC>");
        let output = Signature::new(Dialect::Risingwave, &two).unwrap().output;
        let DataType::Struct(columns) = output.field(1).data_type() else { panic!("{output:?}") };
        assert_eq!(columns.iter().map(|c| c.name().as_str()).collect::<Vec<_>>(), ["", ""]);
        assert_eq!(extension(&columns[1]), Some("arrowudf.decimal"));
    }

    #[test]
    fn databend_schemas() {
        let f = function(
            "tag",
            "scalar",
            &[("doc", "JSON"), ("names", "ARRAY<STRING NOT NULL>"), ("pair", "ROW<`a` INT, `b` BYTES>")],
            "STRING NOT NULL",
        );
        let signature = Signature::new(Dialect::Databend, &f).unwrap();
        let schema = signature.flight_schema();
        let doc = schema.field(0);
        assert_eq!((doc.name().as_str(), doc.data_type()), ("doc", &DataType::LargeBinary));
        assert_eq!(doc.metadata().get(DATABEND_EXTENSION_KEY).map(String::as_str), Some("Variant"));
        let item = Arc::new(Field::new("item", DataType::LargeUtf8, false));
        assert_eq!(schema.field(1).data_type(), &DataType::List(item));
        let tuple =
            Fields::from(vec![Field::new("", DataType::Int32, true), Field::new("", DataType::LargeBinary, true)]);
        assert_eq!(schema.field(2).data_type(), &DataType::Struct(tuple));
        assert_eq!(schema.field(3), &Field::new("output", DataType::LargeUtf8, false));
        assert_eq!(signature.total_records(), 4);
        assert_eq!(schema.metadata()[INPUT_COUNT_KEY], "3");
        assert!(signature.output_with_errors.is_none());

        let table = function("split", "table", &[("s", "STRING")], "ROW<`word` STRING, `len` INT>");
        let output = Signature::new(Dialect::Databend, &table).unwrap().output;
        let columns: Vec<(&str, &DataType)> =
            output.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
        assert_eq!(columns, [("word", &DataType::LargeUtf8), ("len", &DataType::Int32)]);
    }

    #[test]
    fn what_cannot_be_served_says_why() {
        let mut f = function("avg", "aggregate", &[("x", "INT")], "INT");
        let error = Signature::new(Dialect::Risingwave, &f).unwrap_err().to_string();
        assert!(error.contains("aggregate function"), "{error}");
        f.info.kind = "scalar".into();
        f.input_fields = None;
        let error = Signature::new(Dialect::Risingwave, &f).unwrap_err().to_string();
        assert!(error.contains("declares no input types"), "{error}");
    }

    #[test]
    fn result_batches() {
        let f = function("doc", "scalar", &[("s", "STRING")], "JSON");
        let values: ArrayRef = Arc::new(StringArray::from(vec![Some("[1]"), None]));
        let databend = Signature::new(Dialect::Databend, &f).unwrap().scalar_batch(&values, None).unwrap();
        let expected = LargeBinaryArray::from(vec![Some(b"[1]".as_ref()), None]);
        assert_eq!(databend.column(0).as_ref(), &expected as &dyn Array);
        assert_eq!(databend.schema().field(0).metadata()[DATABEND_EXTENSION_KEY], "Variant");

        let risingwave = Signature::new(Dialect::Risingwave, &f).unwrap();
        let errors = StringArray::from(vec![None, Some("ValueError: bad")]);
        let batch = risingwave.scalar_batch(&values, Some(errors.clone())).unwrap();
        assert_eq!(batch.column(0).as_ref(), values.as_ref());
        assert_eq!(batch.column(1).as_ref(), &errors as &dyn Array);
        assert!(Signature::new(Dialect::Databend, &f).unwrap().scalar_batch(&values, Some(errors)).is_err());

        let table = function("split", "table", &[("s", "STRING")], "ROW<`word` STRING, `len` INT>");
        let fields =
            Fields::from(vec![Field::new("f0", DataType::Utf8, true), Field::new("f1", DataType::Int32, true)]);
        let words: ArrayRef = Arc::new(StringArray::from(vec!["a", "bc"]));
        let lens: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let rows = StructArray::new(fields, vec![words, lens.clone()], None);
        let sources = Int32Array::from(vec![0, 3]);
        let batch = Signature::new(Dialect::Risingwave, &table).unwrap().table_batch(&sources, &rows).unwrap();
        assert_eq!(batch.column(0).as_ref(), &sources as &dyn Array);
        let value = batch.column(1).as_any().downcast_ref::<StructArray>().unwrap();
        assert_eq!(value.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["", ""]);
        let batch = Signature::new(Dialect::Databend, &table).unwrap().table_batch(&sources, &rows).unwrap();
        assert_eq!(batch.column(0).as_ref(), &LargeStringArray::from(vec!["a", "bc"]) as &dyn Array);
        assert_eq!(batch.column(1).as_ref(), lens.as_ref());
    }

    #[test]
    fn null_rows_are_left_out_with_their_indexes() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(3), Some(4)]));
        let b: ArrayRef = Arc::new(BinaryArray::from(vec![Some(b"x".as_ref()), Some(b"y"), Some(b"z"), None]));
        let (kept, index) = rows_without_nulls(&[a.clone(), b], 4).unwrap().unwrap();
        assert_eq!(index, [0, 2]);
        assert_eq!(kept[0].as_ref(), &Int32Array::from(vec![1, 3]) as &dyn Array);
        let full: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]));
        assert!(rows_without_nulls(&[full], 1).unwrap().is_none());
    }

    #[test]
    fn builtins() {
        let healthy = Builtin::Healthy.call(&[], 3).unwrap();
        assert_eq!(healthy.as_ref(), &Int32Array::from(vec![1, 1, 1]) as &dyn Array);
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("ping"), None]));
        let echo = Builtin::Echo.call(&[text], 2).unwrap();
        assert_eq!(echo.as_ref(), &LargeStringArray::from(vec![Some("ping"), None]) as &dyn Array);
        assert!(Builtin::Echo.call(&[], 1).unwrap_err().to_string().contains("takes 1 argument, got 0"));
        let signature = Signature::builtin(Builtin::Echo);
        assert_eq!(signature.flight_schema().fields().len(), 2);
    }
}
