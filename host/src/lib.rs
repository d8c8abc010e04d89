//! udfbox runs Python user-defined functions over Arrow data: in a WebAssembly sandbox (CPython
//! compiled to WASI, under wasmtime) or natively (the machine's CPython through pyo3, trusted code
//! only). The Python API follows PyFlink's; SQL goes through Apache DataFusion.
//!
//! Layers, bottom up:
//! - [`wire`]: the boundary format, Arrow arrays as flat nodes of Arrow buffers;
//! - [`backend`]: the [`Backend`] trait ([`wasm`], [`native`] and [`process`] implement it) and
//!   [`FunctionSet`], which the engine talks to;
//! - [`sql`]: DataFusion scalar UDFs and table registration; [`output`]: result formats;
//! - [`tenants`]: one function set per tenant, for services with many.
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

pub mod aggregate;
pub mod backend;
pub mod config;
pub mod error;
pub mod lateral;
pub mod limits;
#[cfg(feature = "native")]
pub mod native;
pub mod output;
mod pool;
pub mod process;
mod sources;
pub mod sql;
pub mod tenants;
pub mod types;
#[cfg(feature = "wasm")]
pub mod wasm;
pub mod wire;

pub use backend::{Backend, ErrorPolicy, Failures, Function, FunctionInfo, FunctionSet, Mode, Options};
pub use config::Config;
pub use error::{Error, Result, UdfError, UdfErrorKind};
pub use limits::Limits;
pub use tenants::Tenants;

/// The README's Rust example, compiled and run as a doctest.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
