//! One LLM API call seen on the wire: which API the request calls, the span it opens
//! (child of the current context, or of a trace of its own when none is open), the
//! request's fields, and the response's status, headers and body.

use std::borrow::Cow;
use std::fmt::Display;

use http::{HeaderMap, Method};
use reqwest::ResponseBuilderExt;
use serde_json::Value;
use url::Url;

use super::api::{azure_deployment, http_error, provider_of, Api, STATUS_CODE};
use super::body::{record_json_body, RecordedBody};
use super::Options;
use crate::builder::DetachedSpan;
use crate::client::{anything_records, current_trace};
use crate::llm::call::{anthropic_request_params, openai_request_params};
use crate::llm::chat::{anthropic_messages, openai_messages, record_messages};
use crate::llm::stream::{trace_try_stream, SseAccumulator, StreamAccumulator};
use crate::progress::Outcome;
use crate::record::{ErrorInfo, SpanKind};
use crate::scope::Scope;
use crate::trace::Trace;

/// Attribute: the tools the request offered the model, as the request wrote them.
pub(crate) const TOOL_DEFINITIONS: &str = "gen_ai.tool.definitions";
/// Response headers kept as `http.response.header.<name>` attributes.
const KEPT_HEADERS: [&str; 3] = ["retry-after", "x-request-id", "request-id"];

/// The trace a call opened for itself (no trace was open where it was made); it ends
/// after the call's span.
pub(crate) struct OwnTrace {
    trace: Trace,
    scope: Option<Scope>,
}

impl OwnTrace {
    fn fail(&self, error: &ErrorInfo) {
        self.trace.fail(&error.message);
    }
}

impl Drop for OwnTrace {
    fn drop(&mut self) {
        if let Some(scope) = self.scope.take() {
            scope.finish(Outcome::Ok);
        }
    }
}

/// An LLM API call in flight, from its request to the end of its response body; made by
/// the integrations when they recognise a request.
pub(crate) struct LlmCall {
    api: Api,
    model: Option<String>,
    options: Options,
    span: DetachedSpan,
    /// Declared after the span, so that it ends after it.
    own_trace: Option<OwnTrace>,
}

impl std::fmt::Debug for LlmCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmCall")
            .field("api", &self.api)
            .field("span", &self.span)
            .finish()
    }
}

/// Opens a span for `name` in the current trace, or in a new trace of that name.
fn open_span(name: Cow<'static, str>, kind: SpanKind) -> (crate::builder::SpanBuilder, Option<OwnTrace>) {
    let trace = current_trace();
    if trace.is_recording() {
        return (trace.span(kind).name(name), None);
    }
    let (trace, scope) = crate::client::trace(name.clone()).open();
    let builder = trace.span(kind).name(name);
    (builder, Some(OwnTrace { trace, scope }))
}

impl LlmCall {
    /// Starts recording a request, if it is an LLM API call and something records:
    /// opens the span and records the request's model, provider, parameters, messages
    /// and tools.
    pub(crate) fn begin(options: &Options, method: &Method, url: &Url, body: Option<&[u8]>) -> Option<LlmCall> {
        let api = Api::recognise(method, url)?;
        if !anything_records() {
            return None;
        }
        let request: Value = body
            .and_then(|body| serde_json::from_slice(body).ok())
            .unwrap_or(Value::Null);
        let model = request
            .get("model")
            .and_then(Value::as_str)
            .or_else(|| azure_deployment(url))
            .map(str::to_owned);
        let name = match &model {
            Some(model) => Cow::Owned(format!("{} {model}", api.operation())),
            None => Cow::Borrowed(api.operation()),
        };
        let (mut builder, own_trace) = open_span(name, api.kind());
        builder = builder.provider(provider_of(url, api));
        if let Some(model) = &model {
            builder = builder.model(model.clone());
        }
        let span = builder.start_detached();
        if !span.is_recording() {
            return None;
        }
        record_request(&span, api, url, &request);
        Some(LlmCall {
            api,
            model,
            options: options.clone(),
            span,
            own_trace,
        })
    }

    /// The request failed before a response came (connection refused, timeout): fails
    /// and ends the span.
    pub(crate) fn failed<E: Display + ?Sized>(self, error: &E, error_type: &str) {
        let error = ErrorInfo {
            message: error.to_string(),
            error_type: Some(error_type.to_owned()),
        };
        if let Some(trace) = &self.own_trace {
            trace.fail(&error);
        }
        self.span.fail_with(error);
    }

    /// Records the response's status and headers, and gives it back with a body that
    /// records itself as the caller reads it: the streamed output (SSE) or the JSON
    /// response or error. The span ends with the body.
    pub(crate) fn respond(self, response: reqwest::Response) -> reqwest::Response {
        let status = response.status();
        self.span.set_attribute(STATUS_CODE, status.as_u16());
        record_headers(&self.span, response.headers());
        if !status.is_success() {
            if let Some(trace) = &self.own_trace {
                trace.fail(&http_error(status, None));
            }
        }
        let sse = status.is_success() && is_event_stream(response.headers());
        let url = response.url().clone();
        let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
        // `From<reqwest::Response>` drops the URL; put it back for the caller.
        if let Ok(with_url) = http::Response::builder().url(url).body(()) {
            parts.extensions.extend(with_url.into_parts().0.extensions);
        }
        let chunks = http_body_util::BodyDataStream::new(body);
        let body = match (sse, self.api) {
            (true, Api::Messages) => self.stream_body(chunks, SseAccumulator::anthropic()),
            (true, _) => self.stream_body(chunks, SseAccumulator::openai()),
            (false, api) => {
                let LlmCall {
                    options,
                    model,
                    span,
                    own_trace,
                    ..
                } = self;
                let finish = move |bytes: Option<&[u8]>, span: &DetachedSpan| {
                    record_json_body(span, api, status, bytes, options.prices.as_deref(), model.as_deref());
                };
                reqwest::Body::wrap_stream(RecordedBody::new(chunks, span, finish, own_trace))
            }
        };
        reqwest::Response::from(http::Response::from_parts(parts, body))
    }

    fn stream_body<A>(
        self,
        chunks: http_body_util::BodyDataStream<reqwest::Body>,
        accumulator: SseAccumulator<A>,
    ) -> reqwest::Body
    where
        A: StreamAccumulator<Value> + Send + 'static,
    {
        let mut traced = trace_try_stream(self.span, chunks, accumulator);
        if let Some(prices) = self.options.prices {
            traced = traced.prices(prices, self.model.unwrap_or_default());
        }
        reqwest::Body::wrap_stream(Keep {
            stream: traced,
            _trace: self.own_trace,
        })
    }
}

pin_project_lite::pin_project! {
    /// A stream that keeps a value alive until it is dropped (the call's own trace, which
    /// must end after the span the stream ends).
    struct Keep<S, T> {
        #[pin]
        stream: S,
        _trace: T,
    }
}

impl<S: futures_core::Stream, T> futures_core::Stream for Keep<S, T> {
    type Item = S::Item;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<S::Item>> {
        self.project().stream.poll_next(cx)
    }
}

/// The request's fields on the span: parameters and server, and (when the span captures
/// content) messages, embedding input and tool definitions.
fn record_request(span: &DetachedSpan, api: Api, url: &Url, request: &Value) {
    let params = match api {
        Api::Messages => anthropic_request_params(request),
        _ => openai_request_params(request),
    };
    span.set_request_params(params.server_url(url.as_str()));
    if !span.captures_content() {
        return;
    }
    match api {
        Api::Chat | Api::Responses => record_messages(span, &openai_messages(request)),
        Api::Messages => record_messages(span, &anthropic_messages(request)),
        Api::Embeddings => {
            if let Some(input) = request.get("input") {
                span.record_input(input);
            }
        }
    }
    if let Some(tools) = request
        .get("tools")
        .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
    {
        span.set_attribute(TOOL_DEFINITIONS, tools);
    }
}

fn record_headers(span: &DetachedSpan, headers: &HeaderMap) {
    for name in KEPT_HEADERS {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            span.set_attribute(format!("http.response.header.{name}"), value);
        }
    }
}

/// `error.type` for a request that got no response: `timeout`, `connect`, or
/// `reqwest::Error` for anything else.
pub(crate) fn transport_error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "reqwest::Error"
    }
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}
