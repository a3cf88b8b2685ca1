//! What a model call and a retrieval carry besides input, output, messages and usage:
//! the request's parameters and where it went ([`RequestParams`]), what the response
//! says about itself ([`ResponseInfo`]), and the documents a retrieval returned
//! ([`Document`], recorded as [`DocumentRecord`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Attributes;
use crate::payload::Payload;

/// The parameters of a model request, named as the OpenTelemetry GenAI conventions name
/// them (`gen_ai.request.*`), and the server it was sent to (`server.address`,
/// `server.port`). Every field is optional: set what the request carries.
///
/// Read one off a provider request with
/// [`request_params_from_openai`](crate::request_params_from_openai) or
/// [`request_params_from_anthropic`](crate::request_params_from_anthropic), or build it
/// by hand; record it with `span.set_request_params(params)`.
///
/// ```
/// use mv37_runtime::RequestParams;
///
/// let params = RequestParams {
///     temperature: Some(0.2),
///     max_tokens: Some(512),
///     stop_sequences: vec!["\n\nUser:".into()],
///     ..RequestParams::default()
/// }
/// .server_url("https://api.openai.com/v1");
/// assert_eq!(params.server_address.as_deref(), Some("api.openai.com"));
/// assert_eq!(params.server_port, Some(443));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestParams {
    /// Sampling temperature (`gen_ai.request.temperature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The most tokens the model may generate (`gen_ai.request.max_tokens`): OpenAI's
    /// `max_completion_tokens` / `max_tokens` / `max_output_tokens`, Anthropic's `max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Nucleus sampling mass (`gen_ai.request.top_p`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling (`gen_ai.request.top_k`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<f64>,
    /// Sequences that stop generation (`gen_ai.request.stop_sequences`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Sampling seed (`gen_ai.request.seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Frequency penalty (`gen_ai.request.frequency_penalty`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty (`gen_ai.request.presence_penalty`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// The host the request was sent to (`server.address`); see
    /// [`server_url`](Self::server_url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_address: Option<String>,
    /// The port the request was sent to (`server.port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_port: Option<u16>,
}

impl RequestParams {
    /// These parameters with the server's host and port taken from a base URL, such as
    /// `https://api.openai.com/v1` (`api.openai.com`, 443) or `http://localhost:11434/v1`
    /// (`localhost`, 11434). Without a port in the URL, `https` means 443 and `http` 80.
    /// A URL that names no host leaves both fields as they were.
    pub fn server_url(mut self, url: &str) -> Self {
        if let Some((address, port)) = parse_server_url(url) {
            self.server_address = Some(address.to_owned());
            self.server_port = port.or(self.server_port);
        }
        self
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Takes the fields `newer` sets; the others keep their values.
    pub(crate) fn merge(&mut self, newer: RequestParams) {
        fn keep<T>(slot: &mut Option<T>, newer: Option<T>) {
            if newer.is_some() {
                *slot = newer;
            }
        }
        keep(&mut self.temperature, newer.temperature);
        keep(&mut self.max_tokens, newer.max_tokens);
        keep(&mut self.top_p, newer.top_p);
        keep(&mut self.top_k, newer.top_k);
        if !newer.stop_sequences.is_empty() {
            self.stop_sequences = newer.stop_sequences;
        }
        keep(&mut self.seed, newer.seed);
        keep(&mut self.frequency_penalty, newer.frequency_penalty);
        keep(&mut self.presence_penalty, newer.presence_penalty);
        keep(&mut self.server_address, newer.server_address);
        keep(&mut self.server_port, newer.server_port);
    }

    /// The sampling parameters alone, without the server: OpenInference's
    /// `llm.invocation_parameters`.
    #[cfg(feature = "otlp")]
    pub(crate) fn invocation_parameters(&self) -> Self {
        Self {
            server_address: None,
            server_port: None,
            ..self.clone()
        }
    }
}

/// The host and port of a URL (`scheme://[user@]host[:port][/path]`, or a bare
/// `host[:port]`); the port is the scheme's default when the URL has none.
pub(crate) fn parse_server_url(url: &str) -> Option<(&str, Option<u16>)> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]:8080`.
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => match scheme.map(str::to_ascii_lowercase).as_deref() {
            Some("https" | "wss") => Some(443),
            Some("http" | "ws") => Some(80),
            _ => None,
        },
    };
    Some((host, port))
}

/// What a model response says about itself: its id (`gen_ai.response.id`), the model
/// that answered (`gen_ai.response.model`, often a dated version of the model asked
/// for) and why generation stopped (`gen_ai.response.finish_reasons`, one per choice, as
/// the provider words it: `stop`, `tool_calls`, `end_turn`, `max_tokens`…).
///
/// Read one off a response with
/// [`response_info_from_openai`](crate::response_info_from_openai) or
/// [`response_info_from_anthropic`](crate::response_info_from_anthropic) (the streaming
/// accumulators gather it from the chunks), or build it by hand; record it with
/// `span.set_response_info(info)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseInfo {
    /// The provider's id of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model that generated the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why generation stopped, one reason per choice, in choice order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finish_reasons: Vec<String>,
}

impl ResponseInfo {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Takes the fields `newer` sets; the others keep their values.
    pub(crate) fn merge(&mut self, newer: ResponseInfo) {
        if newer.id.is_some() {
            self.id = newer.id;
        }
        if newer.model.is_some() {
            self.model = newer.model;
        }
        if !newer.finish_reasons.is_empty() {
            self.finish_reasons = newer.finish_reasons;
        }
    }
}

/// A document a retrieval returned, for `span.record_documents(&documents)`: its text,
/// and optionally its id, relevance score and metadata.
///
/// ```
/// use mv37_runtime::Document;
///
/// let document = Document::new("Orders can be refunded within 30 days.")
///     .id("kb-12")
///     .score(0.92)
///     .metadata("source", "refund-policy.md");
/// assert_eq!(document.metadata.unwrap()["source"], "refund-policy.md");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The document's id in its store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its text (captured under the payload size limit, as inputs and outputs are).
    pub content: String,
    /// Its relevance score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Anything else about it (source, page, author…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Attributes>,
}

impl Document {
    /// A document with this text.
    pub fn new(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }

    /// Sets its id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets its relevance score.
    pub fn score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }

    /// Adds one metadata entry: any `Serialize` value.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|error| serde_json::json!({ crate::payload::SERIALIZATION_ERROR_KEY: error.to_string() }));
        self.metadata
            .get_or_insert_with(Attributes::new)
            .insert(key.into(), value);
        self
    }
}

/// A [`Document`] as a span record holds it: its content captured like an input or an
/// output (a JSON string, or the truncation marker when larger than the payload limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// The document's id in its store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its text, as captured; `None` when the client captures no content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Payload>,
    /// Its relevance score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Anything else about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Attributes>,
}

impl DocumentRecord {
    /// Captures `document`, its content under `limit` bytes.
    #[cfg(test)]
    pub(crate) fn capture(document: &Document, limit: usize) -> Self {
        Self::capture_with(
            document,
            crate::payload::CapturePolicy {
                max_bytes: limit,
                content: true,
            },
        )
    }

    /// Captures `document` as `policy` says: without content capture only its id and
    /// score are kept (its text and metadata are content).
    pub(crate) fn capture_with(document: &Document, policy: crate::payload::CapturePolicy) -> Self {
        let metadata = document
            .metadata
            .clone()
            .filter(|_| policy.content)
            .map(|mut metadata| {
                metadata.values_mut().for_each(crate::payload::limit_depth);
                metadata
            });
        Self {
            id: document.id.clone(),
            content: policy.capture(&document.content),
            score: document.score,
            metadata,
        }
    }

    /// The content's text: the document's text, or the marker's JSON when it was cut;
    /// `None` when no content was captured.
    pub fn content_text(&self) -> Option<String> {
        let content = self.content.as_ref()?;
        Some(match content.to_value() {
            Value::String(text) => text,
            _ => content.as_json().to_owned(),
        })
    }

    /// A rough size in bytes, counted against the queue bound.
    pub(crate) fn approx_bytes(&self) -> usize {
        64 + self.content.as_ref().map_or(0, Payload::len)
            + self.id.as_ref().map_or(0, String::len)
            + self.metadata.as_ref().map_or(0, |m| m.len() * 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_gives_the_host_and_the_port_or_the_schemes_default() {
        for (url, expected) in [
            ("https://api.openai.com/v1", Some(("api.openai.com", Some(443)))),
            ("http://localhost:11434/v1", Some(("localhost", Some(11434)))),
            ("http://proxy.internal", Some(("proxy.internal", Some(80)))),
            (
                "https://user:secret@gateway.example.com:8443/openai?x=1",
                Some(("gateway.example.com", Some(8443))),
            ),
            ("http://[::1]:8080/v1", Some(("::1", Some(8080)))),
            ("https://[2001:db8::1]/v1", Some(("2001:db8::1", Some(443)))),
            ("localhost:8000", Some(("localhost", Some(8000)))),
            ("unix:///tmp/socket", None),
            ("https://host:notaport/", None),
            ("", None),
        ] {
            assert_eq!(parse_server_url(url), expected, "{url}");
        }
    }

    #[test]
    fn merging_keeps_what_the_newer_value_leaves_unset() {
        let mut params = RequestParams::default().server_url("https://api.anthropic.com");
        params.merge(RequestParams {
            temperature: Some(0.5),
            ..RequestParams::default()
        });
        assert_eq!(params.server_address.as_deref(), Some("api.anthropic.com"));
        assert_eq!(params.temperature, Some(0.5));
        let mut info = ResponseInfo {
            id: Some("resp_1".into()),
            ..ResponseInfo::default()
        };
        info.merge(ResponseInfo {
            finish_reasons: vec!["stop".into()],
            ..ResponseInfo::default()
        });
        assert_eq!(info.id.as_deref(), Some("resp_1"));
        assert_eq!(info.finish_reasons, ["stop"]);
    }

    #[test]
    fn a_document_over_the_limit_keeps_a_truncation_marker() {
        let record = DocumentRecord::capture(&Document::new("x".repeat(1000)).id("big"), 300);
        assert!(
            record.content.as_ref().is_some_and(Payload::is_truncated),
            "{:?}",
            record.content
        );
        let small = DocumentRecord::capture(&Document::new("short"), 300);
        assert_eq!(small.content_text().as_deref(), Some("short"));
        let policy = crate::payload::CapturePolicy {
            max_bytes: 300,
            content: false,
        };
        let bare = DocumentRecord::capture_with(
            &Document::new("secret").id("kb-1").score(0.5).metadata("page", 2),
            policy,
        );
        assert_eq!(
            (bare.id.as_deref(), bare.score, &bare.content, &bare.metadata),
            (Some("kb-1"), Some(0.5), &None, &None)
        );
    }
}
