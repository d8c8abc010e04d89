//! Issue 13: PyFlink's own test suite and documentation, UDF code kept as PyFlink writes it.
//! Every case runs in wasm, native and process mode and compares.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::prelude::SessionConfig;

use crate::harness::check_in;

/// PyFlink's `from_elements` rows `(a BIGINT, b STRING, c STRING)` as table `t`, one row per
/// batch, spread over `partitions` partitions (`python.fn-execution.bundle.size=1` on several
/// parallel subtasks).
fn elements(rows: &[(i64, Option<&str>, Option<&str>)], partitions: usize) -> Vec<Vec<RecordBatch>> {
    let mut parts = vec![Vec::new(); partitions];
    for (i, (a, b, c)) in rows.iter().enumerate() {
        let batch = RecordBatch::try_from_iter_with_nullable([
            ("a", Arc::new(Int64Array::from(vec![*a])) as ArrayRef, true),
            ("b", Arc::new(StringArray::from(vec![*b])) as ArrayRef, true),
            ("c", Arc::new(StringArray::from(vec![*c])) as ArrayRef, true),
        ])
        .unwrap();
        parts[i % partitions].push(batch);
    }
    parts
}

/// One row per batch, four partitions: a group's rows are spread over batches and partitions.
fn bundled_one_by_one() -> SessionConfig {
    SessionConfig::new().with_batch_size(1).with_target_partitions(4)
}

const DOUBLE_AGGREGATE_ROWS: &[(i64, Option<&str>, Option<&str>)] = &[
    (1, Some("Hi"), Some("Hello")),
    (3, Some("Hi"), Some("hi")),
    (3, Some("Hi2"), Some("hi")),
    (3, Some("Hi"), Some("hi2")),
    (2, Some("Hi"), Some("Hello")),
];

/// Flink calls `merge` only for session and hop windows: a global aggregate and a GROUP BY whose
/// groups span batches and partitions never call it (issue 13, item 2).
#[tokio::test]
async fn merge_is_not_called_where_flink_does_not_call_it() {
    let source = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf

class Cnt(AggregateFunction):
    def create_accumulator(self): return [0]
    def accumulate(self, acc, v): acc[0] += 1
    def merge(self, acc, accs): raise RuntimeError("merge called")
    def get_value(self, acc): return acc[0]
    def get_result_type(self): return 'BIGINT'
cnt = udaf(Cnt())

# PyFlink's test_udaf.py: CountAggregateFunction and SumAggregateFunction, their merge made to
# fail as in the Top2 test, since it must not run.
class CountAggregateFunction(AggregateFunction):

    def get_value(self, accumulator):
        return accumulator[0]

    def create_accumulator(self):
        return [0]

    def accumulate(self, accumulator, *args):
        accumulator[0] = accumulator[0] + 1

    def retract(self, accumulator, *args):
        accumulator[0] = accumulator[0] - 1

    def merge(self, accumulator, accumulators):
        raise NotImplementedError

    def get_accumulator_type(self):
        return DataTypes.ARRAY(DataTypes.BIGINT())

    def get_result_type(self):
        return DataTypes.BIGINT()


class SumAggregateFunction(AggregateFunction):

    def get_value(self, accumulator):
        return accumulator[0]

    def create_accumulator(self):
        return [0]

    def accumulate(self, accumulator, *args):
        accumulator[0] = accumulator[0] + args[0]

    def retract(self, accumulator, *args):
        accumulator[0] = accumulator[0] - args[0]

    def merge(self, accumulator, accumulators):
        raise NotImplementedError

    def get_accumulator_type(self):
        return DataTypes.ARRAY(DataTypes.BIGINT())

    def get_result_type(self):
        return DataTypes.BIGINT()

my_count = udaf(CountAggregateFunction())
my_sum = udaf(SumAggregateFunction())
"#;
    let rows = elements(DOUBLE_AGGREGATE_ROWS, 3);
    check_in(source, rows.clone(), bundled_one_by_one(), "SELECT cnt(a) AS n FROM t", "n\n5").await;
    check_in(
        source,
        rows.clone(),
        bundled_one_by_one(),
        "SELECT c, cnt(a) AS n, my_sum(a) AS s FROM t GROUP BY c ORDER BY c",
        "c,n,s
         Hello,2,3
         hi,2,6
         hi2,1,3",
    )
    .await;
    // test_double_aggregate: an aggregate over an aggregate's results.
    check_in(
        source,
        rows,
        bundled_one_by_one(),
        "SELECT my_count(a) AS a, my_sum(b) AS b, sum(b) AS c, sum(CAST(b AS DOUBLE) + 0) AS d \
         FROM (SELECT my_count(a) AS a, my_sum(a) AS b, c FROM t GROUP BY c)",
        "a,b,c,d
         3,12,12,12.0",
    )
    .await;
}

const CONCAT_AGGREGATE: &str = r#"
from pyflink.common import Row
from pyflink.table import DataTypes
from pyflink.table.udf import AggregateFunction, udaf


class ConcatAggregateFunction(AggregateFunction):

    def get_value(self, accumulator):
        str_list = [i for i in accumulator[0]]
        str_list.sort()
        return accumulator[1].join(str_list)

    def create_accumulator(self):
        return Row([], '')

    def accumulate(self, accumulator, *args):
        if args[0] is not None:
            accumulator[1] = args[1]
            accumulator[0].append(args[0])

    def retract(self, accumulator, *args):
        if args[0] is not None:
            accumulator[0].remove(args[0])

    def get_accumulator_type(self):
        return DataTypes.ROW([
            DataTypes.FIELD("f0", DataTypes.ARRAY(DataTypes.STRING())),
            DataTypes.FIELD("f1", DataTypes.BIGINT())])

    def get_result_type(self):
        return DataTypes.STRING()

concat = udaf(ConcatAggregateFunction())
"#;

/// PyFlink's test_mixed_with_built_in_functions_without_retract registers an aggregate named
/// `concat`, DataFusion's built-in scalar function: the user's function wins, quoted or not, and
/// built-in aggregates still run beside it (issue 13, item 5).
#[tokio::test]
async fn a_user_aggregate_wins_over_a_built_in_of_its_name() {
    let rows = elements(
        &[
            (2, Some("Hi"), None),
            (4, Some("Hi"), None),
            (0, None, None),
            (8, Some("hello2"), None),
            (10, Some("hello"), None),
        ],
        2,
    );
    check_in(
        CONCAT_AGGREGATE,
        rows,
        bundled_one_by_one(),
        r#"SELECT concat(b, ',') AS a, "concat"(b, '|') AS q, count(b) AS d, count(1) AS e, max(a) AS h FROM t"#,
        "a,q,d,e,h
         \"Hi,Hi,hello,hello2\",Hi|Hi|hello|hello2,4,5,10",
    )
    .await;
}
