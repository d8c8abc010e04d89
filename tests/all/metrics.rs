//! Metrics in PyFlink's shape, registered in open(), read from Rust and printed by the CLI; the
//! same values in both modes.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use udfbox::backend::MetricKind;
use udfbox::{FunctionSet, Options};

use crate::harness::{assert_no_panic, repo_root, udfbox, MODES};

#[test]
fn metrics_are_readable_from_rust_in_both_modes() {
    let source = std::fs::read_to_string(repo_root().join("udfs/metrics.py")).unwrap();
    let mut seen = Vec::new();
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("udfs/metrics.py", &source).unwrap();
        assert!(set.metrics().unwrap().is_empty(), "{mode}: nothing before open()");
        let names: ArrayRef = Arc::new(StringArray::from(vec![Some("ab"), None, Some("abcd")]));
        set.call("name_length", &[names.clone()], 3).unwrap();
        set.call("name_length", &[names], 3).unwrap();
        let metrics = set.metrics().unwrap();
        let find = |name: &str| metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{mode}: no {name}"));
        let calls = find("calls");
        assert_eq!((calls.kind, calls.count, calls.function.as_str()), (MetricKind::Counter, 6, "name_length"));
        assert_eq!(calls.group, ["names"]);
        assert_eq!((find("longest").kind, find("longest").value), (MetricKind::Gauge, 4.0));
        let nulls = find("nulls");
        assert_eq!((nulls.kind, nulls.count), (MetricKind::Meter, 2));
        assert!((nulls.value - 2.0 / 60.0).abs() < 1e-9, "{mode}: rate {}", nulls.value);
        let lengths = find("lengths");
        assert_eq!(
            (lengths.kind, lengths.count, lengths.value, lengths.min, lengths.max),
            (MetricKind::Distribution, 4, 12.0, 2.0, 4.0)
        );
        seen.push(metrics);
    }
    assert_eq!(seen[0], seen[1], "wasm and native disagree");
}

#[test]
fn metrics_from_the_command_line() {
    for mode in ["wasm", "native"] {
        let (code, out, err) = udfbox(&[
            "sql",
            "--mode",
            mode,
            "--metrics",
            "--format",
            "csv",
            "--udf",
            "udfs/metrics.py",
            "--table",
            "people=udfs/data/people.csv",
            "SELECT name_length(name) AS n FROM people",
        ]);
        assert_eq!(code, 0, "{mode}: {err}");
        assert_eq!(out.lines().count(), 6, "{mode}: results stay on stdout");
        assert_no_panic(&err);
        for expected in ["| name_length | names.calls   | counter", "| 5 ", "count 5, sum 51, min 3, max 13, mean 10.2"]
        {
            assert!(err.contains(expected), "{mode}: no '{expected}' in\n{err}");
        }
    }
}
