//! Drop-in instrumentation of LLM clients: the calls a client sends over HTTP are
//! recognised (OpenAI Chat Completions, Responses and Embeddings at any OpenAI-compatible
//! host, Azure OpenAI, Anthropic Messages) and recorded as llm (or embeddings) spans.
//!
//! - [`openai`] (feature `async-openai`): `instrument(async_openai::Client)`.
//! - [`http`] (feature `reqwest-middleware`): [`http::LlmMiddleware`] for any client built
//!   on `reqwest-middleware`.
//!
//! Both hand each request to `call` (what the request says: the span and its request
//! fields) and each response to it (status, headers, and the body as it is read: a JSON
//! body in `body`, a server-sent event stream through
//! [`SseAccumulator`](crate::SseAccumulator)).

use std::sync::Arc;

use crate::llm::cost::PriceTable;

mod api;
mod body;
mod call;

#[cfg(feature = "reqwest-middleware")]
pub mod http;
#[cfg(feature = "async-openai")]
pub mod openai;

/// What an integration records beyond the call itself; shared by its clones.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Prices to fill each call's `cost_usd` from.
    pub(crate) prices: Option<Arc<PriceTable>>,
}
