//! Cases from PyFlink's own test suite (`flink-python/pyflink/table/tests/`), run through SQL:
//! the UDF code as PyFlink's tests write it (the functions registered under the names the tests
//! give them), the test's rows as a VALUES table, the Table API call as its SQL equivalent, and
//! the test's expected result. Every case runs in wasm, native and process mode and compares.

use crate::harness::check;
use crate::pyflink::{CONCAT_AGGREGATE, PANDAS_UDAF, VIEW_AGGREGATES};

/// test_udtf.py: `MultiEmit` (a `TableFunction` that is also a `unittest.TestCase`, with a
/// metric counter), a function returning a `range` or a `Row`, chained lateral joins.
const UDTF: &str = r#"
import unittest

from pyflink.table import DataTypes
from pyflink.table.udf import TableFunction, udtf, ScalarFunction, udf


class MultiEmit(TableFunction, unittest.TestCase):

    def open(self, function_context):
        mg = function_context.get_metric_group()
        self.counter = mg.add_group("key", "value").counter("my_counter")
        self.counter_sum = 0

    def eval(self, x, y):
        self.counter.inc(y)
        self.counter_sum += y
        for i in range(y):
            yield x, i


@udtf(result_types=[DataTypes.BIGINT()])
def identity(x):
    if x is not None:
        from pyflink.common import Row
        return Row(x)


# test specify the input_types
@udtf(input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()],
      result_types=DataTypes.BIGINT())
def condition_multi_emit(x, y):
    if x == 3:
        return range(y, x)


class MultiNum(ScalarFunction):
    def eval(self, x):
        return x * 2

multi_emit = udtf(MultiEmit(), result_types=[DataTypes.BIGINT(), DataTypes.BIGINT()])
multi_num = udf(MultiNum(), result_type=DataTypes.BIGINT())
"#;

/// test_udtf.py's `from_elements([(1, 1, 3), (2, 1, 6), (3, 2, 9)], ['a', 'b', 'c'])`.
const UDTF_TABLE: &str = "(VALUES (1, 1, 3), (2, 1, 6), (3, 2, 9)) AS MyTable(a, b, c)";

/// test_table_function_with_sql_query and test_table_function (`join_lateral` and
/// `left_outer_join_lateral` as SQL's lateral joins).
#[tokio::test]
async fn table_functions_joined_laterally() {
    check(
        UDTF,
        None,
        &format!(
            "SELECT a, x, y FROM {UDTF_TABLE} LEFT JOIN LATERAL TABLE(multi_emit(a, b)) as T(x, y) ON TRUE \
             ORDER BY a, x, y"
        ),
        "a,x,y
         1,1,0
         2,2,0
         3,3,0
         3,3,1",
    )
    .await;
    check(
        UDTF,
        None,
        &format!(
            "SELECT x, y, n FROM {UDTF_TABLE}, LATERAL TABLE(multi_emit((a + a) / 2, multi_num(b))) AS T1(x, y) \
             LEFT JOIN LATERAL TABLE(condition_multi_emit(x, y)) AS T2(m) ON TRUE \
             LEFT JOIN LATERAL TABLE(identity(m)) AS T3(n) ON TRUE ORDER BY x, y, n"
        ),
        "x,y,n
         1,0,
         1,1,
         2,0,
         2,1,
         3,0,0
         3,0,1
         3,0,2
         3,1,1
         3,1,2
         3,2,2
         3,3,",
    )
    .await;
}

/// test_udf.py's scalar functions: a lambda, a `ScalarFunction`, a decorated function, a
/// callable object, a `functools.partial`, `open()` with metrics, functions without arguments.
const SCALAR: &str = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf


class SubtractOne(ScalarFunction):

    def eval(self, i):
        return i - 1


class Subtract(ScalarFunction):

    def open(self, function_context):
        self.subtracted_value = 1
        mg = function_context.get_metric_group()
        self.counter = mg.add_group("key", "value").counter("my_counter")
        self.counter_sum = 0

    def eval(self, i):
        # counter
        self.counter.inc(i)
        self.counter_sum += i
        return i - self.subtracted_value


class CallablePlus(object):

    def __call__(self, col):
        return col + 1


@udf(result_type=DataTypes.BIGINT())
def add(i, j):
    return i + j


add_one = udf(lambda i: i + 1, result_type=DataTypes.BIGINT())
subtract_one = udf(SubtractOne(), result_type=DataTypes.BIGINT())
add_one_callable = udf(CallablePlus(), result_type=DataTypes.BIGINT())


def partial_func(col, param):
    return col + param


import functools
add_one_partial = udf(functools.partial(partial_func, param=1),
                      result_type=DataTypes.BIGINT())
subtract = udf(Subtract(), result_type=DataTypes.BIGINT())
one = udf(lambda: 1, result_type=DataTypes.BIGINT(), deterministic=True)
two = udf(lambda: 2, result_type=DataTypes.BIGINT(), deterministic=False)
plus = udf(lambda i, j: i + j - 1, result_type=DataTypes.BIGINT())
f = udf(lambda i: i, result_type=DataTypes.BIGINT())
"#;

/// test_scalar_function, test_chaining_scalar_function, test_open, test_udf_without_arguments,
/// test_overwrite_builtin_function and the join-condition tests.
#[tokio::test]
async fn scalar_functions_of_every_form() {
    let table = "(VALUES (1, 2, 3), (2, 5, 6), (3, 1, 9)) AS t(a, b, c)";
    check(
        SCALAR,
        None,
        &format!(
            "SELECT add_one(a) AS a, subtract_one(b) AS b, add(a, c) AS c, add_one_callable(a) AS d, \
             add_one_partial(a) AS e, a AS f FROM {table} WHERE add_one(b) <= 3 ORDER BY f"
        ),
        "a,b,c,d,e,f
         2,1,4,2,2,1
         4,0,12,4,4,3",
    )
    .await;
    check(
        SCALAR,
        None,
        "SELECT add(add_one(a), subtract_one(b)) AS a, c, 1 AS d FROM (VALUES (1, 2, 1), (2, 5, 2), (3, 1, 3)) AS t(a, b, c)",
        "a,c,d
         3,1,1
         7,2,1
         4,3,1",
    )
    .await;
    check(
        SCALAR,
        None,
        "SELECT a, subtract(b) AS b, one() AS o, two() AS t, plus(a, b) AS p FROM (VALUES (1, 2), (2, 5), (3, 4)) AS t(a, b)",
        "a,b,o,t,p
         1,1,1,2,2
         2,4,1,2,6
         3,3,1,2,6",
    )
    .await;
    check(
        SCALAR,
        None,
        "SELECT * FROM (VALUES (1, 'Hi'), (2, 'Hi')) AS t1(a, b) JOIN (VALUES (2, 'Flink')) AS t2(c, d) ON f(a) = f(c)",
        "a,b,c,d
         2,Hi,2,Flink",
    )
    .await;
}

/// test_udf.py's test_all_data_types_expression: every type in and out, NULL included.
const ALL_TYPES: &str = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import udf


# decide whether two floats are equal
def float_equal(a, b, rel_tol=1e-09, abs_tol=0.0):
    return abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), abs_tol)


@udf(result_type=DataTypes.BOOLEAN())
def boolean_func(bool_param):
    assert isinstance(bool_param, bool), 'bool_param of wrong type %s !' \
                                         % type(bool_param)
    return bool_param

@udf(result_type=DataTypes.TINYINT())
def tinyint_func(tinyint_param):
    assert isinstance(tinyint_param, int), 'tinyint_param of wrong type %s !' \
                                           % type(tinyint_param)
    return tinyint_param

@udf(result_type=DataTypes.SMALLINT())
def smallint_func(smallint_param):
    assert isinstance(smallint_param, int), 'smallint_param of wrong type %s !' \
                                            % type(smallint_param)
    assert smallint_param == 32767, 'smallint_param of wrong value %s' % smallint_param
    return smallint_param

@udf(result_type=DataTypes.INT())
def int_func(int_param):
    assert isinstance(int_param, int), 'int_param of wrong type %s !' \
                                       % type(int_param)
    assert int_param == -2147483648, 'int_param of wrong value %s' % int_param
    return int_param

@udf(result_type=DataTypes.BIGINT())
def bigint_func(bigint_param):
    assert isinstance(bigint_param, int), 'bigint_param of wrong type %s !' \
                                          % type(bigint_param)
    return bigint_param

@udf(result_type=DataTypes.BIGINT())
def bigint_func_none(bigint_param):
    assert bigint_param is None, 'bigint_param %s should be None!' % bigint_param
    return bigint_param

@udf(result_type=DataTypes.FLOAT())
def float_func(float_param):
    assert isinstance(float_param, float) and float_equal(float_param, 1.23, 1e-6), \
        'float_param is wrong value %s !' % float_param
    return float_param

@udf(result_type=DataTypes.DOUBLE())
def double_func(double_param):
    assert isinstance(double_param, float) and float_equal(double_param, 1.98932, 1e-7), \
        'double_param is wrong value %s !' % double_param
    return double_param

@udf(result_type=DataTypes.BYTES())
def bytes_func(bytes_param):
    assert bytes_param == b'flink', \
        'bytes_param is wrong value %s !' % bytes_param
    return bytes_param

@udf(result_type=DataTypes.STRING())
def str_func(str_param):
    assert str_param == 'pyflink', \
        'str_param is wrong value %s !' % str_param
    return str_param

@udf(result_type=DataTypes.DATE())
def date_func(date_param):
    from datetime import date
    assert date_param == date(year=2014, month=9, day=13), \
        'date_param is wrong value %s !' % date_param
    return date_param

@udf(result_type=DataTypes.TIME())
def time_func(time_param):
    from datetime import time
    assert time_param == time(hour=12, minute=0, second=0, microsecond=123000), \
        'time_param is wrong value %s !' % time_param
    return time_param

@udf(result_type=DataTypes.TIMESTAMP(3))
def timestamp_func(timestamp_param):
    from datetime import datetime
    assert timestamp_param == datetime(2018, 3, 11, 3, 0, 0, 123000), \
        'timestamp_param is wrong value %s !' % timestamp_param
    return timestamp_param

@udf(result_type=DataTypes.ARRAY(DataTypes.BIGINT()))
def array_func(array_param):
    assert array_param == [[1, 2, 3]], \
        'array_param is wrong value %s !' % array_param
    return array_param[0]

@udf(result_type=DataTypes.MAP(DataTypes.BIGINT(), DataTypes.STRING()))
def map_func(map_param):
    assert map_param == {1: 'flink', 2: 'pyflink'}, \
        'map_param is wrong value %s !' % map_param
    return map_param

@udf(result_type=DataTypes.DECIMAL(38, 18))
def decimal_func(decimal_param):
    from decimal import Decimal
    assert decimal_param == Decimal('1000000000000000000.050000000000000000'), \
        'decimal_param is wrong value %s !' % decimal_param
    return decimal_param

@udf(result_type=DataTypes.DECIMAL(38, 18))
def decimal_cut_func(decimal_param):
    from decimal import Decimal
    assert decimal_param == Decimal('1000000000000000000.059999999999999999'), \
        'decimal_param is wrong value %s !' % decimal_param
    return decimal_param
"#;

#[tokio::test]
async fn all_data_types_in_and_out() {
    check(
        ALL_TYPES,
        None,
        "SELECT bigint_func(a) AS a, bigint_func_none(b) AS b, tinyint_func(c) AS c, boolean_func(d) AS d, \
           smallint_func(e) AS e, int_func(f) AS f, float_func(g) AS g, double_func(h) AS h, bytes_func(i) AS i, \
           str_func(j) AS j, date_func(k) AS k, time_func(l) AS l, timestamp_func(m) AS m, array_func(n) AS n, \
           map_func(o) AS o, decimal_func(p) AS p, decimal_cut_func(q) AS q \
         FROM (VALUES (CAST(1 AS BIGINT), CAST(NULL AS BIGINT), CAST(1 AS TINYINT), true, CAST(32767 AS SMALLINT), \
           CAST(-2147483648 AS INT), CAST(1.23 AS FLOAT), CAST(1.98932 AS DOUBLE), CAST('flink' AS BYTEA), 'pyflink', \
           DATE '2014-09-13', TIME '12:00:00.123', TIMESTAMP '2018-03-11 03:00:00.123', \
           make_array(make_array(CAST(1 AS BIGINT), 2, 3)), MAP {CAST(1 AS BIGINT): 'flink', 2: 'pyflink'}, \
           CAST('1000000000000000000.05' AS DECIMAL(38, 18)), \
           CAST('1000000000000000000.059999999999999999' AS DECIMAL(38, 18)))) \
           AS t(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q)",
        "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q
         1,,1,true,32767,-2147483648,1.23,1.98932,666c696e6b,pyflink,2014-09-13,12:00:00.123,2018-03-11T03:00:00.123,\"[1, 2, 3]\",\"{1: flink, 2: pyflink}\",1000000000000000000.050000000000000000,1000000000000000000.059999999999999999",
    )
    .await;
}

/// test_udf.py's test_udf_with_constant_params: constants of every type as arguments.
const CONSTANT_PARAMS: &str = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import udf


# decide whether two floats are equal
def float_equal(a, b, rel_tol=1e-09, abs_tol=0.0):
    return abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), abs_tol)


def udf_with_constant_params(p, null_param, tinyint_param, smallint_param, int_param,
                             bigint_param, decimal_param, float_param, double_param,
                             boolean_param, str_param,
                             date_param, time_param, timestamp_param):
    from decimal import Decimal
    import datetime

    assert null_param is None, 'null_param is wrong value %s' % null_param

    assert isinstance(tinyint_param, int), 'tinyint_param of wrong type %s !' \
                                           % type(tinyint_param)
    p += tinyint_param
    assert isinstance(smallint_param, int), 'smallint_param of wrong type %s !' \
                                            % type(smallint_param)
    p += smallint_param
    assert isinstance(int_param, int), 'int_param of wrong type %s !' \
                                       % type(int_param)
    p += int_param
    assert isinstance(bigint_param, int), 'bigint_param of wrong type %s !' \
                                          % type(bigint_param)
    p += bigint_param
    assert decimal_param == Decimal('1.05'), \
        'decimal_param is wrong value %s ' % decimal_param

    p += int(decimal_param)

    assert isinstance(float_param, float) and float_equal(float_param, 1.23, 1e-06), \
        'float_param is wrong value %s ' % float_param

    p += int(float_param)
    assert isinstance(double_param, float) and float_equal(double_param, 1.98932, 1e-07), \
        'double_param is wrong value %s ' % double_param

    p += int(double_param)

    assert boolean_param is True, 'boolean_param is wrong value %s' % boolean_param

    assert str_param == 'flink', 'str_param is wrong value %s' % str_param

    assert date_param == datetime.date(year=2014, month=9, day=13), \
        'date_param is wrong value %s' % date_param

    assert time_param == datetime.time(hour=12, minute=0, second=0), \
        'time_param is wrong value %s' % time_param

    assert timestamp_param == datetime.datetime(1999, 9, 10, 5, 20, 10), \
        'timestamp_param is wrong value %s' % timestamp_param

    return p

udf_with_constant_params = udf(udf_with_constant_params, result_type=DataTypes.BIGINT())
udf_with_all_constant_params = udf(lambda i, j: i + j, result_type=DataTypes.BIGINT())
"#;

#[tokio::test]
async fn constant_arguments_of_every_type() {
    check(
        CONSTANT_PARAMS,
        None,
        "select udf_with_all_constant_params(cast (1 as BIGINT),cast (2 as BIGINT)) AS a, \
           udf_with_constant_params(a, cast (null as BIGINT),cast (1 as TINYINT),cast (1 as SMALLINT),\
           cast (1 as INT),cast (1 as BIGINT),cast (1.05 as DECIMAL),cast (1.23 as FLOAT),\
           cast (1.98932 as DOUBLE),true,'flink',cast ('2014-09-13' as DATE),cast ('12:00:00' as TIME),\
           cast ('1999-9-10 05:20:10' as TIMESTAMP)) AS b \
         from (VALUES (1, 2, 3), (2, 5, 6), (3, 1, 9)) AS test_table(a, b, c)",
        "a,b
         3,8
         3,9
         3,10",
    )
    .await;
}

/// test_udaf.py's `CountAggregateFunction` and `SumAggregateFunction` (with the file's imports,
/// `RemovableConcatIterator` included), registered under the names its tests give them.
const UDAF: &str = r#"
import collections
import datetime
from decimal import Decimal

from pyflink.common import Row, RowKind
from pyflink.fn_execution.state_impl import RemovableConcatIterator
from pyflink.table import DataTypes
from pyflink.table.data_view import ListView, MapView
from pyflink.table.expressions import col
from pyflink.table.udf import AggregateFunction, udaf
from pyflink.table.window import Tumble, Slide, Session


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
        for other_acc in accumulators:
            accumulator[0] = accumulator[0] + other_acc[0]

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
        for other_acc in accumulators:
            accumulator[0] = accumulator[0] + other_acc[0]

    def get_accumulator_type(self):
        return DataTypes.ARRAY(DataTypes.BIGINT())

    def get_result_type(self):
        return DataTypes.BIGINT()


my_sum = udaf(SumAggregateFunction())
my_cnt = udaf(CountAggregateFunction())
"#;

/// test_udaf.py's `source` rows.
const UDAF_SOURCE: &str = "(VALUES (1, 'Hi_', 'hi'), (1, 'Hi', 'hi'), (2, 'hello', 'hello'), (3, 'Hi_', 'hi'), \
    (3, 'Hi', 'hi'), (4, 'hello', 'hello'), (5, 'Hi2_', 'hi'), (5, 'Hi2', 'hi'), (6, 'hello2', 'hello'), \
    (7, 'Hi', 'hi'), (8, 'hello', 'hello'), (9, 'Hi2', 'hi'), (13, 'Hi3', 'hi')) AS source(a, b, c)";

/// test_distinct_and_filter: `f(DISTINCT ...)` passes each distinct argument row once, and a
/// FILTER that leaves a group no rows gives `get_value` of a new accumulator.
#[tokio::test]
async fn distinct_and_filter() {
    let source = format!("{CONCAT_AGGREGATE}\n{UDAF}");
    check(
        &source,
        None,
        &format!(
            "select concat(distinct b, '.') as a, concat(distinct b, ',') filter (where c = 'hi') as b, \
             concat(distinct b, ',') filter (where c = 'hello') as c, c as d \
             from (select LAST_VALUE(b) as b, LAST_VALUE(c) as c from {UDAF_SOURCE} group by a) AS retract_table \
             group by c ORDER BY a"
        ),
        "a,b,c,d
         Hi.Hi2.Hi3,\"Hi,Hi2,Hi3\",,hi
         hello.hello2,,\"hello,hello2\",hello",
    )
    .await;
    check(
        &source,
        None,
        &format!(
            "select my_sum(distinct a) AS s, my_cnt(distinct b) AS n, my_cnt(b) AS m, c \
             from {UDAF_SOURCE} group by c ORDER BY c"
        ),
        "s,n,m,c
         20,2,4,hello
         38,5,9,hi",
    )
    .await;
    check(
        &source,
        None,
        &format!("select my_sum(distinct a) AS s, my_cnt(distinct b) AS n, my_cnt(b) AS m from {UDAF_SOURCE}"),
        "s,n,m
         58,7,13",
    )
    .await;
    // Over a sliding frame a row leaves with its last copy.
    check(
        &source,
        None,
        "SELECT a, my_cnt(DISTINCT b) OVER (PARTITION BY c ORDER BY a ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS n \
         FROM (VALUES (1, 'x', 'g'), (2, 'x', 'g'), (3, 'y', 'g'), (4, 'y', 'g')) AS t(a, b, c) ORDER BY a",
        "a,n
         1,1
         2,1
         3,2
         4,1",
    )
    .await;
}

/// test_map_view, test_map_view_iterate (a ROW result read field by field) and
/// test_data_view_clear, with test_udaf.py's `MapView` aggregates (`VIEW_AGGREGATES`).
#[tokio::test]
async fn map_views_counted_iterated_and_cleared() {
    let retract_table =
        format!("(select LAST_VALUE(b) as b, LAST_VALUE(c) as c from {UDAF_SOURCE} group by a) AS retract_table");
    check(
        VIEW_AGGREGATES,
        None,
        &format!("select my_count(b) as a, c from {retract_table} group by c order by c"),
        "a,c
         2,hello
         3,hi",
    )
    .await;
    check(
        VIEW_AGGREGATES,
        None,
        &format!(
            "select a['f0'] AS a, a['f1'] AS b, a['f2'] AS c, a['f3'] AS d, e \
             FROM (select iterate(b) as a, c AS e from {retract_table} group by c) ORDER BY c"
        ),
        "a,b,c,d,e
         \"Hi,Hi2,Hi3\",\"1,2,3\",\"Hi:3,Hi2:2,Hi3:1\",3,hi
         \"hello,hello2\",\"1,3\",\"hello:3,hello2:1\",2,hello",
    )
    .await;
    check(
        VIEW_AGGREGATES,
        None,
        "select my_count(b) as a, c from (VALUES (2, 'hello', 'hello'), (4, 'clear', 'hello'), \
         (6, 'hello2', 'hello'), (8, 'hello', 'hello')) AS t(a, b, c) group by c",
        "a,c
         2,hello",
    )
    .await;
}

/// test_pandas_udf.py: a pandas function beside general ones (test_basic_functionality), and
/// test_non_exist_func_type's check of PyFlink's error message.
const PANDAS_SCALAR: &str = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf


class SubtractOne(ScalarFunction):

    def eval(self, i):
        return i - 1


@udf(result_type=DataTypes.BIGINT())
def add(i, j):
    return i + j

# pandas UDF
add_one = udf(lambda i: i + 1, result_type=DataTypes.BIGINT(), func_type="pandas")

# general Python UDF
subtract_one = udf(SubtractOne(), DataTypes.BIGINT(), DataTypes.BIGINT())

try:
    udf(lambda i: i + 1, result_type=DataTypes.BIGINT(), func_type="non-exist")
    raise AssertionError("accepted")
except ValueError as e:
    import re
    assert re.search('The func_type must be one of \'general, pandas\'', str(e)), str(e)
"#;

#[tokio::test]
async fn pandas_and_general_scalar_functions_together() {
    check(
        PANDAS_SCALAR,
        None,
        "SELECT a, b + 1 AS b, add(a + 1, subtract_one(c)) + 2 AS c, add(add_one(a), 1) AS d \
         FROM (VALUES (1, 2, 3), (2, 5, 6), (3, 1, 9)) AS t(a, b, c) WHERE add_one(b) <= 3 ORDER BY a",
        "a,b,c,d
         1,3,6,3
         3,2,14,5",
    )
    .await;
}

/// test_over_window_aggregate_function: vectorized aggregates over ROWS and RANGE frames, with
/// test_pandas_udaf.py's functions and imports (`pyflink.datastream` included).
#[tokio::test]
async fn vectorized_aggregates_over_row_and_range_frames() {
    let table = "(VALUES (CAST(1 AS TINYINT), CAST(2 AS SMALLINT), 3, TIMESTAMP '2018-03-11 03:10:00'), \
        (3, 2, 1, TIMESTAMP '2018-03-11 03:10:00'), (2, 1, 2, TIMESTAMP '2018-03-11 03:10:00'), \
        (1, 3, 1, TIMESTAMP '2018-03-11 03:10:00'), (1, 8, 5, TIMESTAMP '2018-03-11 04:20:00'), \
        (2, 3, 6, TIMESTAMP '2018-03-11 03:30:00')) AS T(a, b, c, rowtime)";
    check(
        PANDAS_UDAF,
        None,
        &format!(
            "select a,
             mean_udaf(b) over (PARTITION BY a ORDER BY rowtime
               ROWS BETWEEN UNBOUNDED preceding AND UNBOUNDED FOLLOWING) AS b,
             max_add(b, c) over (PARTITION BY a ORDER BY rowtime
               ROWS BETWEEN UNBOUNDED preceding AND 0 FOLLOWING) AS c,
             mean_udaf(b) over (PARTITION BY a ORDER BY rowtime
               ROWS BETWEEN 1 PRECEDING AND UNBOUNDED FOLLOWING) AS d,
             mean_udaf(c) over (PARTITION BY a ORDER BY rowtime
               ROWS BETWEEN 1 PRECEDING AND 0 FOLLOWING) AS e,
             mean_udaf(c) over (PARTITION BY a ORDER BY rowtime
               RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS f,
             mean_udaf(b) over (PARTITION BY a ORDER BY rowtime
               RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS g,
             mean_udaf(b) over (PARTITION BY a ORDER BY rowtime
               RANGE BETWEEN INTERVAL '20' MINUTE PRECEDING AND UNBOUNDED FOLLOWING) AS h,
             mean_udaf(c) over (PARTITION BY a ORDER BY rowtime
               RANGE BETWEEN INTERVAL '20' MINUTE PRECEDING AND UNBOUNDED FOLLOWING) AS i,
             mean_udaf(c) over (PARTITION BY a ORDER BY rowtime
               RANGE BETWEEN INTERVAL '20' MINUTE PRECEDING AND CURRENT ROW) AS j
            from {table} ORDER BY a, c"
        ),
        "a,b,c,d,e,f,g,h,i,j
         1,4.3333335,5,4.3333335,3.0,3.0,2.5,4.3333335,3.0,2.0
         1,4.3333335,6,4.3333335,2.0,3.0,2.5,4.3333335,3.0,2.0
         1,4.3333335,13,5.5,3.0,3.0,4.3333335,8.0,5.0,5.0
         2,2.0,3,2.0,2.0,4.0,1.0,2.0,4.0,2.0
         2,2.0,9,2.0,4.0,4.0,2.0,2.0,4.0,4.0
         3,2.0,3,2.0,1.0,1.0,2.0,2.0,1.0,1.0",
    )
    .await;
}

/// test_row_based_operation.py's functions. Its Table API row operations have SQL equivalents:
/// `map(f)` is a ROW-valued call whose fields are selected, `flat_map(f)` a lateral join over
/// the row as a struct, `aggregate(f)` and `flat_aggregate(f)` an aggregate over the row as a
/// struct (the table aggregate's rows unnested).
const ROW_BASED: &str = r#"
from pyflink.common import Row
from pyflink.table import expressions as expr, ListView
from pyflink.table.types import DataTypes
from pyflink.table.udf import udf, udtf, udaf, AggregateFunction, TableAggregateFunction, udtaf


class CountAndSumAggregateFunction(AggregateFunction):

    def get_value(self, accumulator):
        from pyflink.common import Row
        return Row(accumulator[0], accumulator[1])

    def create_accumulator(self):
        from pyflink.common import Row
        return Row(0, 0)

    def accumulate(self, accumulator, *args):
        accumulator[0] += 1
        accumulator[1] += args[0][1]

    def retract(self, accumulator, *args):
        accumulator[0] -= 1
        accumulator[1] -= args[0][1]

    def merge(self, accumulator, accumulators):
        for other_acc in accumulators:
            accumulator[0] += other_acc[0]
            accumulator[1] += other_acc[1]

    def get_accumulator_type(self):
        return DataTypes.ROW(
            [DataTypes.FIELD("a", DataTypes.BIGINT()),
             DataTypes.FIELD("b", DataTypes.BIGINT())])

    def get_result_type(self):
        return DataTypes.ROW(
            [DataTypes.FIELD("a", DataTypes.BIGINT()),
             DataTypes.FIELD("b", DataTypes.BIGINT())])


class Top2(TableAggregateFunction):

    def emit_value(self, accumulator):
        yield Row(accumulator[0])
        yield Row(accumulator[1])

    def create_accumulator(self):
        return [None, None]

    def accumulate(self, accumulator, *args):
        if args[0][0] is not None:
            if accumulator[0] is None or args[0][0] > accumulator[0]:
                accumulator[1] = accumulator[0]
                accumulator[0] = args[0][0]
            elif accumulator[1] is None or args[0][0] > accumulator[1]:
                accumulator[1] = args[0][0]

    def retract(self, accumulator, *args):
        accumulator[0] = accumulator[0] - 1

    def merge(self, accumulator, accumulators):
        for other_acc in accumulators:
            self.accumulate(accumulator, other_acc[0])
            self.accumulate(accumulator, other_acc[1])

    def get_accumulator_type(self):
        return DataTypes.ARRAY(DataTypes.BIGINT())

    def get_result_type(self):
        return DataTypes.ROW(
            [DataTypes.FIELD("a", DataTypes.BIGINT())])


class ListViewConcatTableAggregateFunction(TableAggregateFunction):

    def emit_value(self, accumulator):
        result = accumulator[1].join(accumulator[0])
        yield Row(result)
        yield Row(result)

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
        return DataTypes.ROW([DataTypes.FIELD("a", DataTypes.STRING())])


func = udf(lambda x: Row(x + 1, x * x), result_type=DataTypes.ROW(
    [DataTypes.FIELD("a", DataTypes.BIGINT()),
     DataTypes.FIELD("b", DataTypes.BIGINT())]))


@udtf(result_types=[DataTypes.INT(), DataTypes.STRING()])
def split(x):
    for s in x[1].split(","):
        yield x[0], s

function = CountAndSumAggregateFunction()
agg = udaf(function,
           result_type=function.get_result_type(),
           accumulator_type=function.get_accumulator_type(),
           name=str(function.__class__.__name__))
mytop = udtaf(Top2())
my_concat = udtaf(ListViewConcatTableAggregateFunction())
"#;

#[tokio::test]
async fn row_based_operations_as_sql() {
    // test_map
    check(
        ROW_BASED,
        None,
        "SELECT r['a'] AS a, r['b'] AS b FROM (SELECT func(x['a']) AS r FROM (SELECT func(b) AS x \
         FROM (VALUES (CAST(1 AS TINYINT), CAST(2 AS SMALLINT), 3), (2, 1, 3), (1, 5, 4), (1, 8, 6), (2, 3, 4)) AS t(a, b, c)))",
        "a,b
         4,9
         3,4
         7,36
         10,81
         5,16",
    )
    .await;
    // test_flat_map: the row reaches the function as one value, indexed by position.
    check(
        ROW_BASED,
        None,
        "SELECT a, b FROM (VALUES (CAST(1 AS TINYINT), '2,3'), (2, '1'), (1, '5,6,7')) AS t(x, y), \
         LATERAL TABLE(split(struct(x, y))) AS T(a, b)",
        "a,b
         1,2
         1,3
         2,1
         1,5
         1,6
         1,7",
    )
    .await;
    // test_aggregate: `name=` is the SQL name.
    check(
        ROW_BASED,
        None,
        "SELECT a, r['a'] AS c, r['b'] AS d FROM (SELECT a, CountAndSumAggregateFunction(struct(a, b, c)) AS r \
         FROM (VALUES (1, CAST(2 AS SMALLINT), 3), (2, 1, 3), (1, 5, 4), (1, 8, 6), (2, 3, 4)) AS t(a, b, c) \
         GROUP BY a) ORDER BY a",
        "a,c,d
         1,3,15
         2,2,4",
    )
    .await;
    // test_flat_aggregate: Top2 of each group, then Top2 of those.
    check(
        ROW_BASED,
        None,
        "SELECT unnest(mytop(struct(r['a']))) AS b FROM (SELECT unnest(mytop(struct(a))) AS r \
         FROM (VALUES (1, 'Hi', 'Hello'), (3, 'Hi', 'hi'), (5, 'Hi2', 'hi'), (7, 'Hi', 'Hello'), (2, 'Hi', 'Hello')) \
         AS t(a, b, c) GROUP BY c)",
        "b
         {a: 7}
         {a: 5}",
    )
    .await;
    // test_flat_aggregate_list_view
    check(
        ROW_BASED,
        None,
        "SELECT r['a'] AS a, c FROM (SELECT unnest(my_concat(b, ',')) AS r, c FROM (VALUES (1, 'Hi', 'Hello'), \
         (3, 'Hi', 'hi'), (3, 'Hi2', 'hi'), (3, 'Hi', 'hi'), (2, 'Hi', 'Hello'), (1, 'Hi2', 'Hello'), \
         (3, 'Hi3', 'hi'), (3, 'Hi2', 'Hello'), (3, 'Hi3', 'hi'), (2, 'Hi3', 'Hello')) AS t(a, b, c) GROUP BY c) \
         ORDER BY c",
        "a,c
         \"Hi,Hi,Hi2,Hi2,Hi3\",Hello
         \"Hi,Hi,Hi2,Hi2,Hi3\",Hello
         \"Hi,Hi2,Hi,Hi3,Hi3\",hi
         \"Hi,Hi2,Hi,Hi3,Hi3\",hi",
    )
    .await;
}

/// test_udf.py as of Flink 2: `FunctionContext.get_job_parameter` (PyFlink's
/// `pipeline.global-job-parameters`, udfbox's `--param`), `ScalarFunction`s that are also
/// `unittest.TestCase`s, a ROW argument read by field name, result types as strings.
const SCALAR_FLINK2: &str = r#"
import datetime
import os
import unittest
import uuid

from pyflink.common import Row
from pyflink.table import DataTypes, expressions as expr
from pyflink.table.expressions import call
from pyflink.table.udf import ScalarFunction, udf, FunctionContext


class SubtractWithParameters(ScalarFunction):

    def open(self, function_context: FunctionContext):
        self.subtract_value = int(function_context.get_job_parameter("subtract_value", "1"))

    def eval(self, i):
        return i - self.subtract_value


class SubtractWithMetrics(ScalarFunction, unittest.TestCase):

    def open(self, function_context):
        self.subtracted_value = 1
        mg = function_context.get_metric_group()
        self.counter = mg.add_group("key", "value").counter("my_counter")
        self.counter_sum = 0

    def eval(self, i):
        # counter
        self.counter.inc(i)
        self.counter_sum += i
        return i - self.subtracted_value


class Subtract(ScalarFunction, unittest.TestCase):

    def open(self, function_context):
        self.subtracted_value = 1
        self.counter_sum = 0

    def eval(self, i):
        # counter
        self.counter_sum += i
        return i - self.subtracted_value

subtract_two = udf(SubtractWithParameters(), result_type=DataTypes.BIGINT())
subtract_m = udf(SubtractWithMetrics(), result_type=DataTypes.BIGINT())
subtract = udf(Subtract(), result_type=DataTypes.BIGINT())

@udf(result_type=DataTypes.BIGINT())
def check_memory_limit(exec_mode):
    if exec_mode == "process":
        assert os.environ['_PYTHON_WORKER_MEMORY_LIMIT'] is not None
    return 1

@udf(result_type=DataTypes.ROW([DataTypes.FIELD('f1', DataTypes.INT())]))
def inc(input_row):
    return Row(input_row.b)

@udf(result_type='ARRAY<BIGINT>')
def array_func(array_param):
    assert array_param == [[1, 2, 3]] or array_param == ((1, 2, 3),), \
        'array_param is wrong value %s !' % array_param
    return array_param[0]

@udf(result_type='MAP<BIGINT, STRING>')
def map_func(map_param):
    assert map_param == {1: 'flink', 2: 'pyflink'}, \
        'map_param is wrong value %s !' % map_param
    return map_param

@udf(result_type='DECIMAL(38, 18)')
def decimal_func(decimal_param):
    from decimal import Decimal
    assert decimal_param == Decimal('1000000000000000000.050000000000000000'), \
        'decimal_param is wrong value %s !' % decimal_param
    return decimal_param

@udf(result_type='TIMESTAMP(3)')
def timestamp_func(timestamp_param):
    from datetime import datetime
    assert timestamp_param == datetime(2018, 3, 11, 3, 0, 0, 123000), \
        'timestamp_param is wrong value %s !' % timestamp_param
    return timestamp_param

@udf(result_type='TIME')
def time_func(time_param):
    from datetime import time
    assert time_param == time(hour=12, minute=0, second=0, microsecond=123000), \
        'time_param is wrong value %s !' % time_param
    return time_param
"#;

#[tokio::test]
async fn job_parameters_row_fields_and_type_strings() {
    // test_scalar_function: without the job parameter `subtract_value`, its default 1.
    check(
        SCALAR_FLINK2,
        None,
        "SELECT subtract_two(b) AS s, subtract_m(b) AS m, subtract(b) AS t, check_memory_limit('thread') AS c \
         FROM (VALUES (1, 2, 3), (2, 5, 6), (3, 1, 9)) AS t(a, b, c)",
        "s,m,t,c
         1,1,1,1
         4,4,4,1
         0,0,0,1",
    )
    .await;
    // test_udf_with_rowtime_arguments: `input_row.b`.
    check(
        SCALAR_FLINK2,
        None,
        "SELECT inc(named_struct('a', a, 'b', b, 'c', c))['f1'] AS a \
         FROM (VALUES (CAST(1 AS BIGINT), CAST(42 AS INT), 'a'), (2, 5, 'a'), (3, 1000, 'c'), (100, 1000, 'c')) AS t(a, b, c)",
        "a
         42
         5
         1000
         1000",
    )
    .await;
    // test_all_data_types_string
    check(
        SCALAR_FLINK2,
        None,
        "SELECT array_func(make_array(make_array(CAST(1 AS BIGINT), 2, 3))) AS n, \
           map_func(MAP {CAST(1 AS BIGINT): 'flink', 2: 'pyflink'}) AS o, \
           decimal_func(CAST('1000000000000000000.05' AS DECIMAL(38, 18))) AS p, \
           timestamp_func(TIMESTAMP '2018-03-11 03:00:00.123') AS m, time_func(TIME '12:00:00.123') AS l",
        "n,o,p,m,l
         \"[1, 2, 3]\",\"{1: flink, 2: pyflink}\",1000000000000000000.050000000000000000,2018-03-11T03:00:00.123,12:00:00.123",
    )
    .await;
}

/// The table functions of PyFlink's python_udfs.md (a `TableFunction` yielding tuples; a
/// generator, a function returning an iterator and one returning an iterable), and a function
/// returning one tuple, which PyFlink takes as one row.
const DOC_TABLE_FUNCTIONS: &str = r#"
from pyflink.table import DataTypes
from pyflink.table.udf import TableFunction, udtf


class Split(TableFunction):
    def eval(self, string):
        for s in string.split(" "):
            yield s, len(s)


split = udtf(Split(), result_types=[DataTypes.STRING(), DataTypes.INT()])


# option 1: generator function
@udtf(result_types=DataTypes.BIGINT())
def generator_func(x):
      yield 1
      yield 2

# option 2: return iterator
@udtf(result_types=DataTypes.BIGINT())
def iterator_func(x):
      return range(5)

# option 3: return iterable
@udtf(result_types=DataTypes.BIGINT())
def iterable_func(x):
      result = [1, 2, 3]
      return result


@udtf(result_types=[DataTypes.BIGINT(), DataTypes.STRING()])
def one_row(x):
    return x, "p"


@udtf(result_types=[DataTypes.BIGINT(), DataTypes.STRING()])
def two_rows(x):
    return (x, "p"), (x + 1, "q")
"#;

#[tokio::test]
async fn documented_table_function_forms() {
    check(
        DOC_TABLE_FUNCTIONS,
        None,
        "SELECT a, word, length FROM (VALUES ('hello world'), ('')) AS MyTable(a) \
         LEFT JOIN LATERAL TABLE(split(a)) as T(word, length) ON TRUE ORDER BY a, word",
        "a,word,length
         ,,0
         hello world,hello,5
         hello world,world,5",
    )
    .await;
    check(
        DOC_TABLE_FUNCTIONS,
        None,
        "SELECT count(*) AS n, sum(g) AS g, sum(i) AS i, sum(l) AS l FROM (VALUES (1)) AS t(x), \
         LATERAL TABLE(generator_func(x)) AS G(g), LATERAL TABLE(iterator_func(x)) AS I(i), \
         LATERAL TABLE(iterable_func(x)) AS L(l)",
        "n,g,i,l
         30,45,60,60",
    )
    .await;
    check(
        DOC_TABLE_FUNCTIONS,
        None,
        "SELECT a, b, c, d FROM (VALUES (1)) AS t(x), LATERAL TABLE(one_row(x)) AS T(a, b), \
         LATERAL TABLE(two_rows(x)) AS U(c, d) ORDER BY c",
        "a,b,c,d
         1,p,1,p
         1,p,2,q",
    )
    .await;
}

/// test_udaf.py's window rows `(a, b, c, rowtime)`.
const UDAF_WINDOW_ROWS: &str =
    "(VALUES (CAST(1 AS TINYINT), CAST(1 AS SMALLINT), 2, TIMESTAMP '2018-03-11 03:10:00'), \
    (3, 3, 2, TIMESTAMP '2018-03-11 03:10:00'), (2, 2, 1, TIMESTAMP '2018-03-11 03:10:00'), \
    (2, 2, 1, TIMESTAMP '2018-03-11 03:30:00'), (1, 1, 3, TIMESTAMP '2018-03-11 03:40:00'), \
    (1, 1, 8, TIMESTAMP '2018-03-11 04:20:00')) AS source_table(a, b, c, rowtime)";

/// test_tumbling_group_window_over_time and test_sliding_group_window_over_time: general
/// aggregates (a MapView accumulator, a list accumulator) in Flink's TUMBLE and HOP windows.
#[tokio::test]
async fn general_aggregates_in_group_windows() {
    check(
        VIEW_AGGREGATES,
        None,
        &format!(
            "SELECT a, TUMBLE_START(rowtime, INTERVAL '1' HOUR) AS s, TUMBLE_END(rowtime, INTERVAL '1' HOUR) AS e, \
             COUNT(c) AS c, my_count(c) AS d FROM {UDAF_WINDOW_ROWS} \
             GROUP BY a, TUMBLE(rowtime, INTERVAL '1' HOUR) ORDER BY a, s"
        ),
        "a,s,e,c,d
         1,2018-03-11T03:00:00,2018-03-11T04:00:00,2,2
         1,2018-03-11T04:00:00,2018-03-11T05:00:00,1,1
         2,2018-03-11T03:00:00,2018-03-11T04:00:00,2,1
         3,2018-03-11T03:00:00,2018-03-11T04:00:00,1,1",
    )
    .await;
    check(
        UDAF,
        None,
        &format!(
            "SELECT a, HOP_START(rowtime, INTERVAL '30' MINUTE, INTERVAL '1' HOUR) AS s, \
             HOP_END(rowtime, INTERVAL '30' MINUTE, INTERVAL '1' HOUR) AS e, my_sum(c) AS c FROM {UDAF_WINDOW_ROWS} \
             GROUP BY a, HOP(rowtime, INTERVAL '30' MINUTE, INTERVAL '1' HOUR) ORDER BY a, s"
        ),
        "a,s,e,c
         1,2018-03-11T02:30:00,2018-03-11T03:30:00,2
         1,2018-03-11T03:00:00,2018-03-11T04:00:00,5
         1,2018-03-11T03:30:00,2018-03-11T04:30:00,11
         1,2018-03-11T04:00:00,2018-03-11T05:00:00,8
         2,2018-03-11T02:30:00,2018-03-11T03:30:00,1
         2,2018-03-11T03:00:00,2018-03-11T04:00:00,2
         2,2018-03-11T03:30:00,2018-03-11T04:30:00,1
         3,2018-03-11T02:30:00,2018-03-11T03:30:00,2
         3,2018-03-11T03:00:00,2018-03-11T04:00:00,2",
    )
    .await;
}

/// test_udaf.py's test_mixed_with_built_in_functions_without_retract, whole: the user's `concat`
/// beside Flink's built-in aggregates, `LISTAGG` among them.
#[tokio::test]
async fn user_aggregate_among_flink_built_in_aggregates() {
    check(
        CONCAT_AGGREGATE,
        None,
        "select concat(b, ',') as a, FIRST_VALUE(b) as b, LAST_VALUE(b) as c, COUNT(c) as d, COUNT(1) as e, \
         LISTAGG(b) as f, LISTAGG(b, '|') as g, MAX(c) as h, MAX(cast(c as float) + 1) as i, MIN(c) as j, \
         MIN(cast(c as decimal) + 1) as k, SUM(c) as l, SUM(cast(c as float) + 1) as m \
         from (VALUES ('Hi', 2), ('Hi', 4), (NULL, NULL), ('hello2', 8), ('hello', 10)) AS source(b, c)",
        "a,b,c,d,e,f,g,h,i,j,k,l,m
         \"Hi,Hi,hello,hello2\",Hi,hello,4,5,\"Hi,Hi,hello2,hello\",Hi|Hi|hello2|hello,10,11.0,2,3.0000000000,24,28.0",
    )
    .await;
}

/// vectorized_python_udfs.md: a vectorized scalar function, and vectorized aggregates as a
/// callable object (option 4) and a `functools.partial` (option 5).
const DOC_VECTORIZED: &str = r#"
import functools

from pyflink.table import DataTypes
from pyflink.table.udf import udaf, udf


@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def add(i, j):
  return i + j


# option 4: callable function
class CallableMaxAdd(object):
  def __call__(self, i, j):
    return i.max() + j.max()

max_add = udaf(CallableMaxAdd(), result_type=DataTypes.BIGINT(), func_type="pandas")

# option 5: partial function
def partial_max_add(i, j, k):
  return i.max() + j.max() + k

partial_max_add = udaf(functools.partial(partial_max_add, k=1), result_type=DataTypes.BIGINT(), func_type="pandas")
"#;

#[tokio::test]
async fn documented_vectorized_forms() {
    check(
        DOC_VECTORIZED,
        None,
        "SELECT a, max_add(b, c) AS m, partial_max_add(b, c) AS p, max(add(b, c)) AS s \
         FROM (VALUES ('x', 1, 2), ('x', 5, 1), ('y', 3, 3)) AS t(a, b, c) GROUP BY a ORDER BY a",
        "a,m,p,s
         x,7,8,6
         y,6,7,6",
    )
    .await;
}
