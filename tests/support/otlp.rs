//! Records through the OTLP encoder and back, decoded with the official protobuf types.
#![allow(clippy::panic)]

use std::collections::HashMap;

use mv37::{OtlpEncoder, OtlpProtocol, Record, ResourceInfo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// The spans the OTLP encoder makes of `records`, in order.
pub fn encoded_spans(records: &[Record]) -> Vec<Span> {
    let body = OtlpEncoder::new(&ResourceInfo::default())
        .encode(records, OtlpProtocol::Protobuf)
        .expect("encodes");
    let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes as OTLP protobuf");
    request
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect()
}

/// Attributes (of a span or an event) by key.
pub fn attribute_map(attributes: &[KeyValue]) -> HashMap<&str, &AnyValue> {
    attributes
        .iter()
        .filter_map(|kv| Some((kv.key.as_str(), kv.value.as_ref()?.value.as_ref()?)))
        .collect()
}

/// A string attribute, or a panic naming what was there instead.
pub fn text<'a>(attributes: &HashMap<&str, &'a AnyValue>, key: &str) -> &'a str {
    match attributes.get(key) {
        Some(AnyValue::StringValue(text)) => text,
        other => panic!("{key}: expected a string, got {other:?}"),
    }
}

/// A double attribute, or a panic naming what was there instead.
pub fn double(attributes: &HashMap<&str, &AnyValue>, key: &str) -> f64 {
    match attributes.get(key) {
        Some(AnyValue::DoubleValue(value)) => *value,
        other => panic!("{key}: expected a double, got {other:?}"),
    }
}
