//! `udfbox serve`: the Arrow Flight UDF server (`udfbox::serve`) with its listeners, signals
//! and the one stdout line tools read the port from.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use udfbox::serve::tenants::token_hash;
use udfbox::serve::{Dialect, ServeLimits, Server, Source};
use udfbox::{ErrorPolicy, Mode};

use crate::setup::{options, SetupArgs};

/// Serve Python UDFs to RisingWave, Databend and any Arrow Flight client.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// A UDF file of the open tenant, reached without a token (repeatable).
    #[arg(long = "udf", value_name = "FILE")]
    pub udfs: Vec<PathBuf>,
    /// A directory with one folder per tenant: *.py files, optional deps/, and tenant.toml
    /// (token_sha256 = "<sha256 of the token>", optional [limits], [params], on_error, dialect).
    #[arg(long, value_name = "DIR")]
    pub tenants: Option<PathBuf>,
    /// Address to listen on; localhost:PORT listens on 127.0.0.1 and [::1]; port 0 picks one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8815")]
    pub listen: String,
    /// Address of the HTTP endpoints /metrics (Prometheus) and /health.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// How udfbox/PyFlink functions are served (arrow-udf and databend-udf files speak their
    /// own engine's dialect).
    #[arg(long, value_enum, default_value_t = Dialect::Risingwave)]
    pub dialect: Dialect,
    /// A file holding the admin token, which may call the action `reload`.
    #[arg(long, value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
    /// Largest gRPC message received or sent.
    #[arg(long, value_name = "SIZE", default_value = "64MiB")]
    pub max_message_size: String,
    /// Calls in flight at once (waiting ones included); more are refused (ResourceExhausted).
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,
    /// How long a call waits for one of its tenant's sandboxes before ResourceExhausted.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub queue_timeout: String,
    /// The longest one call (one do_exchange) may take.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub call_timeout: String,
    /// At SIGINT/SIGTERM, how long calls in flight may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub grace_period: String,
    #[arg(long, value_enum, default_value_t = Mode::Wasm)]
    pub mode: Mode,
    /// A failing row fails its call (fail), or becomes NULL (null; RisingWave's functions then
    /// get the row's message in an `error` column). A tenant.toml may say otherwise.
    #[arg(long, value_enum, default_value_t = ErrorPolicy::Fail)]
    pub on_error: ErrorPolicy,
    #[command(flatten)]
    pub setup: SetupArgs,
}

pub async fn run(args: ServeArgs) -> Result<(), String> {
    if args.udfs.is_empty() && args.tenants.is_none() {
        return Err("nothing to serve: give --udf FILE (an open tenant) or --tenants DIR".into());
    }
    let duration = |flag: &str, text: &str| udfbox::limits::parse_duration(text).map_err(|e| format!("--{flag}: {e}"));
    let max_message_size =
        udfbox::limits::parse_size(&args.max_message_size).map_err(|e| format!("--max-message-size: {e}"))?;
    if max_message_size < 1024 {
        return Err("--max-message-size must be at least 1KiB".into());
    }
    let limits = ServeLimits {
        max_message_size,
        max_in_flight: args.max_in_flight as usize,
        queue_timeout: duration("queue-timeout", &args.queue_timeout)?,
        call_timeout: duration("call-timeout", &args.call_timeout)?,
        grace_period: duration("grace-period", &args.grace_period)?,
    };
    let admin = match &args.admin_token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let token = text.trim();
            if token.is_empty() {
                return Err(format!("{} holds no token", path.display()));
            }
            Some(token_hash(token))
        }
    };
    if args.mode != Mode::Wasm && args.tenants.is_some() {
        eprintln!("udfbox: note: tenants are isolated from each other in wasm mode only");
    }
    let base = options(args.mode, &args.setup, &[])?;
    let source =
        Source { base, dialect: args.dialect, on_error: args.on_error, open_files: args.udfs, dir: args.tenants };
    // Loading runs every tenant's UDF files: blocking work.
    let server = tokio::task::spawn_blocking(move || Server::new(source, admin, limits))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;

    let listeners = bind(&args.listen).await?;
    let metrics_listener = match &args.metrics_listen {
        Some(addr) => Some(bind(addr).await?.remove(0)),
        None => None,
    };
    // Handlers first: a signal sent as soon as the address is printed must not kill the server.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;

    let mut out = std::io::stdout().lock();
    let address = listeners[0].local_addr().map_err(|e| e.to_string())?;
    writeln!(out, "udfbox serve: listening on {address}").map_err(|e| e.to_string())?;
    if let Some(listener) = &metrics_listener {
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        writeln!(out, "udfbox serve: metrics on {address}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    drop(out);

    if let Some(listener) = metrics_listener {
        let router = server.metrics().router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(target: "udfbox::serve", "the metrics endpoint failed: {e}");
            }
        });
    }
    let reloader = server.clone();
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            if let Err(e) = reloader.reload().await {
                tracing::error!(target: "udfbox::serve", "reload failed: {e}");
            }
        }
    });
    // The first SIGINT/SIGTERM drains; a second one ends the process without waiting.
    let (first, shutdown) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        let _ = first.send(());
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("udfbox serve: second signal: exiting without waiting for calls in flight");
        std::process::exit(1);
    });
    let shutdown = async move {
        let _ = shutdown.await;
    };
    server.serve(listeners, shutdown).await.map_err(|e| e.to_string())?;
    // Calls the grace period cut short may still occupy blocking threads (until their sandbox
    // timeout), which dropping the async runtime would wait for.
    std::process::exit(0)
}

/// Listeners for `addr`: `localhost:PORT` is 127.0.0.1 and [::1] (a client may try either
/// first), on one port even when PORT is 0.
async fn bind(addr: &str) -> Result<Vec<TcpListener>, String> {
    let cannot = |e: std::io::Error| format!("cannot listen on {addr}: {e}");
    if let Some(port) = addr.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| format!("invalid port in '{addr}'"))?;
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await.map_err(cannot)?;
        let port = v4.local_addr().map_err(cannot)?.port();
        return Ok(match TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await {
            Ok(v6) => vec![v4, v6],
            Err(e) => {
                tracing::warn!(target: "udfbox::serve", "not listening on [::1]:{port}: {e}");
                vec![v4]
            }
        });
    }
    let address: SocketAddr = match addr.parse() {
        Ok(address) => address,
        Err(_) => tokio::net::lookup_host(addr)
            .await
            .map_err(|e| format!("invalid address '{addr}': {e} (e.g. 127.0.0.1:8815)"))?
            .next()
            .ok_or_else(|| format!("'{addr}' resolves to no address"))?,
    };
    Ok(vec![TcpListener::bind(address).await.map_err(cannot)?])
}
