//! The `udfbox` command line: `udfbox sql ...`, `udfbox functions ...` and `udfbox serve ...`,
//! one module each; `setup` holds what they share.

mod functions;
#[cfg(feature = "serve")]
mod serve;
mod setup;
mod sql;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "udfbox", version, about = "Python UDFs in SQL, in a WebAssembly sandbox or natively")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a SQL query (DataFusion) with Python UDFs.
    Sql(sql::SqlArgs),
    /// List the functions a UDF file registers.
    Functions(functions::FunctionsArgs),
    /// Serve UDFs over Arrow Flight to RisingWave, Databend and other clients.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    // A panic is a bug, but it must still reach the user as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error (please report): {message}");
    }));
    let filter = tracing_subscriber::EnvFilter::try_from_env("UDFBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,udfbox::udf=info,udfbox::serve=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Sql(args) => sql::run(args).await,
        Command::Functions(args) => functions::run(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(args).await,
    }
}
