//! Shared helpers: run a UDF source through SQL in every mode and compare.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionConfig;
use udfbox::output::{self, Format};
use udfbox::{Error, FunctionSet, Mode, Options};

/// Every backend; differential tests run each case in all of them.
pub const MODES: [Mode; 3] = [Mode::Wasm, Mode::Native, Mode::Process];

/// Python for UDF sources of tests that tell the row path from the batch path: `_path()`, called
/// from a UDF, is `row` when the runtime's row-path entry point (`call_row`) is on the stack.
pub const WHICH_PATH_PY: &str = r#"
import sys

def _path():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "call_row":
            return "row"
        frame = frame.f_back
    return "batch"
"#;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A function set in `mode` with `source` loaded as `test_udfs.py`.
pub fn function_set(mode: Mode, source: &str) -> Result<FunctionSet, Error> {
    let mut set = FunctionSet::new(Options { mode, ..Default::default() })?;
    set.load_source("test_udfs.py", source)?;
    Ok(set)
}

/// Runs `sql` with the UDFs of `source` and table `t` (when given); results as CSV text.
pub async fn query(mode: Mode, source: &str, table: Option<RecordBatch>, sql: &str) -> Result<String, String> {
    let partitions = table.map(|batch| vec![vec![batch]]).unwrap_or_default();
    query_in(mode, source, partitions, SessionConfig::new(), sql).await
}

/// [`query`] in a session configured by `config`, table `t` (when `partitions` is not empty)
/// made of the given partitions, each a list of batches.
pub async fn query_in(
    mode: Mode,
    source: &str,
    partitions: Vec<Vec<RecordBatch>>,
    config: SessionConfig,
    sql: &str,
) -> Result<String, String> {
    let set = Arc::new(function_set(mode, source).map_err(|e| e.to_string())?);
    let ctx = udfbox::sql::session_with_config(config);
    udfbox::sql::register_functions(&ctx, &set).map_err(|e| e.to_string())?;
    if let Some(schema) = partitions.iter().flatten().next().map(|b| b.schema()) {
        let mem = MemTable::try_new(schema, partitions).unwrap();
        ctx.register_table("t", Arc::new(mem)).unwrap();
    }
    let frame = udfbox::sql::query(&ctx, &set, sql).await.map_err(|e| udfbox::sql::describe(&e))?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.map_err(|e| udfbox::sql::describe(&e))?;
    let mut out = Vec::new();
    output::write(Format::Csv, &schema, &batches, &mut out).unwrap();
    Ok(String::from_utf8(out).unwrap())
}

/// Runs in every mode, asserts they agree, and returns the common result.
pub async fn both(source: &str, table: Option<RecordBatch>, sql: &str) -> Result<String, String> {
    let wasm = query(Mode::Wasm, source, table.clone(), sql).await;
    for mode in [Mode::Native, Mode::Process] {
        let other = query(mode, source, table.clone(), sql).await;
        assert_eq!(wasm, other, "wasm and {mode} disagree on {sql}");
    }
    wasm
}

/// Runs in every mode and asserts the CSV output equals `expected` (leading/trailing blank
/// space of each line ignored, so expectations can be indented).
pub async fn check(source: &str, table: Option<RecordBatch>, sql: &str, expected: &str) {
    let got = both(source, table, sql).await.unwrap_or_else(|e| panic!("{sql} failed: {e}"));
    assert_eq!(normalize(&got), normalize(expected), "unexpected result of {sql}");
}

/// [`check`] over table `t` split into `partitions`, in a session configured by `config`.
pub async fn check_in(
    source: &str,
    partitions: Vec<Vec<RecordBatch>>,
    config: SessionConfig,
    sql: &str,
    expected: &str,
) {
    let wasm = query_in(Mode::Wasm, source, partitions.clone(), config.clone(), sql).await;
    for mode in [Mode::Native, Mode::Process] {
        let other = query_in(mode, source, partitions.clone(), config.clone(), sql).await;
        assert_eq!(wasm, other, "wasm and {mode} disagree on {sql}");
    }
    let got = wasm.unwrap_or_else(|e| panic!("{sql} failed: {e}"));
    assert_eq!(normalize(&got), normalize(expected), "unexpected result of {sql}");
}

pub fn normalize(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Runs the `udfbox` binary; returns (exit code, stdout, stderr).
pub fn udfbox(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_udfbox"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run udfbox");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts nothing Rust-internal leaked to the user.
pub fn assert_no_panic(stderr: &str) {
    for marker in ["panicked", "RUST_BACKTRACE", "stack backtrace", "internal error"] {
        assert!(!stderr.contains(marker), "stderr shows '{marker}':\n{stderr}");
    }
}
