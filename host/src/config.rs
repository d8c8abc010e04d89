//! Bundling knobs named after PyFlink's, with PyFlink's defaults, set with `--config KEY=VALUE`
//! or [`Config::set`]:
//!
//! | key | default | in udfbox |
//! | --- | --- | --- |
//! | `python.fn-execution.bundle.size` | 100000 | rows the engine gathers per batch before UDFs see them (DataFusion's batch size) |
//! | `python.fn-execution.bundle.time` | 1000 ms | the longest a row of a streaming table waits for its bundle to fill (`sql::stream`); bounded queries never wait |
//! | `python.fn-execution.arrow.batch.size` | 10000 | rows per boundary crossing: larger batches are split into calls of at most this many rows |

use std::time::Duration;

use crate::error::{Error, Result};
use crate::limits::parse_duration;

pub const BUNDLE_SIZE: &str = "python.fn-execution.bundle.size";
pub const BUNDLE_TIME: &str = "python.fn-execution.bundle.time";
pub const ARROW_BATCH_SIZE: &str = "python.fn-execution.arrow.batch.size";

/// The bundling knobs; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bundle_size: usize,
    pub bundle_time: Duration,
    pub arrow_batch_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { bundle_size: 100_000, bundle_time: Duration::from_millis(1000), arrow_batch_size: 10_000 }
    }
}

impl Config {
    /// Sets one knob by its PyFlink key. A bare number for `bundle.time` is milliseconds, as in
    /// PyFlink; `2s` and `500ms` work too.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let count = |value: &str| -> Result<usize> {
            match value.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(Error::Invalid(format!("{key} takes a positive number of rows, got '{value}'"))),
            }
        };
        match key.trim() {
            BUNDLE_SIZE => self.bundle_size = count(value)?,
            ARROW_BATCH_SIZE => self.arrow_batch_size = count(value)?,
            BUNDLE_TIME => {
                self.bundle_time = match value.trim().parse::<u64>() {
                    Ok(ms) => Duration::from_millis(ms),
                    Err(_) => parse_duration(value)?,
                }
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unknown configuration key '{other}'; known: {BUNDLE_SIZE}, {BUNDLE_TIME}, {ARROW_BATCH_SIZE}"
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_parse_with_pyflink_keys() {
        let mut config = Config::default();
        assert_eq!((config.bundle_size, config.arrow_batch_size), (100_000, 10_000));
        config.set(BUNDLE_SIZE, "5000").unwrap();
        config.set(ARROW_BATCH_SIZE, " 64 ").unwrap();
        config.set(BUNDLE_TIME, "250").unwrap();
        assert_eq!(config, Config { bundle_size: 5000, bundle_time: Duration::from_millis(250), arrow_batch_size: 64 });
        config.set(BUNDLE_TIME, "2s").unwrap();
        assert_eq!(config.bundle_time, Duration::from_secs(2));
        assert!(config.set(ARROW_BATCH_SIZE, "0").is_err());
        assert!(config
            .set("python.fn-execution.nope", "1")
            .unwrap_err()
            .to_string()
            .contains("unknown configuration key"));
    }
}
