//! The README's examples are run: its Python blocks load and behave as described in both modes,
//! and its shell example prints what the README shows.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use udfbox::{FunctionSet, Options};

use crate::harness::{check, normalize, repo_root, udfbox, MODES};

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

fn code_blocks(text: &str, language: &str) -> Vec<String> {
    let fence = format!("```{language}\n");
    text.split(&fence).skip(1).map(|rest| rest.split("```").next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn readme_python_blocks_run() {
    let blocks = code_blocks(&readme(), "python");
    assert_eq!(blocks.len(), 4, "the README's Python examples");
    check(
        &blocks[0],
        None,
        "SELECT initials('ada lovelace') AS i, initials(NULL) AS n",
        "i,n
         AL,",
    )
    .await;
    check(
        &blocks[1],
        None,
        "SELECT add(1, 2) a, add2(1, 2) b, add3(1, 2) c, add4(1, 2) d, vadd(v, v) e FROM (VALUES (1), (NULL)) AS x(v) ORDER BY v",
        "a,b,c,d,e
         3,3,3,4,2
         3,3,3,4,",
    )
    .await;
    // Table and aggregate functions, as the README calls them.
    check(
        &blocks[2],
        None,
        "SELECT w, n, avg_len(n) OVER (ORDER BY w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS a \
         FROM (VALUES ('ab c')) AS t(s), LATERAL TABLE(split(s)) AS T(w, n) ORDER BY w",
        "w,n,a
         ab,2,2.0
         c,1,1.5",
    )
    .await;
    check(&blocks[2], None, "SELECT avg_len(x) AS a FROM (VALUES (1), (2), (6)) AS t(x)", "a\n3.0").await;
    // The dependency example: a model loaded in open() from the --deps directory.
    let deps = tempfile::tempdir().unwrap();
    std::fs::write(deps.path().join("model.pkl"), b"(dp0\nVscale\np1\nI3\ns.").unwrap();
    for mode in MODES {
        let options = Options { mode, deps: Some(deps.path().to_path_buf()), ..Default::default() };
        let mut set = FunctionSet::new(options).unwrap();
        set.load_source("predict.py", &blocks[3]).unwrap();
        let x: ArrayRef = Arc::new(Int64Array::from(vec![1, 5]));
        assert_eq!(set.call("predict", &[x], 2).unwrap().as_ref(), &Int64Array::from(vec![3, 15]), "{mode}");
    }
}

#[test]
fn readme_shell_example_prints_what_it_shows() {
    let readme = readme();
    let block = code_blocks(&readme, "sh").into_iter().find(|b| b.starts_with("$ udfbox sql")).unwrap();
    let (command, shown) = block.split_once("\"\n").unwrap();
    let query = command.rsplit_once('"').unwrap().1;
    let args: Vec<&str> = command
        .trim_start_matches("$ udfbox ")
        .split_once(" \"")
        .unwrap()
        .0
        .split_whitespace()
        .filter(|a| *a != "\\")
        .chain(std::iter::once(query))
        .collect();
    for mode in ["wasm", "native"] {
        let mut with_mode = args.clone();
        with_mode.extend(["--mode", mode]);
        let (code, stdout, stderr) = udfbox(&with_mode);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(normalize(&stdout), normalize(shown), "{mode}");
    }
}

/// docs/PYFLINK.md's examples: each Python block is a UDF file, the SQL block after it a query
/// and the CSV block after that its result, in every mode.
#[tokio::test]
async fn pyflink_page_examples_run() {
    let page = std::fs::read_to_string(repo_root().join("docs/PYFLINK.md")).unwrap();
    let mut blocks = Vec::new();
    for (i, part) in page.split("```").enumerate() {
        if i % 2 == 1 {
            let (language, body) = part.split_once('\n').unwrap();
            blocks.push((language.trim().to_string(), body.to_string()));
        }
    }
    let mut examples = 0;
    for triple in blocks.windows(3) {
        if let [(python, source), (sql, query), (csv, expected)] = triple {
            if python == "python" && sql == "sql" && csv == "csv" {
                check(source, None, query.trim(), expected).await;
                examples += 1;
            }
        }
    }
    let python_blocks = blocks.iter().filter(|(language, _)| language == "python").count();
    assert_eq!(examples, python_blocks, "every Python example has its query and result");
    assert!(examples >= 5);
}

/// The README's snapshot example runs, and prints the same rows with and without `--snapshot`.
#[test]
fn readme_snapshot_example_runs() {
    let readme = readme();
    let block = code_blocks(&readme, "sh").into_iter().find(|b| b.starts_with("udfbox sql --snapshot")).unwrap();
    let (command, query) = block.trim_end().trim_end_matches('"').split_once(" \\\n  \"").unwrap();
    let mut args: Vec<&str> = command.trim_start_matches("udfbox ").split_whitespace().collect();
    args.push(query);
    let (code, expected, stderr) = udfbox(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(expected.contains("story"), "{expected}");
    for mode in ["wasm", "native", "process"] {
        for snapshot in [true, false] {
            let mut run: Vec<&str> = args.iter().copied().filter(|a| snapshot || *a != "--snapshot").collect();
            run.extend(["--mode", mode]);
            let (code, stdout, stderr) = udfbox(&run);
            assert_eq!(code, 0, "{mode}: {stderr}");
            assert_eq!(stdout, expected, "{mode}, snapshot {snapshot}");
        }
    }
}
