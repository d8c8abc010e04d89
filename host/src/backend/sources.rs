//! The Python runtime's sources (`guest-runtime/`), embedded in the binary for the two backends
//! that run the machine's CPython: native mode imports them from memory, process mode sends them
//! to each worker when it starts. The sandbox has them in its component instead.

/// `(module, is package, source)` for every module of the `udfbox`, `pyflink`, `arrow_udf` and
/// `databend_udf` packages.
pub(crate) const SOURCES: &[(&str, bool, &str)] = &[
    ("udfbox", true, include_str!("../../../guest-runtime/udfbox/__init__.py")),
    ("udfbox.arrow", false, include_str!("../../../guest-runtime/udfbox/arrow.py")),
    ("udfbox.data_view", false, include_str!("../../../guest-runtime/udfbox/data_view.py")),
    ("udfbox.dialects", false, include_str!("../../../guest-runtime/udfbox/dialects.py")),
    ("udfbox.metrics", false, include_str!("../../../guest-runtime/udfbox/metrics.py")),
    ("udfbox.row", false, include_str!("../../../guest-runtime/udfbox/row.py")),
    ("udfbox.runtime", false, include_str!("../../../guest-runtime/udfbox/runtime.py")),
    ("udfbox.series", false, include_str!("../../../guest-runtime/udfbox/series.py")),
    ("udfbox.stdlib", false, include_str!("../../../guest-runtime/udfbox/stdlib.py")),
    ("udfbox.types", false, include_str!("../../../guest-runtime/udfbox/types.py")),
    ("udfbox.udf", false, include_str!("../../../guest-runtime/udfbox/udf.py")),
    ("udfbox.worker", false, include_str!("../../../guest-runtime/udfbox/worker.py")),
    ("pyflink", true, include_str!("../../../guest-runtime/pyflink/__init__.py")),
    ("pyflink.common", true, include_str!("../../../guest-runtime/pyflink/common/__init__.py")),
    ("pyflink.table", true, include_str!("../../../guest-runtime/pyflink/table/__init__.py")),
    ("pyflink.table.data_view", false, include_str!("../../../guest-runtime/pyflink/table/data_view.py")),
    ("pyflink.table.expression", false, include_str!("../../../guest-runtime/pyflink/table/expression.py")),
    ("pyflink.table.expressions", false, include_str!("../../../guest-runtime/pyflink/table/expressions.py")),
    ("pyflink.table.types", false, include_str!("../../../guest-runtime/pyflink/table/types.py")),
    ("pyflink.table.udf", false, include_str!("../../../guest-runtime/pyflink/table/udf.py")),
    ("pyflink.table.window", false, include_str!("../../../guest-runtime/pyflink/table/window.py")),
    ("pyflink.datastream", true, include_str!("../../../guest-runtime/pyflink/datastream/__init__.py")),
    ("pyflink.fn_execution", true, include_str!("../../../guest-runtime/pyflink/fn_execution/__init__.py")),
    (
        "pyflink.fn_execution.state_impl",
        false,
        include_str!("../../../guest-runtime/pyflink/fn_execution/state_impl.py"),
    ),
    ("arrow_udf", true, include_str!("../../../guest-runtime/arrow_udf/__init__.py")),
    ("databend_udf", true, include_str!("../../../guest-runtime/databend_udf/__init__.py")),
];

/// The importer module, which serves the others from memory.
pub(crate) fn importer_source() -> &'static str {
    SOURCES.iter().find(|(name, _, _)| *name == "udfbox.stdlib").map(|(_, _, source)| *source).unwrap_or_default()
}

/// The file name tracebacks show for an embedded module.
pub(crate) fn origin(name: &str, is_package: bool) -> String {
    if is_package {
        format!("<udfbox>/{}/__init__.py", name.replace('.', "/"))
    } else {
        format!("<udfbox>/{}.py", name.replace('.', "/"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_runtime_module_is_embedded() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-runtime");
        let mut missing = Vec::new();
        for package in ["udfbox", "pyflink", "arrow_udf", "databend_udf"] {
            for entry in walk(&format!("{root}/{package}")) {
                let module = entry.trim_start_matches(&format!("{root}/")).trim_end_matches(".py").replace('/', ".");
                let module = module.trim_end_matches(".__init__").to_string();
                if !super::SOURCES.iter().any(|(name, _, _)| *name == module) {
                    missing.push(module);
                }
            }
        }
        assert!(missing.is_empty(), "not in sources.rs: {missing:?}");
    }

    fn walk(dir: &str) -> Vec<String> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = path.display().to_string();
            if path.is_dir() {
                if !text.ends_with("__pycache__") {
                    files.extend(walk(&text));
                }
            } else if text.ends_with(".py") {
                files.push(text);
            }
        }
        files
    }
}
