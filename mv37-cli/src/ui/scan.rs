//! Reading one JSON line for the index: the few fields a trace list, the sessions and
//! the stats need, and the searchable text (inputs, outputs, messages, documents, error
//! messages, feedback comments) lowercased, without building a `Record`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of a record the index reads; every other field is skipped.
#[derive(Debug, Deserialize)]
pub struct LineView<'a> {
    /// The schema version (`v`).
    #[serde(default)]
    pub v: u64,
    /// The record type: `trace`, `span`, `message`, `feedback` or `signal`.
    #[serde(rename = "type", borrow)]
    pub record_type: Cow<'a, str>,
    /// The trace id, 32 hex digits.
    #[serde(borrow)]
    pub trace_id: Cow<'a, str>,
    /// The span's parent (spans), to tell a root span.
    #[serde(default, borrow)]
    pub parent_span_id: Option<Cow<'a, str>>,
    /// The trace's or span's name (also a feedback's or signal's).
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    /// The span kind.
    #[serde(default, borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// The trace's user.
    #[serde(default, borrow)]
    pub user_id: Option<Cow<'a, str>>,
    /// The trace's session.
    #[serde(default, borrow)]
    pub session_id: Option<Cow<'a, str>>,
    /// The trace's conversation.
    #[serde(default, borrow)]
    pub conversation_id: Option<Cow<'a, str>>,
    /// `ok`, `error` or `cancelled`.
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    /// Start, Unix nanoseconds (traces and spans).
    #[serde(default)]
    pub start_time_unix_nano: Option<u64>,
    /// End, Unix nanoseconds (traces and spans).
    #[serde(default)]
    pub end_time_unix_nano: Option<u64>,
    /// Latency in nanoseconds (traces and spans).
    #[serde(default)]
    pub latency_ns: Option<u64>,
    /// A model call's usage.
    #[serde(default)]
    pub usage: Option<UsageView>,
    /// Captured input.
    #[serde(default, borrow)]
    pub input: Option<&'a RawValue>,
    /// Captured output.
    #[serde(default, borrow)]
    pub output: Option<&'a RawValue>,
    /// Messages recorded on a trace or span.
    #[serde(default, borrow)]
    pub messages: Option<&'a RawValue>,
    /// A message record's content.
    #[serde(default, borrow)]
    pub content: Option<&'a RawValue>,
    /// A retrieval's documents.
    #[serde(default, borrow)]
    pub documents: Option<&'a RawValue>,
    /// The error of a failed trace or span.
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
    /// A feedback's comment.
    #[serde(default, borrow)]
    pub comment: Option<Cow<'a, str>>,
}

/// The usage fields the index sums.
#[derive(Debug, Default, Deserialize)]
pub struct UsageView {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// Total tokens.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// Cost in US dollars.
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl UsageView {
    /// The total, or input plus output when no total was written.
    pub fn tokens(&self) -> u64 {
        self.total_tokens
            .unwrap_or_else(|| self.input_tokens.unwrap_or(0) + self.output_tokens.unwrap_or(0))
    }
}

impl<'a> LineView<'a> {
    /// Parses one line; `None` when it is not a record.
    pub fn parse(line: &'a str) -> Option<Self> {
        serde_json::from_str(line).ok()
    }

    /// Appends the record's searchable text to `out`, lowercased, fields separated by
    /// newlines.
    pub fn searchable_text(&self, out: &mut String) {
        let start = out.len();
        for raw in [self.input, self.output, self.error].into_iter().flatten() {
            collect(raw, false, out);
        }
        for raw in [self.messages, self.content, self.documents].into_iter().flatten() {
            collect(raw, true, out);
        }
        if let Some(comment) = &self.comment {
            out.push_str(comment);
            out.push('\n');
        }
        if out[start..].bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
            let lowered = out[start..].to_lowercase();
            out.truncate(start);
            out.push_str(&lowered);
        }
    }
}

/// Appends the string values of `raw` to `out`. In messages and documents (`structural`),
/// the values of fields that describe the structure rather than hold text (`role`,
/// `type`, ids, inline base64 `data`) are left out.
fn collect(raw: &RawValue, structural: bool, out: &mut String) {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    // A value that fails to parse adds what was read before the failure: nothing to report.
    let _ = TextSeed { out, structural }.deserialize(&mut deserializer);
}

/// Keys whose values are structure, not text, in messages and documents.
const STRUCTURAL_KEYS: [&str; 10] = [
    "type",
    "role",
    "media_type",
    "data",
    "detail",
    "id",
    "tool_call_id",
    "trace_id",
    "span_id",
    "is_internal",
];

struct TextSeed<'o> {
    out: &'o mut String,
    structural: bool,
}

impl<'de> DeserializeSeed<'de> for TextSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        self.out.push_str(text);
        self.out.push('\n');
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(TextSeed {
                out: &mut *self.out,
                structural: self.structural,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if self.structural && STRUCTURAL_KEYS.contains(&&*key) {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(TextSeed {
                    out: &mut *self.out,
                    structural: self.structural,
                })?;
            }
        }
        Ok(())
    }
}

/// Parses 32 hex digits (any case) into a trace id's number; `None` for anything else.
pub fn parse_trace_id(text: &str) -> Option<u128> {
    if text.len() != 32 {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(line: &str) -> String {
        let mut out = String::new();
        LineView::parse(line).map(|view| view.searchable_text(&mut out));
        out
    }

    #[test]
    fn inputs_outputs_and_messages_are_searchable_in_lowercase() {
        let line = r#"{"v":1,"type":"span","trace_id":"0af7651916cd43dd8448eb211c80319c","name":"chat",
            "input":{"query":"Where is MY order?","n":3},"output":"Shipped",
            "messages":[{"role":"user","content":[{"type":"text","text":"Hello Ünïcode"},
            {"type":"image_base64","media_type":"image/png","data":"QUJD"}]}]}"#;
        let text = text_of(&line.replace('\n', ""));
        assert_eq!(text, "where is my order?\nshipped\nhello ünïcode\n");
    }

    #[test]
    fn the_fields_the_index_needs_are_read() {
        let line = r#"{"v":1,"type":"trace","trace_id":"0af7651916cd43dd8448eb211c80319c","name":"agent",
            "user_id":"u\"1","session_id":"s","status":"error","start_time_unix_nano":5,"latency_ns":7,
            "attributes":{"deep":[1,2,{"x":null}]},"error":{"message":"Boom","type":"E"}}"#
            .replace('\n', "");
        let view = LineView::parse(&line).expect("parses");
        assert_eq!(view.record_type, "trace");
        assert_eq!(view.user_id.as_deref(), Some("u\"1"));
        assert_eq!((view.start_time_unix_nano, view.latency_ns), (Some(5), Some(7)));
        assert_eq!(text_of(&line), "boom\ne\n");
        assert_eq!(parse_trace_id(&view.trace_id), Some(0x0af7651916cd43dd8448eb211c80319c));
        assert_eq!(parse_trace_id("xyz"), None);
    }
}
