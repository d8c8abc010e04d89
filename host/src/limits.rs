//! The resource policy of a sandbox: one object, documented defaults, set from the Rust API
//! (`Options::limits`) or the command line (`--memory-limit`, `--timeout`, `--fuel`).
//!
//! Limits apply in wasm mode, and in process mode except fuel (there, the memory limit bounds a
//! worker's resident memory beyond its size at start). Native mode runs trusted code and
//! enforces none of them.

use std::time::Duration;

use crate::error::{Error, Result};

/// Limits of one tenant's sandboxes (one `FunctionSet` in wasm mode). A set runs up to
/// `max_instances` sandboxes at once, each with the memory, time and fuel limits below, so a
/// tenant's memory is bounded by `max_instances × memory_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory of the sandbox, in bytes. Default: 256 MiB. Growth beyond it is refused:
    /// the UDF gets a `MemoryError`, the call fails with [`Error::MemoryLimit`], and the sandbox
    /// is replaced with a fresh one.
    pub memory_bytes: usize,
    /// Wall-clock time of one host call, and everything user code runs for it: a batch call
    /// (with `open()` when it runs first, and the replay of loaded files into a fresh sandbox),
    /// or loading a file. Default: 10 s. Covers `time.sleep` and busy loops alike.
    pub timeout: Duration,
    /// Fuel (roughly, WebAssembly instructions) per host call, counted like the timeout (file
    /// loads included). Default: `None`, unmetered. When set,
    /// a call that uses more fails with [`Error::FuelExhausted`], and the fuel each function used
    /// is counted (`FunctionSet::fuel_used`).
    pub fuel: Option<u64>,
    /// Sandboxes a set may run at once, each with its own copy of the UDFs' Python state: calls
    /// from concurrent threads (e.g. DataFusion partitions) run in parallel up to this number and
    /// wait beyond it. Default: the number of CPU cores.
    pub max_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            timeout: Duration::from_secs(10),
            fuel: None,
            max_instances: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Parses a size such as `256MiB`, `1 GiB`, `512M` or `1048576` (bytes).
pub fn parse_size(text: &str) -> Result<usize> {
    let size: bytesize::ByteSize =
        text.trim().parse().map_err(|e| Error::Invalid(format!("invalid size '{text}': {e} (e.g. 256MiB)")))?;
    usize::try_from(size.as_u64()).map_err(|_| Error::Invalid(format!("size '{text}' is too large")))
}

/// Parses a duration such as `10s`, `500ms`, `2m` or `1.5` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| Error::Invalid(format!("invalid duration '{text}'")));
    }
    humantime::parse_duration(text)
        .map_err(|e| Error::Invalid(format!("invalid duration '{text}': {e} (e.g. 10s, 500ms)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_durations() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
