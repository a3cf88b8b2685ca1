//! mv37: LLM observability for Rust.
#![doc = include_str!("../README.md")]

pub use mv37_runtime::*;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
