//! The exporter that encodes each batch and sends it with the HTTP transport.

use std::time::Instant;

use reqwest::header::HeaderMap;

use super::config::OtlpConfig;
use super::encode::OtlpEncoder;
use crate::export::http::{HttpTransport, Request};
use crate::export::resource::ResourceInfo;
use crate::export::{ExportError, Exporter};
use crate::record::Record;

/// Sends records to an OTLP/HTTP endpoint.
pub struct OtlpExporter {
    config: OtlpConfig,
    encoder: OtlpEncoder,
    headers: HeaderMap,
    transport: HttpTransport,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may carry API keys: show only their names.
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.config.endpoint)
            .field("protocol", &self.config.protocol)
            .field("gzip", &self.config.gzip)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl OtlpExporter {
    /// An exporter for `config`, stamping `resource` on every span.
    pub fn new(config: OtlpConfig, resource: &ResourceInfo) -> Result<Self, crate::config::error::ConfigError> {
        crate::config::error::check_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &config.endpoint)?;
        // Headers from the environment were checked when read; these come from code.
        let headers = crate::export::http::header_map(&config.headers)
            .map_err(|error| crate::config::error::entry_error("otlp.headers", error))?;
        let mut resource = resource.clone();
        resource.extra.extend(config.resource_attributes.iter().cloned());
        Ok(Self {
            encoder: OtlpEncoder::new(&resource),
            transport: HttpTransport::new("otlp", config.retry),
            headers,
            config,
        })
    }
}

impl Exporter for OtlpExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let body = self
            .encoder
            .encode(batch, self.config.protocol)
            .map_err(|e| ExportError::new("otlp", format!("cannot encode: {e}")))?;
        self.transport.send(&Request {
            url: &self.config.endpoint,
            body: &body,
            content_type: self.config.protocol.content_type(),
            gzip: self.config.gzip,
            headers: &self.headers,
        })
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.transport.set_deadline(deadline);
    }
}
