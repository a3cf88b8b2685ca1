//! The `mv37` exporter: batches of versioned JSON records POSTed to the mv37 ingest API
//! with a bearer key. The protocol is documented in `docs/INGEST.md`.

use std::time::Instant;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use super::http::{HttpTransport, Request};
use super::net::IngestConfig;
use super::resource::ResourceInfo;
use super::{ExportError, Exporter};
use crate::config::error::ConfigError;
use crate::record::{Record, SCHEMA_VERSION};

/// Sends records to the mv37 ingest API.
pub struct IngestExporter {
    url: String,
    gzip: bool,
    headers: HeaderMap,
    resource: serde_json::Value,
    transport: HttpTransport,
}

impl std::fmt::Debug for IngestExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestExporter")
            .field("url", &self.url)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl IngestExporter {
    /// An exporter for `config`; fails without an API key or with a bad endpoint.
    pub fn new(config: IngestConfig, resource: &ResourceInfo) -> Result<Self, ConfigError> {
        crate::config::error::check_url("MV37_ENDPOINT", &config.endpoint)?;
        let key = config.api_key.ok_or(ConfigError::Missing {
            variable: "MV37_API_KEY",
            needed_by: "the mv37 exporter",
        })?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| ConfigError::Invalid {
                variable: "MV37_API_KEY",
                value: "****".to_owned(),
                expected: "a key of visible ASCII characters",
            })?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        Ok(Self {
            url: format!("{}/v1/batches", config.endpoint.trim_end_matches('/')),
            gzip: config.gzip,
            headers,
            resource: serde_json::json!({
                "service_name": resource.service_name,
                "service_version": resource.service_version,
                "environment": resource.environment,
            }),
            transport: HttpTransport::new("mv37", config.retry),
        })
    }

    /// The batch id and the request body for a batch:
    /// `{"v":1,"batch_id":…,"sdk":…,"resource":…,"records":[…]}`.
    ///
    /// The id is a hash of the records' JSON lines, so the same records make the same
    /// id on every retry, after a spool re-send, and in another process (`mv37 send`):
    /// the ingest side can drop a batch it already stored.
    pub(crate) fn body(&self, batch: &[Record]) -> Result<(String, Vec<u8>), serde_json::Error> {
        let mut records = Vec::with_capacity(batch.len() * 512);
        for (index, record) in batch.iter().enumerate() {
            if index > 0 {
                records.push(b',');
            }
            records.extend_from_slice(record.to_json_line()?.as_bytes());
        }
        let batch_id = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&records));
        let mut body = Vec::with_capacity(256 + records.len());
        body.extend_from_slice(format!("{{\"v\":{SCHEMA_VERSION},\"batch_id\":\"{batch_id}\",\"sdk\":{{\"name\":\"mv37-rust\",\"version\":\"{}\"}},\"resource\":", env!("CARGO_PKG_VERSION")).as_bytes());
        serde_json::to_writer(&mut body, &self.resource)?;
        body.extend_from_slice(b",\"records\":[");
        body.extend_from_slice(&records);
        body.extend_from_slice(b"]}");
        Ok((batch_id, body))
    }
}

impl Exporter for IngestExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let (batch_id, body) = self
            .body(batch)
            .map_err(|e| ExportError::new("mv37", format!("cannot encode: {e}")))?;
        let mut headers = self.headers.clone();
        if let Ok(value) = HeaderValue::from_str(&batch_id) {
            headers.insert("idempotency-key", value);
        }
        self.transport.send(&Request {
            url: &self.url,
            body: &body,
            content_type: "application/json",
            gzip: self.gzip,
            headers: &headers,
        })
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.transport.set_deadline(deadline);
    }
}
