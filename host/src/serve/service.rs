//! The Flight service: `list_flights`, `get_flight_info` / `get_schema`, `do_exchange` and the
//! actions (`protocol_version`, `reload`). The caller comes from the auth interceptor; every
//! lookup happens within the caller's tenant, so no answer names another tenant's function.

use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse,
    PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt, TryStreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::Caller;
use super::exchange::Exchange;
use super::metrics::Metrics;
use super::tenants::{Served, Target, Tenant};
use super::State;
use crate::error::{Error, UdfErrorKind};

/// RisingWave's arrow-udf protocol version.
const PROTOCOL_VERSION: u8 = 2;
/// A status message is a header: long tracebacks are cut to this.
const MAX_STATUS_MESSAGE: usize = 4096;
/// Result batches an exchange may have encoded ahead of the client.
const RESULT_BUFFER: usize = 2;

pub struct FlightServer {
    pub(super) state: Arc<State>,
}

type Stream<T> = BoxStream<'static, Result<T, Status>>;

impl FlightServer {
    fn tenant<T>(&self, request: &Request<T>) -> Result<Arc<Tenant>, Status> {
        match request.extensions().get::<Caller>() {
            Some(Caller::Tenant(tenant)) => Ok(tenant.clone()),
            Some(Caller::Admin) => Err(Status::permission_denied("the admin token serves admin actions only")),
            None => Err(Status::internal("request without a caller")),
        }
    }
}

fn flight_info(served: &Served) -> Result<FlightInfo, Status> {
    let signature = &served.signature;
    let info = FlightInfo::new()
        .try_with_schema(&signature.flight_schema())
        .map_err(|e| Status::internal(format!("cannot encode the schema of '{}': {e}", signature.name)))?
        .with_descriptor(FlightDescriptor::new_path(vec![signature.name.clone()]))
        .with_total_records(signature.total_records())
        .with_total_bytes(0);
    Ok(info)
}

/// The function a descriptor names, within `tenant`.
fn lookup(tenant: &Tenant, descriptor: Option<&FlightDescriptor>) -> Result<Arc<Served>, Status> {
    let name = descriptor
        .and_then(|d| d.path.first())
        .ok_or_else(|| Status::invalid_argument("the flight descriptor must be a path naming a function"))?;
    tenant.function(name).cloned().ok_or_else(|| Status::not_found(format!("no function '{}'", clip(name, 128))))
}

/// A message whose buffers lie within its body. arrow-ipc slices the body with the offsets the
/// header claims and panics on one beyond it, so a peer's message is checked first.
fn checked(data: FlightData) -> Result<FlightData, FlightError> {
    if data.data_header.is_empty() {
        return Ok(data);
    }
    let malformed = |what: String| {
        FlightError::Tonic(Box::new(Status::invalid_argument(format!("malformed Arrow Flight data: {what}"))))
    };
    let message = arrow::ipc::root_as_message(&data.data_header).map_err(|e| malformed(e.to_string()))?;
    let batch =
        message.header_as_record_batch().or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
    let body = data.data_body.len() as u64;
    for buffer in batch.and_then(|b| b.buffers()).into_iter().flatten() {
        let (offset, length) = (u64::try_from(buffer.offset()), u64::try_from(buffer.length()));
        match (offset, length) {
            (Ok(offset), Ok(length)) if offset.checked_add(length).is_some_and(|end| end <= body) => {}
            _ => {
                return Err(malformed(format!(
                    "a buffer at {} of {} bytes lies outside the {body}-byte body",
                    buffer.offset(),
                    buffer.length()
                )))
            }
        }
    }
    Ok(data)
}

/// `text`, cut to at most `max` bytes on a character boundary.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The metric kind of a failed call.
pub fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::Udf(e) => match e.kind {
            UdfErrorKind::Exception => "exception",
            UdfErrorKind::BadResult => "bad_result",
            UdfErrorKind::Syntax | UdfErrorKind::Load | UdfErrorKind::BadRequest => "bad_request",
        },
        Error::Timeout { .. } => "timeout",
        Error::MemoryLimit { .. } => "memory",
        Error::FuelExhausted { .. } => "fuel",
        Error::StackOverflow { .. } => "stack",
        Error::Sandbox { .. } => "sandbox",
        Error::WorkerExited { .. } => "worker",
        Error::Invalid(_) | Error::Arrow(_) => "invalid_argument",
        Error::Io { .. } | Error::Native(_) => "internal",
    }
}

/// The status a failed call ends its exchange with. A UDF's exception is `Unknown` (what
/// Python Flight servers answer for an exception, which both engines' clients report with its
/// message); its message names the function, the exception and the row.
pub fn status_of(error: &Error) -> Status {
    let message = clip(&error.to_string(), MAX_STATUS_MESSAGE);
    match error {
        Error::Udf(e) => match e.kind {
            UdfErrorKind::Exception | UdfErrorKind::BadResult => Status::unknown(message),
            _ => Status::invalid_argument(message),
        },
        Error::Timeout { .. } => Status::deadline_exceeded(message),
        Error::MemoryLimit { .. } | Error::FuelExhausted { .. } | Error::StackOverflow { .. } => {
            Status::resource_exhausted(message)
        }
        Error::Sandbox { .. } | Error::WorkerExited { .. } | Error::Io { .. } | Error::Native(_) => {
            Status::internal(message)
        }
        Error::Invalid(_) | Error::Arrow(_) => Status::invalid_argument(message),
    }
}

#[tonic::async_trait]
impl FlightService for FlightServer {
    type HandshakeStream = Stream<HandshakeResponse>;
    type ListFlightsStream = Stream<FlightInfo>;
    type DoGetStream = Stream<FlightData>;
    type DoPutStream = Stream<PutResult>;
    type DoExchangeStream = Stream<FlightData>;
    type DoActionStream = Stream<arrow_flight::Result>;
    type ListActionsStream = Stream<ActionType>;

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented("no handshake: send 'authorization: Bearer TOKEN' with every call"))
    }

    async fn list_flights(&self, request: Request<Criteria>) -> Result<Response<Self::ListFlightsStream>, Status> {
        let tenant = self.tenant(&request)?;
        // Databend's health functions answer in every tenant but are not the tenant's functions:
        // a listing (RisingWave's) shows the UDFs only.
        let udfs = tenant.functions.values().filter(|served| matches!(served.target, Target::Udf { .. }));
        let infos = udfs.map(|served| flight_info(served)).collect::<Vec<_>>();
        Ok(Response::new(stream::iter(infos).boxed()))
    }

    async fn get_flight_info(&self, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        let tenant = self.tenant(&request)?;
        let served = lookup(&tenant, Some(request.get_ref()))?;
        Ok(Response::new(flight_info(&served)?))
    }

    async fn poll_flight_info(&self, _request: Request<FlightDescriptor>) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("poll_flight_info: use get_flight_info"))
    }

    async fn get_schema(&self, request: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        let tenant = self.tenant(&request)?;
        let served = lookup(&tenant, Some(request.get_ref()))?;
        let options = arrow::ipc::writer::IpcWriteOptions::default();
        let schema = served.signature.flight_schema();
        let result = SchemaAsIpc::new(&schema, &options)
            .try_into()
            .map_err(|e: arrow::error::ArrowError| Status::internal(e.to_string()))?;
        Ok(Response::new(result))
    }

    async fn do_get(&self, _request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        Err(Status::unimplemented("do_get: functions are called with do_exchange"))
    }

    async fn do_put(&self, _request: Request<Streaming<FlightData>>) -> Result<Response<Self::DoPutStream>, Status> {
        Err(Status::unimplemented("do_put: functions are called with do_exchange"))
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        let tenant = self.tenant(&request)?;
        let state = self.state.clone();
        let in_flight = state.in_flight.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "the server has {} calls in flight (--max-in-flight); try again later",
                state.limits.max_in_flight
            ))
        })?;
        let mut input = request.into_inner();
        // The first message names the function (and carries the schema).
        let first = tokio::time::timeout(state.limits.call_timeout, input.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no data within the call timeout"))??
            .ok_or_else(|| Status::invalid_argument("empty exchange: the first message must name a function"))?;
        let served = lookup(&tenant, first.flight_descriptor.as_ref())?;
        let labels = Metrics::of(&tenant, &served);
        let schema = served.signature.output_schema(served.error_column());
        let messages = stream::once(async move { Ok(first) })
            .chain(input.map_err(FlightError::from))
            .try_filter(|m| std::future::ready(!m.data_header.is_empty()));
        let batches =
            FlightRecordBatchStream::new_from_flight_data(messages.and_then(|data| async move { checked(data) }));

        let (results, receiver) = tokio::sync::mpsc::channel(RESULT_BUFFER);
        let exchange = Exchange { state: state.clone(), tenant, served, labels };
        let panic_results = results.clone();
        state.metrics.in_flight.inc();
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            // A bug must end this exchange with an error, never with a clean (truncated) stream.
            let outcome = std::panic::AssertUnwindSafe(exchange.run(batches, results, in_flight)).catch_unwind().await;
            if outcome.is_err() {
                let status = Status::internal("internal error (please report): the exchange panicked");
                let _ = panic_results.send(Err(FlightError::Tonic(Box::new(status)))).await;
            }
            metrics.in_flight.dec();
        });

        let results =
            stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|r| (r, receiver)) });
        let encoded = FlightDataEncoderBuilder::new()
            .with_max_flight_data_size(state.limits.max_flight_data_size())
            .with_schema(schema)
            .build(results)
            .map_err(Status::from);
        Ok(Response::new(encoded.boxed()))
    }

    async fn do_action(&self, request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        let caller = request.extensions().get::<Caller>().cloned();
        let action = request.into_inner();
        let body: Vec<u8> = match (action.r#type.as_str(), caller) {
            ("protocol_version", _) => vec![PROTOCOL_VERSION],
            ("reload", Some(Caller::Admin)) => {
                let report = super::reload(&self.state).await.map_err(|e| Status::internal(e.to_string()))?;
                serde_json::to_vec(&report).map_err(|e| Status::internal(e.to_string()))?
            }
            ("reload", _) => {
                return Err(Status::permission_denied("reload is an admin action: use the token of --admin-token-file"))
            }
            (other, _) => return Err(Status::unimplemented(format!("unknown action '{}'", clip(other, 64)))),
        };
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(stream::once(async move { Ok(result) }).boxed()))
    }

    async fn list_actions(&self, request: Request<Empty>) -> Result<Response<Self::ListActionsStream>, Status> {
        let mut actions = vec![ActionType {
            r#type: "protocol_version".into(),
            description: "the arrow-udf protocol version (one byte: 2)".into(),
        }];
        if matches!(request.extensions().get::<Caller>(), Some(Caller::Admin)) {
            actions.push(ActionType {
                r#type: "reload".into(),
                description: "re-read the tenants directory; answers what changed (JSON)".into(),
            });
        }
        Ok(Response::new(stream::iter(actions.into_iter().map(Ok)).boxed()))
    }
}
