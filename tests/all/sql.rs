//! UDFs in every SQL position: SELECT, WHERE, JOIN conditions, nested, over many batches.

use crate::harness::check;

const UDFS: &str = r#"
from udfbox import DataTypes, udf

add = udf(lambda a, b: None if a is None or b is None else a + b,
          [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())
is_even = udf(lambda n: None if n is None else n % 2 == 0, [DataTypes.BIGINT()], DataTypes.BOOLEAN())
same_parity = udf(lambda a, b: a % 2 == b % 2, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BOOLEAN())
shout = udf(lambda s: None if s is None else s.upper() + "!", [DataTypes.STRING()], DataTypes.STRING())
"#;

#[tokio::test]
async fn select_where_and_nested() {
    check(
        UDFS,
        None,
        "SELECT n, add(n, add(n, 1)) AS twice_plus_one, shout(name) AS loud FROM \
         (VALUES (1, 'a'), (2, NULL), (3, 'c'), (4, 'd'), (NULL, 'e')) AS x(n, name) \
         WHERE is_even(add(n, 1)) ORDER BY n",
        "n,twice_plus_one,loud
         1,3,A!
         3,7,C!",
    )
    .await;
}

#[tokio::test]
async fn join_conditions() {
    check(
        UDFS,
        None,
        "SELECT l.a, r.b FROM (VALUES (1), (2), (3)) AS l(a) JOIN (VALUES (10), (11)) AS r(b) \
         ON same_parity(l.a, r.b) ORDER BY l.a, r.b",
        "a,b
         1,11
         2,10
         3,11",
    )
    .await;
}

#[tokio::test]
async fn many_batches_and_mixed_case_names() {
    // 50,000 rows arrive in several DataFusion batches (8,192 rows each), some of them slices.
    check(
        UDFS,
        None,
        "SELECT count(*) AS n, sum(add(value, value)) AS total, sum(CASE WHEN is_even(value) THEN 1 ELSE 0 END) AS evens \
         FROM generate_series(1, 50000)",
        "n,total,evens
         50000,2500050000,25000",
    )
    .await;
}

#[tokio::test]
async fn empty_input_and_null_literals() {
    check(UDFS, None, "SELECT add(n, 1) AS r FROM (VALUES (1)) AS x(n) WHERE n > 5", "r").await;
    check(UDFS, None, "SELECT add(NULL, 1) AS r, shout(NULL) AS s", "r,s\n,").await;
}
