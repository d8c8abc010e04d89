//! Every example in `udfs/` runs through the CLI in both modes and prints its expected output.
//! An example is a `udfs/*.py` file whose header names its tables, parameters and query; its
//! expected CSV output is `udfs/expected/<name>.csv`. An example without them fails this test.

use crate::harness::{assert_no_panic, normalize, repo_root, udfbox};

struct Example {
    name: String,
    tables: Vec<String>,
    params: Vec<String>,
    /// `--deps` directory, relative to the repository.
    deps: Option<String>,
    query: String,
}

fn parse(name: &str, source: &str) -> Example {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in source.lines().take_while(|l| l.starts_with('#')) {
        if let Some(rest) = line.strip_prefix("#   ") {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(rest.trim());
            }
        } else if let Some((key, value)) = line.trim_start_matches("# ").split_once(": ") {
            fields.push((key.to_string(), value.trim().to_string()));
        }
    }
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let list = |key: &str| {
        get(key)
            .map_or_else(Vec::new, |v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
    };
    Example {
        name: name.to_string(),
        tables: list("tables"),
        params: list("params"),
        deps: get("deps"),
        query: get("query").unwrap_or_else(|| panic!("udfs/{name}.py has no '# query:' header")),
    }
}

fn examples() -> Vec<Example> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("udfs"))
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "py").then(|| path.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| parse(name, &std::fs::read_to_string(repo_root().join(format!("udfs/{name}.py"))).unwrap()))
        .collect()
}

#[test]
fn every_example_gives_its_expected_output_in_every_mode() {
    let examples = examples();
    assert!(examples.len() >= 5, "examples went missing");
    for example in examples {
        let expected_path = repo_root().join(format!("udfs/expected/{}.csv", example.name));
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!("{} is missing: every example needs its expected output", expected_path.display())
        });
        let file = format!("udfs/{}.py", example.name);
        for mode in ["wasm", "native", "process"] {
            let mut args = vec!["sql", "--mode", mode, "--format", "csv", "--udf", &file];
            for table in &example.tables {
                args.extend(["--table", table]);
            }
            for param in &example.params {
                args.extend(["--param", param]);
            }
            if let Some(deps) = &example.deps {
                args.extend(["--deps", deps]);
            }
            args.push(&example.query);
            let (code, stdout, stderr) = udfbox(&args);
            assert_no_panic(&stderr);
            assert_eq!(code, 0, "{} ({mode}) failed: {stderr}", example.name);
            assert_eq!(normalize(&stdout), normalize(&expected), "{} ({mode})", example.name);
        }
    }
}

/// The README's demo command runs `scripts/demo`, which runs this query with these files.
const DEMO_ARGS: [&str; 10] = [
    "--udf",
    "udfs/strings.py",
    "--udf",
    "udfs/types.py",
    "--udf",
    "udfs/vectorized.py",
    "--table",
    "people=udfs/data/people.csv",
    "--table",
    "orders=udfs/data/orders.csv",
];

#[test]
fn the_readme_demo_runs_and_agrees_across_modes() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(readme.contains("scripts/demo"), "the README gives the demo command");
    let script = std::fs::read_to_string(repo_root().join("scripts/demo")).unwrap();
    assert!(script.contains(&DEMO_ARGS.join(" ")), "scripts/demo runs the files this test runs");
    assert!(script.contains("udfs/demo.sql"));
    let query = std::fs::read_to_string(repo_root().join("udfs/demo.sql")).unwrap();
    let expected = std::fs::read_to_string(repo_root().join("udfs/expected/demo.txt")).unwrap();
    for mode in ["wasm", "native", "process"] {
        let mut args = vec!["sql", "--mode", mode];
        args.extend(DEMO_ARGS);
        args.push(&query);
        let (code, stdout, stderr) = udfbox(&args);
        assert_eq!(code, 0, "{mode}: {stderr}");
        assert_eq!(normalize(&stdout), normalize(&expected), "{mode}");
    }
}
