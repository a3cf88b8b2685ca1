//! What a request on the wire is: which LLM API it calls, which provider serves it, and
//! how an HTTP error status reads as an error.

use http::{Method, StatusCode};
use serde_json::Value;
use std::borrow::Cow;
use url::Url;

use crate::llm::stream::provider_error;
use crate::record::{ErrorInfo, SpanKind};

/// Attribute: the HTTP status of the response (`http.response.status_code`).
pub(crate) const STATUS_CODE: &str = "http.response.status_code";

/// The API a request calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// OpenAI Chat Completions (`…/chat/completions`).
    Chat,
    /// The OpenAI Responses API (`…/responses`).
    Responses,
    /// OpenAI Embeddings (`…/embeddings`).
    Embeddings,
    /// Anthropic Messages (`…/v1/messages`).
    Messages,
}

impl Api {
    /// The API a request calls, from its method and path; `None` for anything else.
    pub(crate) fn recognise(method: &Method, url: &Url) -> Option<Api> {
        if method != Method::POST {
            return None;
        }
        let path = url.path().trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Api::Chat)
        } else if path.ends_with("/responses") {
            Some(Api::Responses)
        } else if path.ends_with("/embeddings") {
            Some(Api::Embeddings)
        } else if path.ends_with("/v1/messages") {
            Some(Api::Messages)
        } else {
            None
        }
    }

    /// `gen_ai.operation.name`, the first word of the span's name.
    pub(crate) fn operation(self) -> &'static str {
        match self {
            Api::Embeddings => "embeddings",
            Api::Chat | Api::Responses | Api::Messages => "chat",
        }
    }

    pub(crate) fn kind(self) -> SpanKind {
        match self {
            Api::Embeddings => SpanKind::Custom(Cow::Borrowed("embeddings")),
            Api::Chat | Api::Responses | Api::Messages => SpanKind::Llm,
        }
    }
}

/// `gen_ai.provider.name` for a call to `url`: the registered name of a known host, and
/// `openai_compatible` for any other host speaking the OpenAI shapes (a local server,
/// a gateway).
pub(crate) fn provider_of(url: &Url, api: Api) -> &'static str {
    if api == Api::Messages {
        return "anthropic";
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    const AZURE: [&str; 3] = [
        ".openai.azure.com",
        ".cognitiveservices.azure.com",
        ".services.ai.azure.com",
    ];
    if AZURE.iter().any(|suffix| host.ends_with(suffix)) {
        return "azure.ai.openai";
    }
    match host.as_str() {
        "api.openai.com" => "openai",
        "api.groq.com" => "groq",
        "api.deepseek.com" => "deepseek",
        "api.mistral.ai" => "mistral_ai",
        "api.x.ai" => "x_ai",
        "api.perplexity.ai" => "perplexity",
        "generativelanguage.googleapis.com" => "gcp.gemini",
        _ => "openai_compatible",
    }
}

/// An Azure OpenAI deployment named in the path (`/openai/deployments/{name}/…`): the
/// model, when the body names none.
pub(crate) fn azure_deployment(url: &Url) -> Option<&str> {
    let mut segments = url.path_segments()?;
    segments.find(|segment| *segment == "deployments")?;
    segments.next().filter(|name| !name.is_empty())
}

/// The error of an HTTP error status, with the provider's error object when the body
/// held one (`{"error": {"type", "code", "message"}}`).
pub(crate) fn http_error(status: StatusCode, body: Option<&Value>) -> ErrorInfo {
    let reason = status.canonical_reason().unwrap_or("error");
    let provider = body.and_then(|body| body.get("error").filter(|e| e.is_object()).or(Some(body)));
    match provider.filter(|e| e.get("message").is_some() || e.get("type").is_some()) {
        Some(error) => {
            let info = provider_error(error, "");
            let error_type = info.error_type.filter(|t| !t.is_empty());
            ErrorInfo {
                message: format!("HTTP {} {reason}: {}", status.as_u16(), info.message),
                error_type: error_type.or_else(|| Some(status.as_u16().to_string())),
            }
        }
        None => ErrorInfo {
            message: format!("HTTP {} {reason}", status.as_u16()),
            error_type: Some(status.as_u16().to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn requests_are_recognised_by_method_and_path() {
        let post = Method::POST;
        let api = |u: &str| Api::recognise(&post, &url(u));
        assert_eq!(api("https://api.openai.com/v1/chat/completions"), Some(Api::Chat));
        assert_eq!(api("http://127.0.0.1:8080/v1/responses/"), Some(Api::Responses));
        assert_eq!(api("http://localhost:11434/v1/embeddings"), Some(Api::Embeddings));
        assert_eq!(api("https://api.anthropic.com/v1/messages"), Some(Api::Messages));
        assert_eq!(
            api("https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"),
            Some(Api::Chat)
        );
        assert_eq!(api("https://api.openai.com/v1/files"), None);
        assert_eq!(api("https://api.openai.com/v1/responses/resp_1/cancel"), None);
        assert_eq!(
            Api::recognise(&Method::GET, &url("https://api.openai.com/v1/responses")),
            None
        );
    }

    #[test]
    fn the_provider_comes_from_the_host() {
        let provider = |u: &str, api| provider_of(&url(u), api);
        assert_eq!(
            provider("https://api.openai.com/v1/chat/completions", Api::Chat),
            "openai"
        );
        assert_eq!(
            provider("https://my.openai.azure.com/openai/x", Api::Chat),
            "azure.ai.openai"
        );
        assert_eq!(
            provider("http://127.0.0.1:8000/v1/chat/completions", Api::Chat),
            "openai_compatible"
        );
        assert_eq!(
            provider("https://gateway.example/v1/messages", Api::Messages),
            "anthropic"
        );
        assert_eq!(
            azure_deployment(&url(
                "https://my.openai.azure.com/openai/deployments/gpt4o/chat/completions"
            )),
            Some("gpt4o")
        );
    }

    #[test]
    fn an_http_error_names_the_provider_type() {
        let body = serde_json::json!({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}});
        let error = http_error(StatusCode::TOO_MANY_REQUESTS, Some(&body));
        assert_eq!(error.error_type.as_deref(), Some("rate_limit_exceeded"));
        assert_eq!(error.message, "HTTP 429 Too Many Requests: Rate limit reached");
        let anthropic =
            serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        let error = http_error(StatusCode::from_u16(529).expect("status"), Some(&anthropic));
        assert_eq!(error.error_type.as_deref(), Some("overloaded_error"));
        let error = http_error(StatusCode::INTERNAL_SERVER_ERROR, None);
        assert_eq!(
            (error.error_type.as_deref(), error.message.as_str()),
            (Some("500"), "HTTP 500 Internal Server Error")
        );
    }
}
