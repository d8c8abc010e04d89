//! udfbox's integration tests: one binary, one module per concern. Every UDF case runs in every
//! mode (wasm, native and process) and asserts that they agree and match the expected value.

mod adversarial;
mod aggregates;
mod budget;
mod cli;
mod compat;
mod config;
#[cfg(feature = "serve")]
mod databend;
mod datatypes;
mod deps;
mod deterministic;
mod docs;
mod errors;
mod examples;
#[cfg(feature = "serve")]
mod flight;
mod fork_workers;
mod forms;
mod harness;
mod memory_flat;
mod metrics;
mod policy;
mod process;
mod pyflink;
mod pyflink_suite;
#[cfg(feature = "serve")]
mod risingwave;
mod rows;
#[cfg(feature = "serve")]
mod serve;
#[cfg(feature = "serve")]
mod serve_load;
mod shared_runtime;
mod snapshot;
mod sql;
mod sql_load;
mod stdlib;
mod stream;
mod tables;
mod tenants;
mod vectorized;
