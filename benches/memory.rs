//! Resident memory per idle sandbox: N function sets, each with one warm instance that loaded a
//! UDF file and made a call, measured after the shared parts (engine, compiled image, interpreter)
//! are in place. Per mode:
//! - wasm: this process's resident memory added per sandbox;
//! - native: this process's resident memory added per runtime (one interpreter is shared);
//! - process: each worker process's proportional set size (PSS: its own pages, plus shared pages
//!   divided among the processes sharing them) and its resident size.
//!
//! Not a timing, so not criterion: it prints a table. `cargo bench --bench memory` measures 100
//! sandboxes; under `cargo test` (no `--bench` argument) it is a smoke run over 3.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use udfbox::{FunctionSet, Limits, Mode, Options};

const SOURCE: &str = "import os\nfrom udfbox import udf\n\
pid = udf(lambda x: os.getpid() + x, result_type='BIGINT')\n";

/// A `/proc/<pid>/...` field in kB, as bytes.
fn proc_field(path: &str, field: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l[field.len()..].trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn own_rss() -> usize {
    proc_field("/proc/self/status", "VmRSS:")
}

fn idle_set(mode: Mode) -> (FunctionSet, i64) {
    let limits = Limits { max_instances: 1, ..Limits::default() };
    let mut set = FunctionSet::new(Options { mode, limits, ..Default::default() }).unwrap();
    set.load_source("memory.py", SOURCE).unwrap();
    let zero: ArrayRef = Arc::new(Int64Array::from(vec![0]));
    let pid = set.call("pid", &[zero], 1).unwrap();
    let pid = pid.as_any().downcast_ref::<Int64Array>().unwrap().value(0);
    (set, pid)
}

fn mib(bytes: f64) -> String {
    format!("{:.2} MiB", bytes / (1 << 20) as f64)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let count = if full { 100 } else { 3 };
    println!("resident memory per idle sandbox, {count} of each");
    println!("| mode | per sandbox | measured as |");
    println!("| --- | --- | --- |");
    for mode in [Mode::Wasm, Mode::Native] {
        // The shared parts first: engine, compiled component, interpreter.
        drop(idle_set(mode));
        let before = own_rss();
        let sets: Vec<_> = (0..count).map(|_| idle_set(mode)).collect();
        let after = own_rss();
        println!("| {mode} | {} | host RSS added / {count} |", mib(after.saturating_sub(before) as f64 / count as f64));
        drop(sets);
    }
    let before = own_rss();
    let sets: Vec<_> = (0..count).map(|_| idle_set(Mode::Process)).collect();
    let host = own_rss().saturating_sub(before) as f64 / count as f64;
    let (mut pss, mut rss) = (0usize, 0usize);
    for (_, pid) in &sets {
        pss += proc_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:");
        rss += proc_field(&format!("/proc/{pid}/status"), "VmRSS:");
    }
    println!(
        "| process | {} PSS, {} RSS | worker PSS and RSS / {count}, plus {} in the host |",
        mib(pss as f64 / count as f64),
        mib(rss as f64 / count as f64),
        mib(host)
    );
}
