//! Process mode: the runtime in worker processes of the machine's CPython, PyFlink's default
//! execution model. Each worker runs the same `guest-runtime` package as the other two modes
//! (sent from [`sources`] when it starts) and exchanges batches over its stdin and stdout as
//! Arrow buffers in frames (see `guest-runtime/udfbox/worker.py` for the layout).
//!
//! Isolation is the operating system's: a UDF that crashes the interpreter, exhausts memory or
//! hangs ends its worker, not the host. The call fails with a typed error and the next call runs
//! in a fresh worker with the same UDF files loaded. A worker runs with the host user's rights
//! (files, network), so process mode is for trusted code, such as UDFs that need native packages
//! (numpy, pandas) the sandbox cannot load.
//!
//! Limits: [`Limits::timeout`] per call (the worker is killed), [`Limits::memory_bytes`] of
//! resident memory beyond the worker's size at start (checked every 10 ms while a call runs;
//! the worker is killed), [`Limits::max_instances`] workers per set. Fuel does not apply.
//!
//! Snapshot mode ([`crate::Options::snapshot`]): each load also runs `open()` of the loaded
//! functions, then the worker that ran them forks a template (one per set, outside the pool, never
//! called). Every worker made later, or one behind a later load, is a fork of the template: it
//! starts with the files loaded and `open()` run, without running either again. A fork has the
//! template's memory, not its threads: a thread `open()` started does not run in it. If the
//! template cannot fork, it is dropped and workers start and load the files as without a snapshot.

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::pool::{Lease, Load, Pool, Pooled};
use super::sources;
use crate::backend::{
    AggregateOp, Backend, CallResult, ErrorPolicy, FunctionInfo, Metric, MetricKind, Mode, Reply, RowReply, TableOutput,
};
use crate::error::{Error, Result, UdfError, UdfErrorKind};
use crate::limits::Limits;
use crate::wire::{PackedColumn, PackedNode, Span, WireColumn};

/// The interpreter workers run when [`crate::Options::python`] names none: `$UDFBOX_PYTHON`,
/// else `python3` on the `PATH`. Only the first worker of a set starts through it: it reports
/// the interpreter's own path, which later workers start directly, since `python3` is often a
/// launcher script (pyenv's shim costs ~140 ms per start on the benchmark machine).
pub fn default_python() -> PathBuf {
    std::env::var_os("UDFBOX_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("python3"))
}

/// Reads the first frame (the runtime's sources), installs them, and hands over to the worker.
const BOOTSTRAP: &str = r#"
import json, sys, zlib
size = int.from_bytes(sys.stdin.buffer.read(8), "little")
spec = json.loads(sys.stdin.buffer.read(size))
runtime = spec["runtime"]
importer = {"__name__": "_udfbox_embedded_importer"}
exec(compile(runtime["importer"], "<udfbox>/udfbox/stdlib.py", "exec"), importer)
sys.meta_path.insert(0, importer["BundledStdlib"]({
    name: (package, origin, zlib.compress(source.encode("utf-8")))
    for name, (package, origin, source) in runtime["modules"].items()}))
import udfbox.worker
udfbox.worker.main(spec)
"#;

/// The runtime's sources as the bootstrap reads them (`spec["runtime"]`), serialized once per
/// process: every worker start sends the same text.
fn runtime_sources() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let modules: serde_json::Map<String, Value> = sources::SOURCES
            .iter()
            .map(|(name, package, source)| {
                (name.to_string(), json!([package, sources::origin(name, *package), source]))
            })
            .collect();
        json!({ "importer": sources::importer_source(), "modules": modules }).to_string()
    })
}

/// How often a running call's worker is checked against the memory limit.
const MEMORY_POLL: Duration = Duration::from_millis(10);

/// The longest a worker may take to start and load the runtime.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes of a worker's stderr kept to explain its exit.
const STDERR_TAIL: usize = 4096;

/// One message: a JSON header and the binary buffers it refers to by index.
#[derive(Debug, Default)]
struct Frame {
    header: Value,
    buffers: Vec<Vec<u8>>,
}

impl Frame {
    fn encode(&self) -> Vec<u8> {
        let header = self.header.to_string();
        let size = 8 + header.len() + self.buffers.iter().map(|b| 8 + b.len()).sum::<usize>();
        let mut out = Vec::with_capacity(8 + size);
        out.extend_from_slice(&(size as u64).to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&(self.buffers.len() as u32).to_le_bytes());
        for buffer in &self.buffers {
            out.extend_from_slice(&(buffer.len() as u64).to_le_bytes());
            out.extend_from_slice(buffer);
        }
        out
    }

    /// Reads one frame; `None` at a clean end of the stream.
    fn read(stream: &mut impl Read) -> std::io::Result<Option<Frame>> {
        let mut size = [0u8; 8];
        match stream.read_exact(&mut size) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        // Read what arrives rather than allocating what the length claims: a broken worker must
        // not make the host allocate terabytes.
        let size = u64::from_le_bytes(size);
        let mut body = Vec::new();
        stream.take(size).read_to_end(&mut body)?;
        if body.len() as u64 != size {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the worker's reply ended early"));
        }
        Self::parse(&body)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed frame"))
            .map(Some)
    }

    fn parse(body: &[u8]) -> Option<Frame> {
        let mut position: usize = 0;
        let mut take = |n: usize| -> Option<&[u8]> {
            let bytes = body.get(position..position.checked_add(n)?)?;
            position += n;
            Some(bytes)
        };
        let header_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let header = serde_json::from_slice(take(header_len)?).ok()?;
        let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let mut buffers = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let len = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
            buffers.push(take(len)?.to_vec());
        }
        Some(Frame { header, buffers })
    }
}

/// A column's header entry; its buffers are appended to `buffers`.
fn column_header(column: WireColumn, buffers: &mut Vec<Vec<u8>>) -> Value {
    let nodes: Vec<Value> = column
        .nodes
        .into_iter()
        .map(|node| {
            buffers.push(node.validity);
            let validity = buffers.len() - 1;
            let indexes: Vec<usize> = node
                .buffers
                .into_iter()
                .map(|b| {
                    buffers.push(b);
                    buffers.len() - 1
                })
                .collect();
            json!([node.length, node.null_count, validity, indexes])
        })
        .collect();
    json!({ "t": column.data_type, "n": nodes })
}

fn columns_header(columns: Vec<WireColumn>, buffers: &mut Vec<Vec<u8>>) -> Value {
    Value::Array(columns.into_iter().map(|c| column_header(c, buffers)).collect())
}

fn malformed(what: &str) -> Error {
    Error::Sandbox { function: None, message: format!("the worker sent a malformed {what}") }
}

/// A packed column from its header entry `{"t", "n", "s", "d"}`; takes its data buffer.
fn packed_column(value: &Value, buffers: &mut [Vec<u8>]) -> Result<PackedColumn> {
    let parsed = (|| {
        let u32_of = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        let span = |v: &Value| Some(Span { offset: u32_of(v.get(0)?)?, length: u32_of(v.get(1)?)? });
        let nodes = value
            .get("n")?
            .as_array()?
            .iter()
            .map(|n| {
                Some(PackedNode {
                    length: u32_of(n.get(0)?)?,
                    null_count: u32_of(n.get(1)?)?,
                    validity: span(n.get(2)?)?,
                    first_buffer: u32_of(n.get(3)?)?,
                    buffer_count: u32_of(n.get(4)?)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let spans = value.get("s")?.as_array()?.iter().map(span).collect::<Option<Vec<_>>>()?;
        let data = std::mem::take(buffers.get_mut(value.get("d")?.as_u64()? as usize)?);
        Some(PackedColumn { data_type: value.get("t")?.as_str()?.to_string(), nodes, buffers: spans, data })
    })();
    parsed.ok_or_else(|| malformed("column"))
}

fn table_output(value: &Value, buffers: &mut [Vec<u8>]) -> Result<TableOutput> {
    let sources = packed_column(value.get("sources").ok_or_else(|| malformed("table"))?, buffers)?;
    let rows = packed_column(value.get("rows").ok_or_else(|| malformed("table"))?, buffers)?;
    Ok(TableOutput { sources, rows })
}

fn udf_error_of(value: &Value) -> UdfError {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    super::bounds::udf_error(UdfError {
        kind: UdfErrorKind::parse(&text("kind")),
        function: value.get("function").and_then(Value::as_str).map(str::to_string),
        row: value.get("row").and_then(Value::as_u64).and_then(|r| u32::try_from(r).ok()),
        exception_type: text("exception_type"),
        message: text("message"),
        traceback: text("traceback"),
    })
}

/// Resident memory of process `pid` in bytes, from `/proc` (Linux); `None` elsewhere.
fn resident_bytes(pid: u32) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Why a request did not get an answer.
enum Fault {
    Timeout,
    Memory,
    /// The worker exited or broke the protocol; the text says how.
    Exited(String),
}

/// A worker's process: one the host started, or a copy another worker forked (snapshot mode).
enum Process {
    Spawned(Child),
    Forked(ForkedProcess),
}

impl Process {
    fn id(&self) -> u32 {
        match self {
            Process::Spawned(child) => child.id(),
            Process::Forked(forked) => forked.pid,
        }
    }

    fn kill(&mut self) {
        match self {
            Process::Spawned(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Process::Forked(forked) => {
                forked.kill();
                forked.ended_within(Duration::from_secs(1));
            }
        }
    }

    /// Whether the process ended within `timeout`.
    fn ended_within(&mut self, timeout: Duration) -> bool {
        match self {
            Process::Spawned(child) => {
                let deadline = Instant::now() + timeout;
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => return true,
                        Ok(None) if Instant::now() >= deadline => return false,
                        Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            }
            Process::Forked(forked) => forked.ended_within(timeout),
        }
    }

    /// How the process ended (after `kill`).
    fn exit_status(&mut self) -> String {
        match self {
            Process::Spawned(child) => child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
            Process::Forked(forked) => forked.exit_status(),
        }
    }
}

/// A worker another worker forked. It is not the host's child (its parent reaps it), so the
/// host holds it by a pidfd, which keeps naming this process even once its pid is reused.
struct ForkedProcess {
    pid: u32,
    pidfd: OwnedFd,
}

impl ForkedProcess {
    #[cfg(target_os = "linux")]
    fn open(pid: u32) -> std::io::Result<Self> {
        let pid_t = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid_t, 0 as libc::c_uint) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = std::os::fd::RawFd::try_from(fd).map_err(std::io::Error::other)?;
        // SAFETY: the descriptor was just made for us and nothing else owns it.
        Ok(Self { pid, pidfd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    #[cfg(not(target_os = "linux"))]
    fn open(_pid: u32) -> std::io::Result<Self> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "forked workers need Linux's pidfd"))
    }

    fn kill(&self) {
        #[cfg(target_os = "linux")]
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0 as libc::c_uint,
            );
        }
    }

    /// Whether the process ended within `timeout`: its pidfd turns readable when it does.
    fn ended_within(&self, timeout: Duration) -> bool {
        let mut poll = libc::pollfd { fd: self.pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut poll, 1, millis) > 0 }
    }

    /// How the process ended, read from its zombie's `/proc/<pid>/stat` (`exit_code`, field 52),
    /// since only its parent may wait for it; `worker.py` reaps its copies at its next request.
    fn exit_status(&self) -> String {
        let status = (|| {
            let fields = proc_stat(self.pid)?;
            if fields.first()? != "Z" {
                return None;
            }
            Some(ExitStatus::from_raw(fields.get(49)?.parse().ok()?))
        })();
        status.map(|s| s.to_string()).unwrap_or_else(|| "exit status unknown".into())
    }
}

/// The fields of `/proc/<pid>/stat` from the third (state) on: those after the parenthesized
/// command name, which may itself hold spaces and parentheses.
fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace().map(str::to_string).collect())
}

/// One worker process and the pipes to it.
struct Worker {
    process: Process,
    stdin: Option<Box<dyn Write + Send>>,
    replies: Receiver<std::io::Result<Option<Frame>>>,
    stderr: Arc<Mutex<StderrTail>>,
    /// Resident memory once the runtime was loaded (or the worker forked): the memory limit
    /// counts from here.
    base_rss: usize,
    /// How many of the pool's loads this worker has run.
    loaded: usize,
    /// Set when the worker must not be used again (it failed, or a call on it did not end cleanly).
    broken: bool,
    /// The interpreter's own path, as the worker reported it.
    executable: Option<PathBuf>,
}

/// What a worker wrote to stderr: forwarded as UDF output, its tail kept to explain a crash.
#[derive(Default)]
struct StderrTail {
    pending: String,
    tail: VecDeque<u8>,
}

impl Worker {
    fn spawn(python: &Path, deps: Option<&Path>) -> Result<Self> {
        let mut child = Command::new(python)
            .args(["-u", "-c", BOOTSTRAP])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Io { path: python.display().to_string(), source: e })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut worker = Worker::attach(Process::Spawned(child), Box::new(stdin), stdout, stderr)?;
        let deps = deps.map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()));
        let spec = format!(r#"{{"runtime":{},"deps":{}}}"#, runtime_sources(), json!(deps));
        let mut hello = (spec.len() as u64).to_le_bytes().to_vec();
        hello.extend_from_slice(spec.as_bytes());
        // The first request proves the runtime imported; its reply is awaited like any other.
        let ping = Frame { header: json!({ "op": "hello" }), buffers: Vec::new() };
        let started = worker
            .send(&hello)
            .and_then(|()| worker.send(&ping.encode()))
            .and_then(|()| worker.receive(START_TIMEOUT, None).map_err(|fault| worker.describe(fault)));
        let reply = match started {
            Ok(reply) => reply,
            Err(message) => {
                worker.kill();
                return Err(Error::Sandbox {
                    function: None,
                    message: format!("the Python worker ({}) did not start: {message}", python.display()),
                });
            }
        };
        worker.executable = reply
            .header
            .pointer("/ok/executable")
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute() && path.exists());
        worker.take_stderr();
        worker.base_rss = resident_bytes(worker.process.id()).unwrap_or(0);
        Ok(worker)
    }

    /// A worker on a started process and its pipes: one reader thread turns its replies into a
    /// channel, another keeps what it writes to stderr. If a thread cannot start, the returned
    /// error drops the worker, which ends the process.
    fn attach(
        process: Process,
        stdin: Box<dyn Write + Send>,
        stdout: impl Read + Send + 'static,
        stderr_pipe: impl Read + Send + 'static,
    ) -> Result<Self> {
        let (sender, replies) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(StderrTail::default()));
        let worker = Worker {
            process,
            stdin: Some(stdin),
            replies,
            stderr: stderr.clone(),
            base_rss: 0,
            loaded: 0,
            broken: false,
            executable: None,
        };
        std::thread::Builder::new()
            .name("udfbox-worker-out".into())
            .spawn(move || {
                let mut stdout = BufReader::with_capacity(1 << 16, stdout);
                loop {
                    let frame = Frame::read(&mut stdout);
                    let end = !matches!(frame, Ok(Some(_)));
                    if sender.send(frame).is_err() || end {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Io { path: "worker thread".into(), source: e })?;
        std::thread::Builder::new()
            .name("udfbox-worker-err".into())
            .spawn(move || {
                let mut pipe = stderr_pipe;
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    let mut sink = stderr.lock().unwrap_or_else(|e| e.into_inner());
                    if sink.pending.len() < 64 * 1024 {
                        sink.pending.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    }
                    sink.tail.extend(&chunk[..n]);
                    let excess = sink.tail.len().saturating_sub(STDERR_TAIL);
                    sink.tail.drain(..excess);
                }
            })
            .map_err(|e| Error::Io { path: "worker thread".into(), source: e })?;
        Ok(worker)
    }

    /// A copy of this worker, forked by it (`worker.py`'s `_fork`): the same Python state (files
    /// loaded, `open()` run) in a new process serving on new pipes. The host makes the pipes and
    /// the worker opens their far ends through `/proc/<host pid>/fd` before it forks. A failure
    /// of the worker itself (no answer) ends it; one it reports leaves it usable.
    fn fork(&mut self) -> std::result::Result<Worker, String> {
        let pipe = || std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"));
        let (child_requests, requests) = pipe()?;
        let (replies, child_replies) = pipe()?;
        let (errors, child_errors) = pipe()?;
        let path = |fd: std::os::fd::RawFd| format!("/proc/{}/fd/{fd}", std::process::id());
        let header = json!({
            "op": "fork",
            "stdin": path(child_requests.as_raw_fd()),
            "stdout": path(child_replies.as_raw_fd()),
            "stderr": path(child_errors.as_raw_fd()),
        });
        let asked = self
            .send(&Frame { header, buffers: Vec::new() }.encode())
            .and_then(|()| self.receive(START_TIMEOUT, None).map_err(|fault| self.describe(fault)));
        let reply = match asked {
            Ok(reply) => reply,
            Err(message) => {
                self.kill();
                return Err(message);
            }
        };
        let pid = reply.header.pointer("/ok/pid").and_then(Value::as_u64).and_then(|pid| u32::try_from(pid).ok());
        let Some(pid) = pid else {
            let why = reply.header.get("fatal").and_then(Value::as_str).unwrap_or("a malformed reply");
            return Err(format!("the worker could not fork: {}", why.trim_end()));
        };
        // The copy holds its ends since the fork: the host's would only hide its exit.
        drop((child_requests, child_replies, child_errors));
        // Without a pidfd the copy cannot be named safely; closing its input (the dropped
        // `requests`) ends it.
        let process = ForkedProcess::open(pid).map_err(|e| format!("cannot hold the forked worker {pid}: {e}"))?;
        // The pid came from the worker: the host kills what it names, so it must be the worker's child.
        let parent = proc_stat(pid).and_then(|fields| fields.get(1)?.parse::<u32>().ok());
        if parent != Some(self.process.id()) {
            return Err(format!("process {pid}, which the worker named, is not its child"));
        }
        let mut copy =
            Worker::attach(Process::Forked(process), Box::new(requests), replies, errors).map_err(|e| e.to_string())?;
        // Its first frame, its pid on its own pipe, proves it took over its new pipes.
        match copy.receive(START_TIMEOUT, None) {
            Ok(hello) if hello.header.pointer("/ok/pid").and_then(Value::as_u64) == Some(u64::from(pid)) => {}
            Ok(_) => return Err("the forked worker sent a malformed first frame".into()),
            Err(fault) => return Err(format!("the forked worker did not start: {}", copy.describe(fault))),
        }
        copy.take_stderr();
        copy.base_rss = resident_bytes(pid).unwrap_or(0);
        copy.loaded = self.loaded;
        copy.executable = self.executable.clone();
        Ok(copy)
    }

    fn send(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the worker's input is closed")?;
        stdin.write_all(bytes).and_then(|()| stdin.flush()).map_err(|e| format!("cannot write to the worker: {e}"))
    }

    /// Waits for the reply to the request in flight, for at most `timeout`; with a memory limit,
    /// checks the worker's resident memory meanwhile.
    fn receive(&mut self, timeout: Duration, memory_limit: Option<usize>) -> std::result::Result<Frame, Fault> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Fault::Timeout);
            }
            let wait = if memory_limit.is_some() { MEMORY_POLL.min(deadline - now) } else { deadline - now };
            match self.replies.recv_timeout(wait) {
                Ok(Ok(Some(frame))) => return Ok(frame),
                Ok(Ok(None)) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(Fault::Exited("the worker exited".into()))
                }
                Ok(Err(e)) => return Err(Fault::Exited(format!("the worker's reply could not be read: {e}"))),
                Err(RecvTimeoutError::Timeout) => {
                    if let (Some(limit), Some(rss)) = (memory_limit, resident_bytes(self.process.id())) {
                        if rss.saturating_sub(self.base_rss) > limit {
                            return Err(Fault::Memory);
                        }
                    }
                }
            }
        }
    }

    /// Explains a fault that ended the worker: how it exited and the tail of its stderr.
    fn describe(&mut self, fault: Fault) -> String {
        match fault {
            Fault::Timeout => "timed out".into(),
            Fault::Memory => "exceeded the memory limit".into(),
            Fault::Exited(what) => {
                self.kill();
                let status = self.process.exit_status();
                // Give the stderr reader a moment to drain what the dying process wrote.
                std::thread::sleep(Duration::from_millis(20));
                let tail = {
                    let sink = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
                    String::from_utf8_lossy(&sink.tail.iter().copied().collect::<Vec<u8>>()).trim().to_string()
                };
                if tail.is_empty() {
                    format!("{what} ({status})")
                } else {
                    format!("{what} ({status}); it wrote:\n{tail}")
                }
            }
        }
    }

    /// What the worker wrote to stderr since the last look.
    fn take_stderr(&mut self) -> String {
        std::mem::take(&mut self.stderr.lock().unwrap_or_else(|e| e.into_inner()).pending)
    }

    fn kill(&mut self) {
        self.broken = true;
        self.stdin = None;
        self.process.kill();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing its input ends a healthy worker; one that does not end promptly is killed.
        self.stdin = None;
        if !self.process.ended_within(Duration::from_millis(500)) {
            self.process.kill();
        }
    }
}

impl Pooled for Worker {
    fn reusable(&self) -> bool {
        !self.broken
    }
}

/// The process backend: a pool of worker processes with the same UDF files loaded.
pub struct ProcessBackend {
    /// The interpreter to start: as configured until a worker reports its own path.
    python: Mutex<PathBuf>,
    limits: Limits,
    deps: Option<PathBuf>,
    loads: Mutex<Vec<Arc<Load>>>,
    /// Held through a whole `load`, so that every worker runs the files in one order.
    loading: Mutex<()>,
    pool: Pool<Worker>,
    /// `Options::snapshot`: loads run `open()` at once.
    snapshot: bool,
    /// Snapshot mode's image: a worker forked from the one that ran the latest load and its
    /// `open()`, never called, only forked from, so that later workers start in that state
    /// (`loaded` says after how many loads). Dropping it ends its process.
    template: Mutex<Option<Worker>>,
}

/// A request's answer: the reply's `ok` value and buffers, or the error it came to.
type Answer = Result<(Value, Vec<Vec<u8>>)>;

impl ProcessBackend {
    pub fn new(python: PathBuf, limits: Limits, deps: Option<PathBuf>) -> Result<Self> {
        Self::with_options(python, limits, deps, false)
    }

    /// A pool whose loads run `open()` at once and whose later workers start from the loaded
    /// and opened state, when `snapshot` is set (`Options::snapshot`).
    pub fn with_options(python: PathBuf, limits: Limits, deps: Option<PathBuf>, snapshot: bool) -> Result<Self> {
        if limits.max_instances == 0 {
            return Err(Error::Invalid("max_instances must be at least 1".into()));
        }
        let backend = Self {
            python: Mutex::new(python),
            deps,
            loads: Mutex::new(Vec::new()),
            loading: Mutex::new(()),
            pool: Pool::new(limits.max_instances),
            limits,
            snapshot,
            template: Mutex::new(None),
        };
        // One worker from the start: a missing interpreter shows here.
        drop(backend.checkout()?);
        Ok(backend)
    }

    /// Worker processes alive now (idle or busy).
    pub fn live_workers(&self) -> usize {
        self.pool.live()
    }

    /// Checks a worker out and returns it: what a call pays for the pool (`benches/sandbox.rs`).
    pub fn checkout_and_return(&self) -> Result<()> {
        drop(self.checkout()?);
        Ok(())
    }

    /// Ends every idle worker, as a fault would: the next call needs a new one (benches).
    pub fn discard_idle(&self) {
        for mut lease in self.pool.idle() {
            lease.get().broken = true;
        }
    }

    fn checkout(&self) -> Result<Lease<'_, Worker>> {
        let mut lease = self.pool.checkout(|| {
            if let Some(forked) = self.fork_template(1) {
                return Ok(forked);
            }
            let python = self.python.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let worker = Worker::spawn(&python, self.deps.as_deref())?;
            if let Some(executable) = &worker.executable {
                *self.python.lock().unwrap_or_else(|e| e.into_inner()) = executable.clone();
            }
            Ok(worker)
        })?;
        self.catch_up(lease.get())?;
        Ok(lease)
    }

    /// Brings the worker up to date: replaced by a fork of the template when that holds more
    /// loads than the worker ran, then the files it has still not run are loaded into it.
    fn catch_up(&self, worker: &mut Worker) -> Result<()> {
        if let Some(forked) = self.fork_template(worker.loaded + 1) {
            *worker = forked;
        }
        let missing: Vec<Arc<Load>> = {
            let loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
            loads.get(worker.loaded..).unwrap_or_default().to_vec()
        };
        let replayed = !missing.is_empty();
        for load in missing {
            // What the file printed was shown when it was first loaded.
            if self.request(worker, None, load_request(&load), &mut String::new()).is_err() {
                worker.broken = true;
                return Err(Error::Sandbox {
                    function: None,
                    message: format!("{} could not be loaded into a fresh worker", load.filename),
                });
            }
            worker.loaded += 1;
        }
        if replayed && self.snapshot {
            // Without a template, a snapshotting set's worker still opens its functions at load.
            self.request(worker, None, open_all_request(), &mut String::new())?;
        }
        Ok(())
    }

    /// A worker forked from the template, if there is one holding at least `loads` loads. A
    /// template that fails to fork is dropped: later workers replay the loads instead.
    fn fork_template(&self, loads: usize) -> Option<Worker> {
        let mut template = self.template.lock().unwrap_or_else(|e| e.into_inner());
        let failed = match template.as_mut().filter(|template| template.loaded >= loads)?.fork() {
            Ok(forked) => return Some(forked),
            Err(message) => message,
        };
        tracing::warn!(
            "process mode: no worker could be forked from the snapshot ({failed}); workers load the files instead"
        );
        let dropped = template.take();
        drop(template);
        drop(dropped);
        None
    }

    /// Makes the template of later workers a fork of `worker`, which just ran the latest load and
    /// `open()`; the older template ends. If forking fails the older one stays: later workers
    /// fork from it and load the files it lacks.
    fn take_snapshot(&self, worker: &mut Worker, output: &mut String) {
        let forked = worker.fork();
        // What Python printed while forking (a warning about threads) belongs to the load.
        output.push_str(&worker.take_stderr());
        match forked {
            Ok(template) => {
                let older = self.template.lock().unwrap_or_else(|e| e.into_inner()).replace(template);
                drop(older);
            }
            Err(message) => tracing::warn!("process mode: the snapshot after open() failed ({message})"),
        }
    }

    /// Sends one request and waits for its reply. A fault ends the worker (it is marked
    /// broken, so the lease drops it) and becomes a typed error.
    fn request(&self, worker: &mut Worker, function: Option<&str>, frame: Frame, output: &mut String) -> Answer {
        let function_name = function.map(str::to_string);
        let sent = worker.send(&frame.encode());
        let received = match sent {
            Ok(()) => worker.receive(self.limits.timeout, Some(self.limits.memory_bytes)),
            Err(message) => Err(Fault::Exited(message)),
        };
        let result = match received {
            Ok(reply) => self.answer(worker, function, reply, output),
            Err(Fault::Timeout) => {
                worker.kill();
                Err(Error::Timeout { function: function_name, limit: self.limits.timeout })
            }
            Err(Fault::Memory) => {
                worker.kill();
                Err(Error::MemoryLimit { function: function_name, limit: self.limits.memory_bytes })
            }
            Err(fault) => {
                let message = worker.describe(fault);
                Err(Error::WorkerExited { function: function_name, message })
            }
        };
        output.push_str(&worker.take_stderr());
        result
    }

    fn answer(&self, worker: &mut Worker, function: Option<&str>, reply: Frame, output: &mut String) -> Answer {
        let Frame { header, buffers } = reply;
        if let Some(text) = header.get("output").and_then(Value::as_str) {
            output.push_str(&super::bounds::captured_output(text.to_string()));
        }
        if let Some(ok) = header.get("ok") {
            return Ok((ok.clone(), buffers));
        }
        if let Some(error) = header.get("error") {
            return Err(Error::Udf(udf_error_of(error)));
        }
        worker.kill();
        let function = function.map(str::to_string);
        if header.get("memory").is_some() {
            return Err(Error::MemoryLimit { function, limit: self.limits.memory_bytes });
        }
        let message = header.get("fatal").and_then(Value::as_str).unwrap_or("a malformed reply");
        Err(Error::WorkerExited { function, message: format!("the worker failed: {}", message.trim_end()) })
    }

    /// Runs one request in a checked-out worker and turns its answer into `T`.
    fn run<T>(
        &self,
        function: Option<&str>,
        frame: Frame,
        convert: impl FnOnce(Value, Vec<Vec<u8>>) -> Result<T>,
    ) -> Reply<T> {
        let mut output = String::new();
        let result = self.checkout().and_then(|mut lease| {
            let worker = lease.get();
            let (value, buffers) = self.request(worker, function, frame, &mut output)?;
            convert(value, buffers)
        });
        Reply { result, output, fuel_used: None }
    }

    /// Runs a request in every idle worker (the busy ones are mid-call); the first error is
    /// returned after all have run.
    fn each_idle(&self, header: Value, output: &mut String) -> Result<Vec<Value>> {
        let idle = self.pool.idle();
        let mut results = Vec::with_capacity(idle.len());
        let mut first_error = None;
        for mut lease in idle {
            let worker = lease.get();
            let frame = Frame { header: header.clone(), buffers: Vec::new() };
            match self.request(worker, None, frame, output) {
                Ok((value, _)) => results.push(value),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }
}

fn open_all_request() -> Frame {
    Frame { header: json!({ "op": "open_all" }), buffers: Vec::new() }
}

fn load_request(load: &Load) -> Frame {
    Frame {
        header: json!({ "op": "load", "filename": load.filename, "source": load.source, "params": load.params }),
        buffers: Vec::new(),
    }
}

fn info_of(value: &Value) -> Option<FunctionInfo> {
    let text = |i: usize| value.get(i)?.as_str().map(str::to_string);
    let input_types = match value.get(3)? {
        Value::Null => None,
        Value::Array(types) => Some(types.iter().map(|t| t.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()?),
        _ => return None,
    };
    Some(FunctionInfo {
        name: text(0)?,
        kind: text(1)?,
        func_type: text(2)?,
        input_types,
        result_type: text(4)?,
        deterministic: value.get(5)?.as_bool()?,
        input_names: value.get(6)?.as_array()?.iter().map(|n| n.as_str().map(str::to_string)).collect::<Option<_>>()?,
        dialect: text(7)?,
    })
}

fn metric_of(value: &Value) -> Option<Metric> {
    let text = |i: usize| value.get(i)?.as_str().map(str::to_string);
    let number = |i: usize| value.get(i)?.as_f64();
    Some(Metric {
        function: text(0)?,
        group: value.get(1)?.as_array()?.iter().map(|g| g.as_str().map(str::to_string)).collect::<Option<_>>()?,
        name: text(2)?,
        kind: match value.get(3)?.as_str()? {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "meter" => MetricKind::Meter,
            _ => MetricKind::Distribution,
        },
        count: value.get(4)?.as_i64().or_else(|| number(4).map(|n| n as i64))?,
        value: number(5)?,
        min: number(6)?,
        max: number(7)?,
    })
}

impl Backend for ProcessBackend {
    fn mode(&self) -> Mode {
        Mode::Process
    }

    fn load(&self, filename: &str, source: &str, params: &[(String, String)]) -> Reply<Vec<FunctionInfo>> {
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        let load = Load { filename: filename.to_string(), source: source.to_string(), params: params.to_vec() };
        let mut output = String::new();
        let result = self.checkout().and_then(|mut lease| {
            let worker = lease.get();
            if self.snapshot {
                // The next template must hold the loads and open() only, not what calls did to
                // this worker: load into a fresh fork of the current template.
                if let Some(fresh) = self.fork_template(worker.loaded.max(1)) {
                    *worker = fresh;
                }
            }
            let (value, _) = self.request(worker, None, load_request(&load), &mut output)?;
            let infos = value
                .as_array()
                .and_then(|infos| infos.iter().map(info_of).collect::<Option<Vec<_>>>())
                .ok_or_else(|| malformed("function list"))?;
            if self.snapshot {
                self.request(worker, None, open_all_request(), &mut output)?;
            }
            let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
            loads.push(Arc::new(load));
            worker.loaded = loads.len();
            drop(loads);
            if self.snapshot {
                self.take_snapshot(worker, &mut output);
            }
            Ok(infos)
        });
        Reply { result, output, fuel_used: None }
    }

    fn call(&self, function: &str, num_rows: usize, args: Vec<WireColumn>, on_error: ErrorPolicy) -> Reply<CallResult> {
        let mut buffers = Vec::new();
        let args = columns_header(args, &mut buffers);
        let header = json!({
            "op": "call", "function": function, "rows": num_rows, "args": args,
            "null": on_error == ErrorPolicy::Null,
        });
        self.run(Some(function), Frame { header, buffers }, |value, mut buffers: Vec<Vec<u8>>| {
            let column = packed_column(value.get("column").ok_or_else(|| malformed("call result"))?, &mut buffers)?;
            let failed_rows = value.get("failed").and_then(Value::as_u64).unwrap_or(0);
            Ok(CallResult {
                column,
                failed_rows: u32::try_from(failed_rows).map_err(|_| malformed("call result"))?,
                first_failure: value.get("first").filter(|f| !f.is_null()).map(udf_error_of),
            })
        })
    }

    fn prepare_row(&self, function: &str) -> Reply<u32> {
        let header = json!({ "op": "prepare", "function": function });
        self.run(Some(function), Frame { header, buffers: Vec::new() }, |value, _| {
            value.as_u64().and_then(|id| u32::try_from(id).ok()).ok_or_else(|| malformed("prepare result"))
        })
    }

    fn call_row(&self, function: &str, id: u32, row: &[u8], on_error: ErrorPolicy) -> Reply<RowReply> {
        let header = json!({ "op": "call_row", "id": id, "null": on_error == ErrorPolicy::Null });
        self.run(Some(function), Frame { header, buffers: vec![row.to_vec()] }, |value, mut buffers| {
            let value_bytes = match (buffers.pop(), buffers.is_empty()) {
                (Some(bytes), true) => bytes,
                _ => return Err(malformed("row result")),
            };
            let failure = (!value.is_null()).then(|| udf_error_of(&value));
            Ok(RowReply { value: value_bytes, failure })
        })
    }

    fn call_table(&self, function: &str, num_rows: usize, args: Vec<WireColumn>) -> Reply<TableOutput> {
        let mut buffers = Vec::new();
        let args = columns_header(args, &mut buffers);
        let header = json!({ "op": "call_table", "function": function, "rows": num_rows, "args": args });
        self.run(Some(function), Frame { header, buffers }, |value, mut buffers: Vec<Vec<u8>>| {
            table_output(&value, &mut buffers)
        })
    }

    fn aggregate(
        &self,
        function: &str,
        op: AggregateOp,
        states: WireColumn,
        groups: WireColumn,
        args: Vec<WireColumn>,
    ) -> Reply<PackedColumn> {
        let mut buffers = Vec::new();
        let states = column_header(states, &mut buffers);
        let groups = column_header(groups, &mut buffers);
        let args = columns_header(args, &mut buffers);
        let header = json!({
            "op": "aggregate", "function": function, "agg": op.name(),
            "states": states, "groups": groups, "args": args,
        });
        self.run(Some(function), Frame { header, buffers }, |value, mut buffers: Vec<Vec<u8>>| {
            packed_column(&value, &mut buffers)
        })
    }

    fn finish(&self, function: &str, states: WireColumn) -> Reply<PackedColumn> {
        let mut buffers = Vec::new();
        let states = column_header(states, &mut buffers);
        let header = json!({ "op": "finish", "function": function, "states": states });
        self.run(Some(function), Frame { header, buffers }, |value, mut buffers: Vec<Vec<u8>>| {
            packed_column(&value, &mut buffers)
        })
    }

    fn emit(&self, function: &str, states: WireColumn) -> Reply<TableOutput> {
        let mut buffers = Vec::new();
        let states = column_header(states, &mut buffers);
        let header = json!({ "op": "emit", "function": function, "states": states });
        self.run(Some(function), Frame { header, buffers }, |value, mut buffers: Vec<Vec<u8>>| {
            table_output(&value, &mut buffers)
        })
    }

    fn close(&self) -> Reply<()> {
        let mut output = String::new();
        let result = self.each_idle(json!({ "op": "close" }), &mut output).map(drop);
        Reply { result, output, fuel_used: None }
    }

    fn metrics(&self) -> Reply<Vec<Metric>> {
        let mut output = String::new();
        let result = self.each_idle(json!({ "op": "metrics" }), &mut output).and_then(|lists| {
            let mut metrics = Vec::new();
            for list in lists {
                let list = list.as_array().ok_or_else(|| malformed("metric list"))?;
                for metric in list {
                    metrics.push(metric_of(metric).ok_or_else(|| malformed("metric"))?);
                }
            }
            Ok(metrics)
        });
        Reply { result, output, fuel_used: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_reject_truncation() {
        let frame = Frame { header: json!({ "op": "call", "rows": 3 }), buffers: vec![vec![1, 2, 3], Vec::new()] };
        let bytes = frame.encode();
        let back = Frame::read(&mut &bytes[..]).unwrap().unwrap();
        assert_eq!(back.header, frame.header);
        assert_eq!(back.buffers, frame.buffers);
        assert!(Frame::read(&mut &bytes[..bytes.len() - 1]).is_err());
        assert!(Frame::read(&mut &[][..]).unwrap().is_none());
        // A buffer length running past the end is malformed, not a panic.
        let mut lying = bytes.clone();
        let at = bytes.len() - 8 - 0 - 8 - 3;
        lying[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Frame::read(&mut &lying[..]).is_err());
        // So is a frame length no worker could send.
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Frame::read(&mut &huge[..]).is_err());
    }
}
