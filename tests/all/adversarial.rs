//! The adversarial corpus: every `udfs/adversarial/*.py` file is one attack, and its header says
//! exactly how the sandbox must end it (`# expect: ...`). A file without that line fails this
//! test, so no attack can be added without its assertion. After each attack the same function
//! set must still answer a good call correctly (the sandbox was replaced if it had to be), and a
//! fresh set must too. `# message: TEXT` also asserts what the error says, and no error may show
//! a control character. `# repeat: N` calls the attack N more times in one sandbox, each with
//! the same outcome, and asserts the sandbox's memory stayed flat over them. Wasm mode only: native mode is for trusted code and holds against none.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use udfbox::{shown, Error, FunctionSet, Limits, Mode, Options, UdfErrorKind};

use crate::harness::repo_root;

const GOOD: &str = "from udfbox import udf\ngood = udf(lambda x: x + 1, ['BIGINT'], 'BIGINT')\n";

struct Attack {
    name: String,
    source: String,
    expect: String,
    /// `# after: tenant-corrupted`: the attack patched its own tenant's runtime, so that tenant's
    /// later calls may fail too (with typed errors); other tenants must not notice.
    corrupts_own_tenant: bool,
    /// `# message: TEXT`: the error, as displayed, contains TEXT.
    message: Option<String>,
    /// `# repeat: N`: N more calls, each with the expected outcome, in a sandbox whose memory
    /// must not grow over them.
    repeat: usize,
    limits: Limits,
}

fn attacks() -> Vec<Attack> {
    let dir = repo_root().join("udfs/adversarial");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        // UDFBOX_ATTACK=name runs one attack, when working on it.
        .filter(|p| {
            std::env::var("UDFBOX_ATTACK").map_or(true, |only| p.file_stem().is_some_and(|s| s == only.as_str()))
        })
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).unwrap();
            let header = |key: &str| {
                source.lines().take_while(|l| l.starts_with('#')).find_map(|l| l.strip_prefix(&format!("# {key}: ")))
            };
            let expect: String =
                header("expect").unwrap_or_else(|| panic!("{name}.py has no '# expect:' line")).to_string();
            assert!(header("attack").is_some(), "{name}.py has no '# attack:' line");
            // Attacks meant to time out get a short limit; every other attack a long one, so
            // that no outcome depends on how fast this machine is.
            let timeout = if expect.ends_with("timeout") { 2 } else { 60 };
            let mut limits = Limits { timeout: Duration::from_secs(timeout), ..Limits::default() };
            if let Some(spec) = header("limits") {
                let fuel = spec.strip_prefix("fuel=").unwrap_or_else(|| panic!("{name}: unknown limit {spec}"));
                limits.fuel = Some(fuel.parse().unwrap());
            }
            let corrupts_own_tenant = match header("after") {
                None => false,
                Some("tenant-corrupted") => true,
                Some(other) => panic!("{name}: unknown '# after: {other}'"),
            };
            let message = header("message").map(str::to_string);
            let repeat = header("repeat").map_or(0, |n| n.parse().unwrap_or_else(|_| panic!("{name}: bad repeat")));
            if repeat > 0 {
                limits.max_instances = 1; // one sandbox, whose memory the repeats watch
            }
            Attack { name, source, expect, corrupts_own_tenant, message, repeat, limits }
        })
        .collect()
}

fn one() -> ArrayRef {
    Arc::new(Int64Array::from(vec![1]))
}

/// The outcome of an attack, as a string comparable with the `# expect:` line.
fn outcome(result: Result<ArrayRef, Error>, at_load: bool) -> String {
    let prefix = if at_load { "load-" } else { "" };
    match result {
        Ok(array) => {
            let text = if let Some(ints) = array.as_any().downcast_ref::<Int64Array>() {
                ints.value(0).to_string()
            } else if let Some(strings) = array.as_any().downcast_ref::<StringArray>() {
                match strings.value(0) {
                    long if long.len() > 80 => format!("{} chars", long.chars().count()),
                    short => short.to_string(),
                }
            } else {
                format!("{array:?}")
            };
            format!("result:{text}")
        }
        Err(Error::Timeout { .. }) => format!("{prefix}timeout"),
        Err(Error::MemoryLimit { .. }) => format!("{prefix}memory"),
        Err(Error::FuelExhausted { .. }) => format!("{prefix}fuel"),
        Err(Error::StackOverflow { .. }) => format!("{prefix}stack"),
        Err(Error::Sandbox { .. }) => format!("{prefix}sandbox"),
        Err(Error::Invalid(_)) => format!("{prefix}invalid"),
        Err(Error::Udf(e)) => match e.kind {
            // A record the host had to clip (bounds.rs) is named as such, not spelled out.
            UdfErrorKind::Exception if e.exception_type.contains("[udfbox: ") => "exception:clipped".into(),
            UdfErrorKind::Exception => format!("exception:{}", shown::line(&e.exception_type)),
            UdfErrorKind::BadResult => "bad-result".into(),
            UdfErrorKind::Load | UdfErrorKind::Syntax => format!("load:{}", shown::line(&e.exception_type)),
            UdfErrorKind::BadRequest => format!("bad-request:{}", shown::line(&e.message)),
        },
        Err(other) => format!("other:{other}"),
    }
}

/// Bytes of host log an attack may cause in all: its load and call, two good calls and a metrics
/// read, each bounded (64 KiB of captured output per call, 64 KiB per raw pipe).
const MAX_LOG_BYTES: usize = 1 << 20;

/// Bytes of host log one more call may cause: its output's log lines are capped at 128 KiB.
const MAX_LOG_BYTES_PER_CALL: usize = 128 << 10;
/// An error's text, as a user would see it, must stay small whatever the guest reported.
const MAX_ERROR_BYTES: usize = 64 << 10;

/// A log writer that counts bytes: what an attack makes the host print.
#[derive(Clone, Default)]
struct CountingWriter(Arc<std::sync::atomic::AtomicUsize>);

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs an attack with the host log of this thread counted; checks the bounds on what reached it.
fn run(attack: &Attack, snapshot: bool) -> Result<(), String> {
    let logged = CountingWriter::default();
    let writer = logged.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || run_attack(attack, snapshot))?;
    let bytes = logged.0.load(std::sync::atomic::Ordering::Relaxed);
    let bound = MAX_LOG_BYTES + attack.repeat * MAX_LOG_BYTES_PER_CALL;
    if bytes > bound {
        return Err(format!("{}: the host logged {bytes} bytes (bound {bound})", attack.name));
    }
    Ok(())
}

/// `snapshot`: the set snapshots after `open()` (`Options::snapshot`), so an attack in `open()`
/// runs at load.
fn run_attack(attack: &Attack, snapshot: bool) -> Result<(), String> {
    let options = Options { mode: Mode::Wasm, limits: attack.limits.clone(), snapshot, ..Default::default() };
    let mut set = FunctionSet::new(options).map_err(|e| e.to_string())?;
    set.load_source("good.py", GOOD).map_err(|e| e.to_string())?;
    let file = format!("udfs/adversarial/{}.py", attack.name);
    let (result, at_load) = match set.load_source(&file, &attack.source) {
        Err(e) => (Err(e), true),
        Ok(_) => (set.call("attack", &[one()], 1), false),
    };
    // Whatever the attack put in its error, the host shows no control character but line breaks,
    // and no more than a bounded amount of text.
    let shown = result.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    if shown.len() > MAX_ERROR_BYTES {
        return Err(format!("{}: an error of {} bytes reached the user", attack.name, shown.len()));
    }
    if let Some(c) = shown.chars().find(|&c| c.is_control() && c != '\n' && c != '\t') {
        return Err(format!("{}: the error shows the control character {c:?}: {shown:?}", attack.name));
    }
    if let Some(message) = attack.message.as_ref().filter(|m| !shown.contains(m.as_str())) {
        return Err(format!("{}: the error does not say {message:?}: {shown}", attack.name));
    }
    let got = outcome(result, at_load);
    // With a snapshot, `open()` runs at load: where an attack failed may move there.
    let same = |got: &str| match snapshot {
        true => got.trim_start_matches("load-") == attack.expect.trim_start_matches("load-"),
        false => got == attack.expect,
    };
    if !same(&got) {
        return Err(format!("{}: expected {}, got {got}", attack.name, attack.expect));
    }
    if attack.repeat > 0 {
        repeat(attack, &set)?;
    }
    // What the runtime reports of its metrics is within the host's bounds, whatever it registered.
    match set.metrics() {
        Ok(metrics) => {
            if let Some(m) = metrics.iter().find(|m| m.group.len() > 16 || m.name.len() > 256) {
                return Err(format!("{}: a metric beyond the bounds reached the user: {:.80?}", attack.name, m.group));
            }
        }
        Err(Error::Udf(_)) if attack.corrupts_own_tenant => {}
        Err(e) => return Err(format!("{}: reading metrics failed: {e}", attack.name)),
    }
    // The host, this tenant's set and a fresh set are all still healthy.
    for _ in 0..2 {
        if attack.corrupts_own_tenant {
            match set.call("good", &[one()], 1) {
                Ok(_) | Err(Error::Udf(_)) => continue,
                Err(other) => return Err(format!("{}: the corrupted tenant failed untyped: {other}", attack.name)),
            }
        }
        let good =
            set.call("good", &[one()], 1).map_err(|e| format!("{}: good call failed after: {e}", attack.name))?;
        if good.as_ref() != &Int64Array::from(vec![2]) {
            return Err(format!("{}: good call returned {good:?}", attack.name));
        }
    }
    let mut fresh = FunctionSet::new(Options { mode: Mode::Wasm, ..Default::default() }).map_err(|e| e.to_string())?;
    fresh.load_source("good.py", GOOD).map_err(|e| e.to_string())?;
    fresh.call("good", &[one()], 1).map_err(|e| format!("{}: a fresh set failed: {e}", attack.name))?;
    Ok(())
}

/// What a sandbox may grow by over an attack's repeats: the interpreter's own slack.
const REPEAT_GROWTH_BOUND: usize = 128 << 10;

/// `# repeat: N`: the same outcome N more times, and the sandbox's memory flat meanwhile (after
/// a tenth of them, so that the interpreter's caches have settled).
fn repeat(attack: &Attack, set: &FunctionSet) -> Result<(), String> {
    let settle = attack.repeat / 10;
    let mut before = 0;
    for call in 0..attack.repeat {
        if call == settle {
            before = set.memory_peak().unwrap();
        }
        let got = outcome(set.call("attack", &[one()], 1), false);
        if got != attack.expect {
            return Err(format!("{}: repeat {call}: expected {}, got {got}", attack.name, attack.expect));
        }
    }
    let grown = set.memory_peak().unwrap() - before;
    if grown > REPEAT_GROWTH_BOUND {
        return Err(format!("{}: the sandbox grew by {grown} bytes over {} repeats", attack.name, attack.repeat));
    }
    Ok(())
}

#[test]
fn every_attack_is_contained() {
    run_corpus(false);
}

/// The corpus again with snapshots after `open()`: attacks on the image and its restore (a
/// memory bomb or a busy loop in `open()`, handles held, stdout closed) are contained the same.
#[test]
fn every_attack_is_contained_with_snapshots() {
    run_corpus(true);
}

fn run_corpus(snapshot: bool) {
    let attacks = attacks();
    if std::env::var_os("UDFBOX_ATTACK").is_none() {
        assert!(attacks.len() >= 40, "the corpus shrank to {}", attacks.len());
    }
    let queue = std::sync::Mutex::new(attacks.iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let Some(attack) = queue.lock().unwrap().next() else { break };
                if let Err(failure) = run(attack, snapshot) {
                    failures.lock().unwrap().push(failure);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} attacks not contained as expected:\n{}",
        failures.len(),
        attacks.len(),
        failures.join("\n")
    );
}

/// Memory a UDF keeps across calls (here a cache that only grows) must not end a long query: the
/// sandbox is retired between calls once it has grown halfway to its limit, and the next call
/// runs in a fresh one.
#[test]
fn long_runs_stay_within_the_memory_limit() {
    const HOARDER: &str = "from udfbox import udf\n\
                           kept = []\n\
                           def hoard(x):\n    kept.append(bytearray(64 << 10))\n    return x + 1\n\
                           good = udf(hoard, ['BIGINT'], 'BIGINT')\n";
    let limits = Limits { memory_bytes: 48 << 20, max_instances: 1, ..Limits::default() };
    let mut set = FunctionSet::new(Options { mode: Mode::Wasm, limits, ..Default::default() }).unwrap();
    set.load_source("hoarder.py", HOARDER).unwrap();
    let batch: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1));
    let expected = Int64Array::from_iter_values(1..2);
    // 1,500 one-row calls keep 96 MiB in all: twice the limit.
    for call in 0..1500 {
        let result = set.call("good", std::slice::from_ref(&batch), 1).unwrap_or_else(|e| panic!("call {call}: {e}"));
        assert_eq!(result.as_ref(), &expected);
    }
    assert!(set.memory_peak().unwrap() <= 48 << 20);
}
