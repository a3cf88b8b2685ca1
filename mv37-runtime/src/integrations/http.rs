//! A `reqwest-middleware` middleware (feature `reqwest-middleware`): [`LlmMiddleware`]
//! records the LLM API calls any client built on `reqwest_middleware::ClientWithMiddleware`
//! sends.
//!
//! ```no_run
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(mv37_runtime::integrations::http::LlmMiddleware::new())
//!     .build();
//! ```
//!
//! It recognises OpenAI-shaped calls (`…/chat/completions`, `…/responses`,
//! `…/embeddings`, at any host) and Anthropic's (`…/v1/messages`), streamed (server-sent
//! events) or not, and records each as an llm (or embeddings) span, child of the span
//! current where the request is awaited. Other requests pass through untouched, or
//! become plain spans with [`LlmMiddleware::trace_other_requests`]. Put it after any
//! retry middleware, so that each attempt is recorded.

use std::borrow::Cow;
use std::sync::Arc;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use super::api::STATUS_CODE;
use super::call::{transport_error_type, LlmCall};
use super::Options;
use crate::builder::DetachedSpan;
use crate::client::current_trace;
use crate::llm::cost::PriceTable;
use crate::record::{ErrorInfo, SpanKind};

/// Records LLM API calls made through a `reqwest-middleware` client; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct LlmMiddleware {
    options: Options,
    other_requests: bool,
}

impl LlmMiddleware {
    /// A middleware recording LLM API calls only, with no prices.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills each call's `cost_usd` from `prices`, for the model the response names.
    pub fn prices(mut self, prices: impl Into<Arc<PriceTable>>) -> Self {
        self.options.prices = Some(prices.into());
        self
    }

    /// Also records each other request, inside an open trace, as a plain span named by
    /// its method, with its URL and response status (`false` by default).
    pub fn trace_other_requests(mut self, yes: bool) -> Self {
        self.other_requests = yes;
        self
    }
}

/// Another request, recorded as a plain span (when asked): it ends with the response's
/// headers.
struct PlainCall(DetachedSpan);

impl PlainCall {
    fn begin(request: &Request) -> Option<PlainCall> {
        let trace = current_trace();
        if !trace.is_recording() {
            return None;
        }
        let method = request.method().as_str().to_owned();
        let span = trace
            .span(SpanKind::Span)
            .name(Cow::Owned(method.clone()))
            .attribute("http.request.method", method)
            .attribute("url.full", redacted_url(request.url()))
            .start_detached();
        Some(PlainCall(span))
    }

    fn respond(self, response: &Response) {
        let status = response.status();
        self.0.set_attribute(STATUS_CODE, status.as_u16());
        if status.is_client_error() || status.is_server_error() {
            self.0.fail_with(ErrorInfo {
                message: format!("HTTP {status}"),
                error_type: Some(status.as_u16().to_string()),
            });
        }
    }
}

/// The URL without its user, password and query (which may hold keys).
fn redacted_url(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.to_string()
}

#[async_trait::async_trait]
impl Middleware for LlmMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let body = request.body().and_then(reqwest::Body::as_bytes);
        let call = LlmCall::begin(&self.options, request.method(), request.url(), body);
        let plain = match (&call, self.other_requests) {
            (None, true) => PlainCall::begin(&request),
            _ => None,
        };
        let result = next.run(request, extensions).await;
        match (&result, call, plain) {
            (Ok(_), Some(call), _) => result.map(|response| call.respond(response)),
            (Ok(response), None, Some(plain)) => {
                plain.respond(response);
                result
            }
            (Err(error), Some(call), _) => {
                call.failed(error, middleware_error_type(error));
                result
            }
            (Err(error), None, Some(plain)) => {
                plain.0.fail_with(ErrorInfo {
                    message: error.to_string(),
                    error_type: Some(middleware_error_type(error).to_owned()),
                });
                result
            }
            (_, None, None) => result,
        }
    }
}

fn middleware_error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Reqwest(error) => transport_error_type(error),
        reqwest_middleware::Error::Middleware(_) => "middleware",
    }
}
