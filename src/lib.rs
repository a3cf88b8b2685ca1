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

/// async-openai, instrumented (feature `async-openai`):
/// `mv37::openai::instrument(async_openai::Client::with_config(config))` gives back the
/// same client, whose chat completions, responses and embeddings calls (streamed or not)
/// each become an llm span. What is recorded is in
/// [`mv37_runtime::integrations::openai`].
#[cfg(feature = "async-openai")]
pub mod openai {
    pub use mv37_runtime::integrations::openai::{
        instrument, Instrument, OpenAiLayer, OpenAiService, ResponseFuture, DEFAULT_MAX_RETRIES,
    };
}

/// A `reqwest-middleware` middleware (feature `reqwest-middleware`):
/// `ClientBuilder::new(reqwest::Client::new()).with(mv37::http::LlmMiddleware::new())`
/// records the OpenAI-shaped and Anthropic calls of any client built on
/// reqwest-middleware. See [`mv37_runtime::integrations::http`].
#[cfg(feature = "reqwest-middleware")]
pub mod http {
    pub use mv37_runtime::integrations::http::LlmMiddleware;
}
