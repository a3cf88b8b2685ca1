//! mv37: LLM observability for Rust.
#![doc = include_str!("../README.md")]

/// The attribute macros `#[trace]`, `#[task]`, `#[llm]`, `#[tool]`, `#[agent]`,
/// `#[span("…")]` and the block macro `traced!` (see `mv37-macros`).
pub use mv37_macros::{agent, llm, span, task, tool, trace, traced};
pub use mv37_runtime::*;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The `tracing` bridge (feature `tracing`): `tracing_subscriber::registry().with(mv37::tracing::layer())`
/// records the `tracing` spans of rig, genai, axum and your own `#[tracing::instrument]`
/// functions as mv37 spans, nested with mv37's own. The rules are in
/// [`mv37_runtime::tracing_bridge`].
#[cfg(feature = "tracing")]
pub mod tracing {
    pub use mv37_runtime::tracing_bridge::{layer, Mv37Layer};
}
