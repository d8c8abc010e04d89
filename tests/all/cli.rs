//! The `udfbox` command line, end to end: formats, table formats, `functions`, and every error a
//! user can cause, each as a clear message without a Rust panic.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};

use crate::harness::{assert_no_panic, udfbox};

const PEOPLE: &str = "people=udfs/data/people.csv";

fn sql(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["sql"];
    all.extend_from_slice(args);
    let result = udfbox(&all);
    assert_no_panic(&result.2);
    result
}

#[test]
fn output_formats() {
    let query = "SELECT id, clean_name(name) AS name, city FROM people WHERE id IN (1, 4) ORDER BY id";
    let (code, table, _) = sql(&["--udf", "udfs/strings.py", "--table", PEOPLE, query]);
    assert_eq!(code, 0);
    assert_eq!(
        table.trim(),
        "+----+---------------+--------+
| id | name          | city   |
+----+---------------+--------+
| 1  | Alice Martin  | Berlin |
| 4  | Dmitri Ivanov |        |
+----+---------------+--------+"
    );
    let (_, csv, _) = sql(&["--udf", "udfs/strings.py", "--table", PEOPLE, "--format", "csv", query]);
    assert_eq!(csv, "id,name,city\n1,Alice Martin,Berlin\n4,Dmitri Ivanov,\n");
    let (_, json, _) = sql(&["--udf", "udfs/strings.py", "--table", PEOPLE, "--format", "json", query]);
    assert_eq!(
        json,
        "{\"id\":1,\"name\":\"Alice Martin\",\"city\":\"Berlin\"}\n{\"id\":4,\"name\":\"Dmitri Ivanov\",\"city\":null}\n"
    );
    let (_, empty, _) = sql(&["--table", PEOPLE, "--format", "csv", "SELECT id FROM people WHERE id > 99"]);
    assert_eq!(empty, "id\n");
}

#[test]
fn output_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let (code, stdout, _) = sql(&[
        "--udf",
        "udfs/add.py",
        "--format",
        "csv",
        "--output",
        path.to_str().unwrap(),
        "SELECT add_lambda(40, 2) AS answer",
    ]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(path).unwrap(), "answer\n42\n");
}

fn sample() -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
        ("name", Arc::new(StringArray::from(vec![Some("ann lee"), None, Some("bo")])) as _),
        ("score", Arc::new(Float64Array::from(vec![1.5, 2.0, 4.25])) as _),
    ])
    .unwrap()
}

#[test]
fn tables_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let batch = sample();
    let parquet = dir.path().join("t.parquet");
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&parquet).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let ipc = dir.path().join("t.arrow");
    let mut writer =
        arrow::ipc::writer::FileWriter::try_new(std::fs::File::create(&ipc).unwrap(), &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let jsonl = dir.path().join("t.jsonl");
    let mut writer = arrow::json::LineDelimitedWriter::new(std::fs::File::create(&jsonl).unwrap());
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "id,name,score\n1,ann lee,1.5\n2,,2.0\n3,bo,4.25\n").unwrap();
    for path in [&parquet, &ipc, &jsonl, &csv] {
        for mode in ["wasm", "native", "process"] {
            let table = format!("t={}", path.display());
            let (code, out, err) = sql(&[
                "--mode",
                mode,
                "--udf",
                "udfs/strings.py",
                "--table",
                &table,
                "--format",
                "csv",
                "SELECT id, initials(name) AS i, score * 2 AS s FROM t ORDER BY id",
            ]);
            assert_eq!(code, 0, "{}: {err}", path.display());
            assert_eq!(out, "id,i,s\n1,AL,3.0\n2,,4.0\n3,B,8.5\n", "{} ({mode})", path.display());
        }
    }
}

#[test]
fn functions_lists_every_function() {
    let (code, out, err) = udfbox(&["functions", "--udf", "udfs/types.py"]);
    assert_eq!(code, 0, "{err}");
    for expected in [
        "| money       | scalar | general   | DOUBLE                   | DECIMAL(10, 2)                 | true          |",
        "| item_list   | scalar | general   | (from call site)         | ARRAY<STRING>                  | true          |",
        "| row_name    | scalar | general   | ROW<`id` BIGINT, `who` STRING> | STRING                   | true          |",
    ] {
        let cells: Vec<&str> = expected.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
        let found = out.lines().any(|line| {
            let row: Vec<&str> = line.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
            row == cells
        });
        assert!(found, "missing {cells:?} in\n{out}");
    }
    let (_, out, _) = udfbox(&["functions", "--udf", "udfs/vectorized.py", "--mode", "native"]);
    assert!(
        out.contains("| vadd          | scalar | pandas    | (from call site) | BIGINT      | true          |"),
        "{out}"
    );
}

#[test]
fn a_udf_exception_names_function_type_message_and_user_lines() {
    for mode in ["wasm", "native", "process"] {
        let (code, out, err) = sql(&[
            "--mode",
            mode,
            "--udf",
            "udfs/errors/raises.py",
            "SELECT divide(a, b) FROM (VALUES (1, 1), (1, 0)) AS t(a, b)",
        ]);
        assert_ne!(code, 0);
        assert_eq!(out, "");
        assert!(
            err.contains("error: function 'divide' raised ZeroDivisionError: division by zero (row 1 of the batch)"),
            "{err}"
        );
        assert!(err.contains("File \"udfs/errors/raises.py\", line 10, in divide"), "{err}");
        assert!(err.contains("    return ratio(a, b)"), "{err}");
        assert!(err.contains("File \"udfs/errors/raises.py\", line 5, in ratio"), "{err}");
    }
}

#[test]
fn a_bad_result_names_function_and_row() {
    for mode in ["wasm", "native", "process"] {
        let (code, _, err) = sql(&[
            "--mode",
            mode,
            "--udf",
            "udfs/errors/wrong_type.py",
            "SELECT label(value) FROM generate_series(1, 5)",
        ]);
        assert_ne!(code, 0);
        assert!(
            err.contains("error: function 'label' returned a bad result: row 2: expected BIGINT, got str 'many'"),
            "{err}"
        );
        let (code, _, err) = sql(&[
            "--mode",
            mode,
            "--udf",
            "udfs/errors/wrong_length.py",
            "SELECT first_two(value) FROM generate_series(1, 5)",
        ]);
        assert_ne!(code, 0);
        assert!(
            err.contains("function 'first_two' returned a bad result: returned 2 values for a batch of 5 rows"),
            "{err}"
        );
    }
}

#[test]
fn a_syntax_error_names_file_and_line() {
    for mode in ["wasm", "native", "process"] {
        let (code, _, err) = sql(&["--mode", mode, "--udf", "udfs/errors/syntax_error.py", "SELECT 1"]);
        assert_ne!(code, 0);
        assert!(err.contains("error: SyntaxError: udfs/errors/syntax_error.py, line 5: "), "{err}");
    }
}

/// Each of these is one clear line on stderr.
#[test]
fn one_line_errors() {
    let cases: [(&[&str], &str); 7] = [
        (&["--table", "t=udfs/data/missing.csv", "SELECT 1"], "error: table file not found: udfs/data/missing.csv"),
        (&["--table", "people", "SELECT 1"], "error: invalid --table 'people': expected NAME=PATH"),
        (
            &["--table", "=udfs/data/people.csv", "SELECT 1"],
            "error: invalid --table '=udfs/data/people.csv': expected NAME=PATH",
        ),
        (&["--param", "novalue", "SELECT 1"], "error: invalid --param 'novalue': expected KEY=VALUE"),
        (
            &["--udf", "udfs/missing.py", "SELECT 1"],
            "error: cannot read udfs/missing.py: No such file or directory (os error 2)",
        ),
        (
            &["--table", "t=udfs/demo.sql", "SELECT 1"],
            "error: cannot tell the format of udfs/demo.sql: use .csv, .parquet, .json/.jsonl/.ndjson or .arrow/.ipc",
        ),
        (&["SELECT no_such_function(1)"], "error: Error during planning: Invalid function 'no_such_function'."),
    ];
    for (args, expected) in cases {
        let (code, out, err) = sql(args);
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(out, "");
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("udfbox: note:")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with(expected), "{args:?}: {err}");
    }
}

#[test]
fn wrong_argument_counts_are_planning_errors() {
    let (code, _, err) = sql(&["--udf", "udfs/add.py", "SELECT add_lambda(1)"]);
    assert_ne!(code, 0);
    assert!(err.contains("function 'add_lambda' takes 2 arguments (BIGINT, BIGINT), got 1"), "{err}");
}

#[test]
fn print_output_reaches_the_log_tagged_with_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chatty.py");
    std::fs::write(
        &file,
        "from udfbox import udf\nimport logging\n@udf(result_type='BIGINT')\ndef chatty(x):\n    print('seen', x)\n    logging.warning('careful')\n    return x\n",
    )
    .unwrap();
    for mode in ["wasm", "native", "process"] {
        let (code, out, err) =
            sql(&["--mode", mode, "--udf", file.to_str().unwrap(), "--format", "csv", "SELECT chatty(7) AS c"]);
        assert_eq!((code, out.as_str()), (0, "c\n7\n"));
        assert!(err.contains("[udf chatty] seen 7"), "{err}");
        assert!(err.contains("[udf chatty] WARNING root: careful"), "{err}");
    }
}

/// Text a UDF prints or raises reaches the terminal escaped (lone surrogates, ESC, BEL, CR) and
/// bounded (a flood of newlines is not a flood of log lines), the same in every mode.
#[test]
fn guest_text_reaches_the_terminal_escaped_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("noisy.py");
    std::fs::write(
        &file,
        "from udfbox import udf\n\
         @udf(result_type='BIGINT')\n\
         def noisy(x):\n    \
             print('odd \\ud800 \\x1b]0;title\\x07 end')\n    \
             print('\\n' * 5000, end='')\n    \
             return x\n\
         @udf(result_type='BIGINT')\n\
         def evil(x):\n    \
             raise ValueError('\\x1b[2J\\rfake \\ud800')\n",
    )
    .unwrap();
    let no_controls = |text: &str| !text.chars().any(|c| c.is_control() && c != '\n');
    for mode in ["wasm", "native", "process"] {
        let (code, out, err) =
            sql(&["--mode", mode, "--udf", file.to_str().unwrap(), "--format", "csv", "SELECT noisy(7) AS c"]);
        assert_eq!((code, out.as_str()), (0, "c\n7\n"), "{mode}: {err}");
        assert!(err.contains("[udf noisy] odd \\ud800 \\u{1b}]0;title\\u{7} end"), "{mode}: {err}");
        assert!(err.contains("[udf noisy] [udfbox: 4001 more lines (4001 bytes) of output dropped]"), "{mode}: {err}");
        assert!(err.lines().count() < 1100, "{mode}: {} lines", err.lines().count());
        assert!(no_controls(&err), "{mode}: {err:?}");

        let (code, _, err) = sql(&["--mode", mode, "--udf", file.to_str().unwrap(), "SELECT evil(7)"]);
        assert_ne!(code, 0, "{mode}: {err}");
        assert!(err.contains("raised ValueError: \\u{1b}[2J\\rfake \\ud800"), "{mode}: {err}");
        assert!(no_controls(&err), "{mode}: {err:?}");
        assert_no_panic(&err);
    }
}

#[test]
fn limits_from_the_command_line() {
    let spin = "udfs/adversarial/busy_loop_eval.py";
    let (code, _, err) = sql(&["--udf", spin, "--timeout", "1s", "SELECT attack(v) FROM (VALUES (1)) AS t(v)"]);
    assert_ne!(code, 0);
    assert_eq!(err.trim(), "error: function 'attack' timed out after 1s");

    let bomb = "udfs/adversarial/memory_incremental.py";
    let (code, _, err) = sql(&["--udf", bomb, "--memory-limit", "96MiB", "SELECT attack(v) FROM (VALUES (1)) AS t(v)"]);
    assert_ne!(code, 0);
    assert_eq!(err.trim(), "error: function 'attack' exceeded the memory limit of 100663296 bytes");

    let (code, _, err) = sql(&["--udf", "udfs/add.py", "--memory-limit", "1MiB", "SELECT 1"]);
    assert_ne!(code, 0);
    assert!(
        err.trim().ends_with("the memory limit of 1048576 bytes is below what the sandbox needs to start"),
        "{err}"
    );

    let (code, out, err) = sql(&[
        "--udf",
        "udfs/add.py",
        "--fuel",
        "100000000",
        "--format",
        "csv",
        "SELECT add_lambda(v, v) AS s FROM (VALUES (1), (2)) AS t(v)",
    ]);
    assert_eq!((code, out.as_str()), (0, "s\n2\n4\n"), "{err}");
    let used: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("udfbox: fuel used by add_lambda: "))
        .unwrap_or_else(|| panic!("no fuel report in {err}"))
        .parse()
        .unwrap();
    assert!(used > 0 && used < 100_000_000);

    let (code, _, err) = sql(&[
        "--udf",
        "udfs/adversarial/fuel_burn.py",
        "--fuel",
        "50000000",
        "SELECT attack(v) FROM (VALUES (1)) AS t(v)",
    ]);
    assert_ne!(code, 0);
    assert_eq!(err.trim(), "error: function 'attack' ran out of fuel after 50000000 units");

    // Loading a file is metered too: the same budget as a call.
    let (code, _, err) = sql(&[
        "--udf",
        "udfs/adversarial/fuel_burn.py",
        "--fuel",
        "1000",
        "SELECT attack(v) FROM (VALUES (1)) AS t(v)",
    ]);
    assert_ne!(code, 0);
    assert_eq!(err.trim(), "error: the sandbox ran out of fuel after 1000 units");

    for (flag, value, message) in [
        ("--timeout", "soon", "error: invalid duration 'soon'"),
        ("--memory-limit", "lots", "error: invalid size 'lots'"),
    ] {
        let (code, _, err) = sql(&["--udf", "udfs/add.py", flag, value, "SELECT 1"]);
        assert_ne!(code, 0);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(message), "{err}");
    }
}

#[test]
fn a_udf_named_like_sql_syntax_is_reachable_quoted_and_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("substr.py");
    std::fs::write(&file, "from udfbox import udf\nsubstr = udf(lambda s, n: s[:n], result_type='STRING')\n").unwrap();
    for mode in ["wasm", "native", "process"] {
        let (code, out, err) = sql(&[
            "--mode",
            mode,
            "--udf",
            file.to_str().unwrap(),
            "--format",
            "csv",
            "SELECT \"substr\"('abcdef', 2) AS mine, substr('abcdef', 2) AS builtin",
        ]);
        assert_eq!((code, out.as_str()), (0, "mine,builtin\nab,bcdef\n"), "{err}");
        assert!(err.contains("UDF 'substr' has a name SQL treats specially"), "{err}");
    }
}

#[test]
fn udf_files_saved_with_a_byte_order_mark_and_crlf_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("windows.py");
    std::fs::write(&file, "\u{feff}from udfbox import udf\r\ntwice = udf(lambda x: 2 * x, result_type='BIGINT')\r\n")
        .unwrap();
    for mode in ["wasm", "native", "process"] {
        let (code, out, err) =
            sql(&["--mode", mode, "--udf", file.to_str().unwrap(), "--format", "csv", "SELECT twice(21) AS t"]);
        assert_eq!((code, out.as_str()), (0, "t\n42\n"), "{err}");
    }
}
