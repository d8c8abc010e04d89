//! Prometheus metrics (prometheus-client), recorded where a call enters and leaves the server,
//! and the HTTP endpoints `/metrics` (text format) and `/health` (axum).
//!
//! Label values are a tenant id and one of that tenant's function names: a client's unknown
//! names never become labels, so the number of series is bounded by what the tenants define.
//! A removed tenant's series are dropped with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::tenants::{Served, Tenant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FunctionLabels {
    pub tenant: String,
    pub function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub tenant: String,
    pub function: String,
    pub kind: String,
}

/// Every kind an error is counted as (see `service::error_kind`).
pub const ERROR_KINDS: &[&str] = &[
    "exception",
    "bad_result",
    "bad_request",
    "timeout",
    "memory",
    "fuel",
    "stack",
    "sandbox",
    "worker",
    "invalid_argument",
    "internal",
    "rejected",
    "deadline",
];

type HistogramFamily = Family<FunctionLabels, Histogram, fn() -> Histogram>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    pub calls: Family<FunctionLabels, Counter>,
    pub rows: Family<FunctionLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub fuel: Family<FunctionLabels, Counter>,
    pub latency: HistogramFamily,
    pub in_flight: Gauge,
    pub tenants: Gauge,
    pub unauthenticated: Counter,
    /// Set once shutdown starts: `/health` then answers 503 so load balancers move on.
    pub draining: AtomicBool,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("udfbox_serve");
        let calls = Family::<FunctionLabels, Counter>::default();
        let rows = Family::<FunctionLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let fuel = Family::<FunctionLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let in_flight = Gauge::default();
        let tenants = Gauge::default();
        let unauthenticated = Counter::default();
        registry.register("calls", "Batches called, per tenant and function", calls.clone());
        registry.register("rows", "Input rows called, per tenant and function", rows.clone());
        registry.register("errors", "Failed calls, per tenant, function and kind", errors.clone());
        registry.register("fuel_used", "Fuel used (wasm mode with --fuel), per tenant and function", fuel.clone());
        registry.register("call_duration_seconds", "Time of one batch call, waiting included", latency.clone());
        registry.register("in_flight", "Exchanges in flight", in_flight.clone());
        registry.register("tenants", "Tenants served", tenants.clone());
        registry.register("unauthenticated", "Requests refused for a missing or wrong token", unauthenticated.clone());
        Self {
            registry,
            calls,
            rows,
            errors,
            fuel,
            latency,
            in_flight,
            tenants,
            unauthenticated,
            draining: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    pub fn labels(tenant: &str, function: &str) -> FunctionLabels {
        FunctionLabels { tenant: tenant.to_string(), function: function.to_string() }
    }

    /// Labels of a served function.
    pub fn of(tenant: &Tenant, served: &Served) -> FunctionLabels {
        Self::labels(&tenant.id, &served.signature.name)
    }

    pub fn error(&self, labels: &FunctionLabels, kind: &str) {
        let labels =
            ErrorLabels { tenant: labels.tenant.clone(), function: labels.function.clone(), kind: kind.into() };
        self.errors.get_or_create(&labels).inc();
    }

    /// Drops the series of a tenant's functions (the tenant was removed).
    pub fn forget(&self, tenant: &str, functions: impl Iterator<Item = String>) {
        for function in functions {
            let labels = Self::labels(tenant, &function);
            self.calls.remove(&labels);
            self.rows.remove(&labels);
            self.fuel.remove(&labels);
            self.latency.remove(&labels);
            for kind in ERROR_KINDS {
                let labels =
                    ErrorLabels { tenant: tenant.to_string(), function: function.clone(), kind: kind.to_string() };
                self.errors.remove(&labels);
            }
        }
    }

    /// The Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// `/metrics` and `/health`.
    pub fn router(self: Arc<Self>) -> axum::Router {
        use axum::http::{header, StatusCode};
        use axum::routing::get;
        let metrics = self.clone();
        axum::Router::new()
            .route(
                "/metrics",
                get(move || {
                    let metrics = metrics.clone();
                    async move {
                        (
                            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                            metrics.encode(),
                        )
                    }
                }),
            )
            .route(
                "/health",
                get(move || {
                    let metrics = self.clone();
                    async move {
                        if metrics.draining.load(Ordering::Relaxed) {
                            (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
                        } else {
                            (StatusCode::OK, "ok\n")
                        }
                    }
                }),
            )
    }
}
