//! The span handle, [`Span`]: record input, output, usage and failure on an open span
//! from anywhere. How a span is described and started is in `crate::builder`.

use std::sync::Arc;

use serde::Serialize;

use crate::ids::{SpanId, TraceId};
use crate::messages::MessageBuilder;
use crate::payload::CapturePolicy;
use crate::progress::{Outcome, Progress};
use crate::record::{Content, Role};
use crate::state::open::SharedSpan;

/// The methods that record onto an open span, for [`Span`] and [`ScopedSpan`]: each
/// type provides `capture_policy` (`None` when not recording) and `change`.
macro_rules! recording_methods {
    () => {
        /// Records the span's input: any `Serialize` value, captured now (not even
        /// serialized when the client captures no content).
        pub fn record_input<T: serde::Serialize + ?Sized>(&self, input: &T) {
            if let Some(payload) = self.capture_policy().and_then(|policy| policy.capture_io(input)) {
                self.change(|progress| progress.extras().input = Some(payload));
            }
        }

        /// Records the span's output: any `Serialize` value, captured now (not even
        /// serialized when the client captures no content).
        pub fn record_output<T: serde::Serialize + ?Sized>(&self, output: &T) {
            if let Some(payload) = self.capture_policy().and_then(|policy| policy.capture_io(output)) {
                self.change(|progress| progress.extras().output = Some(payload));
            }
        }

        /// Whether this span records content: inputs, outputs and messages. `false` when
        /// the client was built with `capture_content(false)` (or
        /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false`), and when the span
        /// records nothing; check it to skip building content that would be dropped.
        pub fn captures_content(&self) -> bool {
            self.capture_policy().is_some_and(|policy| policy.content)
        }

        /// Sets token usage and cost; `total_tokens` is derived when absent.
        pub fn set_usage(&self, usage: $crate::record::Usage) {
            self.change(|progress| progress.extras().usage = Some(usage.with_derived_total()));
        }

        /// Sets the model name.
        pub fn set_model(&self, model: impl Into<String>) {
            if self.capture_policy().is_some() {
                let model = model.into();
                self.change(|progress| progress.extras().model = Some(model));
            }
        }

        /// Sets the model provider.
        pub fn set_provider(&self, provider: impl Into<String>) {
            if self.capture_policy().is_some() {
                let provider = provider.into();
                self.change(|progress| progress.extras().provider = Some(provider));
            }
        }

        /// Records the model request's parameters and server ([`RequestParams`]): the
        /// fields `params` sets replace those recorded before, the others are kept.
        ///
        /// [`RequestParams`]: $crate::record::RequestParams
        pub fn set_request_params(&self, params: $crate::record::RequestParams) {
            if self.capture_policy().is_some() && !params.is_empty() {
                self.change(|progress| match &mut progress.extras().request {
                    Some(recorded) => recorded.merge(params),
                    slot @ None => *slot = Some(Box::new(params)),
                });
            }
        }

        /// Records the model response's id, model and finish reasons ([`ResponseInfo`]):
        /// the fields `info` sets replace those recorded before, the others are kept.
        ///
        /// [`ResponseInfo`]: $crate::record::ResponseInfo
        pub fn set_response_info(&self, info: $crate::record::ResponseInfo) {
            if self.capture_policy().is_some() && !info.is_empty() {
                self.change(|progress| match &mut progress.extras().response {
                    Some(recorded) => recorded.merge(info),
                    slot @ None => *slot = Some(Box::new(info)),
                });
            }
        }

        /// Records the documents a retrieval returned, in order, replacing any recorded
        /// before. Each document's content is captured under the payload size limit, as
        /// an input is; without content capture only ids and scores are kept.
        pub fn record_documents(&self, documents: &[$crate::record::Document]) {
            if let Some(policy) = self.capture_policy() {
                let documents: Vec<_> = documents
                    .iter()
                    .map(|document| $crate::record::DocumentRecord::capture_with(document, policy))
                    .collect();
                self.change(|progress| progress.extras().documents = documents);
            }
        }

        /// Records an event at this moment, with its attributes (exported as an OTLP span
        /// event; the `tracing` bridge records log lines this way). Attributes are content:
        /// none are kept when the client captures no content.
        pub fn add_event(&self, name: impl Into<String>, attributes: $crate::record::Attributes) {
            if let Some(policy) = self.capture_policy() {
                let event = $crate::record::EventRecord {
                    time_unix_nano: $crate::clock::unix_nanos_now(),
                    name: name.into(),
                    attributes: if policy.content {
                        attributes
                    } else {
                        Default::default()
                    },
                };
                self.change(|progress| progress.extras().events.push(event));
            }
        }

        /// Sets one attribute.
        pub fn set_attribute(&self, key: impl Into<String>, value: impl serde::Serialize) {
            if self.capture_policy().is_some() {
                let (key, value) = (key.into(), $crate::span::json_value(&value));
                self.change(|progress| {
                    progress.extras().attributes.insert(key, value);
                });
            }
        }

        /// Marks the span failed with the error's `Display` text and type name.
        pub fn fail<E: std::fmt::Display + ?Sized>(&self, error: &E) {
            if self.capture_policy().is_some() {
                let info = $crate::progress::error_info(error);
                self.change(|progress| {
                    progress.status = $crate::record::Status::Error;
                    progress.extras().error = Some(info);
                });
            }
        }

        /// Marks the span failed with an error you describe: its message, and its type
        /// as the failing side names it (a provider's `rate_limit_error`, an HTTP status),
        /// exported as `error.type`.
        pub fn fail_with(&self, error: $crate::record::ErrorInfo) {
            if self.capture_policy().is_some() {
                self.change(|progress| {
                    progress.status = $crate::record::Status::Error;
                    progress.extras().error = Some(error);
                });
            }
        }
    };
}
pub(crate) use recording_methods;

/// A handle to an open span: record input, output, usage and failure on it.
///
/// Handles are cheap to clone and `Send`; writes after the span ended are ignored. A
/// handle from a no-op builder (no client installed, trace sampled out) does nothing.
#[derive(Clone, Default)]
pub struct Span {
    inner: Option<Arc<SharedSpan>>,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(inner) => write!(f, "Span({}/{})", inner.trace.trace_id, inner.span_id),
            None => f.write_str("Span(disabled)"),
        }
    }
}

impl Span {
    pub(crate) fn from_inner(inner: Option<Arc<SharedSpan>>) -> Self {
        Self { inner }
    }

    /// A handle that records nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    pub(crate) fn inner(&self) -> Option<&Arc<SharedSpan>> {
        self.inner.as_ref()
    }

    /// Whether this span records anything.
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// The span's id (`None` for a disabled span).
    pub fn id(&self) -> Option<SpanId> {
        self.inner.as_ref().map(|inner| inner.span_id)
    }

    /// Time since the span started (`None` for a disabled span).
    pub fn elapsed(&self) -> Option<std::time::Duration> {
        self.inner.as_ref().map(|inner| inner.record.elapsed())
    }

    /// The id of the span's trace (`None` for a disabled span).
    pub fn trace_id(&self) -> Option<TraceId> {
        self.inner.as_ref().map(|inner| inner.trace.trace_id)
    }

    /// How values are captured, when recording.
    pub(crate) fn capture_policy(&self) -> Option<CapturePolicy> {
        self.inner.as_ref().map(|inner| inner.trace.recorder.capture)
    }

    /// Changes the open span's progress (ignored once it ended).
    /// Replaces the kind and the name the span started with (either, or both).
    #[cfg(feature = "tracing")]
    pub(crate) fn retype(&self, kind: Option<crate::record::SpanKind>, name: Option<std::borrow::Cow<'static, str>>) {
        self.change(|progress| {
            let retyped = progress.extras().retyped.get_or_insert((None, None));
            if kind.is_some() {
                retyped.0 = kind;
            }
            if name.is_some() {
                retyped.1 = name;
            }
        });
    }

    /// Sets one attribute to a JSON value as it is (the `tracing` bridge's field values:
    /// flat, already owned).
    #[cfg(feature = "tracing")]
    pub(crate) fn set_attribute_value(&self, key: &str, value: serde_json::Value) {
        if self.capture_policy().is_some() {
            let key = key.to_owned();
            self.change(|progress| {
                progress.extras().attributes.insert(key, value);
            });
        }
    }

    pub(crate) fn change(&self, change: impl FnOnce(&mut Progress)) {
        if let Some(inner) = &self.inner {
            inner.update(change);
        }
    }

    recording_methods!();

    /// Records a conversation message attached to this span (sent when the builder is
    /// dropped, at the end of the statement). Not recorded at all when the client
    /// captures no content.
    pub fn message(&self, role: impl Into<Role>, content: impl Into<Content>) -> MessageBuilder {
        match &self.inner {
            Some(inner) => MessageBuilder::in_span(inner, role.into(), content.into()),
            None => MessageBuilder::disabled(),
        }
    }

    /// Ends the span now (it would otherwise end with its guard, `run` or future).
    pub fn end(&self) {
        if let Some(inner) = &self.inner {
            inner.end(Outcome::Ok);
        }
    }
}

pub(crate) fn json_value(value: &impl Serialize) -> serde_json::Value {
    let mut value = serde_json::to_value(value)
        .unwrap_or_else(|error| serde_json::json!({ crate::payload::SERIALIZATION_ERROR_KEY: error.to_string() }));
    crate::payload::limit_depth(&mut value);
    value
}
