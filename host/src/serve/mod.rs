//! `udfbox serve`: an Arrow Flight server that RisingWave and Databend call as a remote UDF
//! server, every tenant's functions in their own sandboxes.
//!
//! Layers, outside in:
//! - [`auth`]: a tonic interceptor; the bearer token selects the tenant (or the admin);
//! - [`service`]: the Flight methods, each within the caller's tenant;
//! - [`exchange`]: one `do_exchange`, the single place a call enters and leaves (limits,
//!   blocking pool, metrics);
//! - [`dialect`]: RisingWave's and Databend's schemas and batches, around `FunctionSet`;
//! - [`tenants`]: where tenants come from, and reloading them;
//! - [`metrics`]: Prometheus metrics, `/metrics` and `/health`.
//!
//! ```no_run
//! # async fn example() -> udfbox::Result<()> {
//! use udfbox::serve::{Server, ServeLimits, Source};
//! use udfbox::{ErrorPolicy, Options};
//!
//! let source = Source {
//!     base: Options::default(),
//!     dialect: Default::default(),
//!     on_error: ErrorPolicy::Fail,
//!     open_files: vec!["udfs/arrow_udf_example.py".into()],
//!     dir: None,
//! };
//! let server = Server::new(source, None, ServeLimits::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8815").await.map_err(|e| udfbox::Error::Invalid(e.to_string()))?;
//! server.serve(vec![listener], async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod auth;
pub mod dialect;
mod exchange;
pub mod metrics;
pub mod service;
pub mod tenants;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::sync::Semaphore;
use tonic::service::interceptor::InterceptedService;

pub use dialect::Dialect;
pub use metrics::Metrics;
pub use tenants::{Registry, ReloadReport, Source, TokenHash};

use crate::error::{Error, Result};

/// The server's own bounds (a tenant's sandboxes have theirs in `Limits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// Largest gRPC message received or sent, in bytes. Default: 64 MiB (engines send
    /// 65,536-row batches; tonic's own default is 4 MiB).
    pub max_message_size: usize,
    /// Exchanges in flight at once, waiting ones included; beyond it a call is refused at once
    /// with `ResourceExhausted`. Default: 256.
    pub max_in_flight: usize,
    /// How long a call waits for one of its tenant's sandboxes (`max_instances` of them) before
    /// `ResourceExhausted`. Default: 10 s.
    pub queue_timeout: Duration,
    /// The longest one exchange may take, end to end; then `DeadlineExceeded`. Default: 60 s.
    pub call_timeout: Duration,
    /// At shutdown, how long calls in flight may take to finish. Default: 30 s.
    pub grace_period: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_message_size: 64 << 20,
            max_in_flight: 256,
            queue_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(60),
            grace_period: Duration::from_secs(30),
        }
    }
}

impl ServeLimits {
    /// Result batches are split into messages of about this size: arrow-flight's 2 MiB, under
    /// the 4 MiB a client built on tonic's defaults (RisingWave's) accepts, or less under a
    /// smaller limit.
    fn max_flight_data_size(&self) -> usize {
        (self.max_message_size / 2).min(2 << 20)
    }
}

/// What the service, the interceptor and the exchanges share.
pub(crate) struct State {
    registry: RwLock<Arc<Registry>>,
    source: Source,
    admin: Option<TokenHash>,
    limits: ServeLimits,
    metrics: Arc<Metrics>,
    in_flight: Arc<Semaphore>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl State {
    fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A Flight UDF server over a set of tenants.
#[derive(Clone)]
pub struct Server {
    state: Arc<State>,
}

impl Server {
    /// Loads every tenant (blocking: it runs their UDF files). `admin` is the hash of the token
    /// that may `do_action("reload")`.
    pub fn new(source: Source, admin: Option<TokenHash>, limits: ServeLimits) -> Result<Self> {
        if source.open_files.is_empty() && source.dir.is_none() {
            return Err(Error::Invalid("nothing to serve: give --udf FILE or --tenants DIR".into()));
        }
        let registry = source.load()?;
        let metrics = Arc::new(Metrics::default());
        metrics.tenants.set(registry.tenants.len() as i64);
        let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
        let state = State {
            registry: RwLock::new(Arc::new(registry)),
            source,
            admin,
            limits,
            metrics,
            in_flight,
            reloading: tokio::sync::Mutex::new(()),
        };
        Ok(Self { state: Arc::new(state) })
    }

    /// The live tenants.
    pub fn registry(&self) -> Arc<Registry> {
        self.state.registry()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Re-reads the tenants (what SIGHUP and the admin action `reload` do).
    pub async fn reload(&self) -> Result<ReloadReport> {
        reload(&self.state).await
    }

    /// Serves Flight on `listeners` until `shutdown` completes; then stops accepting, lets calls
    /// in flight finish (at most `grace_period`), and closes every tenant's set.
    pub async fn serve(
        &self,
        listeners: Vec<tokio::net::TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let state = &self.state;
        let size = state.limits.max_message_size;
        let flight = FlightServiceServer::new(service::FlightServer { state: state.clone() })
            .max_decoding_message_size(size)
            .max_encoding_message_size(size);
        let flight = InterceptedService::new(flight, auth::Auth { state: state.clone() });
        let incoming = futures::stream::select_all(
            listeners.into_iter().map(|l| tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true))),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Engines send batches of megabytes: HTTP/2's flow-control window grows to fit them.
        let mut builder = tonic::transport::Server::builder().http2_adaptive_window(Some(true));
        let stopped = async move {
            let _ = stopped.await;
        };
        let mut grpc = tokio::spawn(builder.add_service(flight).serve_with_incoming_shutdown(incoming, stopped));
        tokio::pin!(shutdown);
        tokio::select! {
            ended = &mut grpc => return finished(ended),
            () = &mut shutdown => {}
        }
        state.metrics.draining.store(true, Ordering::Relaxed);
        let running = state.limits.max_in_flight.max(1) - state.in_flight.available_permits();
        tracing::info!(
            target: "udfbox::serve",
            "shutting down: {running} call(s) in flight, grace period {}",
            humantime::format_duration(state.limits.grace_period)
        );
        let _ = stop.send(());
        match tokio::time::timeout(state.limits.grace_period, &mut grpc).await {
            Ok(ended) => finished(ended)?,
            Err(_) => {
                let running = state.limits.max_in_flight.max(1) - state.in_flight.available_permits();
                tracing::warn!(target: "udfbox::serve", "grace period over: ending {running} call(s) still in flight");
                grpc.abort();
            }
        }
        // Every set's close() runs as its last reference goes (off the async workers).
        let registry = std::mem::take(&mut *state.registry.write().unwrap_or_else(|e| e.into_inner()));
        let closing = tokio::task::spawn_blocking(move || {
            let Ok(registry) = Arc::try_unwrap(registry) else { return };
            for (id, tenant) in registry.into_tenants() {
                match Arc::try_unwrap(tenant) {
                    Ok(tenant) => tenant.close(),
                    Err(_) => tracing::warn!(target: "udfbox::serve", "tenant {id}: calls still running; not closed"),
                }
            }
        });
        let _ = closing.await;
        Ok(())
    }
}

fn finished(
    ended: std::result::Result<std::result::Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<()> {
    match ended {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::Invalid(format!("the Flight server failed: {e}"))),
        Err(e) => Err(Error::Invalid(format!("the Flight server ended abnormally: {e}"))),
    }
}

async fn reload(state: &Arc<State>) -> Result<ReloadReport> {
    let _one_at_a_time = state.reloading.lock().await;
    let current = state.registry();
    let source = state.source.clone();
    let (next, report) = tokio::task::spawn_blocking(move || {
        let result = source.reload(&current);
        (result, current)
    })
    .await
    .map_err(|e| Error::Invalid(format!("reload ended abnormally: {e}")))
    .and_then(|(result, current)| {
        let (next, report) = result?;
        for id in report.removed.iter().chain(&report.updated) {
            if let Some(old) = current.tenants.get(id) {
                let kept = next.tenants.get(id).map(|t| t.functions.keys().cloned().collect::<Vec<_>>());
                let gone = old.functions.keys().filter(|f| !kept.as_ref().is_some_and(|k| k.contains(f))).cloned();
                state.metrics.forget(id, gone);
            }
        }
        Ok((next, report))
    })?;
    state.metrics.tenants.set(next.tenants.len() as i64);
    *state.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    tracing::info!(
        target: "udfbox::serve",
        "reloaded tenants: added {:?}, updated {:?}, removed {:?}, unchanged {}",
        report.added,
        report.updated,
        report.removed,
        report.unchanged.len()
    );
    for (id, error) in &report.failed {
        tracing::error!(target: "udfbox::serve", "tenant {id} not reloaded: {error}");
    }
    Ok(report)
}
