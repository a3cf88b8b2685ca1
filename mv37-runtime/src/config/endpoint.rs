//! The one rule for OTLP endpoints, wherever they come from:
//!
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is the traces URL itself (as the OpenTelemetry
//!   specification says), used as it is;
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: `/v1/traces` is always appended (also
//!   the specification's rule);
//! - an endpoint given in code (`ClientBuilder::otlp_endpoint`) or on the command line
//!   (`mv37 send --endpoint`) is used as it is when it has a path, and a bare host such as
//!   `http://localhost:4318` gets `/v1/traces`.

/// The traces URL under the base URL of `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub(crate) fn traces_url_from_base(base: &str) -> String {
    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
}

/// The traces URL for an endpoint given in code or on the command line: the URL itself
/// when it has a path, else the URL with `/v1/traces`.
///
/// ```
/// use mv37_runtime::otlp_traces_url;
/// assert_eq!(otlp_traces_url("http://localhost:4318"), "http://localhost:4318/v1/traces");
/// assert_eq!(otlp_traces_url("http://localhost:4318/"), "http://localhost:4318/v1/traces");
/// assert_eq!(otlp_traces_url("https://cloud.example/api/otel/v1/traces"), "https://cloud.example/api/otel/v1/traces");
/// ```
pub fn otlp_traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    let after_scheme = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(slash) if !after_scheme[slash..].trim_end_matches('/').is_empty() => endpoint.to_owned(),
        _ => traces_url_from_base(endpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_always_gets_the_traces_path() {
        assert_eq!(traces_url_from_base("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url_from_base("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(traces_url_from_base(" http://c/otel/ "), "http://c/otel/v1/traces");
    }

    #[test]
    fn an_endpoint_with_a_path_is_kept_and_a_bare_host_gets_the_traces_path() {
        assert_eq!(otlp_traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(otlp_traces_url("http://c:4318///"), "http://c:4318/v1/traces");
        assert_eq!(otlp_traces_url("http://c:6006/v1/traces"), "http://c:6006/v1/traces");
        assert_eq!(
            otlp_traces_url("https://h/api/public/otel"),
            "https://h/api/public/otel"
        );
    }
}
