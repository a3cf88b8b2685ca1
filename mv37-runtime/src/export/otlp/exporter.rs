//! The exporter that encodes each batch and sends it with the HTTP transport.
//!
//! It keeps its body buffer and its gzip compressor from one batch to the next, and
//! compresses itself (the transport is then told the body is ready as it is, with
//! `Content-Encoding: gzip` among the headers).

use std::time::Instant;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING};

use super::config::{OtlpConfig, OtlpProtocol};
use super::encode::OtlpEncoder;
use super::gzip::Gzip;
use crate::export::http::{HttpTransport, Request};
use crate::export::resource::ResourceInfo;
use crate::export::{ExportError, Exporter};
use crate::record::Record;

/// Sends records to an OTLP/HTTP endpoint.
pub struct OtlpExporter {
    config: OtlpConfig,
    encoder: OtlpEncoder,
    headers: HeaderMap,
    /// `headers`, with `Content-Encoding: gzip` when bodies are gzipped.
    send_headers: HeaderMap,
    transport: HttpTransport,
    /// The encoded body, kept between batches (up to [`KEEP_BYTES`]).
    body: Vec<u8>,
    gzip: Option<Gzip>,
}

/// The largest body buffer kept between batches; a larger one, left by an unusually
/// large batch, is given back.
const KEEP_BYTES: usize = 4 * 1024 * 1024;

/// The gzip level. Level 1 of the deflate implementation used (miniz_oxide) finds few of
/// the matches between one span and the next (a small hash table, no chains): on agent
/// spans it sends about 1.8 times the bytes of level 2 (72 against 40 bytes per span in
/// mv37-bench's `agent` case), for about three quarters of the CPU per span. Level 3
/// saves another 12% of the bytes for some 10% more CPU. Deflating is most of what the
/// exporter costs per span.
const GZIP_LEVEL: u32 = 2;

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
        let mut send_headers = headers.clone();
        if config.gzip {
            send_headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Ok(Self {
            encoder: OtlpEncoder::new(&resource),
            transport: HttpTransport::new("otlp", config.retry),
            gzip: config.gzip.then(|| Gzip::new(flate2::Compression::new(GZIP_LEVEL))),
            body: Vec::new(),
            headers,
            send_headers,
            config,
        })
    }
}

impl Exporter for OtlpExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        if self.body.capacity() > KEEP_BYTES {
            self.body = Vec::new();
        }
        let start = match self.config.protocol {
            OtlpProtocol::Protobuf => self.encoder.encode_protobuf_into(batch, &mut self.body),
            OtlpProtocol::Json => {
                self.body = self
                    .encoder
                    .encode(batch, OtlpProtocol::Json)
                    .map_err(|e| ExportError::new("otlp", format!("cannot encode: {e}")))?;
                0
            }
        };
        let encoded = self.body.get(start..).unwrap_or_default();
        let body = match &mut self.gzip {
            Some(gzip) => gzip
                .compress(encoded)
                .map_err(|e| ExportError::new("otlp", format!("gzip failed: {e}")))?,
            None => encoded,
        };
        self.transport.send(&Request {
            url: &self.config.endpoint,
            body,
            content_type: self.config.protocol.content_type(),
            // Compressed above, with its header in `send_headers`.
            gzip: false,
            headers: &self.send_headers,
        })
    }

    fn set_deadline(&mut self, deadline: Instant) {
        self.transport.set_deadline(deadline);
    }
}
