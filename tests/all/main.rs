//! udfbox's integration tests: one binary, one module per concern. Every UDF case runs in both
//! modes (wasm and native) and asserts that the two agree and match the expected value.

mod adversarial;
mod aggregates;
mod cli;
mod config;
mod datatypes;
mod deps;
mod docs;
mod errors;
mod examples;
mod forms;
mod harness;
mod metrics;
mod policy;
mod sql;
mod stdlib;
mod tables;
mod tenants;
mod vectorized;
