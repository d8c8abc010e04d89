//! Shared by the tests that talk to a server over Arrow Flight: `udfbox serve` and the reference
//! Python servers as child processes (killed on drop, port 0, the port read from the line each
//! prints once it listens), the project's Python with `pyarrow.flight`, tenant directories, and
//! the memory a server holds. `benches/serve.rs` includes this file too.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::harness::repo_root;

/// How long a server may take to listen: a cold compiled-guest cache means a Cranelift compile.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A server running as a child process; killed and reaped on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`, as the server printed it.
    pub addr: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// `udfbox serve --listen 127.0.0.1:0` with `args`.
    pub fn udfbox(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_udfbox"));
        command.args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        Server::spawn(command, "udfbox serve: listening on ")
    }

    /// A reference server (`arrow-udf` or `databend-udf`, from PyPI) serving the UDF objects of
    /// `files` (relative to the repository root), through `benches/servers/reference_server.py`.
    pub fn reference(library: &str, files: &[&str]) -> Server {
        let mut command = Command::new(python());
        command.arg(repo_root().join("benches/servers/reference_server.py")).arg(library).args(files);
        Server::spawn(command, "reference server: listening on ")
    }

    /// Starts `command` (from the repository root) and waits for the line `marker` + address on
    /// its stdout; stderr is collected for failure messages.
    pub fn spawn(mut command: Command, marker: &'static str) -> Server {
        let mut child = command
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n @ 1..) = stderr.read(&mut buffer) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(marker) {
                    let _ = tx.send(addr.trim().to_string());
                    break;
                }
            }
            // Keep reading, so that a server printing more never blocks on a full pipe.
            for _ in lines {}
        });
        let mut server = Server { child, addr: String::new(), log };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => server.addr = addr,
            Err(_) => {
                let status = server.child.try_wait().ok().flatten();
                panic!("{command:?} did not listen (exit: {status:?}); its log:\n{}", server.log())
            }
        }
        server
    }

    /// `http://127.0.0.1:PORT`, as Flight clients dial it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The server's own resident memory in KiB: its private pages (`Private_Clean` +
    /// `Private_Dirty` of `/proc/PID/smaps_rollup`), else RSS. Not PSS: the compiled guest image
    /// is a file other udfbox processes map too, and PSS moves as they come and go.
    pub fn resident_kib(&self) -> u64 {
        let pid = self.pid();
        let read = |path: String| std::fs::read_to_string(path).unwrap_or_default();
        let field = |text: &str, key: &str| -> Option<u64> {
            let line = text.lines().find(|l| l.starts_with(key))?;
            line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
        };
        let rollup = read(format!("/proc/{pid}/smaps_rollup"));
        match (field(&rollup, "Private_Clean:"), field(&rollup, "Private_Dirty:")) {
            (Some(clean), Some(dirty)) => clean + dirty,
            _ => field(&read(format!("/proc/{pid}/status")), "VmRSS:").expect("read the server's memory from /proc"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project's Python (`.venv`, made by `scripts/bootstrap`), with `pyarrow.flight` and the
/// reference servers installed.
pub fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import pyarrow.flight, arrow_udf, databend_udf"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{} lacks pyarrow.flight, arrow-udf or databend-udf: run scripts/bootstrap", python.display());
    python
}

/// Runs a Python client script from `tests/clients/` with `args`; its stdout, or (when it exits
/// non-zero) both its streams.
pub fn run_client(script: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(python())
        .arg(repo_root().join("tests/clients").join(script))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    match output.status.success() {
        true => Ok(stdout),
        false => Err(format!(
            "{script} {args:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

/// Hex SHA-256 of a token, as `tenant.toml` holds it.
pub fn token_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes tenant `name` into the `--tenants` directory `dir`: its UDF files (file name, source)
/// and a `tenant.toml` with the hash of `token` and `extra` TOML lines.
pub fn write_tenant(dir: &Path, name: &str, token: &str, files: &[(&str, &str)], extra: &str) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    for (file, source) in files {
        std::fs::write(folder.join(file), source).unwrap();
    }
    let toml = format!("token_sha256 = \"{}\"\n{extra}", token_sha256(token));
    std::fs::write(folder.join("tenant.toml"), toml).unwrap();
}
