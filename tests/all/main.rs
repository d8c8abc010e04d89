//! udfbox's integration tests: one binary, one module per concern. Every UDF case runs in both
//! modes (wasm and native) and asserts that the two agree and match the expected value.

mod adversarial;
mod cli;
mod datatypes;
mod docs;
mod errors;
mod examples;
mod forms;
mod harness;
mod sql;
mod stdlib;
mod vectorized;
