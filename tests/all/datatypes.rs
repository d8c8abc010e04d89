//! Every type crosses the boundary both ways, NULLs included, identically in every mode; NOT NULL
//! holds at every depth.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int64Builder, Int8Array, IntervalMonthDayNanoArray, LargeBinaryArray, LargeStringArray,
    ListArray, MapBuilder, RecordBatch, StringArray, StringBuilder, StructArray, Time64MicrosecondArray,
    TimestampMicrosecondArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Int64Type, IntervalMonthDayNano};

use crate::harness::{both, check, function_set, MODES};

/// One column per type; row 0 ordinary values, row 1 all NULL, row 2 edge values.
pub fn all_types() -> RecordBatch {
    let mut map = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    map.keys().append_value("a");
    map.values().append_value(1);
    map.keys().append_value("b");
    map.values().append_null();
    map.append(true).unwrap();
    map.append(false).unwrap();
    map.append(true).unwrap();
    let row = StructArray::try_new(
        vec![Field::new("x", DataType::Int32, true), Field::new("y", DataType::Utf8, true)].into(),
        vec![
            Arc::new(Int32Array::from(vec![Some(1), Some(9), None])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("p"), Some("z"), Some("q")])),
        ],
        Some(NullBuffer::from(vec![true, false, true])),
    )
    .unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("b", Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]))),
        ("i8", Arc::new(Int8Array::from(vec![Some(1), None, Some(i8::MIN)]))),
        ("i16", Arc::new(Int16Array::from(vec![Some(2), None, Some(i16::MAX)]))),
        ("i32", Arc::new(Int32Array::from(vec![Some(3), None, Some(i32::MIN)]))),
        ("i64", Arc::new(Int64Array::from(vec![Some(4), None, Some(i64::MAX)]))),
        ("f32", Arc::new(Float32Array::from(vec![Some(1.5), None, Some(-0.25)]))),
        ("f64", Arc::new(Float64Array::from(vec![Some(2.5), None, Some(1e300)]))),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![Some(125), None, Some(-99_999_999_99)])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ),
        ("s", Arc::new(StringArray::from(vec![Some("abc"), None, Some("héllo, 世界")]))),
        ("bin", Arc::new(BinaryArray::from(vec![Some(&b"\x00\xff"[..]), None, Some(&b""[..])]))),
        ("d", Arc::new(Date32Array::from(vec![Some(19782), None, Some(-1)]))),
        ("tm", Arc::new(Time64MicrosecondArray::from(vec![Some(45_296_789_000), None, Some(0)]))),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_704_164_645_678_901),
                None,
                Some(-315_619_200_000_000),
            ])),
        ),
        (
            "arr",
            Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
                Some(vec![Some(1), None, Some(3)]),
                None,
                Some(vec![]),
            ])),
        ),
        ("m", Arc::new(map.finish())),
        ("r", Arc::new(row)),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

const ECHO: &str = r#"
from udfbox import DataTypes, udf

_TYPES = {
    "b": DataTypes.BOOLEAN(), "i8": DataTypes.TINYINT(), "i16": DataTypes.SMALLINT(),
    "i32": DataTypes.INT(), "i64": DataTypes.BIGINT(), "f32": DataTypes.FLOAT(),
    "f64": DataTypes.DOUBLE(), "dec": DataTypes.DECIMAL(12, 2), "s": DataTypes.STRING(),
    "bin": DataTypes.BYTES(), "d": DataTypes.DATE(), "tm": DataTypes.TIME(),
    "ts": DataTypes.TIMESTAMP(), "arr": DataTypes.ARRAY(DataTypes.BIGINT()),
    "m": DataTypes.MAP(DataTypes.STRING(), DataTypes.BIGINT()),
    "r": DataTypes.ROW([DataTypes.FIELD("x", DataTypes.INT()), DataTypes.FIELD("y", DataTypes.STRING())]),
}
for _name, _type in _TYPES.items():
    globals()["echo_" + _name] = udf(lambda x: x, [_type], _type)

show = udf(lambda x: repr(x), result_type=DataTypes.STRING())
"#;

const COLUMNS: [&str; 16] =
    ["b", "i8", "i16", "i32", "i64", "f32", "f64", "dec", "s", "bin", "d", "tm", "ts", "arr", "m", "r"];

#[tokio::test]
async fn every_type_round_trips_with_nulls() {
    let select: Vec<String> = COLUMNS.iter().map(|c| format!("{c}, echo_{c}({c}) AS echo_{c}")).collect();
    let sql = format!("SELECT {} FROM t", select.join(", "));
    let csv = both(ECHO, Some(all_types()), &sql).await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    // Every echo column equals its input column, row by row (CSV cells in pairs).
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.len(), 32);
    for line in &lines[1..] {
        let mut reader = arrow::csv::ReaderBuilder::new(Arc::new(arrow::datatypes::Schema::new(
            (0..32).map(|i| Field::new(format!("c{i}"), DataType::Utf8, true)).collect::<Vec<_>>(),
        )))
        .build(line.as_bytes())
        .unwrap();
        let batch = reader.next().unwrap().unwrap();
        for pair in 0..16 {
            let input = batch.column(2 * pair);
            let echo = batch.column(2 * pair + 1);
            assert_eq!(input, echo, "column {} in row {line}", COLUMNS[pair]);
        }
    }
}

#[tokio::test]
async fn python_sees_the_values_pyflink_passes() {
    let select: Vec<String> = COLUMNS.iter().map(|c| format!("show({c}) AS {c}")).collect();
    let sql = format!("SELECT {} FROM t", select.join(", "));
    let csv = both(ECHO, Some(all_types()), &sql).await.unwrap();
    let mut reader = arrow::csv::ReaderBuilder::new(Arc::new(arrow::datatypes::Schema::new(
        COLUMNS.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>(),
    )))
    .with_header(true)
    .build(csv.as_bytes())
    .unwrap();
    let batch = reader.next().unwrap().unwrap();
    let cell = |column: &str, row: usize| {
        let array = batch.column_by_name(column).unwrap();
        arrow::array::cast::as_string_array(array).value(row).to_string()
    };
    let expected = [
        ("b", ["True", "None", "False"]),
        ("i8", ["1", "None", "-128"]),
        ("i16", ["2", "None", "32767"]),
        ("i32", ["3", "None", "-2147483648"]),
        ("i64", ["4", "None", "9223372036854775807"]),
        ("f32", ["1.5", "None", "-0.25"]),
        ("f64", ["2.5", "None", "1e+300"]),
        ("dec", ["Decimal('1.25')", "None", "Decimal('-99999999.99')"]),
        ("s", ["'abc'", "None", "'héllo, 世界'"]),
        ("bin", ["b'\\x00\\xff'", "None", "b''"]),
        ("d", ["datetime.date(2024, 2, 29)", "None", "datetime.date(1969, 12, 31)"]),
        ("tm", ["datetime.time(12, 34, 56, 789000)", "None", "datetime.time(0, 0)"]),
        ("ts", ["datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)", "None", "datetime.datetime(1960, 1, 1, 0, 0)"]),
        ("arr", ["[1, None, 3]", "None", "[]"]),
        ("m", ["{'a': 1, 'b': None}", "None", "{}"]),
        ("r", ["Row(x=1, y='p')", "None", "Row(x=None, y='q')"]),
    ];
    for (column, values) in expected {
        for (row, value) in values.iter().enumerate() {
            assert_eq!(cell(column, row), *value, "{column} row {row}");
        }
    }
}

#[tokio::test]
async fn results_of_every_type_from_python_values() {
    let source = r#"
import datetime, decimal
from udfbox import DataTypes, Row, udf

mk_bool = udf(lambda n: n % 2 == 0, [DataTypes.BIGINT()], DataTypes.BOOLEAN())
mk_tiny = udf(lambda n: -n, [DataTypes.BIGINT()], DataTypes.TINYINT())
mk_float = udf(lambda n: n / 4, [DataTypes.BIGINT()], DataTypes.FLOAT())
mk_double = udf(lambda n: n, [DataTypes.BIGINT()], DataTypes.DOUBLE())
mk_decimal = udf(lambda n: decimal.Decimal(n) / 3, [DataTypes.BIGINT()], DataTypes.DECIMAL(6, 3))
mk_varchar = udf(lambda n: "x" * n, [DataTypes.BIGINT()], DataTypes.VARCHAR(10))
mk_bytes = udf(lambda n: bytes(range(n)), [DataTypes.BIGINT()], DataTypes.BYTES())
mk_date = udf(lambda n: datetime.date(2000, 1, n), [DataTypes.BIGINT()], DataTypes.DATE())
mk_time = udf(lambda n: datetime.time(n, n, n), [DataTypes.BIGINT()], DataTypes.TIME())
mk_ts = udf(lambda n: datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=n))),
              [DataTypes.BIGINT()], DataTypes.TIMESTAMP())
mk_array = udf(lambda n: [[i] * i for i in range(n)], [DataTypes.BIGINT()],
                 DataTypes.ARRAY(DataTypes.ARRAY(DataTypes.INT())))
mk_map = udf(lambda n: {str(i): [i] for i in range(n)}, [DataTypes.BIGINT()],
               DataTypes.MAP(DataTypes.STRING(), DataTypes.ARRAY(DataTypes.BIGINT())))
mk_row = udf(lambda n: (n, [n], {"k": n}) if n != 2 else {"a": n}, [DataTypes.BIGINT()],
               "ROW<a BIGINT, b ARRAY<BIGINT>, c MAP<STRING, BIGINT>>")
"#;
    check(
        source,
        None,
        "SELECT n, mk_bool(n) b, mk_tiny(n) t, mk_float(n) f, mk_double(n) d, mk_decimal(n) dec, \
         mk_varchar(n) v, mk_bytes(n) byt, mk_date(n) dt, mk_time(n) tm, mk_ts(n) ts, \
         mk_array(n) arr, mk_map(n) m, mk_row(n) r FROM (VALUES (1), (2), (3)) AS x(n) ORDER BY n",
        r#"n,b,t,f,d,dec,v,byt,dt,tm,ts,arr,m,r
        1,false,-1,0.25,1.0,0.333,x,00,2000-01-01,01:01:01,1999-12-31T23:00:00,[[]],{0: [0]},"{a: 1, b: [1], c: {k: 1}}"
        2,true,-2,0.5,2.0,0.667,xx,0001,2000-01-02,02:02:02,1999-12-31T22:00:00,"[[], [1]]","{0: [0], 1: [1]}","{a: 2, b: , c: }"
        3,false,-3,0.75,3.0,1.000,xxx,000102,2000-01-03,03:03:03,1999-12-31T21:00:00,"[[], [1], [2, 2]]","{0: [0], 1: [1], 2: [2]}","{a: 3, b: [3], c: {k: 3}}""#,
    )
    .await;
}

/// Each function of `source`, called on the rows `values` (SQL `VALUES` text), fails in every
/// mode with its bad-result message.
async fn assert_bad_results(source: &str, values: &str, cases: &[(&str, &str)]) {
    for (function, message) in cases {
        let sql = format!("SELECT {function}(n) FROM (VALUES {values}) AS x(n)");
        let error = both(source, None, &sql).await.unwrap_err();
        assert_eq!(error, format!("function '{function}' returned a bad result: {message}"), "{function}");
    }
}

#[tokio::test]
async fn wrong_result_types_name_the_function_and_row() {
    let source = r#"
import datetime
from udfbox import DataTypes, udf
as_int = udf(lambda n: n if n < 3 else "three", [DataTypes.BIGINT()], DataTypes.BIGINT())
too_big = udf(lambda n: 100 * n, [DataTypes.BIGINT()], DataTypes.TINYINT())
not_bool = udf(lambda n: n, [DataTypes.BIGINT()], DataTypes.BOOLEAN())
bad_item = udf(lambda n: [1, "two"] if n == 2 else [n], [DataTypes.BIGINT()], DataTypes.ARRAY(DataTypes.BIGINT()))
bad_decimal = udf(lambda n: 10 ** n, [DataTypes.BIGINT()], DataTypes.DECIMAL(3, 1))
bad_date = udf(lambda n: "2020-01-01", [DataTypes.BIGINT()], DataTypes.DATE())
"#;
    let cases = [
        ("as_int", "row 2: expected BIGINT, got str 'three'"),
        ("too_big", "row 1: value 200 is out of range for TINYINT"),
        ("not_bool", "row 0: expected BOOLEAN, got int 1"),
        ("bad_item", "row 1: expected BIGINT, got str 'two'"),
        ("bad_decimal", "row 1: value 100 does not fit DECIMAL(3, 1)"),
        ("bad_date", "row 0: expected DATE, got str '2020-01-01'"),
    ];
    assert_bad_results(source, "(1), (2), (3)", &cases).await;
    for mode in MODES {
        let set = function_set(mode, source).unwrap();
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let udfbox::Error::Udf(e) = set.call("as_int", &[ints], 3).unwrap_err() else { panic!() };
        assert_eq!((e.kind, e.row), (udfbox::UdfErrorKind::BadResult, Some(2)), "{mode}");
    }
}

#[tokio::test]
async fn numbers_without_nulls_arrive_as_plain_python_numbers() {
    // A column of numbers without NULLs takes the runtime's fast path (each value made as its
    // row is called): a function must see the same plain ints and floats as in the general
    // path, and values it keeps must stay as they were.
    let source = "from udfbox import udf\n\
kept = []\n\
def keep(x):\n    kept.append(x)\n    return sum(kept)\n\
keep = udf(keep, result_type='BIGINT')\n\
show = udf(lambda x: '%s %r' % (type(x).__name__, x), result_type='STRING')\n\
add = udf(lambda a, b: a + b, result_type='DOUBLE')\n";
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("i8", Arc::new(Int8Array::from(vec![1, -128, 127]))),
        ("i16", Arc::new(Int16Array::from(vec![2, i16::MIN, i16::MAX]))),
        ("i32", Arc::new(Int32Array::from(vec![3, i32::MIN, i32::MAX]))),
        ("i64", Arc::new(Int64Array::from(vec![4, i64::MIN, i64::MAX]))),
        ("f32", Arc::new(Float32Array::from(vec![1.5, -0.25, 3.0]))),
        ("f64", Arc::new(Float64Array::from(vec![2.5, 1e300, -0.0]))),
    ];
    let table = RecordBatch::try_from_iter(columns).unwrap();
    let sql = "SELECT show(i8) AS i8, show(i16) AS i16, show(i32) AS i32, show(i64) AS i64, show(f32) AS f32, \
               show(f64) AS f64, keep(i64 % 1000) AS kept, add(i32, f64) AS added FROM t";
    check(
        source,
        Some(table),
        sql,
        "i8,i16,i32,i64,f32,f64,kept,added
         int 1,int 2,int 3,int 4,float 1.5,float 2.5,4,5.5
         int -128,int -32768,int -2147483648,int -9223372036854775808,float -0.25,float 1e+300,-804,1e300
         int 127,int 32767,int 2147483647,int 9223372036854775807,float 3.0,float -0.0,3,2147483647.0",
    )
    .await;
}

const NEW_TYPES: &str = r#"
from udfbox import DataTypes, udf

_TYPES = {
    "u8": DataTypes.UTINYINT(), "u16": DataTypes.USMALLINT(), "u32": DataTypes.UINT(),
    "u64": DataTypes.UBIGINT(), "ls": DataTypes.LARGE_STRING(), "lb": DataTypes.LARGE_BYTES(),
    "iv": DataTypes.INTERVAL(), "js": DataTypes.JSON(), "num": DataTypes.NUMERIC(),
}
for _name, _type in _TYPES.items():
    globals()["echo_" + _name] = udf(lambda x: x, [_type], _type)
    globals()["show_" + _name] = udf(lambda x: "%s %r" % (type(x).__name__, x), [_type], DataTypes.STRING())
"#;

/// One column per new type; row 0 ordinary values, row 1 all NULL, row 2 edge values.
fn new_types() -> RecordBatch {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("u8", Arc::new(UInt8Array::from(vec![Some(1), None, Some(u8::MAX)]))),
        ("u16", Arc::new(UInt16Array::from(vec![Some(2), None, Some(u16::MAX)]))),
        ("u32", Arc::new(UInt32Array::from(vec![Some(3), None, Some(u32::MAX)]))),
        ("u64", Arc::new(UInt64Array::from(vec![Some(4), None, Some(u64::MAX)]))),
        ("ls", Arc::new(LargeStringArray::from(vec![Some("abc"), None, Some("héllo")]))),
        ("lb", Arc::new(LargeBinaryArray::from(vec![Some(&b"\x00\xff"[..]), None, Some(&b""[..])]))),
        (
            "iv",
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                Some(IntervalMonthDayNano::new(1, 2, 3)),
                None,
                Some(IntervalMonthDayNano::new(i32::MIN, -1, i64::MAX)),
            ])),
        ),
        ("js", Arc::new(StringArray::from(vec![Some(r#"{"a": [1, 2.5, null]}"#), None, Some(r#""text""#)]))),
        (
            "num",
            Arc::new(StringArray::from(vec![Some("1.50"), None, Some("-123456789012345678901234567890.000000001")])),
        ),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

#[tokio::test]
async fn new_types_round_trip_with_nulls_in_every_mode() {
    let batch = new_types();
    for mode in MODES {
        let set = function_set(mode, NEW_TYPES).unwrap();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let name = field.name();
            let echo = set.call(&format!("echo_{name}"), &[column.clone()], batch.num_rows()).unwrap();
            assert_eq!(&echo, column, "{name} in {mode}");
        }
        // JSON and NUMERIC carry their logical type on the result field.
        let key = |name: &str| {
            set.function(name).unwrap().result_field.metadata().get(udfbox::types::LOGICAL_TYPE_KEY).cloned()
        };
        assert_eq!(key("echo_js").as_deref(), Some("JSON"), "{mode}");
        assert_eq!(key("echo_num").as_deref(), Some("NUMERIC"), "{mode}");
    }
}

#[tokio::test]
async fn python_sees_the_new_types_as_python_values() {
    let select: Vec<String> = ["u8", "u16", "u32", "u64", "ls", "lb", "iv", "js", "num"]
        .iter()
        .map(|c| format!("show_{c}({c}) AS {c}"))
        .collect();
    let csv = both(NEW_TYPES, Some(new_types()), &format!("SELECT {} FROM t", select.join(", "))).await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[1],
        "int 1,int 2,int 3,int 4,str 'abc',bytes b'\\x00\\xff',\"MonthDayNano MonthDayNano(months=1, days=2, \
         nanoseconds=3)\",\"dict {'a': [1, 2.5, None]}\",Decimal Decimal('1.50')"
    );
    assert_eq!(rows[2], "NoneType None,NoneType None,NoneType None,NoneType None,NoneType None,NoneType None,NoneType None,NoneType None,NoneType None");
    assert_eq!(
        rows[3],
        "int 255,int 65535,int 4294967295,int 18446744073709551615,str 'héllo',bytes b'',\"MonthDayNano \
         MonthDayNano(months=-2147483648, days=-1, nanoseconds=9223372036854775807)\",str 'text',\
         Decimal Decimal('-123456789012345678901234567890.000000001')"
    );
}

#[tokio::test]
async fn new_types_from_python_values_and_their_range_errors() {
    let source = r#"
import decimal
from udfbox import DataTypes, MonthDayNano, udf

small = udf(lambda n: 250 + n, [DataTypes.BIGINT()], DataTypes.UTINYINT())
unsigned = udf(lambda n: 2 ** 64 - n, [DataTypes.BIGINT()], DataTypes.UBIGINT())
interval = udf(lambda n: MonthDayNano(n, -n, n * 10 ** 9) if n != 2 else (1, 2, 3), [DataTypes.BIGINT()], DataTypes.INTERVAL())
big_interval = udf(lambda n: (2 ** 31, 0, 0), [DataTypes.BIGINT()], DataTypes.INTERVAL())
pair = udf(lambda n: (1, 2), [DataTypes.BIGINT()], DataTypes.INTERVAL())
as_json = udf(lambda n: {"n": n, "list": [n] * n, "none": None} if n != 2 else None, [DataTypes.BIGINT()], DataTypes.JSON())
not_json = udf(lambda n: {n}, [DataTypes.BIGINT()], DataTypes.JSON())
nan_json = udf(lambda n: float("nan"), [DataTypes.BIGINT()], DataTypes.JSON())
numeric = udf(lambda n: decimal.Decimal("1234567890123456789012345678901234567890.5%d" % n) if n != 2 else n,
              [DataTypes.BIGINT()], DataTypes.NUMERIC())
float_numeric = udf(lambda n: n / 2, [DataTypes.BIGINT()], DataTypes.NUMERIC())
large = udf(lambda n: "x" * n, [DataTypes.BIGINT()], "LARGE_STRING")
"#;
    check(
        source,
        None,
        "SELECT small(n) s, unsigned(n) u, as_json(n) j, numeric(n) num, large(n) l FROM (VALUES (1), (2), (3)) AS x(n) ORDER BY n",
        r#"s,u,j,num,l
        251,18446744073709551615,"{""n"": 1, ""list"": [1], ""none"": null}",1234567890123456789012345678901234567890.51,x
        252,18446744073709551614,,2,xx
        253,18446744073709551613,"{""n"": 3, ""list"": [3, 3, 3], ""none"": null}",1234567890123456789012345678901234567890.53,xxx"#,
    )
    .await;
    for mode in MODES {
        let set = function_set(mode, source).unwrap();
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let got = set.call("interval", &[ints], 2).unwrap();
        let expected = IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(1, -1, 1_000_000_000),
            IntervalMonthDayNano::new(1, 2, 3),
        ]);
        assert_eq!(got.as_ref(), &expected as &dyn arrow::array::Array, "{mode}");
    }
    let cases = [
        ("small", "row 1: value 256 is out of range for UTINYINT"),
        ("unsigned", "row 0: value 18446744073709551616 is out of range for UBIGINT"),
        ("big_interval", "row 0: value tuple (2147483648, 0, 0) is out of range for INTERVAL"),
        ("pair", "row 0: expected INTERVAL (MonthDayNano(months, days, nanoseconds)), got tuple (1, 2)"),
        ("not_json", "row 0: expected a JSON value, got set {0} (Object of type set is not JSON serializable)"),
        ("nan_json", "row 0: expected a JSON value, got float nan (NaN and infinities are not JSON)"),
        ("float_numeric", "row 0: expected NUMERIC, got float 0.0"),
    ];
    assert_bad_results(source, "(0), (6)", &cases).await;
}

const NOT_NULL: &str = r#"
from udfbox import DataTypes, udf

int_nn = udf(lambda n: None if n == 2 else n, [DataTypes.BIGINT()], DataTypes.INT(nullable=False))
items = udf(lambda n: [1, None] if n == 2 else [n], [DataTypes.BIGINT()], "ARRAY<INT NOT NULL>")
row = udf(lambda n: None if n == 1 else {"a": None if n == 3 else n, "b": None}, [DataTypes.BIGINT()],
          "ROW<`a` BIGINT NOT NULL, `b` STRING>")
values = udf(lambda n: {"k": None} if n == 3 else {"k": n}, [DataTypes.BIGINT()], "MAP<STRING, BIGINT NOT NULL>")
takes = udf(lambda n: n, [DataTypes.BIGINT(nullable=False)], DataTypes.BIGINT())
takes_items = udf(lambda a: len(a), ["ARRAY<BIGINT NOT NULL>"], DataTypes.BIGINT())
raises = udf(lambda n: 1 // (n - 2), [DataTypes.BIGINT()], "INT NOT NULL")
"#;

#[tokio::test]
async fn not_null_results_and_arguments() {
    // What fits passes.
    check(
        NOT_NULL,
        None,
        "SELECT n, int_nn(n) i, items(n) a, row(n) r, takes(n) t, takes_items(make_array(n, n)) ti \
         FROM (VALUES (1), (5)) AS x(n) ORDER BY n",
        "n,i,a,r,t,ti
         1,1,[1],,1,2
         5,5,[5],\"{a: 5, b: }\",5,2",
    )
    .await;
    // A NULL produced where the type allows none names the function and the row.
    let cases = [
        ("int_nn", "row 1: expected INT NOT NULL, got NULL"),
        ("items", "row 1: expected INT NOT NULL, got NULL"),
        ("row", "row 2: expected BIGINT NOT NULL, got NULL"),
        ("values", "row 2: expected BIGINT NOT NULL, got NULL"),
    ];
    assert_bad_results(NOT_NULL, "(1), (2), (3)", &cases).await;
    for mode in MODES {
        let mut set = function_set(mode, NOT_NULL).unwrap();
        let function = set.function("items").unwrap();
        assert!(function.result_field.is_nullable(), "{mode}");
        let DataType::List(item) = function.result_field.data_type() else { panic!("not a list") };
        assert!(!item.is_nullable(), "{mode}");
        assert!(!set.function("int_nn").unwrap().result_field.is_nullable(), "{mode}");

        // NULL arguments where the declared type allows none are refused before the call.
        let with_null: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        let error = set.call("takes", &[with_null], 2).unwrap_err();
        assert_eq!(error.to_string(), "argument 1 of 'takes' is BIGINT NOT NULL, but row 1 is NULL", "{mode}");
        let lists: ArrayRef =
            Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1), None])]));
        let error = set.call("takes_items", &[lists], 1).unwrap_err().to_string();
        assert!(
            error.starts_with(
                "argument 1 of 'takes_items' is ARRAY<BIGINT NOT NULL>, but it holds a NULL where the type allows none"
            ),
            "{mode}: {error}"
        );

        // Under the null policy a failing row of a NOT NULL function cannot become NULL: it fails.
        set.set_error_policy("raises", udfbox::ErrorPolicy::Null);
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let udfbox::Error::Udf(e) = set.call("raises", &[ints], 3).unwrap_err() else { panic!("{mode}") };
        assert_eq!((e.kind, e.row), (udfbox::UdfErrorKind::Exception, Some(1)), "{mode}");
    }
}

#[tokio::test]
async fn the_host_checks_not_null_and_logical_types_itself() {
    // A UDF file can patch the runtime it runs in; the host still refuses what breaks the types.
    let source = r#"
import udfbox.arrow
from udfbox import DataTypes, udf

def _nulls(n):
    nulls.result_type.nullable = True  # registered NOT NULL, now unchecked by the runtime
    return None if n == 2 else n

nulls = udf(_nulls, [DataTypes.BIGINT()], "INT NOT NULL")
udfbox.arrow._json_text = lambda dt, values, rows: ["not json" for _ in values]
as_json = udf(lambda n: n, [DataTypes.BIGINT()], DataTypes.JSON())
"#;
    let cases =
        [("nulls", "row 1: expected INT NOT NULL, got NULL"), ("as_json", "row 0: 'not json' is not a JSON value")];
    assert_bad_results(source, "(1), (2)", &cases).await;
}
