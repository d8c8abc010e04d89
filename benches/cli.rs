//! `udfbox sql` end to end, as a user runs it (the release binary, a warm compiled-guest cache),
//! every mode side by side:
//! - `sql_small_table`: a query calling a UDF over the 5-row bundled table; the whole run, start
//!   to exit (the first row is printed at the end of a run this small). Peak resident memory of
//!   each mode's run is printed first.
//! - `sql_add_1m_rows`: `SELECT sum(add(a, b))` over 1M BIGINT rows (an Arrow IPC file) against
//!   `SELECT sum(a + b)` with the same file loaded, in each mode: the difference divided by 1M is
//!   the UDF's cost per row. `one_instance` runs with `--max-instances 1`: the default (one sandbox
//!   or worker per core) against it shows how throughput scales with cores.
//!
//! `cargo bench --bench cli`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const MODES: [&str; 3] = ["wasm", "native", "process"];
const ROWS: i64 = 1_000_000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn udfbox(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_udfbox"));
    command.args(args).current_dir(repo()).env("UDFBOX_LOG", "off");
    command
}

fn run(args: &[&str]) {
    let output = udfbox(args).output().expect("run udfbox");
    assert!(output.status.success(), "udfbox {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Runs udfbox once and returns its peak resident memory (the kernel's own account).
fn peak_rss(args: &[&str]) -> usize {
    let child = udfbox(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("run udfbox");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 reaps exactly this child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    usage.ru_maxrss as usize * 1024
}

fn small_table(c: &mut Criterion) {
    let query = "SELECT name, initials(name) AS i FROM people ORDER BY id";
    let args =
        |mode| vec!["sql", "--mode", mode, "--udf", "udfs/strings.py", "--table", "people=udfs/data/people.csv", query];
    for mode in MODES {
        run(&args(mode)); // warms the compiled-guest cache
        println!("sql_small_table/{mode}: peak RSS {:.1} MiB", peak_rss(&args(mode)) as f64 / (1 << 20) as f64);
    }
    let mut group = c.benchmark_group("sql_small_table");
    group.sample_size(20);
    for mode in MODES {
        group.bench_function(mode, |bench| bench.iter(|| run(&args(mode))));
    }
    group.finish();
}

fn add_1m_rows(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("numbers.arrow");
    let batch = RecordBatch::try_from_iter([
        ("a", Arc::new(Int64Array::from_iter_values(0..ROWS)) as ArrayRef),
        ("b", Arc::new(Int64Array::from_iter_values((0..ROWS).map(|i| 2 * i))) as ArrayRef),
    ])
    .unwrap();
    let mut writer =
        arrow::ipc::writer::FileWriter::try_new(std::fs::File::create(&data).unwrap(), &batch.schema()).unwrap();
    for start in (0..ROWS as usize).step_by(65536) {
        writer.write(&batch.slice(start, 65536.min(ROWS as usize - start))).unwrap();
    }
    writer.finish().unwrap();
    let udf = dir.path().join("add.py");
    std::fs::write(
        &udf,
        "from udfbox import udf, DataTypes\n\
        add = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())\n",
    )
    .unwrap();
    let table = format!("t={}", data.display());
    let udf = udf.display().to_string();
    let mut group = c.benchmark_group("sql_add_1m_rows");
    group.sample_size(10);
    for mode in MODES {
        let base = ["sql", "--mode", mode, "--udf", &udf, "--table", &table];
        let with = |query: &'static str, extra: &'static [&'static str]| {
            let mut args: Vec<&str> = base.to_vec();
            args.extend(extra);
            args.push(query);
            args.into_iter().map(str::to_string).collect::<Vec<String>>()
        };
        let cases = [
            ("builtin", with("SELECT sum(a + b) FROM t", &[])),
            ("add", with("SELECT sum(add(a, b)) FROM t", &[])),
            ("add_one_instance", with("SELECT sum(add(a, b)) FROM t", &["--max-instances", "1"])),
        ];
        for (name, args) in cases {
            if mode == "native" && name == "add_one_instance" {
                continue; // one interpreter, one GIL: native has no instances to count
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&args);
            group.bench_function(BenchmarkId::new(mode, name), |bench| bench.iter(|| run(&args)));
        }
    }
    group.finish();
}

criterion_group!(benches, small_table, add_1m_rows);
criterion_main!(benches);
