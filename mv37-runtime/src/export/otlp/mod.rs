//! The `otlp` exporter: OTLP/HTTP (protobuf or JSON) to any OpenTelemetry backend, with
//! both the OpenTelemetry GenAI (`gen_ai.*`) and the OpenInference attributes, so that
//! Phoenix, Langfuse and generic OTel backends render mv37 spans as LLM spans.
//! The mapping is documented in `docs/OTLP.md`.
//!
//! `config` holds what the exporter is told, `names` every attribute and event name it
//! writes, `encode` the records-to-spans encoder (with `attributes` building each span's
//! attributes and events, `messages` its conversation and `langfuse` Langfuse's own keys),
//! and `exporter` the exporter that sends.

// The configuration is plain data, in every build; the encoder and the exporter come
// with the `otlp` feature.
#[cfg(feature = "otlp")]
mod attributes;
mod config;
#[cfg(feature = "otlp")]
mod encode;
#[cfg(feature = "otlp")]
mod exporter;
#[cfg(feature = "otlp")]
mod langfuse;
#[cfg(feature = "otlp")]
mod messages;
#[cfg(feature = "otlp")]
mod names;

pub use self::config::{OtlpConfig, OtlpProtocol, DEFAULT_OTLP_ENDPOINT};
#[cfg(feature = "otlp")]
pub use self::encode::OtlpEncoder;
#[cfg(feature = "otlp")]
pub use self::exporter::OtlpExporter;
