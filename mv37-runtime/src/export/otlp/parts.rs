//! A span as the encoder builds it: [`SpanParts`], its attributes ([`Attr`]), events and
//! status, borrowed from the record it is made of wherever they can be, so that building a
//! span copies and allocates nothing for most of its attributes. The parts are written as
//! protobuf straight away ([`super::wire`]) or turned into the `opentelemetry-proto`
//! types ([`SpanParts::take_span`], for OTLP/JSON and [`super::OtlpEncoder::request`]).

use std::borrow::Cow;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status as OtlpStatus};

use crate::ids::{SpanId, TraceId};
use crate::record::MessageRecord;

/// An attribute's value, borrowed from the records where it can be.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val<'a> {
    /// `string_value`.
    Str(Cow<'a, str>),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// `bool_value`.
    Bool(bool),
    /// `array_value` of strings (`string[]` in the conventions' registry).
    Strs(Vec<&'a str>),
}

impl Val<'_> {
    /// The `opentelemetry-proto` value.
    fn into_any_value(self) -> AnyValue {
        let value = match self {
            Val::Str(text) => any_value::Value::StringValue(text.into_owned()),
            Val::Int(int) => any_value::Value::IntValue(int),
            Val::Double(double) => any_value::Value::DoubleValue(double),
            Val::Bool(flag) => any_value::Value::BoolValue(flag),
            Val::Strs(texts) => any_value::Value::ArrayValue(ArrayValue {
                values: texts
                    .into_iter()
                    .map(|text| AnyValue {
                        value: Some(any_value::Value::StringValue(text.to_owned())),
                    })
                    .collect(),
            }),
        };
        AnyValue { value: Some(value) }
    }
}

/// One attribute of a span or an event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Attr<'a> {
    pub(super) key: Cow<'a, str>,
    pub(super) value: Val<'a>,
}

impl Attr<'_> {
    /// The `opentelemetry-proto` key-value.
    pub(super) fn into_key_value(self) -> KeyValue {
        KeyValue {
            key: self.key.into_owned(),
            value: Some(self.value.into_any_value()),
            ..KeyValue::default()
        }
    }
}

/// A span event: its time, name and attributes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EventParts<'a> {
    pub(super) time: u64,
    pub(super) name: Cow<'a, str>,
    pub(super) attributes: Vec<Attr<'a>>,
}

/// A span's status: its code and message.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StatusParts<'a> {
    pub(super) code: StatusCode,
    pub(super) message: Cow<'a, str>,
}

/// A span's OTLP name: a name of its own, or an operation and what it acts on
/// (`chat gpt-4.1-mini`), kept in two parts so that it is not formatted into a `String`.
#[derive(Debug, Clone)]
pub(super) enum SpanName<'a> {
    Own(Cow<'a, str>),
    Joined(&'static str, &'a str),
}

impl SpanName<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            SpanName::Own(name) => name.len(),
            SpanName::Joined(operation, subject) => operation.len() + 1 + subject.len(),
        }
    }

    /// Whether the name reads `text`.
    pub(super) fn is(&self, text: &str) -> bool {
        match self {
            SpanName::Own(name) => name == text,
            SpanName::Joined(operation, subject) => text
                .strip_prefix(operation)
                .and_then(|rest| rest.strip_prefix(' '))
                .is_some_and(|rest| rest == *subject),
        }
    }

    pub(super) fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            SpanName::Own(name) => out.extend_from_slice(name.as_bytes()),
            SpanName::Joined(operation, subject) => {
                out.extend_from_slice(operation.as_bytes());
                out.push(b' ');
                out.extend_from_slice(subject.as_bytes());
            }
        }
    }
}

impl fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpanName::Own(name) => f.write_str(name),
            SpanName::Joined(operation, subject) => write!(f, "{operation} {subject}"),
        }
    }
}

/// One span, borrowed from the record it is made of. The encoder keeps one and refills
/// it for every record of a batch, so that its vectors are allocated once per batch.
#[derive(Debug)]
pub(super) struct SpanParts<'a> {
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    pub(super) parent: Option<SpanId>,
    pub(super) name: SpanName<'a>,
    pub(super) kind: span::SpanKind,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) attributes: Vec<Attr<'a>>,
    pub(super) events: Vec<EventParts<'a>>,
    pub(super) status: Option<StatusParts<'a>>,
}

impl<'a> SpanParts<'a> {
    pub(super) fn new() -> Self {
        Self {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent: None,
            name: SpanName::Own(Cow::Borrowed("")),
            kind: span::SpanKind::Internal,
            start: 0,
            end: 0,
            attributes: Vec::with_capacity(32),
            events: Vec::new(),
            status: None,
        }
    }

    /// Starts the next span: its identity and times, with no attributes, events or
    /// status yet.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reset(
        &mut self,
        trace_id: TraceId,
        span_id: SpanId,
        parent: Option<SpanId>,
        name: SpanName<'a>,
        kind: span::SpanKind,
        start: u64,
        end: u64,
    ) {
        self.trace_id = trace_id;
        self.span_id = span_id;
        self.parent = parent;
        self.name = name;
        self.kind = kind;
        self.start = start;
        self.end = end;
        self.attributes.clear();
        self.events.clear();
        self.status = None;
    }

    /// The `opentelemetry-proto` span, its attributes and events moved out.
    pub(super) fn take_span(&mut self) -> Span {
        Span {
            trace_id: self.trace_id.to_bytes().to_vec(),
            span_id: self.span_id.to_bytes().to_vec(),
            parent_span_id: self.parent.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
            name: self.name.to_string(),
            kind: self.kind as i32,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            attributes: self.attributes.drain(..).map(Attr::into_key_value).collect(),
            events: self
                .events
                .drain(..)
                .map(|event| span::Event {
                    time_unix_nano: event.time,
                    name: event.name.into_owned(),
                    attributes: event.attributes.into_iter().map(Attr::into_key_value).collect(),
                    dropped_attributes_count: 0,
                })
                .collect(),
            status: self.status.take().map(|status| OtlpStatus {
                message: status.message.into_owned(),
                code: status.code as i32,
            }),
            ..Span::default()
        }
    }
}

/// A span id derived from what identifies a point record (FNV-1a), so that sending the
/// same record twice yields the same span and backends that dedupe can.
pub(super) fn derived_span_id(trace_id: TraceId, time: u64, name: &str) -> SpanId {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = trace_id.to_bytes();
    for byte in bytes.iter().chain(&time.to_be_bytes()).chain(name.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    SpanId::from_u64(hash).unwrap_or_else(SpanId::random)
}

/// The span a message record becomes has this id.
pub(super) fn message_span_id(message: &MessageRecord) -> SpanId {
    derived_span_id(message.trace_id, message.time_unix_nano, message.role.as_str())
}
