//! The protobuf encoding of spans, written straight from their parts ([`SpanParts`]) into
//! one buffer: no `opentelemetry-proto` message is built, so no key or value is copied
//! into a `String` of its own, and each length is computed once from the parts.
//!
//! The bytes are those `prost` writes for the same spans (fields in tag order, proto3
//! defaults left out, a `oneof` value always written): a test in [`super::encode`]
//! checks them against `prost`'s encoding of [`super::OtlpEncoder::request`].
//!
//! Field numbers, from `opentelemetry/proto/{trace,common}/v1/*.proto`:
//! `ScopeSpans.spans` 2; `Span`: `trace_id` 1, `span_id` 2, `parent_span_id` 4,
//! `name` 5, `kind` 6, `start_time_unix_nano` 7, `end_time_unix_nano` 8, `attributes` 9,
//! `events` 11, `status` 15; `Span.Event`: `time_unix_nano` 1, `name` 2, `attributes` 3;
//! `Status`: `message` 2, `code` 3; `KeyValue`: `key` 1, `value` 2; `AnyValue`:
//! `string_value` 1, `bool_value` 2, `int_value` 3, `double_value` 4, `array_value` 5;
//! `ArrayValue.values` 1.

use prost::encoding::encoded_len_varint;

use super::parts::{Attr, EventParts, SpanParts, StatusParts, Val};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;

/// A base-128 varint, low groups first (what `prost::encoding::encode_varint` writes,
/// without going through `BufMut`).
fn encode_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The one-byte key of a field numbered 1 to 15.
fn tag(out: &mut Vec<u8>, field: u8, wire_type: u8) {
    out.push((field << 3) | wire_type);
}

/// A length-delimited field's key and length; its `len` bytes follow.
fn open(out: &mut Vec<u8>, field: u8, len: usize) {
    tag(out, field, LENGTH_DELIMITED);
    encode_varint(len as u64, out);
}

fn bytes(out: &mut Vec<u8>, field: u8, value: &[u8]) {
    open(out, field, value.len());
    out.extend_from_slice(value);
}

fn fixed64(out: &mut Vec<u8>, field: u8, value: u64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

fn varint(out: &mut Vec<u8>, field: u8, value: u64) {
    tag(out, field, VARINT);
    encode_varint(value, out);
}

/// The size of a length-delimited field (one-byte key) holding `len` bytes.
pub(super) fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Writes a length-delimited field (one-byte key) holding `value`.
pub(super) fn write_bytes_field(out: &mut Vec<u8>, field: u8, value: &[u8]) {
    bytes(out, field, value);
}

/// Writes the key and length of a length-delimited field whose `len` bytes follow.
pub(super) fn write_field_header(out: &mut Vec<u8>, field: u8, len: usize) {
    open(out, field, len);
}

fn strings_len(texts: &[&str]) -> usize {
    texts.iter().map(|text| field_len(field_len(text.len()))).sum()
}

fn any_value_len(value: &Val<'_>) -> usize {
    match value {
        Val::Str(text) => field_len(text.len()),
        Val::Bool(_) => 2,
        Val::Int(int) => 1 + encoded_len_varint(*int as u64),
        Val::Double(_) => 9,
        Val::Strs(texts) => field_len(strings_len(texts)),
    }
}

/// The size of a `KeyValue` whose `AnyValue` is `value_len` bytes.
fn key_value_len_with(attr: &Attr<'_>, value_len: usize) -> usize {
    let key = if attr.key.is_empty() {
        0
    } else {
        field_len(attr.key.len())
    };
    key + field_len(value_len)
}

fn key_value_len(attr: &Attr<'_>) -> usize {
    key_value_len_with(attr, any_value_len(&attr.value))
}

fn write_any_value(out: &mut Vec<u8>, value: &Val<'_>) {
    match value {
        Val::Str(text) => bytes(out, 1, text.as_bytes()),
        Val::Bool(flag) => varint(out, 2, u64::from(*flag)),
        // `int64`: a negative value is its two's complement, ten bytes.
        Val::Int(int) => varint(out, 3, *int as u64),
        Val::Double(double) => fixed64(out, 4, double.to_bits()),
        Val::Strs(texts) => {
            open(out, 5, strings_len(texts));
            for text in texts {
                open(out, 1, field_len(text.len()));
                bytes(out, 1, text.as_bytes());
            }
        }
    }
}

/// One attribute as the repeated `KeyValue` field numbered `field`.
fn write_key_value(out: &mut Vec<u8>, field: u8, attr: &Attr<'_>) {
    let value_len = any_value_len(&attr.value);
    open(out, field, key_value_len_with(attr, value_len));
    if !attr.key.is_empty() {
        bytes(out, 1, attr.key.as_bytes());
    }
    open(out, 2, value_len);
    write_any_value(out, &attr.value);
}

fn attributes_len(attributes: &[Attr<'_>]) -> usize {
    attributes.iter().map(|attr| field_len(key_value_len(attr))).sum()
}

fn event_len(event: &EventParts<'_>) -> usize {
    let time = if event.time == 0 { 0 } else { 9 };
    let name = if event.name.is_empty() {
        0
    } else {
        field_len(event.name.len())
    };
    time + name + attributes_len(&event.attributes)
}

fn write_event(out: &mut Vec<u8>, event: &EventParts<'_>) {
    open(out, 11, event_len(event));
    if event.time != 0 {
        fixed64(out, 1, event.time);
    }
    if !event.name.is_empty() {
        bytes(out, 2, event.name.as_bytes());
    }
    for attr in &event.attributes {
        write_key_value(out, 3, attr);
    }
}

fn status_len(status: &StatusParts<'_>) -> usize {
    let message = if status.message.is_empty() {
        0
    } else {
        field_len(status.message.len())
    };
    let code = status.code as i32;
    message
        + if code == 0 {
            0
        } else {
            1 + encoded_len_varint(code as u64)
        }
}

fn write_status(out: &mut Vec<u8>, status: &StatusParts<'_>) {
    open(out, 15, status_len(status));
    if !status.message.is_empty() {
        bytes(out, 2, status.message.as_bytes());
    }
    let code = status.code as i32;
    if code != 0 {
        varint(out, 3, code as u64);
    }
}

fn span_len(span: &SpanParts<'_>) -> usize {
    let ids = field_len(16) + field_len(8) + if span.parent.is_some() { field_len(8) } else { 0 };
    let name_len = span.name.len();
    let name = if name_len == 0 { 0 } else { field_len(name_len) };
    let kind = span.kind as i32;
    let kind = if kind == 0 {
        0
    } else {
        1 + encoded_len_varint(kind as u64)
    };
    let times = if span.start == 0 { 0 } else { 9 } + if span.end == 0 { 0 } else { 9 };
    let events: usize = span.events.iter().map(|event| field_len(event_len(event))).sum();
    let status = span.status.as_ref().map_or(0, |status| field_len(status_len(status)));
    ids + name + kind + times + attributes_len(&span.attributes) + events + status
}

/// Appends `span` as one `ScopeSpans.spans` field.
pub(super) fn write_span(out: &mut Vec<u8>, span: &SpanParts<'_>) {
    let len = span_len(span);
    out.reserve(len + 8);
    open(out, 2, len);
    bytes(out, 1, &span.trace_id.to_bytes());
    bytes(out, 2, &span.span_id.to_bytes());
    if let Some(parent) = span.parent {
        bytes(out, 4, &parent.to_bytes());
    }
    let name_len = span.name.len();
    if name_len != 0 {
        open(out, 5, name_len);
        span.name.write_to(out);
    }
    let kind = span.kind as i32;
    if kind != 0 {
        varint(out, 6, kind as u64);
    }
    if span.start != 0 {
        fixed64(out, 7, span.start);
    }
    if span.end != 0 {
        fixed64(out, 8, span.end);
    }
    for attr in &span.attributes {
        write_key_value(out, 9, attr);
    }
    for event in &span.events {
        write_event(out, event);
    }
    if let Some(status) = &span.status {
        write_status(out, status);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    use serde_json::json;

    use crate::export::otlp::config::OtlpProtocol;
    use crate::export::otlp::encode::OtlpEncoder;
    use crate::export::resource::ResourceInfo;
    use crate::payload::Payload;
    use crate::record::{Content, ContentPart, Document, ErrorInfo, MessageRecord, Record, Role, Status, Usage};
    use crate::{Client, MemoryExporter, RequestParams, ResponseInfo, SpanId, TraceId};

    /// Records of every kind, with every field the encoder reads somewhere among them,
    /// and values at the edges of their encodings (empty strings and keys, zero times,
    /// negative and large numbers, escaped and non-ASCII text).
    fn varied_records() -> Vec<Record> {
        let memory = MemoryExporter::new();
        let client = Client::builder().exporter(memory.clone()).build().expect("client");
        let _ = client
            .trace("support")
            .user_id("cus_123")
            .session_id("s-1")
            .conversation_id("thread_1")
            .tags(["beta", "eu"])
            .context("tenant", "acme")
            .attribute("plan", "pro")
            .input(&json!({"question": "Where is my order?"}))
            .try_run(|trace| {
                trace.message(Role::User, "Where is my order?");
                trace
                    .llm("chat")
                    .model("gpt-4.1-mini")
                    .provider("OpenAI")
                    .input(&json!({"messages": [{"role": "user", "content": "hi"}]}))
                    .run(|span| {
                        span.set_usage(Usage {
                            input_tokens: Some(812),
                            output_tokens: Some(64),
                            cached_tokens: Some(512),
                            cache_write_tokens: Some(8),
                            reasoning_tokens: Some(16),
                            cost_usd: Some(0.00042),
                            context_window_tokens: Some(128_000),
                            context_used_tokens: Some(900),
                            ..Usage::default()
                        });
                        span.set_request_params(RequestParams {
                            temperature: Some(0.2),
                            max_tokens: Some(256),
                            seed: Some(-3),
                            stop_sequences: vec!["END".into(), String::new()],
                            ..RequestParams::default()
                        });
                        span.set_response_info(ResponseInfo {
                            id: Some("resp_1".into()),
                            finish_reasons: vec!["tool_calls".into()],
                            ..ResponseInfo::default()
                        });
                        span.set_attribute("mv37.ttft_ms", 120.5);
                        span.set_attribute("", "an empty key");
                        span.set_attribute("big", u64::MAX);
                        span.set_attribute("nested", json!({"a": [1, null]}));
                        span.message(Role::System, "Be brief.");
                        span.message(
                            Role::User,
                            vec![
                                ContentPart::text("Refund \"4421\"\n"),
                                ContentPart::image_url("https://x/r.png"),
                                ContentPart::image_base64("image/png", "AAAA"),
                            ],
                        );
                        span.message(
                            Role::Assistant,
                            ContentPart::tool_call("call_1", "issue_refund", json!({"order": "4421"})),
                        );
                        span.add_event("retry", serde_json::Map::from_iter([("attempt".to_owned(), json!(2))]));
                        span.record_output(&"Calling issue_refund — é ✓");
                        let id = span.id().expect("recording");
                        trace.feedback("useful", true).span(id);
                        trace.signal("retried", 1);
                    });
                trace
                    .tool("issue_refund")
                    .arguments(&json!({"order": "4421"}))
                    .run(|span| span.record_output(&json!({"refunded": true})));
                trace.retrieval("search").run(|span| {
                    span.record_documents(&[
                        Document::new("Refunds within 30 days.").id("kb-1").score(0.9),
                        Document::new("Other."),
                    ]);
                });
                trace.agent("planner").attribute("agent_id", 7).run(|_| {});
                trace.span("embedding").model("text-embedding-3-small").run(|_| {});
                trace.task("").run(|_| {});
                trace.feedback("thumbs", "down").comment("wrong");
                Err::<(), _>("refused")
            });
        let id = client.trace("later").run(|trace| trace.id().expect("recording"));
        client.feedback(id, "csat", json!({"score": 4}));
        client.feedback(TraceId::random(), "orphan", 1.5);
        client.shutdown().expect("shutdown");
        let mut records = memory.records();
        // What the API does not make: a cancelled span, a failed one with no start time
        // and a typed error, and messages recorded after their span ended.
        let base = records
            .iter()
            .find_map(|record| match record {
                Record::Span(span) => Some(span.clone()),
                _ => None,
            })
            .expect("a span recorded");
        let mut cancelled = base.clone();
        cancelled.span_id = SpanId::random();
        cancelled.status = Status::Cancelled;
        cancelled.input = Payload::from_json("  \"spaced\" ").ok();
        let mut failed = base.clone();
        failed.span_id = SpanId::random();
        failed.status = Status::Error;
        failed.start_time_unix_nano = 0;
        failed.error = Some(ErrorInfo {
            message: String::new(),
            error_type: Some("std::io::error::Error".into()),
        });
        let message = MessageRecord {
            trace_id: base.trace_id,
            span_id: base.span_id,
            time_unix_nano: 1_700_000_000_000_000_000,
            role: Role::Assistant,
            content: Content::Parts(vec![ContentPart::text("late")]),
            tool_call_id: Some("call_1".into()),
            is_internal: true,
            scope: base.scope.clone(),
        };
        records.extend([Record::Span(cancelled), Record::Span(failed), Record::Message(message)]);
        records
    }

    fn assert_same_as_prost(encoder: &OtlpEncoder, records: &[Record]) {
        let written = encoder.encode(records, OtlpProtocol::Protobuf).expect("encodes");
        let request = encoder.request(records);
        assert_eq!(written, request.encode_to_vec(), "{} records", records.len());
        let decoded = ExportTraceServiceRequest::decode(written.as_slice()).expect("decodes");
        assert_eq!(decoded, request);
    }

    /// The protobuf written from the parts is, byte for byte, `prost`'s encoding of the
    /// request built from the same parts: for the whole batch, each record alone, and no
    /// record at all.
    #[test]
    fn the_protobuf_written_directly_is_what_prost_writes() {
        let records = varied_records();
        assert!(records.len() > 10, "{} records", records.len());
        let encoder = OtlpEncoder::new(&ResourceInfo {
            service_name: Some("support-bot".into()),
            environment: Some("prod".into()),
            extra: vec![("k".into(), "v".repeat(300))],
            ..ResourceInfo::default()
        });
        assert_same_as_prost(&encoder, &records);
        for record in &records {
            assert_same_as_prost(&encoder, std::slice::from_ref(record));
        }
        assert_same_as_prost(&encoder, &[]);
        // A batch large enough for multi-byte lengths at every level.
        let many: Vec<Record> = records.iter().cycle().take(2_000).cloned().collect();
        assert_same_as_prost(&OtlpEncoder::new(&ResourceInfo::default()), &many);
    }

    /// Encoding into a reused buffer gives the same body as encoding afresh, whatever the
    /// buffer held before.
    #[test]
    fn a_reused_buffer_gives_the_same_body() {
        let records = varied_records();
        let encoder = OtlpEncoder::new(&ResourceInfo::default());
        let mut buffer = vec![0xAA; 100_000];
        for batch in [&records[..], &records[..1], &records[2..], &[]] {
            let start = encoder.encode_protobuf_into(batch, &mut buffer);
            let fresh = encoder.encode(batch, OtlpProtocol::Protobuf).expect("encodes");
            assert_eq!(&buffer[start..], fresh.as_slice());
        }
    }
}
