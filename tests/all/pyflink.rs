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

pub(crate) const CONCAT_AGGREGATE: &str = r#"
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

/// Table `t` of BIGINT columns `names`, one row per batch, in two partitions.
fn ints(names: &[&str], rows: &[&[i64]]) -> Vec<Vec<RecordBatch>> {
    let mut parts = vec![Vec::new(); 2];
    for (i, row) in rows.iter().enumerate() {
        let columns = names.iter().zip(row.iter()).map(|(n, v)| (*n, Arc::new(Int64Array::from(vec![*v])) as ArrayRef));
        parts[i % 2].push(RecordBatch::try_from_iter(columns).unwrap());
    }
    parts
}

/// test_pandas_udaf.py's functions, as PyFlink writes them (with its imports).
pub(crate) const PANDAS_UDAF: &str = r#"
import unittest

from pyflink.datastream import TimeCharacteristic
from pyflink.table import expressions as expr
from pyflink.table.types import DataTypes
from pyflink.table.udf import udaf, udf, AggregateFunction

# general udf
add = udf(lambda a: a + 1, result_type=DataTypes.INT())
# pandas udf
substract = udf(lambda a: a - 1, result_type=DataTypes.INT(), func_type="pandas")
max_udaf = udaf(lambda a: (a.max(), a.min()),
                result_type=DataTypes.ROW(
                    [DataTypes.FIELD("a", DataTypes.INT()),
                     DataTypes.FIELD("b", DataTypes.INT())]),
                func_type="pandas")
min_add = udaf(lambda a, b, c: a.min() + b.min() + c.min(),
               result_type=DataTypes.INT(), func_type="pandas")
max_add_min_udaf = udaf(lambda a: a.max() + a.min(),
                        result_type=DataTypes.SMALLINT(),
                        func_type='pandas')


@udaf(result_type=DataTypes.FLOAT(), func_type="pandas")
def mean_udaf(v):
    return v.mean()


class MaxAdd(AggregateFunction, unittest.TestCase):

    def open(self, function_context):
        mg = function_context.get_metric_group()
        self.counter = mg.add_group("key", "value").counter("my_counter")
        self.counter_sum = 0

    def get_value(self, accumulator):
        # counter
        self.counter.inc(10)
        self.counter_sum += 10
        return accumulator[0]

    def create_accumulator(self):
        return []

    def accumulate(self, accumulator, *args):
        result = 0
        for arg in args:
            result += arg.max()
        accumulator.append(result)

max_add = udaf(MaxAdd(), result_type=DataTypes.INT(), func_type="pandas")
"#;

/// Every vectorized-aggregate form PyFlink documents: a function, a lambda, an
/// `AggregateFunction` instance (PyFlink's option 1), in GROUP BY, global and over windows
/// (issue 13, item 1).
#[tokio::test]
async fn vectorized_aggregates_in_every_documented_form() {
    let rows = ints(&["a", "b", "c"], &[&[1, 2, 3], &[3, 2, 3], &[2, 1, 3], &[1, 5, 4], &[1, 8, 6], &[2, 3, 4]]);
    // test_group_aggregate_function
    check_in(
        PANDAS_UDAF,
        rows.clone(),
        bundled_one_by_one(),
        "SELECT a, mean_udaf(add(b)) AS b, max_udaf(substract(c))['a'] AS c1, max_udaf(substract(c))['b'] AS c2 \
         FROM t GROUP BY a ORDER BY a",
        "a,b,c1,c2
         1,6.0,5,2
         2,3.0,3,2
         3,3.0,2,2",
    )
    .await;
    // test_group_aggregate_without_keys
    check_in(PANDAS_UDAF, rows.clone(), bundled_one_by_one(), "SELECT min_add(a, b, c) AS r FROM t", "r\n5").await;
    // test_group_aggregate_with_aux_group: the class-based form, with a constant argument.
    check_in(
        PANDAS_UDAF,
        rows,
        bundled_one_by_one(),
        "SELECT a, b, mean_udaf(b) AS m, max_add(b, c, 1) AS x \
         FROM (SELECT a, a + 1 AS b, a + 2 AS c FROM t GROUP BY a) GROUP BY a, b ORDER BY a",
        "a,b,m,x
         1,2,2.0,6
         2,3,3.0,8
         3,4,4.0,10",
    )
    .await;
    // test_over_rows_window_aggregate_function, ordered by arrival (`id`), and the class-based
    // form over a growing frame.
    let rows = ints(&["id", "a", "b"], &[&[1, 1, 1], &[2, 3, 2], &[3, 2, 1], &[4, 1, 5], &[5, 1, 8], &[6, 2, 3]]);
    check_in(
        PANDAS_UDAF,
        rows,
        bundled_one_by_one(),
        "SELECT a, \
           mean_udaf(b) OVER (PARTITION BY a ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS m, \
           max_add_min_udaf(b) OVER (PARTITION BY a ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s, \
           max_add(b, id) OVER (PARTITION BY a ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS x \
         FROM t ORDER BY a, id",
        "a,m,s,x
         1,1.0,2,2
         1,3.0,6,9
         1,6.5,13,13
         2,1.0,2,4
         2,2.0,4,9
         3,2.0,4,4",
    )
    .await;
}

/// A ROW argument reaches a vectorized function as a DataFrame-like table of the row's fields,
/// as PyFlink passes it (`pd.b.mean()`); a vectorized function may return such a table for a ROW
/// result (issue 13, item 3).
#[tokio::test]
async fn row_arguments_of_vectorized_functions_are_tables() {
    let source = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import udaf, udf

pandas_udaf = udaf(lambda pd: (pd.b.mean(), pd.a.max()),
                   result_type=DataTypes.ROW(
                       [DataTypes.FIELD("c", DataTypes.FLOAT()),
                        DataTypes.FIELD("d", DataTypes.INT())]),
                   func_type="pandas")

@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def total(row):
    return row.a + row["b"] * 10

@udf(result_type=DataTypes.ROW([DataTypes.FIELD("a", DataTypes.BIGINT()),
                                DataTypes.FIELD("b", DataTypes.BIGINT())]), func_type="pandas")
def swap(row):
    row["a"], row["b"] = row.b, row.a
    return row
"#;
    let rows = ints(&["a", "b"], &[&[1, 2], &[3, 4], &[1, 6], &[3, 1]]);
    check_in(
        source,
        rows.clone(),
        bundled_one_by_one(),
        "SELECT a, pandas_udaf(named_struct('a', a, 'b', b))['c'] AS c, pandas_udaf(named_struct('a', a, 'b', b))['d'] AS d \
         FROM t GROUP BY a ORDER BY a",
        "a,c,d
         1,4.0,1
         3,2.5,3",
    )
    .await;
    check_in(
        source,
        rows,
        bundled_one_by_one(),
        "SELECT total(named_struct('a', a, 'b', b)) AS t, swap(named_struct('a', a, 'b', b))['a'] AS s FROM t ORDER BY t",
        "t,s
         13,1
         21,2
         43,4
         61,6",
    )
    .await;
}

/// test_list_view's and test_map_view's rows, in one partition (a group's rows keep their order)
/// of one-row batches.
const VIEW_ROWS: &[(i64, Option<&str>, Option<&str>)] = &[
    (1, Some("Hi"), Some("Hello")),
    (3, Some("Hi"), Some("hi")),
    (3, Some("Hi2"), Some("hi")),
    (3, Some("Hi"), Some("hi")),
    (2, Some("Hi"), Some("Hello")),
    (1, Some("Hi2"), Some("Hello")),
    (3, Some("Hi3"), Some("hi")),
    (3, Some("Hi2"), Some("Hello")),
    (3, Some("Hi3"), Some("hi")),
    (2, Some("Hi3"), Some("Hello")),
];

/// test_udaf.py's aggregates with `ListView` and `MapView` accumulator fields, as PyFlink
/// writes them.
pub(crate) const VIEW_AGGREGATES: &str = r#"
import collections

from pyflink.common import Row
from pyflink.fn_execution.state_impl import RemovableConcatIterator
from pyflink.table import DataTypes
from pyflink.table.data_view import ListView, MapView
from pyflink.table.udf import AggregateFunction, udaf


class ListViewConcatAggregateFunction(AggregateFunction):

    def get_value(self, accumulator):
        return accumulator[1].join(accumulator[0])

    def create_accumulator(self):
        return Row(ListView(), '')

    def accumulate(self, accumulator, *args):
        accumulator[1] = args[1]
        accumulator[0].add(args[0])

    def retract(self, accumulator, *args):
        raise NotImplementedError

    def get_accumulator_type(self):
        return DataTypes.ROW([
            DataTypes.FIELD("f0", DataTypes.LIST_VIEW(DataTypes.STRING())),
            DataTypes.FIELD("f1", DataTypes.BIGINT())])

    def get_result_type(self):
        return DataTypes.STRING()


class CountDistinctAggregateFunction(AggregateFunction):

    def get_value(self, accumulator):
        return accumulator[1]

    def create_accumulator(self):
        return Row(MapView(), 0)

    def accumulate(self, accumulator, *args):
        input_str = args[0]
        if accumulator[0].is_empty() or input_str not in accumulator[0] \
                or accumulator[0][input_str] is None:
            accumulator[0][input_str] = 1
            accumulator[1] += 1
        else:
            accumulator[0][input_str] += 1
        if input_str == "clear":
            accumulator[0].clear()
            accumulator[1] = 0

    def retract(self, accumulator, *args):
        input_str = args[0]
        if accumulator[0].is_empty() or input_str not in accumulator[0]:
            return
        accumulator[0].put_all({input_str: accumulator[0][input_str] - 1})
        if accumulator[0][input_str] <= 0:
            accumulator[1] -= 1
            accumulator[0][input_str] = None

    def get_accumulator_type(self):
        return DataTypes.ROW([
            DataTypes.FIELD("f0", DataTypes.MAP(DataTypes.STRING(), DataTypes.STRING())),
            DataTypes.FIELD("f1", DataTypes.BIGINT())])

    def get_result_type(self):
        return DataTypes.BIGINT()


class TestIterateAggregateFunction(AggregateFunction):

    def get_value(self, accumulator):
        # test iterate keys
        key_set = [i for i in accumulator[0]]
        key_set.sort()
        # test iterate values
        value_set = [str(i) for i in accumulator[0].values()]
        value_set.sort()
        item_set = {}
        # test iterate items
        for key, value in accumulator[0].items():
            item_set[key] = value
        ordered_item_set = collections.OrderedDict()
        for key in key_set:
            ordered_item_set[key] = str(item_set[key])
        try:
            # test auto clear the cached iterators
            next(iter(accumulator[0].items()))
        except StopIteration:
            pass
        return Row(",".join(key_set),
                   ','.join(value_set),
                   ",".join([":".join(item) for item in ordered_item_set.items()]),
                   accumulator[1])

    def create_accumulator(self):
        return Row(MapView(), 0)

    def accumulate(self, accumulator, *args):
        input_str = args[0]
        if input_str not in accumulator[0]:
            accumulator[0][input_str] = 1
            accumulator[1] += 1
        else:
            accumulator[0][input_str] += 1

    def retract(self, accumulator, *args):
        input_str = args[0]
        if input_str not in accumulator[0]:
            return
        accumulator[0][input_str] -= 1
        if accumulator[0][input_str] == 0:
            # test removable iterator
            key_iter = iter(accumulator[0].keys())  # type: RemovableConcatIterator
            while True:
                try:
                    key = next(key_iter)
                    if key == input_str:
                        key_iter.remove()
                except StopIteration:
                    break
            accumulator[1] -= 1

    def get_accumulator_type(self):
        return DataTypes.ROW([
            DataTypes.FIELD("f0", DataTypes.MAP_VIEW(DataTypes.STRING(), DataTypes.BIGINT())),
            DataTypes.FIELD("f1", DataTypes.BIGINT())])

    def get_result_type(self):
        return DataTypes.ROW([
            DataTypes.FIELD("f0", DataTypes.STRING()),
            DataTypes.FIELD("f1", DataTypes.STRING()),
            DataTypes.FIELD("f2", DataTypes.STRING()),
            DataTypes.FIELD("f3", DataTypes.BIGINT())])

my_concat = udaf(ListViewConcatAggregateFunction())
my_count = udaf(CountDistinctAggregateFunction())
iterate = udaf(TestIterateAggregateFunction())
"#;

/// test_udaf.py's aggregates with `ListView` and `MapView` accumulator fields, unchanged
/// (issue 13, item 7): pickled with the accumulator between batches, iterated, and removed from
/// while iterating (retract over a sliding frame).
#[tokio::test]
async fn list_and_map_views_in_accumulators() {
    let source = VIEW_AGGREGATES;
    let rows = elements(VIEW_ROWS, 1);
    check_in(
        source,
        rows.clone(),
        bundled_one_by_one(),
        "SELECT c, my_concat(b, ',') AS a, my_count(b) AS n, iterate(b)['f0'] AS k, iterate(b)['f1'] AS v, \
           iterate(b)['f2'] AS i, iterate(b)['f3'] AS m FROM t GROUP BY c ORDER BY c",
        "c,a,n,k,v,i,m
         Hello,\"Hi,Hi,Hi2,Hi2,Hi3\",3,\"Hi,Hi2,Hi3\",\"1,2,2\",\"Hi:2,Hi2:2,Hi3:1\",3
         hi,\"Hi,Hi2,Hi,Hi3,Hi3\",3,\"Hi,Hi2,Hi3\",\"1,2,2\",\"Hi:2,Hi2:1,Hi3:2\",3",
    )
    .await;
    // Over a sliding frame rows leave through retract(), which removes map entries while
    // iterating the keys.
    check_in(
        source,
        rows,
        bundled_one_by_one(),
        "SELECT f['f0'] AS k, f['f3'] AS m, n FROM (SELECT \
           iterate(b) OVER (PARTITION BY c ORDER BY a, b ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS f, \
           my_count(b) OVER (PARTITION BY c ORDER BY a, b ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS n \
           FROM t WHERE c = 'hi') ORDER BY k, m, n",
        "k,m,n
         Hi,1,1
         Hi,1,1
         \"Hi,Hi2\",2,2
         \"Hi2,Hi3\",2,2
         Hi3,1,1",
    )
    .await;
}

/// What PyFlink's tests and documentation import and read loads and behaves as in PyFlink
/// (issue 13, item 6): expressions, data views, window builders, the local-time-zone timestamp
/// types, the wrapper attributes and PyFlink's checks at definition time.
#[tokio::test]
async fn pyflink_api_surface_loads_and_checks_as_pyflink_does() {
    let source = r#"
import datetime

from pyflink.common import Row, RowKind
from pyflink.table import DataTypes, ScalarFunction
from pyflink.table.data_view import ListView, MapView
from pyflink.table.expressions import col, call, lit, row_interval, UNBOUNDED_ROW
from pyflink.table.udf import udf, udaf, udtf, AggregateFunction
from pyflink.table.window import Tumble, Slide, Session

# Expressions build at module level, as in PyFlink's files.
window = Tumble.over(lit(1).hours).on(col("rowtime")).alias("w")
expression = call("my_count", col("a")).alias("a")

class NoEval(ScalarFunction):
    pass

try:
    NoEval()
    raise AssertionError("a ScalarFunction without eval was instantiated")
except TypeError:
    pass

class Random(ScalarFunction):
    def eval(self, x):
        return x
    def is_deterministic(self):
        return False

try:
    udf(Random(), result_type=DataTypes.BIGINT(), deterministic=True)
    raise AssertionError("inconsistent determinism accepted")
except ValueError:
    pass

try:
    udaf(lambda v: {}, result_type=DataTypes.MAP(DataTypes.INT(), DataTypes.INT()), func_type="pandas")
    raise AssertionError("a pandas aggregate with a MAP result accepted")
except TypeError:
    pass

random = udf(Random(), result_type=DataTypes.BIGINT())
add_one = udf(lambda i: i + 1, DataTypes.BIGINT(), DataTypes.BIGINT())

@udf(result_type=DataTypes.STRING())
def described(x):
    return "%s %s %s %s %s %s" % (
        add_one._name, add_one._deterministic, random._deterministic, random._name,
        described_pandas._func_type, RowKind.UPDATE_AFTER)

described_pandas = udf(lambda x: x, result_type=DataTypes.BIGINT(), func_type="pandas", name="vec")

@udf(input_types=[DataTypes.TIMESTAMP_LTZ(3)], result_type=DataTypes.TIMESTAMP_WITH_LOCAL_TIME_ZONE(3))
def next_day(ts):
    return ts + datetime.timedelta(days=1)

@udf(result_type=DataTypes.LOCAL_ZONED_TIMESTAMP())
def epoch(x):
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=x)

@udf(result_type='TIMESTAMP(3) WITH LOCAL TIME ZONE')
def epoch2(x):
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=x)
"#;
    check_in(
        source,
        ints(&["x"], &[&[86400]]),
        SessionConfig::new(),
        "SELECT described(x) AS d, random(x) AS r, CAST(next_day(epoch(x)) AS VARCHAR) AS n, \
           CAST(epoch2(x) AS VARCHAR) AS e FROM t",
        "d,r,n,e
         <lambda> True False Random pandas +U,86400,1970-01-03T00:00:00,1970-01-02T00:00:00",
    )
    .await;
}

/// test_udtf.py's result types: a list, a ROW type or a ROW type string name the result
/// columns, as PyFlink takes them.
#[tokio::test]
async fn table_function_result_types_as_pyflink_takes_them() {
    let source = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import udtf, TableFunction

@udtf(result_types=[DataTypes.BIGINT(), DataTypes.BIGINT()])
def range_emit(s, e):
    for i in range(e):
        yield s, i

@udtf(result_types='Row<a BIGINT, b BIGINT>')
def range_row(s, e):
    for i in range(e):
        yield s, i

class MultiEmit(TableFunction):
    def eval(self, i):
        return range(i)

multi_emit = udtf(MultiEmit(), DataTypes.BIGINT(), DataTypes.ROW([DataTypes.FIELD("n", DataTypes.BIGINT())]))
"#;
    check_in(
        source,
        ints(&["x"], &[&[2]]),
        SessionConfig::new(),
        "SELECT p, q, a, b, n FROM t, LATERAL TABLE(range_emit(x, 2)) AS T(p, q), \
         LATERAL TABLE(range_row(x, 1)) AS R(a, b), LATERAL TABLE(multi_emit(x)) AS M(n) ORDER BY q, n",
        "p,q,a,b,n
         2,0,2,0,0
         2,0,2,0,1
         2,1,2,0,0
         2,1,2,0,1",
    )
    .await;
}

/// test_pandas_udaf.py's window rows: (a, b, c, rowtime).
const WINDOW_ROWS: &str =
    "(VALUES (1, 2, 3, TIMESTAMP '2018-03-11 03:10:00'), (3, 2, 4, TIMESTAMP '2018-03-11 03:10:00'), \
     (2, 1, 2, TIMESTAMP '2018-03-11 03:10:00'), (1, 3, 1, TIMESTAMP '2018-03-11 03:40:00'), \
     (1, 8, 5, TIMESTAMP '2018-03-11 04:20:00'), (2, 3, 6, TIMESTAMP '2018-03-11 03:30:00')) AS t(a, b, c, rowtime)";

/// Flink's TUMBLE and HOP group windows in SQL, with test_pandas_udaf.py's tumble and slide
/// window cases (PyFlink writes them with the Table API's `Tumble` / `Slide`; the SQL form is
/// Flink's `GROUP BY TUMBLE(...)` / `HOP(...)`).
#[tokio::test]
async fn tumble_and_hop_group_windows() {
    check_in(
        PANDAS_UDAF,
        Vec::new(),
        bundled_one_by_one(),
        &format!(
            "SELECT TUMBLE_START(rowtime, INTERVAL '1' HOUR) AS s, TUMBLE_END(rowtime, INTERVAL '1' HOUR) AS e, \
               mean_udaf(b) AS m FROM {WINDOW_ROWS} GROUP BY TUMBLE(rowtime, INTERVAL '1' HOUR) ORDER BY s"
        ),
        "s,e,m
         2018-03-11T03:00:00,2018-03-11T04:00:00,2.2
         2018-03-11T04:00:00,2018-03-11T05:00:00,8.0",
    )
    .await;
    check_in(
        PANDAS_UDAF,
        Vec::new(),
        bundled_one_by_one(),
        &format!(
            "SELECT a, HOP_START(rowtime, INTERVAL '30' MINUTE, INTERVAL '1' HOUR) AS s, \
               HOP_END(rowtime, INTERVAL '30' MINUTE, INTERVAL '1' HOUR) AS e, mean_udaf(b) AS m, max_add(b, c, 1) AS x \
             FROM {WINDOW_ROWS} GROUP BY a, HOP(rowtime, INTERVAL '30' MINUTE, INTERVAL '1' HOUR) ORDER BY a, s"
        ),
        "a,s,e,m,x
         1,2018-03-11T02:30:00,2018-03-11T03:30:00,2.0,6
         1,2018-03-11T03:00:00,2018-03-11T04:00:00,2.5,7
         1,2018-03-11T03:30:00,2018-03-11T04:30:00,5.5,14
         1,2018-03-11T04:00:00,2018-03-11T05:00:00,8.0,14
         2,2018-03-11T02:30:00,2018-03-11T03:30:00,1.0,4
         2,2018-03-11T03:00:00,2018-03-11T04:00:00,2.0,10
         2,2018-03-11T03:30:00,2018-03-11T04:30:00,3.0,10
         3,2018-03-11T02:30:00,2018-03-11T03:30:00,2.0,7
         3,2018-03-11T03:00:00,2018-03-11T04:00:00,2.0,7",
    )
    .await;
}
