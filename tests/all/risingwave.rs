//! RisingWave's own Flight client (`arrow_udf_runtime::remote`, the client of `arrow-udf-flight`
//! that RisingWave links) against `udfbox serve` on the unchanged arrow-udf example file: the
//! protocol version, the function list, schemas, scalar, decimal, JSON and table function calls,
//! with exact values; and the same schemas as arrow-udf's own Python server gives for that file.
//!
//! The client is on arrow 58 (udfbox on 59): its batches are built with arrow 58's types.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array_58::{Array, ArrayRef, Int16Array, Int32Array, RecordBatch, StringArray, StructArray};
use arrow_schema_58::{DataType, Field, Schema};
use arrow_udf_runtime::remote::{Client, Function};
use futures::TryStreamExt;

use crate::flight::Server;

const EXAMPLE: &str = "udfs/arrow_udf_example.py";
const EXTENSION_NAME: &str = "ARROW:extension:name";

async fn connect(server: &Server) -> Client {
    Client::connect(server.url()).await.unwrap_or_else(|e| panic!("connect: {e}\n{}", server.log()))
}

/// A batch as RisingWave sends one: unnamed columns of the types the server declared.
fn arguments(function: &Function, columns: Vec<ArrayRef>) -> RecordBatch {
    let fields: Vec<Field> = function.args.fields().iter().map(|f| f.as_ref().clone().with_name("")).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

fn strings(array: &ArrayRef) -> Vec<Option<String>> {
    let array = array.as_any().downcast_ref::<StringArray>().expect("a Utf8 column");
    array.iter().map(|v| v.map(str::to_string)).collect()
}

fn extension(field: &Field) -> Option<&str> {
    field.metadata().get(EXTENSION_NAME).map(String::as_str)
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_version_list_and_schemas() {
    let server = Server::udfbox(&["--udf", EXAMPLE]);
    let client = connect(&server).await;
    assert_eq!(client.protocol_version(), 2);

    let listed: HashMap<String, Function> =
        client.list().await.unwrap().into_iter().map(|f| (f.name.clone(), f)).collect();
    let mut names: Vec<&str> = listed.keys().map(String::as_str).filter(|n| !n.starts_with("builtin_")).collect();
    names.sort();
    assert_eq!(names, ["array_len_batch", "decimal_add", "extract_tcp_info", "gcd", "json_get", "series"]);
    // Whatever is listed (Databend's health functions too, if they are) must read as RisingWave's
    // client reads a function: `total_records` inputs, then the result.
    for (name, function) in &listed {
        assert_eq!(function.returns.fields().len(), 1 + usize::from(name == "series"), "{name}: {function:?}");
    }

    let gcd = client.get("gcd").await.unwrap();
    assert_eq!(gcd.name, "gcd");
    let args: Vec<(&str, &DataType)> = gcd.args.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
    assert_eq!(args, [("x", &DataType::Int32), ("y", &DataType::Int32)]);
    assert_eq!(gcd.returns.fields().len(), 1);
    assert_eq!(gcd.returns.field(0).name(), "gcd");
    assert_eq!(gcd.returns.field(0).data_type(), &DataType::Int32);
    // list and get agree.
    assert_eq!(listed["gcd"].args, gcd.args);
    assert_eq!(listed["gcd"].returns, gcd.returns);

    let decimal = client.get("decimal_add").await.unwrap();
    for field in decimal.args.fields().iter().chain(decimal.returns.fields()) {
        assert_eq!(field.data_type(), &DataType::Utf8, "{field:?}");
        assert_eq!(extension(field), Some("arrowudf.decimal"), "{field:?}");
    }
    let json = client.get("json_get").await.unwrap();
    assert_eq!(extension(json.args.field(0)), Some("arrowudf.json"));
    assert_eq!(json.args.field(1).data_type(), &DataType::Utf8);
    assert_eq!(extension(json.args.field(1)), None);
    assert_eq!(extension(json.returns.field(0)), Some("arrowudf.json"));

    let series = client.get("series").await.unwrap();
    assert_eq!(series.args.field(0).data_type(), &DataType::Int32);
    let returns: Vec<(&str, &DataType)> =
        series.returns.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
    assert_eq!(returns, [("row", &DataType::Int32), ("series", &DataType::Int32)]);

    let missing = client.get("no_such_function").await;
    assert!(missing.is_err(), "get of an unknown function answered {missing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scalar_decimal_json_and_struct_calls() {
    let server = Server::udfbox(&["--udf", EXAMPLE]);
    let client = connect(&server).await;

    let gcd = client.get("gcd").await.unwrap();
    let input = arguments(
        &gcd,
        vec![Arc::new(Int32Array::from(vec![48, 25, 7, 0, -12])), Arc::new(Int32Array::from(vec![18, 15, 0, 9, 18]))],
    );
    let output = client.call("gcd", &input).await.unwrap_or_else(|e| panic!("gcd: {e}\n{}", server.log()));
    assert_eq!(output.num_rows(), 5);
    assert_eq!(output.schema().field(0).name(), "gcd");
    let values = output.column(0).as_any().downcast_ref::<Int32Array>().expect("Int32 result");
    // Python's `%` takes the divisor's sign: gcd(-12, 18) walks to 6.
    assert_eq!(values.iter().collect::<Vec<_>>(), [Some(6), Some(5), Some(7), Some(9), Some(6)]);

    let decimal = client.get("decimal_add").await.unwrap();
    let input = arguments(
        &decimal,
        vec![
            Arc::new(StringArray::from(vec!["0.1", "12345678901234567890.5", "-1.10"])),
            Arc::new(StringArray::from(vec!["0.2", "0.25", "1"])),
        ],
    );
    let output = client.call("decimal_add", &input).await.unwrap_or_else(|e| panic!("decimal_add: {e}"));
    assert_eq!(extension(output.schema().field(0)), Some("arrowudf.decimal"));
    // Exact decimal arithmetic (22 digits: beyond a double), trailing zeros as Python keeps them.
    let expected = ["0.3", "12345678901234567890.75", "-0.10"].map(|v| Some(v.to_string()));
    assert_eq!(strings(output.column(0)), expected);

    let json = client.get("json_get").await.unwrap();
    let input = arguments(
        &json,
        vec![
            Arc::new(StringArray::from(vec![Some(r#"{"k": [1, {"a": null}], "x": 2}"#), Some("[1]"), None])),
            Arc::new(StringArray::from(vec!["k", "k", "k"])),
        ],
    );
    let output = client.call("json_get", &input).await.unwrap_or_else(|e| panic!("json_get: {e}"));
    assert_eq!(extension(output.schema().field(0)), Some("arrowudf.json"));
    let values: Vec<Option<serde_json::Value>> =
        strings(output.column(0)).into_iter().map(|v| v.map(|t| serde_json::from_str(&t).unwrap())).collect();
    assert_eq!(values, [Some(serde_json::json!([1, {"a": null}])), None, None]);

    // A struct result, as RisingWave reads a multi-value function.
    let tcp = client.get("extract_tcp_info").await.unwrap();
    let input = arguments(&tcp, vec![Arc::new(StringArray::from(vec!["10.0.0.1:80 -> 10.0.0.2:443"]))]);
    let output = client.call("extract_tcp_info", &input).await.unwrap_or_else(|e| panic!("extract_tcp_info: {e}"));
    let info = output.column(0).as_any().downcast_ref::<StructArray>().expect("a struct result");
    let names: Vec<&str> = info.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["src_ip", "dst_ip", "src_port", "dst_port"]);
    assert_eq!(strings(info.column(0)), [Some("10.0.0.1".to_string())]);
    assert_eq!(strings(info.column(1)), [Some("10.0.0.2".to_string())]);
    let port = |i: usize| info.column(i).as_any().downcast_ref::<Int16Array>().expect("SMALLINT port").value(0);
    assert_eq!((port(2), port(3)), (80, 443));
}

#[tokio::test(flavor = "multi_thread")]
async fn table_function_streams_rows_and_skips_a_null_input() {
    let server = Server::udfbox(&["--udf", EXAMPLE]);
    let client = connect(&server).await;
    let series = client.get("series").await.unwrap();
    let input = arguments(&series, vec![Arc::new(Int32Array::from(vec![Some(3), None, Some(0), Some(2)]))]);
    let batches: Vec<RecordBatch> = client
        .call_table_function("series", &input)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("series: {e}\n{}", server.log()));
    let mut rows = Vec::new();
    for batch in &batches {
        assert_eq!(batch.schema().field(0).name(), "row");
        let row = batch.column(0).as_any().downcast_ref::<Int32Array>().expect("Int32 row index");
        let value = batch.column(1).as_any().downcast_ref::<Int32Array>().expect("Int32 values");
        rows.extend(row.iter().zip(value.iter()).map(|(r, v)| (r.unwrap(), v)));
    }
    // Row 1 (NULL) and row 2 (0) yield nothing.
    assert_eq!(rows, [(0, Some(0)), (0, Some(1)), (0, Some(2)), (3, Some(0)), (3, Some(1))]);
}

/// What RisingWave reads from `list` and `get` is what arrow-udf's own server says for the same
/// file: names, types and extension names of every argument and result.
#[tokio::test(flavor = "multi_thread")]
async fn schemas_match_the_reference_server() {
    let udfbox = Server::udfbox(&["--udf", EXAMPLE]);
    let reference = Server::reference("arrow-udf", &[EXAMPLE]);
    // The example file's functions (Databend's health functions are checked in the test above).
    let mut ours = connect(&udfbox).await.list().await.unwrap();
    ours.retain(|f| !f.name.starts_with("builtin_"));
    let theirs = connect(&reference).await.list().await.unwrap();
    let describe = |functions: Vec<Function>| {
        let mut described: Vec<String> = functions
            .iter()
            .map(|f| {
                let fields = |schema: &Schema| {
                    schema
                        .fields()
                        .iter()
                        .map(|f| format!("{}: {} {:?}", f.name(), f.data_type(), extension(f)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("{}({}) -> {}", f.name, fields(&f.args), fields(&f.returns))
            })
            .collect();
        described.sort();
        described
    };
    assert_eq!(describe(ours), describe(theirs));
}
