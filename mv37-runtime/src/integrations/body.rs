//! A JSON response body (a non-streamed call, or an error) recorded as the caller reads
//! it: [`RecordedBody`] passes the bytes on unchanged, keeps a copy up to
//! [`MAX_JSON_BODY_BYTES`], and when the body ends records the response on the span.

use std::fmt::Display;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use http::StatusCode;
use serde_json::{json, Value};

use super::api::{http_error, Api};
use crate::builder::DetachedSpan;
use crate::llm::call::{anthropic_response_info, openai_response_info};
use crate::llm::chat::{anthropic_messages, openai_messages, record_messages};
use crate::llm::cost::PriceTable;
use crate::usage::{anthropic_usage, openai_usage};

/// The largest JSON body read for the record; a longer one still reaches the caller
/// whole, and the span notes `mv37.response_body_truncated`.
pub(crate) const MAX_JSON_BODY_BYTES: usize = 16 << 20;

/// Attribute: the response body was longer than [`MAX_JSON_BODY_BYTES`] and was not
/// read for the record.
pub(crate) const BODY_TRUNCATED: &str = "mv37.response_body_truncated";

/// What a body's recorder is given when the body ends: its bytes (`None` when they
/// outgrew the bound) and the span.
type Finish = Box<dyn FnOnce(Option<&[u8]>, &DetachedSpan) + Send>;

pin_project_lite::pin_project! {
    /// A body stream that records the response when it ends; see the module docs.
    /// Dropped before its end, it ends the span `cancelled`.
    pub(crate) struct RecordedBody<S, T> {
        #[pin]
        inner: S,
        kept: Vec<u8>,
        truncated: bool,
        finish: Option<Finish>,
        span: Option<DetachedSpan>,
        // Kept alive until the body is dropped (the call's own trace, which ends after
        // the span).
        keep: T,
    }

    impl<S, T> PinnedDrop for RecordedBody<S, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(span) = this.span.take() {
                span.cancel();
            }
        }
    }
}

impl<S, T> RecordedBody<S, T> {
    pub(crate) fn new(
        inner: S,
        span: DetachedSpan,
        finish: impl FnOnce(Option<&[u8]>, &DetachedSpan) + Send + 'static,
        keep: T,
    ) -> Self {
        Self {
            inner,
            kept: Vec::new(),
            truncated: false,
            finish: Some(Box::new(finish)),
            span: Some(span),
            keep,
        }
    }
}

impl<S, T, B, E> Stream for RecordedBody<S, T>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Display,
{
    type Item = Result<B, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = match this.inner.poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        match &item {
            Some(Ok(bytes)) => {
                let bytes = bytes.as_ref();
                if this.kept.len() + bytes.len() > MAX_JSON_BODY_BYTES {
                    *this.truncated = true;
                    *this.kept = Vec::new();
                } else if !*this.truncated {
                    this.kept.extend_from_slice(bytes);
                }
            }
            Some(Err(error)) => {
                if let Some(span) = this.span.take() {
                    span.fail(&format!("response body: {error}"));
                    span.end();
                }
            }
            None => {
                if let (Some(span), Some(finish)) = (this.span.take(), this.finish.take()) {
                    if *this.truncated {
                        span.set_attribute(BODY_TRUNCATED, true);
                    }
                    finish((!*this.truncated).then_some(this.kept.as_slice()), &span);
                    *this.kept = Vec::new();
                    span.end();
                }
            }
        }
        Poll::Ready(item)
    }
}

/// Records a whole JSON response on `span`: for an error status, the failure with the
/// provider's error type; else usage (priced with `prices`), id, model and finish
/// reasons, and (when the span captures content) the output and its messages.
pub(crate) fn record_json_body(
    span: &DetachedSpan,
    api: Api,
    status: StatusCode,
    bytes: Option<&[u8]>,
    prices: Option<&PriceTable>,
    model: Option<&str>,
) {
    let value = bytes.and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
    if !status.is_success() {
        span.fail_with(http_error(status, value.as_ref()));
        return;
    }
    let Some(response) = value else {
        return;
    };
    let (usage, info) = match api {
        Api::Messages => (anthropic_usage(&response), anthropic_response_info(&response)),
        _ => (openai_usage(&response), openai_response_info(&response)),
    };
    if !usage.is_empty() {
        let usage = match (prices, info.model.as_deref().or(model)) {
            (Some(prices), Some(model)) => prices.apply(model, usage),
            _ => usage,
        };
        span.set_usage(usage);
    }
    if !info.is_empty() {
        span.set_response_info(info);
    }
    if !span.captures_content() {
        return;
    }
    let output = match api {
        Api::Chat => {
            record_messages(span, &openai_messages(&response));
            response.pointer("/choices/0/message").cloned()
        }
        Api::Responses => {
            record_messages(span, &openai_messages(&response));
            response.get("output").cloned()
        }
        Api::Messages => {
            record_messages(span, &anthropic_messages(&response));
            response.get("content").cloned()
        }
        Api::Embeddings => embeddings_summary(&response),
    };
    if let Some(output) = output {
        span.record_output(&output);
    }
}

/// The output of an embeddings call: how many vectors and their dimension, not the
/// vectors themselves.
fn embeddings_summary(response: &Value) -> Option<Value> {
    let data = response.get("data")?.as_array()?;
    let dimensions = data
        .first()
        .and_then(|first| first.get("embedding"))
        .map(|embedding| match embedding {
            Value::Array(values) => json!(values.len()),
            // `encoding_format: base64`: 4 bytes per float, 4 base64 chars per 3 bytes.
            Value::String(text) => json!(text.len() / 4 * 3 / 4),
            _ => Value::Null,
        });
    Some(json!({ "embeddings": data.len(), "dimensions": dimensions }))
}
