//! Memory per idle sandbox: N function sets, each with one warm instance that loaded a UDF file
//! and made a call, measured after the shared parts (engine, compiled image, interpreter) are in
//! place. Per mode:
//! - wasm, native: this process's proportional set size (PSS) added per sandbox, and its private
//!   (anonymous) resident memory added. Resident size (RSS) would overstate a sandbox: every
//!   sandbox maps the compiled image copy-on-write, and RSS counts a clean page of it once per
//!   mapping, while PSS counts it once in all;
//! - process: each worker process's PSS (its own pages, plus shared pages divided among the
//!   processes sharing them) and its RSS;
//! - wasm with a post-`open()` snapshot (`Options::snapshot`): per set, its sandbox, its spare
//!   (made and restored in the background) and the pages of its image the two have mapped, as
//!   PSS; the image itself is an in-memory file of the size printed, counted in PSS only where
//!   mapped and read.
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

/// (PSS, private resident memory) of this process.
fn own_memory() -> (usize, usize) {
    (proc_field("/proc/self/smaps_rollup", "Pss:"), proc_field("/proc/self/status", "RssAnon:"))
}

fn idle_set(mode: Mode) -> (FunctionSet, i64) {
    idle_set_with(mode, false)
}

fn idle_set_with(mode: Mode, snapshot: bool) -> (FunctionSet, i64) {
    let limits = Limits { max_instances: 1, ..Limits::default() };
    let mut set = FunctionSet::new(Options { mode, limits, snapshot, ..Default::default() }).unwrap();
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
    println!("memory per idle sandbox, {count} of each");
    println!("| mode | per sandbox | measured as |");
    println!("| --- | --- | --- |");
    for mode in [Mode::Wasm, Mode::Native] {
        // The shared parts first, kept while measuring: engine, compiled component, interpreter,
        // and the image pages every sandbox reads.
        let warm = idle_set(mode);
        let before = own_memory();
        let sets: Vec<_> = (0..count).map(|_| idle_set(mode)).collect();
        let after = own_memory();
        let per = |after: usize, before: usize| mib(after.saturating_sub(before) as f64 / count as f64);
        println!(
            "| {mode} | {} PSS, {} private | host PSS and private RSS added / {count} |",
            per(after.0, before.0),
            per(after.1, before.1)
        );
        drop((sets, warm));
    }
    {
        let warm = idle_set_with(Mode::Wasm, true);
        let before = own_memory();
        let sets: Vec<_> = (0..count)
            .map(|_| {
                let set = idle_set_with(Mode::Wasm, true);
                // Let the set's spare sandbox be made and restored in the background.
                std::thread::sleep(std::time::Duration::from_millis(300));
                set
            })
            .collect();
        let after = own_memory();
        let per = |after: usize, before: usize| mib(after.saturating_sub(before) as f64 / count as f64);
        println!(
            "| wasm, snapshot | {} PSS, {} private | host PSS and private RSS added / {count}: a sandbox, a spare and the image pages they map (image: {} per set) |",
            per(after.0, before.0),
            per(after.1, before.1),
            mib(sets[0].0.snapshot_bytes().unwrap_or(0) as f64)
        );
        drop((sets, warm));
    }
    let before = own_memory().0;
    let sets: Vec<_> = (0..count).map(|_| idle_set(Mode::Process)).collect();
    let host = own_memory().0.saturating_sub(before) as f64 / count as f64;
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
