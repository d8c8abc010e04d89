//! One error type at the crate boundary. A caller can tell a Python exception in a UDF from a bad
//! result, a bad UDF file, a sandbox failure and a bad argument, and the Python traceback travels
//! with the error.

use std::fmt;

use crate::shown;

/// What went wrong inside the Python runtime (either backend), as the runtime reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdfErrorKind {
    /// The UDF file does not compile.
    Syntax,
    /// The UDF file raised while it ran, or registered something invalid.
    Load,
    /// A UDF raised an exception (in `eval`, `open` or `close`).
    Exception,
    /// A UDF returned a value that does not fit its result type, or a batch of the wrong length.
    BadResult,
    /// The host asked for something the runtime cannot do (unknown function, malformed column).
    BadRequest,
}

impl UdfErrorKind {
    /// The kind the runtime names `syntax`, `load`, `exception`, `bad-result` or `bad-request`.
    pub fn parse(name: &str) -> Self {
        match name {
            "syntax" => UdfErrorKind::Syntax,
            "load" => UdfErrorKind::Load,
            "exception" => UdfErrorKind::Exception,
            "bad-result" => UdfErrorKind::BadResult,
            _ => UdfErrorKind::BadRequest,
        }
    }
}

/// An error reported by the Python runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdfError {
    pub kind: UdfErrorKind,
    /// The function the error belongs to.
    pub function: Option<String>,
    /// The row within the batch, when known.
    pub row: Option<u32>,
    /// The Python exception type, e.g. `ZeroDivisionError`.
    pub exception_type: String,
    pub message: String,
    /// Traceback lines that point into the user's file, formatted as Python formats them.
    pub traceback: String,
}

impl fmt::Display for UdfError {
    /// Every part that came from the runtime is shown with its control characters escaped
    /// ([`crate::shown`]); the fields themselves hold the text as reported.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let function = shown::line(self.function.as_deref().unwrap_or("?"));
        let (exception_type, message) = (shown::line(&self.exception_type), shown::text(&self.message));
        match self.kind {
            UdfErrorKind::Syntax => write!(f, "{exception_type}: {message}")?,
            UdfErrorKind::Load => write!(f, "{exception_type}: {message}")?,
            UdfErrorKind::Exception => {
                write!(f, "function '{function}' raised {exception_type}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if let Some(row) = self.row {
                    write!(f, " (row {row} of the batch)")?;
                }
            }
            UdfErrorKind::BadResult => write!(f, "function '{function}' returned a bad result: {message}")?,
            UdfErrorKind::BadRequest => write!(f, "function '{function}': {message}")?,
        }
        let traceback = shown::text(self.traceback.trim_end());
        if !traceback.is_empty() {
            if matches!(self.kind, UdfErrorKind::Syntax) {
                write!(f, "\n{traceback}")?;
            } else {
                write!(f, "\nTraceback (most recent call last, your code only):\n{traceback}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for UdfError {}

/// Every error udfbox returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reported by the Python runtime: syntax, load, exception, bad result, bad request.
    #[error(transparent)]
    Udf(#[from] UdfError),
    /// A call ran longer than [`crate::Limits::timeout`]; the sandbox was replaced.
    #[error("{} timed out after {limit:?}", subject(function))]
    Timeout { function: Option<String>, limit: std::time::Duration },
    /// The sandbox needed more memory than [`crate::Limits::memory_bytes`]; it was replaced.
    #[error("{} exceeded the memory limit of {limit} bytes", subject(function))]
    MemoryLimit { function: Option<String>, limit: usize },
    /// A call used more than [`crate::Limits::fuel`]; the sandbox was replaced.
    #[error("{} ran out of fuel after {limit} units", subject(function))]
    FuelExhausted { function: Option<String>, limit: u64 },
    /// The guest overflowed its WebAssembly stack; the sandbox was replaced.
    #[error("{} overflowed the sandbox stack", subject(function))]
    StackOverflow { function: Option<String> },
    /// The sandbox itself failed (any other trap, or the component could not be built or
    /// instantiated). A trapped sandbox is replaced before the next call.
    #[error("sandbox failure{}: {}", function.as_ref().map(|f| format!(" in '{}'", shown::line(f))).unwrap_or_default(), shown::text(message))]
    Sandbox { function: Option<String>, message: String },
    /// A process-mode worker exited (crashed, was killed, or broke the protocol) during a call;
    /// the next call runs in a fresh worker.
    #[error("{} ended its worker process: {}", subject(function), shown::text(message))]
    WorkerExited { function: Option<String>, message: String },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A bad argument or an unsupported type (some name what a sandbox reported: shown escaped).
    #[error("{}", shown::text(.0))]
    Invalid(String),
    /// The native Python interpreter failed outside user code.
    #[error("native Python runtime: {}", shown::text(.0))]
    Native(String),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

fn subject(function: &Option<String>) -> String {
    match function {
        Some(name) => format!("function '{}'", shown::line(name)),
        None => "the sandbox".to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
