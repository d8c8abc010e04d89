//! udfbox runs Python user-defined functions over Arrow data: in a WebAssembly sandbox (CPython
//! compiled to WASI, under wasmtime) or natively (the machine's CPython through pyo3, trusted code
//! only). The Python API follows PyFlink's; SQL goes through Apache DataFusion.
//!
//! Layers, bottom up (one folder each under `host/src`):
//! - [`types`], [`wire`], [`limits`], [`config`], [`error`]: the vocabulary: udfbox types, the
//!   boundary format (Arrow arrays as flat nodes of Arrow buffers), limits and errors, and
//!   [`shown`], how text from a sandbox is shown (escaped, bounded);
//! - [`backend`]: the [`Backend`] trait ([`wasm`], [`native`] and [`process`] implement it, with
//!   their shared pool) and [`FunctionSet`], which every engine talks to;
//! - [`sql`]: DataFusion: scalar UDFs, table functions ([`lateral`]), aggregates ([`aggregate`]),
//!   table registration and result formats ([`output`]);
//! - [`tenants`]: one function set per tenant, for services with many;
//! - `serve` (feature `serve`, on by default): the Arrow Flight remote-UDF server behind
//!   `udfbox serve` (RisingWave's and Databend's protocols, tenants, metrics).
//!
//! The `udfbox` command line (`host/src/cli/`) is built on these and is not part of the library.
//!
//! ```
//! use std::sync::Arc;
//! use arrow::array::{ArrayRef, Int64Array};
//! use udfbox::{FunctionSet, Mode, Options};
//!
//! let mut set = FunctionSet::new(Options { mode: Mode::Wasm, ..Default::default() })?;
//! set.load_source("add.py", "from udfbox import udf, DataTypes\n\
//!     add = udf(lambda a, b: a + b, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())\n")?;
//! let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
//! let sum = set.call("add", &[a.clone(), a], 2)?;
//! assert_eq!(sum.as_ref(), &Int64Array::from(vec![2, 4]));
//! # Ok::<(), udfbox::Error>(())
//! ```

pub mod backend;
pub mod config;
#[cfg(test)]
mod decode_props;
pub mod error;
pub mod limits;
#[cfg(feature = "serve")]
pub mod serve;
pub mod shown;
pub mod sql;
pub mod tenants;
pub mod types;
pub mod wire;

// The backends and the SQL operators keep their short paths (`udfbox::wasm`, `udfbox::aggregate`).
#[cfg(feature = "native")]
pub use backend::native;
pub use backend::process;
#[cfg(feature = "wasm")]
pub use backend::wasm;
pub use sql::{aggregate, lateral, output};

pub use backend::row::RowHandle;
pub use backend::{Backend, ErrorPolicy, Failures, Function, FunctionInfo, FunctionSet, Mode, Options, RowReply};
pub use config::Config;
pub use error::{Error, Result, UdfError, UdfErrorKind};
pub use limits::Limits;
pub use tenants::Tenants;

/// The README's Rust example, compiled and run as a doctest.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
