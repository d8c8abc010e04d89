//! Vectorized (`func_type="pandas"`) UDFs: whole columns per call, elementwise operators, NULLs.

use crate::harness::{both, check, repo_root};

const VECTORIZED: &str = r#"
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def vadd(i, j):
    return i + j

@udf(result_type=DataTypes.BOOLEAN(), func_type="pandas")
def vgt(i, j):
    return i > j

@udf(result_type=DataTypes.DOUBLE(), func_type="pandas")
def vmix(i, j):
    return (i * 2 - j) / 4 + 1

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def batch_size(i):
    return [len(i)] * len(i)

@udf(result_type=DataTypes.STRING(), func_type="pandas")
def vlabel(s):
    return s.map(lambda v: v.upper(), na_action="ignore").fillna("?")

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def wrong_length(i):
    return i[:1]

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def not_a_column(i):
    return 5
"#;

#[tokio::test]
async fn elementwise_arithmetic_and_comparison() {
    check(
        VECTORIZED,
        None,
        "SELECT i, j, vadd(i, j) AS s, vgt(i, j) AS gt, vmix(i, j) AS m, vlabel(name) AS l \
         FROM (VALUES (1, 2, 'a'), (5, 3, NULL), (NULL, 1, 'c'), (4, 4, 'd')) AS x(i, j, name) ORDER BY j, i",
        "i,j,s,gt,m,l
         ,1,,false,,C
         1,2,3,false,1.0,A
         5,3,8,true,2.75,?
         4,4,8,false,2.0,D",
    )
    .await;
}

#[tokio::test]
async fn one_call_per_batch() {
    // DataFusion hands over up to 8,192 rows at a time: the function sees whole batches.
    check(
        VECTORIZED,
        None,
        "SELECT max(batch_size(value)) AS largest FROM generate_series(1, 20000)",
        "largest
         8192",
    )
    .await;
}

#[tokio::test]
async fn results_must_be_columns_of_the_batch_length() {
    let error = both(VECTORIZED, None, "SELECT wrong_length(value) FROM generate_series(1, 3)").await.unwrap_err();
    assert_eq!(error, "function 'wrong_length' returned a bad result: returned 1 values for a batch of 3 rows");
    let error = both(VECTORIZED, None, "SELECT not_a_column(value) FROM generate_series(1, 3)").await.unwrap_err();
    assert_eq!(
        error,
        "function 'not_a_column' returned a bad result: a vectorized function must return a column \
         (Series or list) of 3 values, got int"
    );
}

#[tokio::test]
async fn pandas_style_accessors_and_helpers() {
    let source = r#"
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING(), func_type="pandas")
def shout(s):
    return s.str.strip().str.upper()

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def year(d):
    return d.dt.year

@udf(result_type=DataTypes.BOOLEAN(), func_type="pandas")
def in_range(n):
    return n.abs().between(1, 3) & n.isin([-2, 3, 9])

@udf(result_type=DataTypes.DOUBLE(), func_type="pandas")
def centered(n):
    return (n - n.mean()) / n.std()
"#;
    check(
        source,
        None,
        "SELECT shout(s) AS s, year(d) AS y, in_range(n) AS r, centered(n) AS c FROM (VALUES \
         (' ab ', DATE '2024-03-01', -2), (NULL, NULL, 3), ('x', DATE '1999-12-31', 9), ('q', NULL, NULL)) AS t(s, d, n)",
        "s,y,r,c
         AB,2024,true,-0.9683640522700839
         ,,true,-0.060522753266880266
         X,1999,false,1.028886805536964
         Q,,false,",
    )
    .await;
}

/// What pandas UDF authors use, as PyFlink users write it, and pandas' NULL semantics (a
/// comparison with NULL is False): issue 13, item 4.
#[tokio::test]
async fn the_pandas_surface_udf_authors_use() {
    let source = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import udf, udaf

@udf(result_type=DataTypes.STRING(), func_type="pandas")
def first_word(s):
    return s.str.split(" ").str[0]

@udf(result_type=DataTypes.STRING(), func_type="pandas")
def prefix(s):
    return s.str[:3]

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def filled(x):
    return x.fillna(0).astype('int64')

@udf(result_type=DataTypes.BOOLEAN(), func_type="pandas")
def above(x):
    return x > 2

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def running(x):
    return x.fillna(0).cumsum().shift(1, fill_value=0)

stats = udaf(lambda x: "%.3f %.1f %d %.1f" % (x.var(), x.median(), x.nunique(), x.quantile(0.75)),
             result_type=DataTypes.STRING(), func_type="pandas")
"#;
    check(
        source,
        None,
        "SELECT first_word(s) AS w, prefix(s) AS p, filled(x) AS f, above(x) AS a, running(x) AS r \
         FROM (VALUES (1, 'hello world', 1), (2, NULL, NULL), (3, 'ab', 3), (4, 'x y', 3)) AS t(i, s, x) ORDER BY i",
        "w,p,f,a,r
         hello,hel,1,false,0
         ,,0,false,1
         ab,ab,3,true,1
         x,x y,3,true,4",
    )
    .await;
    check(
        source,
        None,
        "SELECT stats(x) AS s FROM (VALUES (1), (NULL), (3), (3), (7)) AS t(x)",
        "s
         6.333 3.0 3 4.0",
    )
    .await;
}

/// udfbox's pandas imitation gives real pandas' answers (or raises where pandas raises) for the
/// surface it covers, and names what it does not cover (tests/clients/pandas_parity.py, with
/// the pandas scripts/bootstrap installs into .venv).
#[test]
fn the_pandas_imitation_agrees_with_pandas() {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    let output = std::process::Command::new(&python)
        .arg(root.join("tests/clients/pandas_parity.py"))
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e} (run scripts/bootstrap)", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("No module named 'pandas'"), "pandas is missing from .venv: run scripts/bootstrap");
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("cases agree with pandas"), "{stdout}");
}

/// In process mode, with a CPython that has pandas (.venv's, where scripts/bootstrap installs
/// it), vectorized functions get pandas' own Series and DataFrames, `import pandas` works, and
/// results (numpy scalars, NaN, integers turned into floats) come back as the declared types:
/// the same answers as the imitation gives in the sandbox.
#[tokio::test]
async fn process_mode_hands_real_pandas_to_vectorized_functions() {
    use std::sync::Arc;
    let source = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import udf, udaf

@udf(result_type=DataTypes.STRING(), func_type="pandas")
def kind(s):
    return s.map(lambda v: type(s).__module__.split(".")[0])

@udf(result_type=DataTypes.STRING(), func_type="pandas")
def first_word(s):
    return s.str.split(" ").str[0]

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def plus_one(x):
    return x + 1

@udf(result_type=DataTypes.BOOLEAN(), func_type="pandas")
def above(x):
    return x > 2

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def total(row):
    return row.a + row["b"] * 10

max_min = udaf(lambda a: (a.max(), a.min()),
               result_type=DataTypes.ROW([DataTypes.FIELD("a", DataTypes.BIGINT()),
                                          DataTypes.FIELD("b", DataTypes.BIGINT())]),
               func_type="pandas")
mean = udaf(lambda a: a.mean(), result_type=DataTypes.DOUBLE(), func_type="pandas")
"#;
    let sql = "SELECT kind(s) AS k, first_word(s) AS w, plus_one(x) AS p, above(x) AS a, \
               total(named_struct('a', x, 'b', i)) AS t FROM (VALUES (1, 'hello world', 1), (2, NULL, NULL), \
               (3, 'ab', 3)) AS v(i, s, x) ORDER BY i";
    let aggregate = "SELECT max_min(x)['a'] AS hi, max_min(x)['b'] AS lo, mean(x) AS m \
                     FROM (VALUES (1), (NULL), (3), (8)) AS v(x)";
    let mut results = Vec::new();
    for (mode, python) in
        [(udfbox::Mode::Wasm, None), (udfbox::Mode::Process, Some(repo_root().join(".venv/bin/python")))]
    {
        let mut set = udfbox::FunctionSet::new(udfbox::Options { mode, python, ..Default::default() }).unwrap();
        set.load_source("test_udfs.py", source).unwrap();
        let set = Arc::new(set);
        let ctx = udfbox::sql::session();
        udfbox::sql::register_functions(&ctx, &set).unwrap();
        let mut texts = Vec::new();
        for query in [sql, aggregate] {
            let frame = udfbox::sql::query(&ctx, &set, query).await.unwrap();
            let batches = frame.collect().await.unwrap_or_else(|e| panic!("{mode}: {}", udfbox::sql::describe(&e)));
            let mut out = Vec::new();
            udfbox::output::write(udfbox::output::Format::Csv, &batches[0].schema(), &batches, &mut out).unwrap();
            texts.push(crate::harness::normalize(&String::from_utf8(out).unwrap()));
        }
        results.push(texts);
    }
    assert_eq!(
        results[0][0],
        crate::harness::normalize(
            "k,w,p,a,t
             udfbox,hello,2,false,11
             udfbox,,,false,
             udfbox,ab,4,true,33"
        )
    );
    assert_eq!(results[1][0], results[0][0].replace("udfbox", "pandas"), "process mode with pandas");
    assert_eq!(results[0][1], crate::harness::normalize("hi,lo,m\n8,1,4.0"));
    assert_eq!(results[1][1], results[0][1], "process mode with pandas");
}
