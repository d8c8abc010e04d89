//! Aggregate functions (`udaf`): grouped, global and window (sliding frame, with retract)
//! aggregates in SQL; partial aggregation merged across partitions; accumulators carried
//! between different sandboxes; vectorized aggregates. Every case in every mode.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{col, SessionConfig, SessionContext};
use udfbox::backend::AggregateOp;
use udfbox::output::{self, Format};
use udfbox::{FunctionSet, Mode, Options};

use crate::harness::{normalize, repo_root, MODES};

fn weighted_avg_source() -> String {
    std::fs::read_to_string(repo_root().join("udfs/weighted_avg.py")).unwrap()
}

const MORE: &str = r#"
from udfbox import AggregateFunction, DataTypes, udaf

class CountNulls(AggregateFunction):
    def create_accumulator(self):
        return {"nulls": 0, "rows": []}
    def accumulate(self, acc, value):
        if value is None:
            acc["nulls"] += 1
        acc["rows"].append(value)
    def merge(self, acc, accs):
        for other in accs:
            acc["nulls"] += other["nulls"]
            acc["rows"].extend(other["rows"])
    def get_value(self, acc):
        return "%d nulls of %d" % (acc["nulls"], len(acc["rows"]))

count_nulls = udaf(CountNulls(), result_type=DataTypes.STRING())
vmean = udaf(lambda v: v.mean(), result_type=DataTypes.DOUBLE(), func_type="pandas")
"#;

/// `id` (0..n), `g` (id % groups), `v` (id, NULL every 7th row), split into `partitions`.
fn table(rows: i64, groups: i64, partitions: usize) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("g", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let per = (rows as usize).div_ceil(partitions).max(1);
    let mut parts = Vec::new();
    for start in (0..rows).step_by(per) {
        let ids: Vec<i64> = (start..(start + per as i64).min(rows)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Int64Array::from(ids.iter().map(|i| i % groups).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(ids.iter().map(|&i| (i % 7 != 3).then_some(i)).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        parts.push(vec![batch]);
    }
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    MemTable::try_new(schema, parts).unwrap()
}

async fn query(mode: Mode, table: MemTable, partitions: usize, sql: &str) -> String {
    let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
    set.load_source("udfs/weighted_avg.py", &weighted_avg_source()).unwrap();
    set.load_source("more.py", MORE).unwrap();
    let set = Arc::new(set);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    udfbox::sql::register_functions(&ctx, &set).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    let frame = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await.unwrap_or_else(|e| panic!("{mode}: {sql}: {}", udfbox::sql::describe(&e)));
    let mut out = Vec::new();
    output::write(Format::Csv, &schema, &batches, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

async fn both(rows: i64, groups: i64, partitions: usize, sql: &str) -> String {
    let wasm = query(Mode::Wasm, table(rows, groups, partitions), partitions, sql).await;
    for mode in [Mode::Native, Mode::Process] {
        let other = query(mode, table(rows, groups, partitions), partitions, sql).await;
        assert_eq!(wasm, other, "wasm and {mode} disagree on {sql}");
    }
    wasm
}

#[tokio::test]
async fn grouped_global_and_empty_aggregates() {
    let sql = "SELECT g, weighted_avg(id, g + 1) AS w, count_nulls(v) AS n, vmean(v) AS m FROM t GROUP BY g ORDER BY g";
    assert_eq!(
        normalize(&both(10, 3, 1, sql).await),
        normalize(
            "g,w,n,m
             0,4.5,1 nulls of 4,5.0
             1,4.0,0 nulls of 3,4.0
             2,5.0,0 nulls of 3,5.0"
        )
    );
    // A global aggregate, over rows and over no rows (one row of results from fresh accumulators).
    let sql = "SELECT weighted_avg(id, 1) AS w, count_nulls(v) AS n FROM t";
    assert_eq!(normalize(&both(10, 3, 1, sql).await), normalize("w,n\n4.5,1 nulls of 10"));
    let sql = "SELECT weighted_avg(id, 1) AS w, count_nulls(v) AS n FROM t WHERE id < 0";
    assert_eq!(normalize(&both(10, 3, 1, sql).await), normalize("w,n\n,0 nulls of 0"));
    // No groups at all: no rows.
    let sql = "SELECT g, weighted_avg(id, 1) AS w FROM t WHERE id < 0 GROUP BY g";
    assert_eq!(normalize(&both(10, 3, 1, sql).await), "g,w");
}

/// Over a sliding frame, rows leave through retract(); the result matches a frame recomputed
/// from scratch (a GROUP BY over the same rows would give the same averages).
#[tokio::test]
async fn window_aggregates_retract_rows_leaving_the_frame() {
    let sql = "SELECT id, weighted_avg(id, 2) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS w FROM t ORDER BY id";
    let expected: String = std::iter::once("id,w".to_string())
        .chain((0..8i64).map(|i| {
            let frame: Vec<i64> = ((i - 2).max(0)..=i).collect();
            let avg = frame.iter().sum::<i64>() as f64 / frame.len() as f64;
            format!("{i},{avg:?}")
        }))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(normalize(&both(8, 1, 1, sql).await), expected);
}

/// 100,000 groups over 4 partitions: partial aggregates per partition, merged by merge().
#[tokio::test]
async fn a_hundred_thousand_groups_merged_across_partitions() {
    let sql = "SELECT count(*) AS groups, sum(w) AS total, sum(CASE WHEN w = g THEN 1 ELSE 0 END) AS exact FROM \
               (SELECT g, weighted_avg(id, 1) AS w FROM t GROUP BY g) AS per_group";
    // Each group g holds ids g and g + 100000: its average is g + 50000.
    let got = both(200_000, 100_000, 4, &sql.replace("w = g", "w = g + 50000")).await;
    let total: i64 = (0..100_000i64).map(|g| g + 50_000).sum();
    assert_eq!(normalize(&got), normalize(&format!("groups,total,exact\n100000,{total}.0,100000")));
}

/// Accumulators leave one sandbox pickled and carry on in another: a partial aggregate made in
/// set A merges into one made in set B, and the result matches one set doing it all.
#[test]
fn accumulators_survive_the_trip_between_sandboxes() {
    let source = weighted_avg_source();
    let load = |mode| {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("udfs/weighted_avg.py", &source).unwrap();
        set
    };
    let ints = |v: Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(v)) };
    let fresh = BinaryArray::from_iter([None::<&[u8]>, None]);
    for (first, second) in [
        (Mode::Wasm, Mode::Wasm),
        (Mode::Wasm, Mode::Native),
        (Mode::Native, Mode::Process),
        (Mode::Process, Mode::Wasm),
    ] {
        let (a, b) = (load(first), load(second));
        // Two groups; set A sees rows 1..=3, set B rows 4..=6.
        let groups = Int32Array::from(vec![0, 1, 0]);
        let in_a = a
            .aggregate(
                "weighted_avg",
                AggregateOp::Accumulate,
                &fresh,
                &groups,
                &[ints(vec![1, 2, 3]), ints(vec![1, 1, 1])],
            )
            .unwrap();
        let in_b = b
            .aggregate(
                "weighted_avg",
                AggregateOp::Accumulate,
                &fresh,
                &groups,
                &[ints(vec![4, 5, 6]), ints(vec![1, 1, 1])],
            )
            .unwrap();
        let merged = b
            .aggregate(
                "weighted_avg",
                AggregateOp::Merge,
                &in_b,
                &Int32Array::from(vec![0, 1]),
                &[Arc::new(in_a) as ArrayRef],
            )
            .unwrap();
        let values = b.finish("weighted_avg", &merged).unwrap();
        // Group 0: 1, 3, 4, 6; group 1: 2, 5.
        assert_eq!(
            values.as_any().downcast_ref::<Float64Array>().unwrap(),
            &Float64Array::from(vec![3.5, 3.5]),
            "{first} -> {second}"
        );
    }
    // A NULL state is a fresh accumulator; get_value of it is the empty result.
    let set = load(Mode::Wasm);
    let empty = set.finish("weighted_avg", &BinaryArray::from_iter([None::<&[u8]>])).unwrap();
    assert!(empty.is_null(0));
}

#[test]
fn aggregate_errors_name_the_method_and_row() {
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source(
            "bad.py",
            "from udfbox import AggregateFunction, udaf\n\
             class Bad(AggregateFunction):\n    def create_accumulator(self):\n        return [0]\n\
             \x20   def accumulate(self, acc, v):\n        acc[0] += 10 // v\n\
             \x20   def get_value(self, acc):\n        return acc[0]\n\
             \x20   def merge(self, acc, accs):\n        acc[0] += sum(a[0] for a in accs)\n\
             bad = udaf(Bad(), result_type='BIGINT')\n\
             class Deferred(Bad):\n    merge = None\n\
             deferred = udaf(Deferred(), result_type='BIGINT')\n",
        )
        .unwrap();
        let error = set
            .aggregate(
                "bad",
                AggregateOp::Accumulate,
                &BinaryArray::from_iter([None::<&[u8]>]),
                &Int32Array::from(vec![0, 0]),
                &[Arc::new(Int64Array::from(vec![1, 0])) as ArrayRef],
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("ZeroDivisionError") && error.contains("row 1") && error.contains("accumulate()"),
            "{mode}: {error}"
        );
        // Sliding frames need retract(); its absence is a clear error.
        let error = set
            .aggregate(
                "bad",
                AggregateOp::Retract,
                &BinaryArray::from_iter([None::<&[u8]>]),
                &Int32Array::from(vec![0]),
                &[Arc::new(Int64Array::from(vec![1])) as ArrayRef],
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not define retract()"), "{mode}: {error}");
        // Without merge(), rows are kept and accumulated when the result is wanted: the error
        // shows there, naming accumulate() and the row within the group.
        let states = set
            .aggregate(
                "deferred",
                AggregateOp::Accumulate,
                &BinaryArray::from_iter([None::<&[u8]>]),
                &Int32Array::from(vec![0, 0]),
                &[Arc::new(Int64Array::from(vec![1, 0])) as ArrayRef],
            )
            .unwrap();
        let error = set.finish("deferred", &states).unwrap_err().to_string();
        assert!(
            error.contains("ZeroDivisionError") && error.contains("row 1") && error.contains("accumulate()"),
            "{mode}: {error}"
        );
    }
}

fn top2_source() -> String {
    std::fs::read_to_string(repo_root().join("udfs/top2.py")).unwrap()
}

async fn flat(mode: Mode, table: MemTable, partitions: usize) -> String {
    let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
    set.load_source("udfs/top2.py", &top2_source()).unwrap();
    let set = Arc::new(set);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    ctx.register_table("t", Arc::new(table)).unwrap();
    let df = ctx.table("t").await.unwrap();
    let df = udfbox::sql::flat_aggregate(df, &set, vec![col("g")], "top2", vec![col("v")]).unwrap();
    let df = df.sort(vec![col("g").sort(true, false), col("rank").sort(true, false)]).unwrap();
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.unwrap();
    let mut out = Vec::new();
    output::write(Format::Csv, &schema, &batches, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Table aggregates: in SQL (unnest of the emitted rows) and from Rust as a flat aggregate, with
/// NULL inputs (skipped by Top2), groups that emit one row, and no input.
#[tokio::test]
async fn table_aggregates_in_sql_and_from_rust() {
    let sql = "SELECT g, r['value'] AS value, r['rank'] AS rank FROM \
               (SELECT g, unnest(top2(v)) AS r FROM t GROUP BY g) ORDER BY g, rank";
    let mut seen = Vec::new();
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("udfs/top2.py", &top2_source()).unwrap();
        let set = Arc::new(set);
        let ctx = udfbox::sql::session();
        udfbox::sql::register_functions(&ctx, &set).unwrap();
        ctx.register_table("t", Arc::new(table(10, 3, 2))).unwrap();
        let batches = udfbox::sql::query(&ctx, &set, sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        output::write(Format::Csv, &batches[0].schema(), &batches, &mut out).unwrap();
        let from_rust = flat(mode, table(10, 3, 2), 2).await;
        assert_eq!(String::from_utf8(out).unwrap(), from_rust, "{mode}: SQL and the Rust flat aggregate agree");
        seen.push(from_rust);
    }
    assert_eq!(seen[0], seen[1], "wasm and native disagree");
    // ids 0..10 in 3 groups, v NULL for id 3.
    assert_eq!(normalize(&seen[0]), normalize("g,value,rank\n0,9,1\n0,6,2\n1,7,1\n1,4,2\n2,8,1\n2,5,2"));
    // No rows: no groups, nothing emitted.
    let empty = flat(Mode::Wasm, table(0, 3, 1), 1).await;
    assert_eq!(normalize(&empty), "g,value,rank");
}

/// 100,000 groups over 4 partitions through the flat aggregate: merge() across partitions.
#[tokio::test]
async fn table_aggregate_over_a_hundred_thousand_groups() {
    for mode in MODES {
        let got = flat(mode, table(200_000, 100_000, 4), 4).await;
        let lines: Vec<&str> = got.lines().collect();
        // A row per non-NULL value of each group (v is NULL when id % 7 == 3).
        let emitted = (0..200_000i64).filter(|id| id % 7 != 3).count();
        assert_eq!(lines.len(), 1 + emitted, "{mode}: one row per value, at most two per group");
        // Group g holds g and g + 100000; id 3 is NULL, so group 3 emits one row.
        assert_eq!(lines[1..5], ["0,100000,1", "0,0,2", "1,100001,1", "1,1,2"], "{mode}");
        assert!(got.contains("\n3,100003,1\n4,100004,1\n"), "{mode}");
    }
}

/// PyFlink's documented WeightedAvg has no merge(): its groups still combine across partitions
/// (udfbox keeps such a function's rows and accumulates them at the end).
#[tokio::test]
async fn aggregates_without_merge_combine_across_partitions() {
    let docs = std::fs::read_to_string(repo_root().join("udfs/pyflink_docs.py")).unwrap();
    let mut seen = Vec::new();
    for mode in MODES {
        let mut set = FunctionSet::new(Options { mode, ..Default::default() }).unwrap();
        set.load_source("udfs/pyflink_docs.py", &docs).unwrap();
        let set = Arc::new(set);
        let ctx = udfbox::sql::session_with_config(SessionConfig::new().with_target_partitions(4));
        udfbox::sql::register_functions(&ctx, &set).unwrap();
        ctx.register_table("t", Arc::new(table(20_000, 1_000, 4))).unwrap();
        let sql =
            "SELECT count(*) AS groups, sum(w) AS total FROM (SELECT g, weighted_avg(id, 1) AS w FROM t GROUP BY g)";
        let batches = udfbox::sql::query(&ctx, &set, sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        output::write(Format::Csv, &batches[0].schema(), &batches, &mut out).unwrap();
        seen.push(String::from_utf8(out).unwrap());
    }
    assert_eq!(seen[0], seen[1], "wasm and native disagree");
    // Group g holds g, g + 1000, ..., g + 19000: average g + 9500 (as FLOAT).
    let total: f64 = (0..1000).map(|g| (g + 9500) as f64).sum();
    assert_eq!(normalize(&seen[0]), normalize(&format!("groups,total\n1000,{total:?}")));
}

#[tokio::test]
async fn aggregates_with_declared_input_types() {
    // `input_types` given, as PyFlink users often write them: the result and the emitted rows
    // are asked for with no arguments, which must not be checked against the declared ones.
    let source = r#"
from udfbox import AggregateFunction, DataTypes, TableAggregateFunction, udaf, udtaf

class Total(AggregateFunction):
    def create_accumulator(self):
        return [0]
    def accumulate(self, acc, v):
        acc[0] += v
    def merge(self, acc, others):
        for other in others:
            acc[0] += other[0]
    def get_value(self, acc):
        return acc[0]

class Largest(TableAggregateFunction):
    def create_accumulator(self):
        return [None]
    def accumulate(self, acc, v):
        if acc[0] is None or v > acc[0]:
            acc[0] = v
    def emit_value(self, acc):
        yield acc[0]

total = udaf(Total(), [DataTypes.BIGINT()], DataTypes.BIGINT())
largest = udtaf(Largest(), [DataTypes.BIGINT()], DataTypes.ROW([DataTypes.FIELD("v", DataTypes.BIGINT())]))
"#;
    let batch = RecordBatch::try_from_iter([
        ("g", Arc::new(Int64Array::from(vec![1, 1, 2])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![5, 7, 4])) as ArrayRef),
    ])
    .unwrap();
    crate::harness::check(
        source,
        Some(batch),
        "SELECT g, total(v) AS t, largest(v)[1]['v'] AS l FROM t GROUP BY g ORDER BY g",
        "g,t,l
         1,12,7
         2,4,4",
    )
    .await;
}
