//! Streaming SQL through the real binary: `udfbox sql --table e=-` with events written to its
//! standard input one at a time while its standard output is read. A result read before the
//! input is closed proves nothing waited for more rows; every read has a generous timeout that
//! only guards against a hang (no test measures time).

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use udfbox::Mode;

use crate::harness::{assert_no_panic, repo_root, MODES, WHICH_PATH_PY};

/// How long a read waits before the test calls it a hang.
const HANG_GUARD: Duration = Duration::from_secs(120);

const UDFS: &str = r#"
from udfbox import DataTypes, udf, udtf

@udf(input_types=[DataTypes.STRING()], result_type=DataTypes.STRING())
def shout(s):
    return None if s is None else s.upper() + "!"

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT(), func_type="pandas")
def bundle_rows(n):
    # Every row of a call gets the number of rows in that call: the bundle it came in.
    return n * 0 + len(n)

@udtf(input_types=[DataTypes.STRING()], result_types=[DataTypes.STRING(), DataTypes.INT()])
def words(line):
    for word in line.split():
        yield word, len(word)
"#;

/// A running `udfbox sql` with a pipe to its standard input and its output read line by line.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stderr_text: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Running {
    /// `udfbox sql` with the test UDFs (as `--udf` when `udfs` is true) and `args`.
    fn start(udfs: bool, args: &[&str]) -> Self {
        Self::start_with(udfs.then_some(UDFS), args)
    }

    /// `udfbox sql` with UDF file `source` (when given) and `args`.
    fn start_with(source: Option<&str>, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stream_udfs.py");
        let mut command = Command::new(env!("CARGO_BIN_EXE_udfbox"));
        command.arg("sql");
        if let Some(source) = source {
            std::fs::write(&file, source).unwrap();
            command.arg("--udf").arg(&file);
        }
        let mut child = command
            .args(args)
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run udfbox");
        let stdin = child.stdin.take();
        let stdout = lines(child.stdout.take().unwrap(), None);
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let stderr = lines(child.stderr.take().unwrap(), Some(stderr_text.clone()));
        Self { child, stdin, stdout, stderr, stderr_text, dir }
    }

    /// Writes one line to udfbox's standard input.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next line udfbox prints.
    fn line(&self) -> String {
        match self.stdout.recv_timeout(HANG_GUARD) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("no result line (hang guard); stderr:\n{}", self.stderr_text()),
            Err(RecvTimeoutError::Disconnected) => panic!("udfbox ended early; stderr:\n{}", self.stderr_text()),
        }
    }

    fn lines(&self, count: usize) -> Vec<String> {
        (0..count).map(|_| self.line()).collect()
    }

    /// Waits for a line on stderr that contains `text`.
    fn stderr_line(&self, text: &str) -> String {
        loop {
            match self.stderr.recv_timeout(HANG_GUARD) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no stderr line with '{text}'; stderr:\n{}", self.stderr_text()),
            }
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr_text.lock().unwrap().clone()
    }

    fn interrupt(&self) {
        // SAFETY: a plain kill(2) of our own child.
        let result = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        assert_eq!(result, 0);
    }

    /// Closes standard input (unless `keep_input`), reads the rest of the output and waits for
    /// the exit: (exit code, the remaining output lines, all of stderr).
    fn finish_with(mut self, keep_input: bool) -> (i32, Vec<String>, String) {
        if !keep_input {
            drop(self.stdin.take());
        }
        let mut rest = Vec::new();
        loop {
            match self.stdout.recv_timeout(HANG_GUARD) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("udfbox did not end (hang guard); stderr:\n{}", self.stderr_text());
                }
            }
        }
        let status = self.child.wait().unwrap();
        // The stderr thread ends with the process; wait for it to have read everything.
        while self.stderr.recv_timeout(HANG_GUARD).is_ok() {}
        let stderr = self.stderr_text();
        assert_no_panic(&stderr);
        (status.code().unwrap_or(-1), rest, stderr)
    }

    fn finish(self) -> (i32, Vec<String>, String) {
        self.finish_with(false)
    }
}

/// A thread forwarding `pipe`'s lines to a channel (and into `all`, when given).
fn lines(pipe: impl std::io::Read + Send + 'static, all: Option<Arc<Mutex<String>>>) -> Receiver<String> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(all) = &all {
                all.lock().unwrap().push_str(&format!("{line}\n"));
            }
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn event(n: i64, s: &str) -> String {
    format!(r#"{{"n": {n}, "s": "{s}"}}"#)
}

/// `udfbox sql` with the test UDFs over `--table e=-` in `mode`, with `bundle` knobs
/// (`bundle.size=1` ... for `--config python.fn-execution.bundle.size=1`) and `extra` flags.
fn over_stdin(mode: &str, bundle: &[&str], extra: &[&str], query: &str) -> Running {
    let config: Vec<String> = bundle.iter().map(|knob| format!("python.fn-execution.{knob}")).collect();
    let mut args = vec!["--mode", mode, "--table", "e=-"];
    for knob in &config {
        args.extend(["--config", knob.as_str()]);
    }
    args.extend(extra);
    args.push(query);
    Running::start(true, &args)
}

/// With bundle.size=1 each event's result arrives before the next event is written, in every
/// mode, and the modes agree.
#[test]
fn each_result_arrives_before_the_next_event() {
    let mut outputs = Vec::new();
    for mode in MODES {
        let mut run = over_stdin(&mode.to_string(), &["bundle.size=1"], &[], "SELECT n, shout(s) AS loud FROM e");
        let mut seen = Vec::new();
        for (n, s) in [(1, "ada"), (2, "bob"), (3, "cy")] {
            run.send(&event(n, s));
            seen.push(run.line());
        }
        let (code, rest, stderr) = run.finish();
        assert_eq!((code, rest.len()), (0, 0), "{mode}: {stderr}");
        assert_eq!(seen, [r#"{"n":1,"loud":"ADA!"}"#, r#"{"n":2,"loud":"BOB!"}"#, r#"{"n":3,"loud":"CY!"}"#], "{mode}");
        outputs.push(seen);
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "the modes disagree: {outputs:?}");
}

/// UDFs for comparing `bundle.size=1` (one-row bundles: the row path) with bundles of many rows
/// (the batch path), after [`WHICH_PATH_PY`]. `path` and `decimal_path` tell which path called
/// them.
const PATH_UDFS: &str = r#"
from udfbox import DataTypes, udf

path = udf(lambda n: _path(), [DataTypes.BIGINT()], DataTypes.STRING())
# A DECIMAL argument has no compact row encoding: always a batch.
decimal_path = udf(lambda x: _path(), [DataTypes.DECIMAL(10, 2)], DataTypes.STRING())

@udf(input_types=[DataTypes.STRING()], result_type=DataTypes.STRING())
def shout(s):
    return None if s is None else s.upper() + "!"

@udf(input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def quotient(a, b):
    print("quotient of", a, "and", b)
    if b == 0:
        raise ValueError("no dividing %d by zero" % a)
    return None if a is None or b is None else a // b

double_cents = udf(lambda x: None if x is None else x * 2, [DataTypes.DECIMAL(10, 2)], DataTypes.DECIMAL(10, 2))
widen = udf(lambda a: None if a is None else a * 2**40, [DataTypes.INT()], DataTypes.INT())

@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def spin(n):
    while n == 13:
        pass
    return n
"#;

const PATH_SCHEMA: &str = "e=n BIGINT, m BIGINT, s STRING";

/// Bundling that sends every event to the UDFs alone, and bundling that sends them all in one
/// bundle at end of input.
const ONE_ROW: &str = "python.fn-execution.bundle.size=1";
const ONE_BUNDLE: &str = "python.fn-execution.bundle.time=1h";

/// `query` over `events` (all written, then the input closed) in `mode` with `bundling` and
/// `extra` flags: (exit code, output lines, stderr).
fn run_bundled(mode: Mode, bundling: &str, extra: &[&str], events: &[&str], query: &str) -> (i32, Vec<String>, String) {
    let mode = mode.to_string();
    let fixed = ["--mode", &mode, "--table", "e=-", "--schema", PATH_SCHEMA, "--config", bundling];
    let source = format!("{WHICH_PATH_PY}{PATH_UDFS}");
    let mut run = Running::start_with(Some(&source), &[&fixed[..], extra, &[query]].concat());
    for event in events {
        run.send(event);
    }
    // Tracebacks name the UDF file, in a directory of its own per run.
    let dir = run.dir.path().display().to_string();
    let (code, rows, stderr) = run.finish();
    (code, rows, stderr.replace(&dir, "<dir>"))
}

/// What UDFs printed (the lines udfbox forwards from them, not its own reports about them).
fn printed(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("[udf ") && !l.contains("rows became NULL")).collect()
}

/// udfbox's closing report (rows nulled, first errors, fuel used) or its error: from the first
/// line it writes itself after the start, to the end.
fn closing(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("error: ") || (l.starts_with("udfbox: ") && !l.starts_with("udfbox: note:")))
        .unwrap_or(lines.len());
    lines[start..].join("\n")
}

/// With `bundle.size=1` a scalar UDF with a compact row encoding is called through the row path,
/// one without (a DECIMAL argument) as a one-row batch; with bundles of several rows, every
/// call is a batch. In every mode.
#[test]
fn bundle_size_one_takes_the_row_path() {
    let events = [r#"{"n": 1}"#, r#"{"n": 2}"#];
    let query = "SELECT path(n) AS p, decimal_path(CAST(n AS DECIMAL(10, 2))) AS d FROM e";
    for mode in MODES {
        let (code, one_row, stderr) = run_bundled(mode, ONE_ROW, &[], &events, query);
        assert_eq!(code, 0, "{mode}: {stderr}");
        assert_eq!(one_row, [r#"{"p":"row","d":"batch"}"#; 2], "{mode}");
        let (code, one_bundle, stderr) = run_bundled(mode, ONE_BUNDLE, &[], &events, query);
        assert_eq!(code, 0, "{mode}: {stderr}");
        assert_eq!(one_bundle, [r#"{"p":"batch","d":"batch"}"#; 2], "{mode}");
    }
}

/// The row path under `bundle.size=1` gives what the batch path gives for the same events, in
/// every mode: values, NULL inputs, STRING and DECIMAL (no row encoding) results, exceptions
/// and bad results under `--on-error null` (the rows nulled, the first error reported), what
/// the UDFs print, and under `--on-error fail` the error that ends the query. The failing
/// event comes first, so that it is row 0 of its batch under either bundling.
#[test]
fn bundle_size_one_matches_the_batch_path() {
    let events = [
        r#"{"n": 7, "m": 0, "s": "ada"}"#,
        r#"{"n": 8, "m": null, "s": null}"#,
        r#"{"n": 0, "m": 3, "s": "é straße"}"#,
        r#"{"n": 9, "m": 0, "s": "x"}"#,
    ];
    let query = "SELECT n, shout(s) AS loud, quotient(n, m) AS q, double_cents(CAST(n AS DECIMAL(10, 2))) AS c, \
                 widen(CAST(n AS INT)) AS w FROM e";
    let mut per_mode = Vec::new();
    for mode in MODES {
        let mut outcomes = Vec::new();
        for policy in [&["--on-error", "null"][..], &["--format", "csv"]] {
            let (code, rows, stderr) = run_bundled(mode, ONE_ROW, policy, &events, query);
            let (batch_code, batch_rows, batch_stderr) = run_bundled(mode, ONE_BUNDLE, policy, &events, query);
            assert_eq!((code, &rows), (batch_code, &batch_rows), "{mode} {policy:?}: {stderr}\n{batch_stderr}");
            assert_eq!(printed(&stderr), printed(&batch_stderr), "{mode} {policy:?}");
            assert_eq!(closing(&stderr), closing(&batch_stderr), "{mode} {policy:?}");
            outcomes.push((code, rows, printed(&stderr).join("\n"), closing(&stderr)));
        }
        per_mode.push(outcomes);
    }
    assert!(per_mode.windows(2).all(|w| w[0] == w[1]), "the modes disagree: {per_mode:#?}");
    // What they agree on, so that two equally wrong paths cannot pass.
    let [(code, rows, printed, closing), (fail_code, fail_rows, fail_printed, fail_closing)] = &per_mode[0][..] else {
        unreachable!()
    };
    assert_eq!(*code, 0);
    assert_eq!(
        rows,
        &[
            r#"{"n":7,"loud":"ADA!","q":null,"c":14.00,"w":null}"#,
            r#"{"n":8,"loud":null,"q":null,"c":16.00,"w":null}"#,
            r#"{"n":0,"loud":"É STRASSE!","q":0,"c":0.00,"w":0}"#,
            r#"{"n":9,"loud":"X!","q":null,"c":18.00,"w":null}"#,
        ]
    );
    let quotients = ["7 and 0", "8 and None", "0 and 3", "9 and 0"].map(|q| format!("[udf quotient] quotient of {q}"));
    assert_eq!(printed, &quotients.join("\n"));
    assert!(
        closing.starts_with(
            "udfbox: quotient: 2 rows became NULL (on-error null); first error: function 'quotient' raised \
             ValueError: no dividing 7 by zero (row 0 of the batch)"
        ) && closing.contains("udfbox: widen: 3 rows became NULL (on-error null); first error: function 'widen' returned a bad result: row 0:"),
        "{closing}"
    );
    assert_eq!((*fail_code, fail_rows.as_slice()), (1, &["n,loud,q,c,w".to_string()][..]));
    assert_eq!(fail_printed, &quotients[0]);
    assert!(
        fail_closing
            .starts_with("error: function 'quotient' raised ValueError: no dividing 7 by zero (row 0 of the batch)"),
        "{fail_closing}"
    );
}

/// A call that runs past its limit (fuel in the sandbox, the timeout in a worker process) under
/// `bundle.size=1` fails the query, or under `--on-error null` nulls its row, as it does in a
/// batch, with the same report; the fuel the row path burns is metered as the batch path's is.
#[test]
fn bundle_size_one_meets_limits_as_the_batch_path_does() {
    let events = [r#"{"n": 13}"#, r#"{"n": 1}"#, r#"{"n": 2}"#];
    let query = "SELECT n, spin(n) AS r FROM e";
    for (mode, limit) in [(Mode::Wasm, ["--fuel", "20000000"]), (Mode::Process, ["--timeout", "1s"])] {
        for policy in ["null", "fail"] {
            let flags = [&limit[..], &["--on-error", policy]].concat();
            let (code, rows, stderr) = run_bundled(mode, ONE_ROW, &flags, &events, query);
            let (batch_code, batch_rows, batch_stderr) = run_bundled(mode, ONE_BUNDLE, &flags, &events, query);
            assert_eq!((code, &rows), (batch_code, &batch_rows), "{mode} {policy}: {stderr}\n{batch_stderr}");
            // Fuel used differs by path (a batch that faults is replayed): compared apart.
            let without_fuel = |text: &str| {
                closing(text).lines().filter(|l| !l.starts_with("udfbox: fuel used")).collect::<Vec<_>>().join("\n")
            };
            assert_eq!(without_fuel(&stderr), without_fuel(&batch_stderr), "{mode} {policy}");
            let fault = if mode == Mode::Wasm {
                "function 'spin' ran out of fuel after 20000000 units"
            } else {
                "function 'spin' timed out after 1s"
            };
            if policy == "null" {
                assert_eq!(code, 0, "{mode}: {stderr}");
                assert_eq!(rows, [r#"{"n":13,"r":null}"#, r#"{"n":1,"r":1}"#, r#"{"n":2,"r":2}"#], "{mode}");
                let report = format!(
                    "udfbox: spin: 1 rows became NULL (on-error null); first error: {fault} (caused by row 0 of the batch)"
                );
                assert!(closing(&stderr).contains(&report), "{mode}: {stderr}");
            } else {
                assert_eq!((code, rows.len()), (1, 0), "{mode}: {stderr}");
                assert!(closing(&stderr).starts_with(&format!("error: {fault}")), "{mode}: {stderr}");
            }
            if mode == Mode::Wasm && policy == "null" {
                // The exhausted call's fuel is metered too, on either path (a failed query
                // reports none).
                for text in [&stderr, &batch_stderr] {
                    let used = text.lines().find_map(|l| l.strip_prefix("udfbox: fuel used by spin: "));
                    assert!(used.and_then(|u| u.parse::<u64>().ok()).is_some_and(|u| u >= 20_000_000), "{text}");
                }
            }
        }
    }
}

/// bundle.time sends a bundle that is not full to the UDF once its oldest row has waited: with
/// bundle.size 1000, each lone event still gets its result (in a bundle of one).
#[test]
fn bundle_time_flushes_a_partial_bundle() {
    let query = "SELECT n, bundle_rows(n) AS rows FROM e";
    let mut run = over_stdin("native", &["bundle.size=1000", "bundle.time=20"], &[], query);
    for n in 1..=2 {
        run.send(&event(n, "x"));
        assert_eq!(run.line(), format!(r#"{{"n":{n},"rows":1}}"#));
    }
    let (code, rest, stderr) = run.finish();
    assert_eq!((code, rest.len()), (0, 0), "{stderr}");
}

/// bundle.size cuts bundles: with a bundle time of an hour, six events written at once come back
/// as two bundles of three before the input ends; the seventh comes at end of input, alone.
#[test]
fn bundle_size_cuts_bundles() {
    let query = "SELECT n, bundle_rows(n) AS rows FROM e";
    let mut run = over_stdin("native", &["bundle.size=3", "bundle.time=1h"], &[], query);
    for n in 1..=6 {
        run.send(&event(n, "x"));
    }
    let expected: Vec<String> = (1..=6).map(|n| format!(r#"{{"n":{n},"rows":3}}"#)).collect();
    assert_eq!(run.lines(6), expected);
    run.send(&event(7, "x"));
    let (code, rest, stderr) = run.finish();
    assert_eq!((code, rest), (0, vec![r#"{"n":7,"rows":1}"#.to_string()]), "{stderr}");
}

/// A filter, a scalar UDF and a table function over a stream, in every mode: each event's rows
/// come out before the next event is written, and an event the filter drops produces nothing
/// (the next event's rows come next).
#[test]
fn filter_scalar_udf_and_table_function() {
    let query = "SELECT n, w, len, shout(w) AS loud FROM e, LATERAL TABLE(words(s)) AS T(w, len) \
                 WHERE n % 2 = 1 AND shout(s) <> 'SKIP ME!'";
    let mut outputs = Vec::new();
    for mode in MODES {
        // Bundles cut by time, far below the batch size: a filter that gathers rows up to the
        // batch size (DataFusion's FilterExec does) would hold every result back.
        let bundle = ["bundle.size=1000", "bundle.time=10"];
        let mut run = over_stdin(&mode.to_string(), &bundle, &["--format", "csv"], query);
        // The columns come from the first event, so the CSV header comes with its results.
        run.send(&event(1, "a bb"));
        let mut seen = run.lines(3);
        run.send(&event(2, "dropped by n"));
        run.send(&event(3, "skip me"));
        run.send(&event(5, "ccc"));
        seen.push(run.line());
        let (code, rest, stderr) = run.finish();
        assert_eq!((code, rest.len()), (0, 0), "{mode}: {stderr}");
        assert_eq!(seen, ["n,w,len,loud", "1,a,1,A!", "1,bb,2,BB!", "5,ccc,3,CCC!"], "{mode}");
        outputs.push(seen);
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "the modes disagree: {outputs:?}");
}

/// End of input flushes the pending bundle: nothing is held back, in every mode.
#[test]
fn end_of_input_flushes_everything() {
    for mode in MODES {
        let mut run = over_stdin(&mode.to_string(), &["bundle.time=1h"], &[], "SELECT shout(s) AS loud FROM e");
        for n in 1..=5 {
            run.send(&event(n, &format!("e{n}")));
        }
        let (code, rest, stderr) = run.finish();
        assert_eq!(code, 0, "{mode}: {stderr}");
        let expected: Vec<String> = (1..=5).map(|n| format!(r#"{{"loud":"E{n}!"}}"#)).collect();
        assert_eq!(rest, expected, "{mode}");
    }
}

/// SIGINT ends the query cleanly (exit 0) after every row read so far produced its result, in
/// every mode. The bad fourth line's report on stderr shows the three before it were read.
#[test]
fn interrupt_ends_cleanly_with_nothing_lost() {
    for mode in MODES {
        let mut run = over_stdin(&mode.to_string(), &["bundle.time=1h"], &[], "SELECT n, shout(s) AS loud FROM e");
        for n in 1..=3 {
            run.send(&event(n, "x"));
        }
        run.send("not an event");
        run.stderr_line("line 4 skipped");
        run.interrupt();
        let (code, rest, stderr) = run.finish_with(true);
        assert_eq!(code, 0, "{mode}: {stderr}");
        let expected: Vec<String> = (1..=3).map(|n| format!(r#"{{"n":{n},"loud":"X!"}}"#)).collect();
        assert_eq!(rest, expected, "{mode}: {stderr}");
    }
}

/// Lines that are not rows of the table are reported with their line number and skipped.
#[test]
fn bad_lines_are_reported_and_skipped() {
    let mut run = Running::start(false, &["--table", "e=-", "SELECT n, s FROM e"]);
    for line in [&event(1, "a"), "not json", r#"{"n": "one"}"#, "[1, 2]", "", &event(6, "b")] {
        run.send(line);
    }
    let (code, rest, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rest, [r#"{"n":1,"s":"a"}"#, r#"{"n":6,"s":"b"}"#]);
    for (line, reason) in [(2, "not JSON"), (3, "one"), (4, "not a JSON object")] {
        assert!(
            stderr.lines().any(|l| l.contains(&format!("table e: line {line} skipped")) && l.contains(reason)),
            "line {line}: {stderr}"
        );
    }
    assert!(!stderr.contains("line 5"), "a blank line is not an error: {stderr}");
}

/// `--on-bad-input fail` ends the query at the first bad line, with an error naming it, after
/// the rows before it were written.
#[test]
fn on_bad_input_fail_stops_with_a_clear_error() {
    let mut run = Running::start(
        false,
        &[
            "--table",
            "e=-",
            "--on-bad-input",
            "fail",
            "--config",
            "python.fn-execution.bundle.size=1",
            "SELECT n FROM e",
        ],
    );
    run.send(&event(1, "a"));
    assert_eq!(run.line(), r#"{"n":1}"#);
    run.send(r#"{"n": 2.5x}"#);
    let (code, rest, stderr) = run.finish_with(true);
    assert_eq!((code, rest.len()), (1, 0), "{stderr}");
    assert!(stderr.contains("error: table e: bad input at line 2: not JSON"), "{stderr}");
}

/// A declared schema: the CSV header comes before any input, missing fields are NULL, and the
/// declared types hold (an integer where DOUBLE is declared is a DOUBLE).
#[test]
fn declared_schema() {
    let mut run = Running::start(
        false,
        &[
            "--table",
            "e=-",
            "--schema",
            "e=n BIGINT, s STRING, x DOUBLE",
            "--format",
            "csv",
            "--config",
            "python.fn-execution.bundle.size=1",
            "SELECT n, s, x * 2 AS x2 FROM e",
        ],
    );
    assert_eq!(run.line(), "n,s,x2");
    run.send(r#"{"s": "only s"}"#);
    assert_eq!(run.line(), ",only s,");
    run.send(r#"{"n": 2, "x": 1}"#);
    assert_eq!(run.line(), "2,,2.0");
    let (code, rest, stderr) = run.finish();
    assert_eq!((code, rest.len()), (0, 0), "{stderr}");
}

/// CSV lines (`-.csv`): a header, then records whose types come from the first one.
#[test]
fn csv_input() {
    let query = "SELECT n + 1 AS next, shout(s) AS loud FROM e";
    let config = "python.fn-execution.bundle.size=1";
    let mut run = Running::start(true, &["--mode", "native", "--table", "e=-.csv", "--config", config, query]);
    run.send("n,s");
    run.send("1,ann");
    assert_eq!(run.line(), r#"{"next":2,"loud":"ANN!"}"#);
    run.send(r#"2,"b, ""c""""#);
    assert_eq!(run.line(), r#"{"next":3,"loud":"B, \"C\"!"}"#);
    run.send("x,bad");
    run.send("3,");
    assert_eq!(run.line(), r#"{"next":4,"loud":null}"#);
    let (code, rest, stderr) = run.finish();
    assert_eq!((code, rest.len()), (0, 0), "{stderr}");
    assert!(stderr.contains("table e: line 4 skipped: column 'n'"), "{stderr}");
}

/// A named pipe streams the same way as standard input.
#[test]
fn named_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("events");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let table = format!("e={}", fifo.display());
    let run = Running::start(
        false,
        &["--table", &table, "--config", "python.fn-execution.bundle.size=1", "SELECT n * 10 AS n FROM e"],
    );
    // Opening blocks until udfbox opens the other end.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    for n in 1..=2 {
        writeln!(writer, "{}", event(n, "x")).unwrap();
        writer.flush().unwrap();
        assert_eq!(run.line(), format!(r#"{{"n":{}}}"#, n * 10));
    }
    drop(writer);
    let (code, rest, stderr) = run.finish_with(true);
    assert_eq!((code, rest.len()), (0, 0), "{stderr}");
}

/// What cannot stream is a clear error, at once, without waiting for input: an aggregate, an
/// ORDER BY, and the table format.
#[test]
fn what_cannot_stream_fails_clearly() {
    let schema = ["--table", "e=-", "--schema", "e=n BIGINT"];
    for (args, message) in [
        (vec!["SELECT count(*) FROM e"], "needs its whole input"),
        (vec!["SELECT n FROM e ORDER BY n"], "needs its whole input"),
        (vec!["--format", "table", "SELECT n FROM e"], "--format table"),
        (vec!["--schema", "x=n INT", "SELECT n FROM e"], "not a streaming table"),
    ] {
        let run = Running::start(false, &[&schema[..], &args[..]].concat());
        let (code, rest, stderr) = run.finish_with(true);
        assert_eq!((code, rest.len()), (1, 0), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// The README's streaming example prints what the README shows.
#[test]
fn readme_streaming_example() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .find(|b| b.starts_with("$ printf"))
        .expect("a streaming example in the README");
    let (command, shown) = block.split_once("\"\n").unwrap();
    let input = command.split('\'').nth(1).unwrap().replace("\\n", "\n");
    let (args, query) = command.split_once("| udfbox sql ").unwrap().1.split_once(" \"").unwrap();
    let args: Vec<&str> = args.split_whitespace().filter(|a| *a != "\\").chain([query]).collect();
    for mode in MODES {
        let mode = mode.to_string();
        let mut run = Running::start(false, &[&args[..], &["--mode", &mode]].concat());
        for line in input.lines() {
            run.send(line);
        }
        let (code, rest, stderr) = run.finish();
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(rest.join("\n"), shown.trim_end(), "{mode}");
    }
}
