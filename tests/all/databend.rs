//! Databend's side of `udfbox serve`: `tests/clients/databend_client.py` (pyarrow.flight from the
//! project's venv, and databend-udf's own `UDFClient`) sends what Databend's query engine sends
//! (see that script) to `udfbox serve` on the unchanged databend-udf example file, with
//! databend-udf's own server (PyPI) on the same file as the reference for schemas and values.

use crate::flight::{run_client, Server};
use crate::harness::repo_root;

const EXAMPLE: &str = "udfs/databend_udf_example.py";
/// BINARY and DECIMAL(p, s) functions, which the example does not have.
const TYPES: &str = "tests/clients/databend_types.py";

/// Runs the client's `cases` against a fresh `udfbox serve` and reference server, both serving
/// the example and the types file.
fn run(cases: &[&str]) {
    let udfbox = Server::udfbox(&["--udf", EXAMPLE, "--udf", TYPES]);
    let reference = Server::reference("databend-udf", &[EXAMPLE, TYPES]);
    let mut args = vec![udfbox.addr.as_str(), reference.addr.as_str(), EXAMPLE, TYPES];
    args.extend(cases);
    let output = run_client("databend_client.py", &args)
        .unwrap_or_else(|failure| panic!("{failure}\nudfbox serve's log:\n{}", udfbox.log()));
    print!("{output}");
    for case in cases {
        assert!(output.contains(&format!("ok {case}\n")), "case {case} did not finish:\n{output}\n{}", udfbox.log());
    }
}

#[test]
fn health_checks_builtin_healthy_and_builtin_echo() {
    run(&["health"]);
}

#[test]
fn input_count_and_result_field_match_databend_udf() {
    run(&["schemas"]);
}

#[test]
fn large_types_variant_and_decimal128_as_databend_sends_them() {
    run(&["types"]);
}

#[test]
fn slices_of_65536_rows_and_concurrent_exchanges() {
    run(&["slices", "concurrent"]);
}

/// Databend itself: the embedded engine from PyPI (`databend==1.2.453`, which `scripts/bootstrap`
/// installs where its wheels exist: CPython 3.11 and 3.12) runs `CREATE FUNCTION ... ADDRESS`
/// and queries through `udfbox serve`, slicing 200,000 rows into its own exchanges.
#[test]
fn databend_query_engine_calls_udfbox_serve() {
    let python = crate::flight::python();
    let version = std::process::Command::new(&python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .expect("run python");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    if !["3.11", "3.12"].contains(&version.as_str()) {
        println!("skipped: databend 1.2.453 has no wheel for CPython {version}");
        return;
    }
    let udfbox = Server::udfbox(&["--udf", EXAMPLE]);
    let scratch = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(&python)
        .arg(repo_root().join("tests/clients/databend_engine.py"))
        .arg(&udfbox.addr)
        .current_dir(scratch.path())
        .output()
        .expect("run databend_engine.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "databend_engine.py failed ({}):\n{stdout}\n{}\nudfbox serve's log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        udfbox.log()
    );
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 4, "{stdout}");
}
