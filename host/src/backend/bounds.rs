//! Bounds the host enforces on what a runtime reports back: printed output, error records,
//! registered functions and metrics. The guest runtime keeps the same bounds, but a UDF can
//! patch its own runtime, so only the host's copy of each bound is a limit (README, "Security
//! model"). Text is clipped with a visible marker; what cannot be clipped without changing its
//! meaning (a function's name or type) is refused.

use crate::backend::{FunctionInfo, Metric};
use crate::error::{Error, Result, UdfError};

/// Text a UDF prints (or logs) per call that reaches the host log.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// An exception's message.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// An exception's traceback.
pub const MAX_TRACEBACK_BYTES: usize = 16 * 1024;
/// A name: a function, an exception type, a metric, a metric group, an input parameter.
pub const MAX_NAME_BYTES: usize = 256;
/// Functions one file may register.
pub const MAX_FUNCTIONS_PER_FILE: usize = 1000;
/// Declared inputs of one function.
pub const MAX_INPUTS: usize = 1024;
/// A declared type's text (types nest at most 32 deep; this bounds their width too).
pub const MAX_TYPE_BYTES: usize = 64 * 1024;
/// Metrics one reply may carry (the runtime keeps at most 1,000 per sandbox).
pub const MAX_METRICS: usize = 10_000;
/// Nesting of a metric group (`add_group` inside `add_group`).
pub const MAX_METRIC_GROUP_DEPTH: usize = 16;

/// Clips `text` to at most `max` bytes, on a character boundary, saying how much was dropped.
pub fn clip(mut text: String, max: usize, what: &str) -> String {
    if text.len() <= max {
        return text;
    }
    let dropped = text.len() - text.floor_char_boundary(max);
    text.truncate(text.floor_char_boundary(max));
    text.push_str(&format!(" [udfbox: {dropped} more bytes of {what} dropped]"));
    text
}

/// What the runtime captured of a call's printed output.
pub fn captured_output(text: String) -> String {
    let mut text = clip(text, MAX_OUTPUT_BYTES, "output");
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// An error record from a runtime, each field clipped to its bound.
pub fn udf_error(error: UdfError) -> UdfError {
    UdfError {
        function: error.function.map(|f| clip(f, MAX_NAME_BYTES, "function name")),
        exception_type: clip(error.exception_type, MAX_NAME_BYTES, "exception type"),
        message: clip(error.message, MAX_MESSAGE_BYTES, "message"),
        traceback: clip(error.traceback, MAX_TRACEBACK_BYTES, "traceback"),
        ..error
    }
}

/// Refuses a file's registrations beyond the bounds: too many functions, names or types too long.
pub fn check_functions(filename: &str, infos: &[FunctionInfo]) -> Result<()> {
    let refuse = |what: String| Err(Error::Invalid(format!("{filename}: {what}")));
    if infos.len() > MAX_FUNCTIONS_PER_FILE {
        return refuse(format!("registers {} functions (the limit is {MAX_FUNCTIONS_PER_FILE})", infos.len()));
    }
    for info in infos {
        if info.name.is_empty() || info.name.len() > MAX_NAME_BYTES {
            return refuse(format!(
                "a function name must have 1 to {MAX_NAME_BYTES} bytes (got {} bytes)",
                info.name.len()
            ));
        }
        let name = &info.name;
        if [&info.kind, &info.func_type, &info.dialect].iter().any(|t| t.len() > MAX_NAME_BYTES) {
            return refuse(format!("function '{name}' reports a kind longer than {MAX_NAME_BYTES} bytes"));
        }
        let inputs = info.input_types.as_ref().map_or(0, Vec::len).max(info.input_names.len());
        if inputs > MAX_INPUTS {
            return refuse(format!("function '{name}' declares {inputs} inputs (the limit is {MAX_INPUTS})"));
        }
        let types = info.input_types.iter().flatten().chain(std::iter::once(&info.result_type));
        if types.into_iter().any(|t| t.len() > MAX_TYPE_BYTES) {
            return refuse(format!("function '{name}' declares a type longer than {MAX_TYPE_BYTES} bytes"));
        }
    }
    Ok(())
}

/// The metrics within bounds; how many were dropped for breaking one.
pub fn metrics(metrics: Vec<Metric>) -> (Vec<Metric>, usize) {
    let total = metrics.len();
    let kept: Vec<Metric> = metrics
        .into_iter()
        .filter(|m| {
            m.group.len() <= MAX_METRIC_GROUP_DEPTH
                && [&m.function, &m.name].into_iter().chain(&m.group).all(|n| n.len() <= MAX_NAME_BYTES)
        })
        .take(MAX_METRICS)
        .collect();
    let dropped = total - kept.len();
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UdfErrorKind;

    #[test]
    fn clips_on_character_boundaries_with_a_marker() {
        assert_eq!(clip("short".into(), 10, "x"), "short");
        let clipped = clip("é".repeat(10), 5, "message");
        assert!(clipped.starts_with("éé ["), "{clipped}");
        assert!(clipped.ends_with("[udfbox: 16 more bytes of message dropped]"), "{clipped}");
        let output = captured_output("x".repeat(MAX_OUTPUT_BYTES * 3));
        assert!(output.len() < MAX_OUTPUT_BYTES + 100);
        assert!(output.ends_with("dropped]\n"));
    }

    #[test]
    fn error_records_are_clipped() {
        let error = udf_error(UdfError {
            kind: UdfErrorKind::Exception,
            function: Some("f".repeat(1 << 20)),
            row: Some(1),
            exception_type: "E".repeat(20 << 20),
            message: "m".repeat(1 << 20),
            traceback: "t".repeat(1 << 20),
        });
        assert!(error.function.unwrap().len() < MAX_NAME_BYTES + 100);
        assert!(error.exception_type.len() < MAX_NAME_BYTES + 100);
        assert!(error.message.len() < MAX_MESSAGE_BYTES + 100);
        assert!(error.traceback.len() < MAX_TRACEBACK_BYTES + 100);
        assert_eq!(error.row, Some(1));
    }

    fn info(name: &str) -> FunctionInfo {
        FunctionInfo {
            name: name.into(),
            kind: "scalar".into(),
            func_type: "general".into(),
            input_types: Some(vec!["BIGINT".into()]),
            result_type: "BIGINT".into(),
            deterministic: true,
            input_names: vec!["x".into()],
            dialect: "udfbox".into(),
        }
    }

    #[test]
    fn registrations_beyond_the_bounds_are_refused() {
        assert!(check_functions("f.py", &[info("ok")]).is_ok());
        let many: Vec<_> = (0..=MAX_FUNCTIONS_PER_FILE).map(|i| info(&format!("f{i}"))).collect();
        assert!(check_functions("f.py", &many).unwrap_err().to_string().contains("1001 functions"));
        assert!(check_functions("f.py", &[info(&"n".repeat(MAX_NAME_BYTES + 1))]).is_err());
        assert!(check_functions("f.py", &[info("")]).is_err());
        let mut wide = info("wide");
        wide.result_type = "x".repeat(MAX_TYPE_BYTES + 1);
        assert!(check_functions("f.py", &[wide]).is_err());
        let mut inputs = info("inputs");
        inputs.input_names = vec!["a".into(); MAX_INPUTS + 1];
        assert!(check_functions("f.py", &[inputs]).is_err());
    }

    #[test]
    fn metrics_beyond_the_bounds_are_dropped() {
        let metric = |depth: usize| Metric {
            function: "f".into(),
            group: vec!["g".into(); depth],
            name: "m".into(),
            kind: crate::backend::MetricKind::Counter,
            count: 1,
            value: 0.0,
            min: 0.0,
            max: 0.0,
        };
        let (kept, dropped) = metrics(vec![metric(1), metric(MAX_METRIC_GROUP_DEPTH + 1), metric(8000)]);
        assert_eq!((kept.len(), dropped), (1, 2));
        let (kept, dropped) = metrics((0..MAX_METRICS + 5).map(|_| metric(0)).collect());
        assert_eq!((kept.len(), dropped), (MAX_METRICS, 5));
    }
}
