//! The `otlp` exporter's configuration: where and how it sends.

use secrecy::SecretString;

use crate::export::net::RetryPolicy;

/// The wire encoding of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `application/x-protobuf` (the default, `http/protobuf`).
    Protobuf,
    /// `application/json` (`http/json`).
    Json,
}

impl OtlpProtocol {
    /// The `Content-Type` of a request body in this protocol.
    #[cfg(feature = "otlp")]
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Where and how the `otlp` exporter sends.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The full traces URL, such as `http://localhost:4318/v1/traces`.
    pub endpoint: String,
    /// Protobuf or JSON.
    pub protocol: OtlpProtocol,
    /// Gzip request bodies.
    pub gzip: bool,
    /// Extra headers (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS`),
    /// such as an API key. Values are secrets: `Debug` shows `[REDACTED]`, errors never
    /// quote them, and requests mark them sensitive. Build one with
    /// `("x-api-key".into(), token.into())`; read one with [`secrecy::ExposeSecret`].
    pub headers: Vec<(String, SecretString)>,
    /// Resource attributes beyond those derived from the client's configuration
    /// (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// Retries, timeouts and the retry budget.
    pub retry: RetryPolicy,
}

/// The default OTLP/HTTP traces endpoint of a local collector.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318/v1/traces";

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_OTLP_ENDPOINT.to_owned(),
            protocol: OtlpProtocol::Protobuf,
            gzip: false,
            headers: Vec::new(),
            resource_attributes: Vec::new(),
            retry: RetryPolicy::default(),
        }
    }
}
