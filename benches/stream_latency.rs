//! Streaming latency: events written one at a time into `udfbox sql --table e=-` (the release
//! binary, a warm compiled-guest cache) at a fixed rate, each timed from its write to its result
//! line on udfbox's standard output; p50 / p99 / max per mode, rate and bundling:
//! `bundle.size=1` (each event sent on at once) and PyFlink's defaults (100000 rows or 1000 ms,
//! so at low rates an event waits for `bundle.time`).
//!
//! The query calls `add(n, n)`, a row-at-a-time UDF. Not criterion (a latency distribution at a
//! set rate, not a repeated closure): it prints a table. `cargo bench --bench stream_latency`
//! measures 1, 1,000 and 50,000 events/s (20,000 events at that rate), then the same pipeline
//! without the UDF at 1,000 events/s with `bundle.size=1` (the floor under the call); under
//! `cargo test` (no `--bench`) it is a smoke run of a few events per mode.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MODES: [&str; 3] = ["wasm", "native", "process"];
const UDF: &str = "from udfbox import udf, DataTypes\n\
add = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())\n";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

struct Case {
    mode: &'static str,
    bundle_size_one: bool,
    rate: u32,
    events: usize,
    query: &'static str,
}

const QUERY: &str = "SELECT n, add(n, n) AS r FROM e";
/// The same pipeline without the UDF: the floor the engine around the call puts under it.
const NO_UDF_QUERY: &str = "SELECT n, n + n AS r FROM e";

/// Latencies of `case.events` events, in write order.
fn measure(udf: &Path, case: &Case) -> Vec<Duration> {
    let mut args = vec!["sql", "--mode", case.mode, "--udf", udf.to_str().unwrap(), "--table", "e=-"];
    if case.bundle_size_one {
        args.extend(["--config", "python.fn-execution.bundle.size=1"]);
    }
    args.push(case.query);
    let mut child = Command::new(env!("CARGO_BIN_EXE_udfbox"))
        .args(&args)
        .current_dir(repo())
        .env("UDFBOX_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run udfbox");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Warm up (sandbox instance, first call) with one event, not timed.
    writeln!(stdin, "{{\"n\": -1}}").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("{\"n\":-1"), "unexpected output: {line}");

    let total = case.events;
    let sent = Arc::new(Mutex::new(vec![None::<Instant>; total]));
    let reader_sent = sent.clone();
    let reader = std::thread::spawn(move || {
        let mut latencies = vec![Duration::ZERO; total];
        let mut line = String::new();
        for _ in 0..total {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("udfbox ended early");
            }
            let now = Instant::now();
            let n: usize = line
                .strip_prefix("{\"n\":")
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected output: {line}"));
            let at = reader_sent.lock().unwrap()[n].expect("a result for an event not yet written");
            latencies[n] = now - at;
        }
        latencies
    });
    let interval = Duration::from_secs_f64(1.0 / case.rate as f64);
    let start = Instant::now();
    for n in 0..total {
        let due = start + interval * n as u32;
        // Sleep for the long waits, spin for the last stretch: sleeps overshoot by ~50 µs.
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            if due - now > Duration::from_millis(2) {
                std::thread::sleep(due - now - Duration::from_millis(1));
            } else {
                std::hint::spin_loop();
            }
        }
        let text = format!("{{\"n\": {n}}}\n");
        // Stamped before the write, so the write itself counts.
        sent.lock().unwrap()[n] = Some(Instant::now());
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let latencies = reader.join().expect("reader");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn show(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else if d >= Duration::from_millis(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().unwrap();
    let udf = dir.path().join("add.py");
    std::fs::write(&udf, UDF).unwrap();
    // (rate, events measured): a few seconds per case, 10 events at 1/s.
    let rates: &[(u32, usize)] = if full { &[(1, 10), (1_000, 3_000), (50_000, 20_000)] } else { &[(1_000, 5)] };
    let bundlings: &[bool] = if full { &[true, false] } else { &[true] };
    println!("stream latency, write to result line, `{QUERY}`");
    println!("| mode | bundling | events/s | events | p50 | p99 | max |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for &(rate, events) in rates {
        for &bundle_size_one in bundlings {
            for mode in MODES {
                let case = Case { mode, bundle_size_one, rate, events, query: QUERY };
                let mut latencies = measure(&udf, &case);
                latencies.sort();
                println!(
                    "| {mode} | {} | {rate} | {events} | {} | {} | {} |",
                    if bundle_size_one { "bundle.size=1" } else { "defaults" },
                    show(percentile(&latencies, 0.5)),
                    show(percentile(&latencies, 0.99)),
                    show(*latencies.last().unwrap()),
                );
            }
        }
    }
    if full {
        println!();
        println!("the floor: `{NO_UDF_QUERY}` (no UDF), bundle.size=1, 1000 events/s");
        println!("| mode | events | p50 | p99 | max |");
        println!("| --- | --- | --- | --- | --- |");
        for mode in MODES {
            let case = Case { mode, bundle_size_one: true, rate: 1_000, events: 3_000, query: NO_UDF_QUERY };
            let mut latencies = measure(&udf, &case);
            latencies.sort();
            println!(
                "| {mode} | {} | {} | {} | {} |",
                case.events,
                show(percentile(&latencies, 0.5)),
                show(percentile(&latencies, 0.99)),
                show(*latencies.last().unwrap()),
            );
        }
    }
}
