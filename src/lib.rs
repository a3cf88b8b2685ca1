//! mv37: LLM observability for Rust.
#![doc = include_str!("../README.md")]

/// The attribute macros `#[trace]`, `#[task]`, `#[llm]`, `#[tool]`, `#[agent]`,
/// `#[span("…")]` and the block macro `traced!` (see `mv37-macros`).
pub use mv37_macros::{agent, llm, span, task, tool, trace, traced};
pub use mv37_runtime::*;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
