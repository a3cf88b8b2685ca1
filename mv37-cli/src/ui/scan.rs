//! Reading one JSON line for the index: the few fields a trace list, the sessions and
//! the stats need, and the searchable text (inputs, outputs, messages, documents, error
//! messages, feedback comments) lowercased, collected while the line is parsed, without
//! building a `Record`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

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
    // The next six fields are read for the text they collect while parsed, not for their
    // value.
    /// Captured input (its text goes to the searchable text).
    #[serde(default)]
    #[allow(dead_code)]
    pub input: Option<Text>,
    /// Captured output (its text goes to the searchable text).
    #[serde(default)]
    #[allow(dead_code)]
    pub output: Option<Text>,
    /// Messages recorded on a trace or span (their text goes to the searchable text).
    #[serde(default)]
    #[allow(dead_code)]
    pub messages: Option<MessageText>,
    /// A message record's content (its text goes to the searchable text).
    #[serde(default)]
    #[allow(dead_code)]
    pub content: Option<MessageText>,
    /// A retrieval's documents (their text goes to the searchable text).
    #[serde(default)]
    #[allow(dead_code)]
    pub documents: Option<MessageText>,
    /// The error of a failed trace or span (its text goes to the searchable text).
    #[serde(default)]
    #[allow(dead_code)]
    pub error: Option<Text>,
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

thread_local! {
    /// Where the text of the line being parsed is collected (see [`LineView::parse`]).
    static COLLECTED: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A field whose string values are appended to the searchable text as it is parsed.
#[derive(Debug)]
pub struct Text;

/// As [`Text`], leaving out the values that describe a message's or document's structure
/// rather than hold text (`role`, `type`, ids, inline base64 `data`).
#[derive(Debug)]
pub struct MessageText;

fn collect_into<'de, D: Deserializer<'de>>(deserializer: D, structural: bool) -> Result<(), D::Error> {
    COLLECTED.with(|collected| match collected.try_borrow_mut() {
        Ok(mut out) => TextSeed {
            out: &mut out,
            structural,
        }
        .deserialize(deserializer),
        Err(_) => IgnoredAny::deserialize(deserializer).map(|_| ()),
    })
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        collect_into(deserializer, false).map(|()| Text)
    }
}

impl<'de> Deserialize<'de> for MessageText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        collect_into(deserializer, true).map(|()| MessageText)
    }
}

impl<'a> LineView<'a> {
    /// Parses one line, appending its searchable text to `text`: the string values of
    /// its input, output, error, messages and documents, and its comment, lowercased,
    /// each followed by a newline. `None` (and nothing appended) when it is not a record.
    pub fn parse(line: &'a str, text: &mut String) -> Option<Self> {
        let start = text.len();
        let parsed = COLLECTED.with(|collected| {
            std::mem::swap(&mut *collected.borrow_mut(), text);
            let parsed = serde_json::from_str::<LineView<'a>>(line);
            std::mem::swap(&mut *collected.borrow_mut(), text);
            parsed
        });
        let Ok(view) = parsed else {
            text.truncate(start);
            return None;
        };
        if let Some(comment) = &view.comment {
            text.push_str(comment);
            text.push('\n');
        }
        if text[start..].is_ascii() {
            text[start..].make_ascii_lowercase();
        } else {
            let lowered = text[start..].to_lowercase();
            text.truncate(start);
            text.push_str(&lowered);
        }
        Some(view)
    }
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
        while let Some(structural_key) = map.next_key_seed(IsStructuralKey(self.structural))? {
            if structural_key {
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

/// Reads an object key without keeping it (no allocation, escaped or not): whether it is
/// one of [`STRUCTURAL_KEYS`], which only count in messages and documents (`.0`).
struct IsStructuralKey(bool);

impl<'de> DeserializeSeed<'de> for IsStructuralKey {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsStructuralKey {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(self.0 && STRUCTURAL_KEYS.contains(&key))
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

    /// The text `line` appends after what was there.
    fn text_of(line: &str) -> String {
        let mut out = String::from("before\n");
        LineView::parse(line, &mut out);
        out.split_off("before\n".len())
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
        let view = LineView::parse(&line, &mut String::new()).expect("parses");
        assert_eq!(view.record_type, "trace");
        assert_eq!(view.user_id.as_deref(), Some("u\"1"));
        assert_eq!((view.start_time_unix_nano, view.latency_ns), (Some(5), Some(7)));
        assert_eq!(text_of(&line), "boom\ne\n");
        assert_eq!(text_of(r#"{"type":"span","input":"Half a record"#), "");
        assert_eq!(parse_trace_id(&view.trace_id), Some(0x0af7651916cd43dd8448eb211c80319c));
        assert_eq!(parse_trace_id("xyz"), None);
    }
}
