//! `udfbox serve`, end to end: the real binary, called with arrow-flight's own `FlightClient`.
//! Protocol (both dialects), calls, errors, tenants and tokens, reloads, hostile tenants,
//! limits, metrics and graceful shutdown. No test depends on timing: where a call must be in
//! flight, the UDF waits for a file the test creates in its (read-only) deps directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, Int32Array, LargeStringArray, RecordBatch, StringArray, StructArray};
use arrow::datatypes::{DataType, Schema};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{Action, FlightClient, FlightData, FlightDescriptor, FlightInfo, SchemaAsIpc};
use futures::{StreamExt, TryStreamExt};
use tonic::Code;

use crate::harness::{assert_no_panic, repo_root};

/// A running `udfbox serve`; killed when dropped.
struct Serve {
    child: Child,
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts `udfbox serve --listen 127.0.0.1:0 ARGS` (unless ARGS say where) and reads its
    /// address from stdout.
    fn start(args: &[&str]) -> Serve {
        let listen: &[&str] = if args.contains(&"--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
        let mut child = Command::new(env!("CARGO_BIN_EXE_udfbox"))
            .arg("serve")
            .args(listen)
            .args(args)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start udfbox serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let read = |line: &mut String, stdout: &mut BufReader<_>, what: &str| -> String {
            line.clear();
            stdout.read_line(line).unwrap();
            let prefix = format!("udfbox serve: {what} on ");
            match line.trim_end().strip_prefix(&prefix) {
                Some(addr) => addr.to_string(),
                None => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    panic!("expected '{prefix}ADDR' on stdout, got {line:?}; stderr:\n{}", stderr.lock().unwrap())
                }
            }
        };
        let addr = read(&mut line, &mut stdout, "listening").parse().unwrap();
        let metrics =
            args.contains(&"--metrics-listen").then(|| read(&mut line, &mut stdout, "metrics").parse().unwrap());
        Serve { child, addr, metrics, stderr }
    }

    async fn client(&self, token: Option<&str>) -> FlightClient {
        self.client_at(self.addr, token).await
    }

    async fn client_at(&self, addr: SocketAddr, token: Option<&str>) -> FlightClient {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect to udfbox serve");
        let inner = FlightServiceClient::new(channel).max_decoding_message_size(256 << 20);
        let mut client = FlightClient::new_from_inner(inner);
        if let Some(token) = token {
            client.add_header("authorization", &format!("Bearer {token}")).unwrap();
        }
        client
    }

    fn signal(&self, signal: i32) {
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the process to exit; its exit code.
    fn wait(&mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }

    /// GET `path` from the metrics endpoint: (status line, body).
    fn http_get(&self, path: &str) -> (String, String) {
        let mut stream = std::net::TcpStream::connect(self.metrics.unwrap()).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_string(), body.to_string())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const GCD: &str = r#"
from udfbox import udf, udtf

@udf(input_types=['INT', 'INT'], result_type='INT')
def gcd(x, y):
    if x is None or y is None:
        return None
    while y != 0:
        (x, y) = (y, x % y)
    return x

@udf(input_types=['STRING'], result_type='STRING')
def shout(text):
    print('shouting', text)
    return text.upper() + '!'

@udf(input_types=['INT'], result_type='INT')
def inverse(x):
    return 100 // x

@udf(input_types=['NUMERIC'], result_type='NUMERIC')
def half(d):
    return None if d is None else d / 2

@udf(input_types=['JSON'], result_type='JSON')
def keys(doc):
    return None if doc is None else sorted(doc)

@udtf(input_types=['INT'], result_types=['INT'])
def series(n):
    for i in range(n):
        yield i

@udtf(input_types=['INT'], result_types=['INT', 'STRING'])
def pairs(n):
    for i in range(n):
        yield i, 'x' * i
"#;

/// A file the UDF `wait_for_release` polls for, in the deps directory it may read.
const WAIT: &str = r#"
import os, time
from udfbox import udf

@udf(input_types=['INT'], result_type='INT')
def wait_for_release(x):
    while not os.path.exists('/deps/release'):
        time.sleep(0.01)
    return x + 1

@udf(input_types=['INT'], result_type='INT')
def quick(x):
    return x * 2
"#;

/// A server of the `GCD` file (and a directory it lives in, removed when dropped).
fn serve_gcd(extra: &[&str]) -> (tempfile::TempDir, Serve) {
    let dir = tempfile::tempdir().unwrap();
    let udf = write(dir.path(), "gcd.py", GCD);
    let mut args = vec!["--udf", udf.to_str().unwrap()];
    args.extend_from_slice(extra);
    let server = Serve::start(&args);
    (dir, server)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn ints(values: &[Option<i32>]) -> ArrayRef {
    Arc::new(Int32Array::from(values.to_vec()))
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    if columns.is_empty() {
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(1));
        return RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options).unwrap();
    }
    RecordBatch::try_from_iter(columns).unwrap()
}

/// Calls `function` over `batches` with `do_exchange`: the result batches, or the status.
async fn exchange(
    client: &mut FlightClient,
    function: &str,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let input = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_path(vec![function.to_string()])))
        .build(futures::stream::iter(batches.into_iter().map(Ok)));
    let result = async { client.do_exchange(input).await?.try_collect::<Vec<_>>().await }.await;
    result.map_err(|e| match e {
        FlightError::Tonic(status) => *status,
        other => panic!("not a status: {other}"),
    })
}

async fn call(
    client: &mut FlightClient,
    function: &str,
    columns: Vec<(&str, ArrayRef)>,
) -> Result<RecordBatch, tonic::Status> {
    let batches = exchange(client, function, vec![batch(columns)]).await?;
    let schema = batches.first().map(|b| b.schema()).expect("a result batch");
    Ok(arrow::compute::concat_batches(&schema, &batches).unwrap())
}

async fn list(client: &mut FlightClient) -> Result<Vec<FlightInfo>, tonic::Status> {
    let infos = async { client.list_flights(Vec::<u8>::new()).await?.try_collect::<Vec<_>>().await }.await;
    infos.map_err(|e| match e {
        FlightError::Tonic(status) => *status,
        other => panic!("not a status: {other}"),
    })
}

fn names(infos: &[FlightInfo]) -> Vec<String> {
    infos.iter().map(|i| i.flight_descriptor.as_ref().unwrap().path[0].clone()).collect()
}

fn code_of(error: FlightError) -> Code {
    match error {
        FlightError::Tonic(status) => status.code(),
        other => panic!("not a status: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn risingwave_protocol_scalar_and_table_calls() {
    let (_dir, server) = serve_gcd(&[]);
    let mut client = server.client(None).await;

    // protocol_version: one result, the byte 2.
    let versions: Vec<_> =
        client.do_action(Action::new("protocol_version", "")).await.unwrap().try_collect().await.unwrap();
    assert_eq!(versions.iter().map(|v| v.to_vec()).collect::<Vec<_>>(), [vec![2u8]]);

    let infos = list(&mut client).await.unwrap();
    assert_eq!(names(&infos), ["gcd", "half", "inverse", "keys", "pairs", "series", "shout"]);

    // get_flight_info: inputs named after the parameters, then the output named after the
    // function; total_records = number of inputs.
    let info = client.get_flight_info(FlightDescriptor::new_path(vec!["gcd".into()])).await.unwrap();
    assert_eq!(info.total_records, 2);
    assert_eq!(info.flight_descriptor.as_ref().unwrap().path, ["gcd"]);
    let schema = Schema::try_from(info).unwrap();
    let fields: Vec<(String, DataType)> =
        schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    assert_eq!(fields, [("x".into(), DataType::Int32), ("y".into(), DataType::Int32), ("gcd".into(), DataType::Int32)]);
    assert_eq!(schema.metadata().get("x-databend-udf-input-count").map(String::as_str), Some("2"));
    let series =
        Schema::try_from(client.get_flight_info(FlightDescriptor::new_path(vec!["pairs".into()])).await.unwrap())
            .unwrap();
    assert_eq!(series.field(1).name(), "row");
    assert_eq!(series.field(1).data_type(), &DataType::Int32);
    let DataType::Struct(columns) = series.field(2).data_type() else { panic!("pairs: {series:?}") };
    assert_eq!(
        columns.iter().map(|c| (c.name().as_str(), c.data_type().clone())).collect::<Vec<_>>(),
        [("", DataType::Int32), ("", DataType::Utf8)]
    );

    // A scalar call: the same row count, output named after the function.
    let result = call(
        &mut client,
        "gcd",
        vec![("a", ints(&[Some(48), Some(7), None])), ("b", ints(&[Some(18), Some(21), Some(5)]))],
    )
    .await
    .unwrap();
    assert_eq!(result.schema().field(0).name(), "gcd");
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![Some(6), Some(7), None]) as &dyn Array);

    // Several batches in one exchange: one result batch each.
    let batches = vec![
        batch(vec![("a", ints(&[Some(10)])), ("b", ints(&[Some(4)]))]),
        batch(vec![("a", ints(&[Some(9), Some(12)])), ("b", ints(&[Some(6), Some(8)]))]),
    ];
    let results = exchange(&mut client, "gcd", batches).await.unwrap();
    assert_eq!(results.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(results[1].column(0).as_ref(), &Int32Array::from(vec![3, 4]) as &dyn Array);

    // What a UDF prints reaches the server log, tagged with tenant and function.
    let text: ArrayRef = Arc::new(StringArray::from(vec!["hi"]));
    let result = call(&mut client, "shout", vec![("t", text)]).await.unwrap();
    assert_eq!(result.column(0).as_ref(), &StringArray::from(vec!["HI!"]) as &dyn Array);

    // Table functions: `row` + value, no rows for a NULL input, streamed in chunks of 1,024.
    let results =
        exchange(&mut client, "series", vec![batch(vec![("n", ints(&[Some(2), None, Some(3)]))])]).await.unwrap();
    let all = arrow::compute::concat_batches(&results[0].schema(), &results).unwrap();
    assert_eq!(all.column(0).as_ref(), &Int32Array::from(vec![0, 0, 2, 2, 2]) as &dyn Array);
    assert_eq!(all.column(1).as_ref(), &Int32Array::from(vec![0, 1, 0, 1, 2]) as &dyn Array);
    let results = exchange(&mut client, "series", vec![batch(vec![("n", ints(&[Some(2500)]))])]).await.unwrap();
    assert_eq!(results.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [1024, 1024, 452]);
    // One logical input split over several messages (RisingWave's encoder splits at 2 MiB):
    // `row` counts the exchange's rows, not each message's.
    let nullable = Arc::new(Schema::new(vec![arrow::datatypes::Field::new("n", DataType::Int32, true)]));
    let split = [ints(&[Some(1), Some(2)]), ints(&[None, Some(1)])]
        .map(|column| RecordBatch::try_new(nullable.clone(), vec![column]).unwrap())
        .to_vec();
    let results = exchange(&mut client, "series", split).await.unwrap();
    let all = arrow::compute::concat_batches(&results[0].schema(), &results).unwrap();
    assert_eq!(all.column(0).as_ref(), &Int32Array::from(vec![0, 1, 1, 3]) as &dyn Array);
    assert_eq!(all.column(1).as_ref(), &Int32Array::from(vec![0, 0, 1, 0]) as &dyn Array);
    // A batch's row count is the peer's claim: a zero-column batch costs a few bytes whatever
    // it claims, so claims beyond the bound are refused before any row is made.
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(1 << 30));
    let huge = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options).unwrap();
    let status = exchange(&mut client, "builtin_healthy", vec![huge]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("at most"), "{status:?}");
    let results = exchange(&mut client, "pairs", vec![batch(vec![("n", ints(&[Some(3)]))])]).await.unwrap();
    let value = results[0].column(1).as_any().downcast_ref::<StructArray>().unwrap();
    assert_eq!(value.column(1).as_ref(), &StringArray::from(vec!["", "x", "xx"]) as &dyn Array);

    // Decimals and JSON travel as strings with arrow-udf's extension names.
    let extension = |batch: &RecordBatch| batch.schema().field(0).metadata().get("ARROW:extension:name").cloned();
    let amounts: ArrayRef = Arc::new(StringArray::from(vec![Some("3.5"), None, Some("12345678901234567890.5")]));
    let result = call(&mut client, "half", vec![("d", amounts)]).await.unwrap();
    assert_eq!(extension(&result).as_deref(), Some("arrowudf.decimal"));
    let expected = StringArray::from(vec![Some("1.75"), None, Some("6172839450617283945.25")]);
    assert_eq!(result.column(0).as_ref(), &expected as &dyn Array);
    let docs: ArrayRef = Arc::new(StringArray::from(vec![r#"{"b": 1, "a": [true]}"#]));
    let result = call(&mut client, "keys", vec![("doc", docs)]).await.unwrap();
    assert_eq!(extension(&result).as_deref(), Some("arrowudf.json"));
    assert_eq!(result.column(0).as_ref(), &StringArray::from(vec![r#"["a", "b"]"#]) as &dyn Array);

    // A UDF's exception fails its exchange with a status naming function, exception and message.
    let status = call(&mut client, "inverse", vec![("x", ints(&[Some(5), Some(0)]))]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    for part in ["inverse", "ZeroDivisionError", "division by zero", "row 1", "File \"gcd.py\", line"] {
        assert!(status.message().contains(part), "{status:?} lacks {part}");
    }
    assert!(!status.message().contains("/tmp"), "the server's paths leak: {status:?}");
    // Unknown functions, wrong arguments.
    let status = call(&mut client, "nope", vec![("x", ints(&[Some(1)]))]).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = call(&mut client, "gcd", vec![("x", ints(&[Some(1)]))]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("takes 2 arguments"), "{status:?}");
    // The server goes on.
    let result = call(&mut client, "inverse", vec![("x", ints(&[Some(5)]))]).await.unwrap();
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![20]) as &dyn Array);

    let stderr = server.stderr();
    assert!(stderr.contains("[udf default/shout] shouting hi"), "{stderr}");
    assert_no_panic(&stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_error_null_fills_the_error_column() {
    // Also with calls of two rows, so that failing rows are found within each.
    for extra in [&[][..], &["--config", "python.fn-execution.arrow.batch.size=2"]] {
        let (_dir, server) = serve_gcd(&[&["--on-error", "null"], extra].concat());
        let mut client = server.client(None).await;
        let values = ints(&[Some(5), Some(0), Some(50), Some(0), None, Some(1)]);
        let result = call(&mut client, "inverse", vec![("x", values)]).await.unwrap();
        assert_eq!(result.num_columns(), 2);
        assert_eq!(result.schema().field(1).name(), "error");
        let expected = Int32Array::from(vec![Some(20), None, Some(2), None, None, Some(100)]);
        assert_eq!(result.column(0).as_ref(), &expected as &dyn Array, "{extra:?}");
        let errors = result.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let zero = Some("ZeroDivisionError: division by zero");
        let none = Some("TypeError: unsupported operand type(s) for //: 'int' and 'NoneType'");
        assert_eq!(errors.iter().collect::<Vec<_>>(), [None, zero, None, zero, none, None], "{extra:?}");
    }
    // Databend has no error column: failing rows are NULL.
    let (_dir, server) = serve_gcd(&["--on-error", "null", "--dialect", "databend"]);
    let mut client = server.client(None).await;
    let result = call(&mut client, "inverse", vec![("x", ints(&[Some(5), Some(0)]))]).await.unwrap();
    assert_eq!(result.num_columns(), 1);
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![Some(20), None]) as &dyn Array);
}

#[tokio::test(flavor = "multi_thread")]
async fn databend_dialect() {
    let (_dir, server) = serve_gcd(&["--dialect", "databend"]);
    let mut client = server.client(None).await;

    // Strings are LargeUtf8; the output is the last field; the input count is metadata.
    let schema =
        Schema::try_from(client.get_flight_info(FlightDescriptor::new_path(vec!["shout".into()])).await.unwrap())
            .unwrap();
    assert_eq!(schema.fields().len(), 2);
    assert_eq!((schema.field(0).name().as_str(), schema.field(0).data_type()), ("text", &DataType::LargeUtf8));
    assert_eq!((schema.field(1).name().as_str(), schema.field(1).data_type()), ("output", &DataType::LargeUtf8));
    assert!(schema.field(1).is_nullable());
    assert_eq!(schema.metadata().get("x-databend-udf-input-count").map(String::as_str), Some("1"));

    // Databend's health checks.
    let result = call(&mut client, "builtin_healthy", vec![]).await.unwrap();
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![1]) as &dyn Array);
    let echo: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("ping"), None]));
    let result = call(&mut client, "builtin_echo", vec![("arg1", echo.clone())]).await.unwrap();
    assert_eq!(result.column(0).as_ref(), echo.as_ref());

    // It sends LargeUtf8; 65,536-row batches; several exchanges at once.
    let rows = 65_536;
    let text: ArrayRef = Arc::new(LargeStringArray::from_iter_values((0..rows).map(|i| format!("w{i}"))));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut client = server.client(None).await;
        let text = text.clone();
        tasks.push(tokio::spawn(async move { call(&mut client, "shout", vec![("arg1", text)]).await }));
    }
    for task in tasks {
        let result = task.await.unwrap().unwrap();
        assert_eq!(result.schema().field(0).data_type(), &DataType::LargeUtf8);
        let values = result.column(0).as_any().downcast_ref::<LargeStringArray>().unwrap();
        assert_eq!(values.len(), rows);
        assert_eq!(values.value(12345), "W12345!");
    }

    // VARIANT: JSON text in LargeBinary, marked `Extension: Variant`.
    let schema =
        Schema::try_from(client.get_flight_info(FlightDescriptor::new_path(vec!["keys".into()])).await.unwrap())
            .unwrap();
    for field in schema.fields() {
        assert_eq!(field.data_type(), &DataType::LargeBinary);
        assert_eq!(field.metadata().get("Extension").map(String::as_str), Some("Variant"));
    }
    let docs: ArrayRef =
        Arc::new(arrow::array::LargeBinaryArray::from(vec![Some(br#"{"z": 0, "y": null}"#.as_ref()), None]));
    let result = call(&mut client, "keys", vec![("arg1", docs)]).await.unwrap();
    let expected = arrow::array::LargeBinaryArray::from(vec![Some(br#"["y", "z"]"#.as_ref()), None]);
    assert_eq!(result.column(0).as_ref(), &expected as &dyn Array);

    // Table functions answer their declared columns, no `row` column.
    let results = exchange(&mut client, "pairs", vec![batch(vec![("arg1", ints(&[Some(2), Some(1)]))])]).await.unwrap();
    let all = arrow::compute::concat_batches(&results[0].schema(), &results).unwrap();
    assert_eq!(all.num_columns(), 2);
    assert_eq!(all.column(0).as_ref(), &Int32Array::from(vec![0, 1, 0]) as &dyn Array);
    assert_eq!(all.column(1).as_ref(), &LargeStringArray::from(vec!["", "x", ""]) as &dyn Array);
}

fn hex(hash: [u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tenant folder: `tenant.toml` with the token's hash, `EXTRA` toml lines, and `f.py`.
fn tenant(root: &Path, id: &str, token: &str, extra: &str, source: &str) {
    let toml = format!("token_sha256 = \"{}\"\n{extra}\n", hex(udfbox::serve::tenants::token_hash(token)));
    write(&root.join(id), "tenant.toml", &toml);
    write(&root.join(id), "f.py", source);
}

fn scaled(factor: i32) -> String {
    format!(
        "from udfbox import udf\n@udf(input_types=['INT'], result_type='INT')\ndef f(x):\n    return x * {factor}\n"
    )
}

async fn calls_f(client: &mut FlightClient, factor: i32) -> Result<(), String> {
    let input: Vec<Option<i32>> = (0..100).map(Some).collect();
    let result = call(client, "f", vec![("x", ints(&input))]).await.map_err(|s| s.to_string())?;
    let expected: Vec<Option<i32>> = (0..100).map(|i| Some(i * factor)).collect();
    if result.column(0).as_ref() != &Int32Array::from(expected) as &dyn Array {
        return Err(format!("wrong result: {result:?}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_tokens_isolation_and_hot_reload() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tenants");
    tenant(&root, "alpha", "alpha-token", "", &scaled(2));
    tenant(
        &root,
        "beta",
        "beta-token",
        "",
        &format!("{}\n@udf(input_types=['INT'], result_type='INT')\ndef only_beta(x):\n    return x\n", scaled(3)),
    );
    write(dir.path(), "admin", "admin-secret\n");
    let admin_file = dir.path().join("admin");
    let server =
        Serve::start(&["--tenants", root.to_str().unwrap(), "--admin-token-file", admin_file.to_str().unwrap()]);

    // No token, a wrong token, a malformed header: Unauthenticated, and nothing listed.
    for token in [None, Some("nope")] {
        let mut client = server.client(token).await;
        assert_eq!(list(&mut client).await.unwrap_err().code(), Code::Unauthenticated);
        assert_eq!(
            call(&mut client, "f", vec![("x", ints(&[Some(1)]))]).await.unwrap_err().code(),
            Code::Unauthenticated
        );
    }
    // Each token sees its own tenant only.
    let mut alpha = server.client(Some("alpha-token")).await;
    let mut beta = server.client(Some("beta-token")).await;
    assert!(!names(&list(&mut alpha).await.unwrap()).contains(&"only_beta".to_string()));
    assert!(names(&list(&mut beta).await.unwrap()).contains(&"only_beta".to_string()));
    assert_eq!(call(&mut alpha, "only_beta", vec![("x", ints(&[Some(1)]))]).await.unwrap_err().code(), Code::NotFound);
    calls_f(&mut alpha, 2).await.unwrap();
    calls_f(&mut beta, 3).await.unwrap();
    // The admin token is for admin actions; tenants cannot reload.
    let mut admin = server.client(Some("admin-secret")).await;
    assert_eq!(list(&mut admin).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(code_of(alpha.do_action(Action::new("reload", "")).await.err().unwrap()), Code::PermissionDenied);

    // Alpha calls all along while tenants come and go.
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = running.clone();
    let mut alpha_loop = server.client(Some("alpha-token")).await;
    let background = tokio::spawn(async move {
        let mut calls = 0;
        while flag.load(std::sync::atomic::Ordering::Relaxed) || calls == 0 {
            calls_f(&mut alpha_loop, 2).await?;
            calls += 1;
        }
        Ok::<_, String>(calls)
    });

    // Added with SIGHUP: it takes effect once the reload ran (polled, up to a minute).
    tenant(&root, "gamma", "gamma-token", "", &scaled(5));
    server.signal(libc::SIGHUP);
    let mut gamma = server.client(Some("gamma-token")).await;
    eventually("gamma's reload after SIGHUP", &server, || async {
        let mut gamma = server.client(Some("gamma-token")).await;
        match list(&mut gamma).await {
            Ok(_) => Some(()),
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated);
                None
            }
        }
    })
    .await;
    calls_f(&mut gamma, 5).await.unwrap();

    // Updated and removed with the admin action, which answers what changed.
    std::fs::remove_dir_all(root.join("gamma")).unwrap();
    write(&root.join("beta"), "f.py", &scaled(7));
    let report: Vec<_> = admin.do_action(Action::new("reload", "")).await.unwrap().try_collect().await.unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report[0]).unwrap();
    assert_eq!(report["removed"], serde_json::json!(["gamma"]));
    assert_eq!(report["updated"], serde_json::json!(["beta"]));
    assert_eq!(report["unchanged"], serde_json::json!(["alpha"]));
    assert_eq!(list(&mut gamma).await.unwrap_err().code(), Code::Unauthenticated);
    calls_f(&mut beta, 7).await.unwrap();
    assert!(!names(&list(&mut beta).await.unwrap()).contains(&"only_beta".to_string()));

    // A token names one tenant: a new one claiming alpha's is refused.
    tenant(&root, "copycat", "alpha-token", "", &scaled(9));
    let report: Vec<_> = admin.do_action(Action::new("reload", "")).await.unwrap().try_collect().await.unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report[0]).unwrap();
    assert_eq!(report["failed"]["copycat"], "tenant 'alpha' has the same token", "{report}");
    calls_f(&mut alpha, 2).await.unwrap();
    std::fs::remove_dir_all(root.join("copycat")).unwrap();

    // A tenant that fails to load keeps its previous version and is reported.
    write(&root.join("beta"), "f.py", "def broken(:\n");
    let report: Vec<_> = admin.do_action(Action::new("reload", "")).await.unwrap().try_collect().await.unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report[0]).unwrap();
    assert!(report["failed"]["beta"].as_str().unwrap().contains("SyntaxError"), "{report}");
    calls_f(&mut beta, 7).await.unwrap();

    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let calls = background.await.unwrap().unwrap();
    assert!(calls > 0);
    assert_no_panic(&server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_tenant_never_disturbs_another() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tenants");
    tenant(&root, "good", "good-token", "", &scaled(2));
    let hostile = "from udfbox import udf\n\
        @udf(input_types=['INT'], result_type='INT')\ndef spin(x):\n    while True:\n        x += 1\n\
        @udf(input_types=['INT'], result_type='INT')\ndef hog(x):\n    blocks = []\n    while True:\n        blocks.append(bytearray(1 << 20))\n";
    tenant(&root, "evil", "evil-token", "[limits]\ntimeout = \"1s\"\nmemory = \"96MiB\"\n", hostile);
    let server = Serve::start(&["--tenants", root.to_str().unwrap()]);

    let mut tasks = Vec::new();
    for _ in 0..3 {
        let mut good = server.client(Some("good-token")).await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                calls_f(&mut good, 2).await?;
            }
            Ok::<_, String>(())
        }));
    }
    let mut evil = server.client(Some("evil-token")).await;
    for (function, code, message) in
        [("spin", Code::DeadlineExceeded, "timed out"), ("hog", Code::ResourceExhausted, "memory limit")]
    {
        let status = call(&mut evil, function, vec![("x", ints(&[Some(1)]))]).await.unwrap_err();
        assert_eq!(status.code(), code, "{function}: {status:?}");
        assert!(status.message().contains(message), "{function}: {status:?}");
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_no_panic(&server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_beyond_the_size_limit_are_refused() {
    let (_dir, server) = serve_gcd(&["--max-message-size", "64KiB"]);
    let mut client = server.client(None).await;
    let big: ArrayRef = Arc::new(StringArray::from_iter_values((0..20_000).map(|i| format!("value {i}"))));
    let status = call(&mut client, "shout", vec![("t", big)]).await.unwrap_err();
    assert!(matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted), "{status:?}");
    let small: ArrayRef = Arc::new(StringArray::from(vec!["ok"]));
    let result = call(&mut client, "shout", vec![("t", small)]).await.unwrap();
    assert_eq!(result.column(0).as_ref(), &StringArray::from(vec!["OK!"]) as &dyn Array);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_statuses() {
    let (_dir, server) = serve_gcd(&[]);
    let mut client = server.client(None).await;
    let send = |messages: Vec<FlightData>| {
        let server = &server;
        async move {
            let mut client = server.client(None).await;
            let result = async {
                client
                    .do_exchange(futures::stream::iter(messages.into_iter().map(Ok)))
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            }
            .await;
            result.map(drop).map_err(code_of)
        }
    };
    let named = |mut data: FlightData| {
        data.flight_descriptor = Some(FlightDescriptor::new_path(vec!["gcd".into()]));
        data
    };
    // Not Arrow IPC at all.
    let garbage = named(FlightData::new().with_data_header(b"not a flatbuffer".to_vec()).with_data_body(vec![0u8; 64]));
    assert_eq!(send(vec![garbage]).await, Err(Code::InvalidArgument));
    // A schema, then a record batch whose body is cut short.
    let input = batch(vec![("a", ints(&[Some(1), Some(2)])), ("b", ints(&[Some(3), Some(4)]))]);
    let mut messages: Vec<FlightData> =
        FlightDataEncoderBuilder::new().build(futures::stream::iter([Ok(input)])).try_collect().await.unwrap();
    messages[0] = named(messages[0].clone());
    messages[1].data_body = messages[1].data_body.slice(..messages[1].data_body.len() / 2);
    assert_eq!(send(messages).await, Err(Code::InvalidArgument), "{}", server.stderr());
    // pyarrow's clients name the function in a first message of its own, without data.
    let mut messages: Vec<FlightData> = FlightDataEncoderBuilder::new()
        .build(futures::stream::iter([Ok(batch(vec![("a", ints(&[Some(8)])), ("b", ints(&[Some(12)]))]))]))
        .try_collect()
        .await
        .unwrap();
    messages.insert(0, named(FlightData::new()));
    assert_eq!(send(messages).await, Ok(()));
    // No descriptor, no messages.
    let unnamed: Vec<FlightData> = FlightDataEncoderBuilder::new()
        .build(futures::stream::iter([Ok(batch(vec![("a", ints(&[Some(1)]))]))]))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(send(unnamed).await, Err(Code::InvalidArgument));
    assert_eq!(send(vec![]).await, Err(Code::InvalidArgument));
    // The server goes on.
    let result = call(&mut client, "gcd", vec![("a", ints(&[Some(9)])), ("b", ints(&[Some(6)]))]).await.unwrap();
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![3]) as &dyn Array);
    assert_no_panic(&server.stderr());
}

/// A server with `wait_for_release` and `quick`, deps in `dir/deps`.
fn waiting_server(dir: &Path, extra: &[&str]) -> Serve {
    let udf = write(dir, "wait.py", WAIT);
    std::fs::create_dir_all(dir.join("deps")).unwrap();
    let deps = dir.join("deps");
    let mut args = vec!["--udf", udf.to_str().unwrap(), "--deps", deps.to_str().unwrap(), "--timeout", "10m"];
    args.extend_from_slice(extra);
    Serve::start(&args)
}

/// Starts a server's first `wait_for_release` call and returns once the server has it (its
/// calls counter).
async fn start_waiting_call(server: &Serve) -> tokio::task::JoinHandle<Result<RecordBatch, tonic::Status>> {
    let mut client = server.client(None).await;
    let task = tokio::spawn(async move { call(&mut client, "wait_for_release", vec![("x", ints(&[Some(41)]))]).await });
    let counted = "udfbox_serve_calls_total{tenant=\"default\",function=\"wait_for_release\"} 1";
    eventually("the call's arrival", server, || async {
        server.http_get("/metrics").1.lines().any(|l| l == counted).then_some(())
    })
    .await;
    task
}

/// Polls `attempt` until it gives a value, every 100 ms for up to a minute: a bound for a
/// broken server, not an expectation about its speed.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    server: &Serve,
    mut attempt: impl FnMut() -> F,
) -> T {
    for _ in 0..600 {
        if let Some(value) = attempt().await {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} never happened; stderr:\n{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_beyond_the_bounds_get_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let server = waiting_server(
        dir.path(),
        &["--max-instances", "1", "--queue-timeout", "50ms", "--max-in-flight", "2", "--metrics-listen", "127.0.0.1:0"],
    );
    let waiting = start_waiting_call(&server).await;
    // The only sandbox is busy: another call waits the queue timeout, then is refused. (Until
    // the first call holds the sandbox, the other may still get it: then it simply succeeds.)
    let quick = || async {
        let mut client = server.client(None).await;
        call(&mut client, "quick", vec![("x", ints(&[Some(1)]))]).await.err()
    };
    let status = eventually("a refusal", &server, quick).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("queue timeout"), "{status:?}");

    // An exchange whose client sends its schema and then nothing is in flight too: with two in
    // flight, a third call is refused at once.
    let mut idle = server.client(None).await;
    let schema = Schema::new(vec![arrow::datatypes::Field::new("x", DataType::Int32, true)]);
    let mut first: FlightData = SchemaAsIpc::new(&schema, &IpcWriteOptions::default()).into();
    first.flight_descriptor = Some(FlightDescriptor::new_path(vec!["quick".into()]));
    let silent = futures::stream::once(async move { Ok(first) }).chain(futures::stream::pending());
    let _idle = tokio::spawn(async move { idle.do_exchange(silent).await.map(drop) });
    let two = || async { server.http_get("/metrics").1.lines().any(|l| l == "udfbox_serve_in_flight 2").then_some(()) };
    eventually("the silent exchange's arrival", &server, two).await;
    let status = quick().await.expect("a third call was not refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("--max-in-flight"), "{status:?}");

    write(&dir.path().join("deps"), "release", "");
    let result = waiting.await.unwrap().unwrap();
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![42]) as &dyn Array);
    assert_no_panic(&server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_endpoints() {
    let (_dir, server) = serve_gcd(&["--metrics-listen", "127.0.0.1:0", "--fuel", "100000000000"]);
    let mut client = server.client(None).await;
    call(&mut client, "gcd", vec![("a", ints(&[Some(4), Some(6)])), ("b", ints(&[Some(2), Some(3)]))]).await.unwrap();
    call(&mut client, "gcd", vec![("a", ints(&[Some(4)])), ("b", ints(&[Some(2)]))]).await.unwrap();
    call(&mut client, "inverse", vec![("x", ints(&[Some(0)]))]).await.unwrap_err();
    let mut stranger = server.client(Some("who")).await;
    list(&mut stranger).await.unwrap_err();

    let (status, body) = server.http_get("/metrics");
    assert!(status.contains("200"), "{status}");
    for line in [
        "udfbox_serve_calls_total{tenant=\"default\",function=\"gcd\"} 2",
        "udfbox_serve_rows_total{tenant=\"default\",function=\"gcd\"} 3",
        "udfbox_serve_errors_total{tenant=\"default\",function=\"inverse\",kind=\"exception\"} 1",
        "udfbox_serve_call_duration_seconds_count{tenant=\"default\",function=\"gcd\"} 2",
        "udfbox_serve_tenants 1",
        "udfbox_serve_unauthenticated_total 1",
    ] {
        assert!(body.lines().any(|l| l == line), "no '{line}' in:\n{body}");
    }
    assert!(body.contains("udfbox_serve_call_duration_seconds_bucket{"), "{body}");
    let fuel =
        body.lines().find_map(|l| l.strip_prefix("udfbox_serve_fuel_used_total{tenant=\"default\",function=\"gcd\"} "));
    assert!(fuel.is_some_and(|units| units.parse::<u64>().unwrap() > 0), "{body}");
    let (status, body) = server.http_get("/health");
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_finishes_calls_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = waiting_server(dir.path(), &["--metrics-listen", "127.0.0.1:0"]);
    let waiting = start_waiting_call(&server).await;
    server.signal(libc::SIGTERM);
    // Draining: the load balancer's health check fails, new connections are refused.
    eventually("draining", &server, || async { server.http_get("/health").0.contains("503").then_some(()) }).await;
    let refused = || async { std::net::TcpStream::connect(server.addr).is_err().then_some(()) };
    eventually("refusing connections", &server, refused).await;
    write(&dir.path().join("deps"), "release", "");
    let result = waiting.await.unwrap().unwrap();
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![42]) as &dyn Array);
    assert_eq!(server.wait(), Some(0), "stderr:\n{}", server.stderr());
    assert_no_panic(&server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn deadlines_end_calls_and_shutdowns_that_take_too_long() {
    let dir = tempfile::tempdir().unwrap();
    let server = waiting_server(dir.path(), &["--call-timeout", "200ms"]);
    let mut client = server.client(None).await;
    let status = call(&mut client, "wait_for_release", vec![("x", ints(&[Some(1)]))]).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("call timeout"), "{status:?}");

    // At shutdown, a call still running after the grace period is cut and the server exits
    // (its sandbox still busy: the process does not wait for it).
    let dir = tempfile::tempdir().unwrap();
    let mut server = waiting_server(dir.path(), &["--grace-period", "200ms", "--metrics-listen", "127.0.0.1:0"]);
    let stuck = start_waiting_call(&server).await;
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(), Some(0), "stderr:\n{}", server.stderr());
    assert!(stuck.await.unwrap().is_err());
    assert!(server.stderr().contains("grace period over: ending 1 call(s) still in flight"), "{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn localhost_is_both_loopback_families() {
    let (_dir, server) = serve_gcd(&["--listen", "localhost:0"]);
    assert!(server.addr.ip().is_loopback() && server.addr.is_ipv4(), "{}", server.addr);
    let v6 = SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), server.addr.port());
    for addr in [server.addr, v6] {
        let mut client = server.client_at(addr, None).await;
        let result = call(&mut client, "gcd", vec![("a", ints(&[Some(9)])), ("b", ints(&[Some(6)]))]).await.unwrap();
        assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![3]) as &dyn Array, "{addr}");
    }
}

/// Every mode serves the same, with and without `--snapshot` (loads run `open()` at once).
#[tokio::test(flavor = "multi_thread")]
async fn every_mode_serves_the_same_with_and_without_a_snapshot() {
    let runs: [&[&str]; 5] = [
        &["--mode", "native"],
        &["--mode", "process"],
        &["--mode", "wasm", "--snapshot"],
        &["--mode", "native", "--snapshot"],
        &["--mode", "process", "--snapshot"],
    ];
    for args in runs {
        let (_dir, server) = serve_gcd(args);
        let mode = args.join(" ");
        let mut client = server.client(None).await;
        let result = call(&mut client, "gcd", vec![("a", ints(&[Some(9), None])), ("b", ints(&[Some(6), Some(1)]))])
            .await
            .unwrap();
        assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![Some(3), None]) as &dyn Array, "{mode}");
        let status = call(&mut client, "inverse", vec![("x", ints(&[Some(0)]))]).await.unwrap_err();
        assert!(status.message().contains("ZeroDivisionError"), "{mode}: {status:?}");
    }
}

#[test]
fn bad_setups_are_refused_with_clear_errors() {
    let (code, _, stderr) = crate::harness::udfbox(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("nothing to serve"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tenants");
    for (toml, error) in [
        ("on_error = 'null'", "token_sha256 is required"),
        ("token_sha256 = 'abc'", "token_sha256 must be 64 hex digits"),
        ("token_sha256 = '00'\nsurprise = 1", "unknown field `surprise`"),
    ] {
        write(&root.join("acme"), "tenant.toml", toml);
        let (code, _, stderr) =
            crate::harness::udfbox(&["serve", "--listen", "127.0.0.1:0", "--tenants", root.to_str().unwrap()]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("tenant 'acme'") && stderr.contains(error), "{toml}: {stderr}");
        assert_no_panic(&stderr);
    }
}

/// What `scripts/serve` serves: the bundled arrow-udf and PyFlink files to anyone, the
/// databend-udf file as the example tenant (token `databend-example`).
#[tokio::test(flavor = "multi_thread")]
async fn the_bundled_examples_as_scripts_serve_serves_them() {
    let script = std::fs::read_to_string(repo_root().join("scripts/serve")).unwrap();
    let args = "--udf udfs/arrow_udf_example.py --udf udfs/add.py --tenants udfs/tenants";
    assert!(script.contains(args), "scripts/serve no longer serves: {args}");
    let server = Serve::start(&args.split(' ').collect::<Vec<_>>());

    // RisingWave: no token.
    let mut open = server.client(None).await;
    let listed = names(&list(&mut open).await.unwrap());
    for name in ["gcd", "decimal_add", "json_get", "series", "extract_tcp_info", "array_len_batch", "add_lambda"] {
        assert!(listed.contains(&name.to_string()), "{name} not in {listed:?}");
    }
    let info = open.get_flight_info(FlightDescriptor::new_path(vec!["gcd".into()])).await.unwrap();
    assert_eq!(info.total_records, 2);
    // Databend's CREATE FUNCTION gcd (INT, INT) RETURNS INT compares these types: nullable Int32.
    let schema = Schema::try_from(info).unwrap();
    assert!(schema.fields().iter().all(|f| f.data_type() == &DataType::Int32 && f.is_nullable()), "{schema:?}");
    let result = call(&mut open, "gcd", vec![("x", ints(&[Some(48), Some(7)])), ("y", ints(&[Some(18), Some(21)]))])
        .await
        .unwrap();
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![6, 7]) as &dyn Array);
    let d: ArrayRef = Arc::new(StringArray::from(vec!["1.10"]));
    let result = call(&mut open, "decimal_add", vec![("a", d.clone()), ("b", d)]).await.unwrap();
    assert_eq!(result.schema().field(0).metadata()["ARROW:extension:name"], "arrowudf.decimal");
    assert_eq!(result.column(0).as_ref(), &StringArray::from(vec!["2.20"]) as &dyn Array);
    let results = exchange(&mut open, "series", vec![batch(vec![("n", ints(&[Some(2), None]))])]).await.unwrap();
    let all = arrow::compute::concat_batches(&results[0].schema(), &results).unwrap();
    assert_eq!(all.column(0).as_ref(), &Int32Array::from(vec![0, 0]) as &dyn Array);
    assert_eq!(all.column(1).as_ref(), &Int32Array::from(vec![0, 1]) as &dyn Array);
    assert!(!listed.contains(&"json_access".to_string()));

    // Databend, with the example tenant's token: its own gcd (skip_null) and VARIANT.
    let mut databend = server.client(Some("databend-example")).await;
    let listed = names(&list(&mut databend).await.unwrap());
    for name in ["gcd", "json_access", "squares"] {
        assert!(listed.contains(&name.to_string()), "{name} not in {listed:?}");
    }
    let result = call(&mut databend, "gcd", vec![("x", ints(&[Some(12), None])), ("y", ints(&[Some(8), Some(1)]))])
        .await
        .unwrap();
    assert_eq!(result.column(0).as_ref(), &Int32Array::from(vec![Some(4), None]) as &dyn Array);
    let data: ArrayRef = Arc::new(arrow::array::LargeBinaryArray::from(vec![br#"{"a": {"b": 1}}"#.as_ref()]));
    let field: ArrayRef = Arc::new(LargeStringArray::from(vec!["a"]));
    let result = call(&mut databend, "json_access", vec![("arg1", data), ("arg2", field)]).await.unwrap();
    let expected = arrow::array::LargeBinaryArray::from(vec![br#"{"b": 1}"#.as_ref()]);
    assert_eq!(result.column(0).as_ref(), &expected as &dyn Array);
    assert_no_panic(&server.stderr());
}
