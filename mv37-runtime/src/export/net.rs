//! The settings of the network exporters that are plain data: the retry policy, the
//! API key and the ingest exporter's configuration. They are part of the configuration, so they exist in every build, with or
//! without the transports (features `otlp`, `ingest`).

use std::fmt;
use std::time::Duration;

/// A secret credential: never shown by `Debug` or `Display`, so it cannot leak into logs
/// or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(****)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// How hard a network exporter tries to deliver one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per batch, the first included.
    pub max_attempts: u32,
    /// The first backoff; it doubles per retry, with full jitter.
    pub initial_backoff: Duration,
    /// The largest backoff (and the largest `Retry-After` honoured).
    pub max_backoff: Duration,
    /// Longest time spent on one batch, retries included.
    pub max_elapsed: Duration,
    /// Timeout of one request (connect included).
    pub request_timeout: Duration,
    /// Timeout of the TCP/TLS connect.
    pub connect_timeout: Duration,
    /// The retry budget: retries allowed without a success in between. Each retry spends
    /// a token and each successful request earns `budget_refill` back (the default of 1
    /// sustains a collector that fails half its requests), so that during an outage
    /// batches fail fast and are counted instead of stalling the exporter.
    pub budget_tokens: f64,
    /// Tokens earned by each successful request.
    pub budget_refill: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            budget_tokens: 10.0,
            budget_refill: 1.0,
        }
    }
}

/// The default ingest API base URL.
pub const DEFAULT_INGEST_ENDPOINT: &str = "https://ingest.mv37.dev";

/// Where and how the `mv37` exporter sends.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Base URL of the ingest API (`MV37_ENDPOINT`); batches go to `{endpoint}/v1/batches`.
    pub endpoint: String,
    /// The project's API key (`MV37_API_KEY`); required.
    pub api_key: Option<ApiKey>,
    /// Gzip request bodies (on by default).
    pub gzip: bool,
    /// Retries, timeouts and the retry budget.
    pub retry: RetryPolicy,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_INGEST_ENDPOINT.to_owned(),
            api_key: None,
            gzip: true,
            retry: RetryPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_never_show_in_debug_or_display() {
        let key = ApiKey::new("sk-live-123");
        assert_eq!(format!("{key:?} {key}"), "ApiKey(****) ****");
        assert_eq!(key.expose(), "sk-live-123");
    }
}
