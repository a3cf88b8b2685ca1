//! The `otlp` exporter: OTLP/HTTP (protobuf or JSON) to any OpenTelemetry backend, with
//! both the OpenTelemetry GenAI (`gen_ai.*`) and the OpenInference attributes, so that
//! Phoenix, Langfuse and generic OTel backends render mv37 spans as LLM spans.
//! The mapping is documented in `docs/OTLP.md`.
//!
//! `config` holds what the exporter is told, `names` every attribute and event name it
//! writes, `encode` the records-to-spans encoder: each record becomes a span's `parts`,
//! with `attributes` building its attributes and events, `messages` its conversation,
//! `langfuse` Langfuse's own keys and `evaluation` the events of feedback and signals;
//! `wire` writes the parts as protobuf. `exporter` is the exporter that sends, with `gzip`
//! compressing its bodies.

// The configuration is plain data, in every build; the encoder and the exporter come
// with the `otlp` feature.
#[cfg(feature = "otlp")]
mod attributes;
mod config;
#[cfg(feature = "otlp")]
mod encode;
#[cfg(feature = "otlp")]
mod evaluation;
#[cfg(feature = "otlp")]
mod exporter;
#[cfg(feature = "otlp")]
mod gzip;
#[cfg(feature = "otlp")]
mod langfuse;
#[cfg(feature = "otlp")]
mod messages;
#[cfg(feature = "otlp")]
mod names;
#[cfg(feature = "otlp")]
mod parts;
#[cfg(feature = "otlp")]
mod wire;

pub use self::config::{OtlpConfig, OtlpProtocol, DEFAULT_OTLP_ENDPOINT};
#[cfg(feature = "otlp")]
pub use self::encode::OtlpEncoder;
#[cfg(feature = "otlp")]
pub use self::exporter::OtlpExporter;
