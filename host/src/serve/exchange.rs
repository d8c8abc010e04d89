//! One `do_exchange`: argument batches in, result batches out, through the tenant's
//! `FunctionSet`. This is the single place a call enters and leaves, so limits and metrics live
//! here: the tenant's permits (its `max_instances`, waited for at most `--queue-timeout`), the
//! exchange's deadline (`--call-timeout`), and the bounded channel results are streamed through.
//! `FunctionSet` calls block, so they run on tokio's blocking pool, never on an async worker;
//! the permit travels with the blocking call, so a call the deadline gave up on still counts
//! against its tenant until the sandbox's own timeout ends it.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{new_null_array, Array, ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use futures::StreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tonic::Status;

use super::dialect::{rows_without_nulls, Kind};
use super::metrics::FunctionLabels;
use super::service::{error_kind, status_of};
use super::tenants::{Served, Target, Tenant};
use super::State;
use crate::backend::{nullable, FunctionSet};
use crate::error::{Error, Result, UdfErrorKind};

/// Rows per result batch of a table function (arrow-udf's server sends 1,024).
pub const TABLE_CHUNK_ROWS: usize = 1024;

pub(super) struct Exchange {
    pub state: Arc<State>,
    pub tenant: Arc<Tenant>,
    pub served: Arc<Served>,
    pub labels: FunctionLabels,
}

pub(super) type Results = mpsc::Sender<std::result::Result<RecordBatch, FlightError>>;

impl Exchange {
    /// Runs the exchange to its end, sending results (and a failure as a status) to `results`.
    /// `_in_flight` is held until then (`--max-in-flight`).
    pub async fn run(self, input: FlightRecordBatchStream, results: Results, _in_flight: OwnedSemaphorePermit) {
        let limit = self.state.limits.call_timeout;
        let failure = match tokio::time::timeout(limit, self.pump(input, &results)).await {
            Ok(Ok(())) => None,
            Ok(Err(status)) => Some(status),
            Err(_) => {
                self.state.metrics.error(&self.labels, "deadline");
                Some(Status::deadline_exceeded(format!(
                    "call of '{}' ran longer than the server's call timeout ({})",
                    self.labels.function,
                    humantime::format_duration(limit)
                )))
            }
        };
        if let Some(status) = failure {
            // The client may be gone already; nothing else to tell.
            let _ = results.send(Err(FlightError::Tonic(Box::new(status)))).await;
        }
    }

    async fn pump(&self, mut input: FlightRecordBatchStream, results: &Results) -> Result<(), Status> {
        while let Some(batch) = input.next().await {
            let batch = batch.map_err(input_error)?;
            let expected = self.served.signature.inputs.len();
            if batch.num_columns() != expected {
                return Err(Status::invalid_argument(format!(
                    "function '{}' takes {expected} argument{}, the batch has {} column{}",
                    self.labels.function,
                    if expected == 1 { "" } else { "s" },
                    batch.num_columns(),
                    if batch.num_columns() == 1 { "" } else { "s" },
                )));
            }
            // A client that hangs up mid-call frees its place in flight at once (the blocking
            // call itself runs to its end, holding its sandbox).
            let outputs = tokio::select! {
                outputs = self.call(batch) => outputs?,
                () = results.closed() => return Ok(()),
            };
            for output in outputs {
                if results.send(Ok(output)).await.is_err() {
                    return Ok(()); // the client hung up
                }
            }
        }
        Ok(())
    }

    /// One batch through the function: its result batches.
    async fn call(&self, batch: RecordBatch) -> Result<Vec<RecordBatch>, Status> {
        let metrics = &self.state.metrics;
        let num_rows = batch.num_rows();
        metrics.calls.get_or_create(&self.labels).inc();
        metrics.rows.get_or_create(&self.labels).inc_by(num_rows as u64);
        let started = Instant::now();
        let outcome = match &self.served.target {
            Target::Builtin(builtin) => builtin
                .call(batch.columns(), num_rows)
                .and_then(|values| self.served.signature.scalar_batch(&values, None))
                .map(|batch| vec![batch]),
            Target::Udf { .. } => {
                let permit = self.permit().await?;
                let (tenant, served) = (self.tenant.clone(), self.served.clone());
                let args = batch.columns().to_vec();
                let joined = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    call_udf(tenant.set(), &served, args, num_rows)
                })
                .await;
                let fuel = self.tenant.fuel_delta(&self.labels.function);
                if fuel > 0 {
                    metrics.fuel.get_or_create(&self.labels).inc_by(fuel);
                }
                match joined {
                    Ok(result) => result,
                    Err(e) => {
                        metrics.error(&self.labels, "internal");
                        return Err(Status::internal(format!("internal error (please report): the call ended: {e}")));
                    }
                }
            }
        };
        metrics.latency.get_or_create(&self.labels).observe(started.elapsed().as_secs_f64());
        outcome.map_err(|error| {
            metrics.error(&self.labels, error_kind(&error));
            status_of(&error)
        })
    }

    /// One of the tenant's sandboxes, waited for at most `--queue-timeout`.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, Status> {
        let wait = self.state.limits.queue_timeout;
        match tokio::time::timeout(wait, self.tenant.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.state.metrics.error(&self.labels, "rejected");
                Err(Status::resource_exhausted(format!(
                    "all {} sandboxes of this tenant stayed busy for the queue timeout ({}); try again later",
                    self.tenant.max_instances,
                    humantime::format_duration(wait)
                )))
            }
        }
    }
}

fn input_error(error: FlightError) -> Status {
    match error {
        FlightError::Tonic(status) => *status,
        other => Status::invalid_argument(format!("malformed Arrow Flight data: {other}")),
    }
}

/// Calls a UDF over one batch (blocking): its result batches in the function's dialect.
fn call_udf(set: &FunctionSet, served: &Served, args: Vec<ArrayRef>, num_rows: usize) -> Result<Vec<RecordBatch>> {
    let signature = &served.signature;
    let name = &signature.name;
    match signature.kind {
        Kind::Scalar if served.error_column() => {
            let (values, errors) = call_with_errors(set, name, &args, num_rows)?;
            Ok(vec![signature.scalar_batch(&values, Some(errors))?])
        }
        Kind::Scalar => Ok(vec![signature.scalar_batch(&set.call(name, &args, num_rows)?, None)?]),
        Kind::Table => {
            let kept = if signature.skips_null_rows() { rows_without_nulls(&args, num_rows)? } else { None };
            let (sources, rows) = match &kept {
                Some((args, index)) => {
                    let (sources, rows) = set.call_table(name, args, index.len())?;
                    let sources = sources.values().iter().map(|&row| index[row as usize]).collect::<Int32Array>();
                    (sources, rows)
                }
                None => set.call_table(name, &args, num_rows)?,
            };
            let batch = signature.table_batch(&sources, &rows)?;
            Ok((0..batch.num_rows())
                .step_by(TABLE_CHUNK_ROWS)
                .map(|start| batch.slice(start, TABLE_CHUNK_ROWS.min(batch.num_rows() - start)))
                .collect())
        }
    }
}

/// RisingWave's `--on-error null`: each failing row's result is NULL and its message goes into
/// the `error` column. The runtime reports the first failing row of a call, so the rows around
/// it are called again (rows before it run twice: at most two more calls per failing row). A
/// fault that cannot be pinned to a row (timeout, memory) nulls the rows of the call it hit.
fn call_with_errors(
    set: &FunctionSet,
    name: &str,
    args: &[ArrayRef],
    num_rows: usize,
) -> Result<(ArrayRef, StringArray)> {
    let result_type = set.function(name).map(|f| f.result_type.clone()).ok_or_else(|| unknown(name))?;
    // Calls no larger than the set's own chunks, so a reported row is an index into our slice.
    let chunk = set.options().config.arrow_batch_size.max(1);
    let mut pending: Vec<(usize, usize)> =
        (0..num_rows).step_by(chunk).map(|start| (start, chunk.min(num_rows - start))).rev().collect();
    let mut pieces: Vec<(usize, ArrayRef)> = Vec::new();
    let mut errors: Vec<Option<String>> = vec![None; num_rows];
    while let Some((start, len)) = pending.pop() {
        if len == 0 {
            continue;
        }
        let slice: Vec<ArrayRef> = args.iter().map(|a| a.slice(start, len)).collect();
        match set.call(name, &slice, len) {
            Ok(values) => pieces.push((start, values)),
            Err(Error::Udf(e))
                if matches!(e.kind, UdfErrorKind::Exception | UdfErrorKind::BadResult)
                    && e.row.is_some_and(|row| (row as usize) < len) =>
            {
                let row = e.row.map_or(0, |row| row as usize);
                errors[start + row] = Some(row_message(&e));
                pieces.push((start + row, new_null_array(&result_type, 1)));
                // Before the failing row first, then after it.
                pending.push((start + row + 1, len - row - 1));
                pending.push((start, row));
            }
            Err(e) if nullable(&e) => {
                let message = match &e {
                    Error::Udf(udf) => row_message(udf),
                    other => other.to_string(),
                };
                errors[start..start + len].iter_mut().for_each(|slot| *slot = Some(message.clone()));
                pieces.push((start, new_null_array(&result_type, len)));
            }
            Err(e) => return Err(e),
        }
    }
    pieces.sort_by_key(|(start, _)| *start);
    let parts: Vec<&dyn Array> = pieces.iter().map(|(_, p)| p.as_ref()).collect();
    let values = if parts.is_empty() { new_null_array(&result_type, 0) } else { arrow::compute::concat(&parts)? };
    Ok((values, StringArray::from(errors)))
}

/// What a UDF's failure says in an `error` cell: exception type and message.
fn row_message(error: &crate::error::UdfError) -> String {
    match (error.exception_type.is_empty(), error.message.is_empty()) {
        (false, false) => format!("{}: {}", error.exception_type, error.message),
        (false, true) => error.exception_type.clone(),
        _ => error.message.clone(),
    }
}

fn unknown(name: &str) -> Error {
    Error::Invalid(format!("unknown function '{name}'"))
}
