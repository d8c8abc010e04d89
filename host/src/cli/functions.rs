//! `udfbox functions`: what UDF files register, as a table.

use std::path::PathBuf;
use std::sync::Arc;

use udfbox::output::{self, Format};
use udfbox::{FunctionSet, Mode};

use crate::setup::{load, SetupArgs};

/// List the functions a UDF file registers.
#[derive(clap::Args)]
pub struct FunctionsArgs {
    #[arg(long = "udf", value_name = "FILE", required = true)]
    pub udfs: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Mode::Wasm)]
    pub mode: Mode,
    #[command(flatten)]
    pub setup: SetupArgs,
}

pub fn run(args: FunctionsArgs) -> Result<(), String> {
    let FunctionsArgs { udfs, mode, setup } = args;

    let set = load(&udfs, mode, &setup, &[])?;
    if set.functions().next().is_none() {
        eprintln!("udfbox: note: no UDF objects found (module-level names bound to udf(...))");
    }
    let batch = functions_table(&set).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    output::write(Format::Table, &batch.schema(), &[batch], &mut out).map_err(|e| e.to_string())
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
