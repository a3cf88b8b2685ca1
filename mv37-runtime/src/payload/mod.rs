//! Captured inputs and outputs: serialized once, on the calling thread, with a size limit.
//!
//! A value is written straight into a reused thread-local buffer as JSON text (no
//! `serde_json::Value` in between), by mv37's own writer (`payload/json.rs`), which writes what
//! `serde_json` would, with the limits applied as it goes. Oversize values become a
//! truncation marker and failing `Serialize` impls an error marker: never a panic and
//! never a lost span. A span's or trace's input and output are written into a text
//! buffer the thread kept from an earlier one and become the payload without a copy;
//! when the span ends, the text is copied into its chunk and the buffer goes back to the
//! thread (`CapturePolicy::capture_io`, `Payload::give_back`).

use std::cell::RefCell;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use json::JsonWriter;

mod decimal;
mod json;

/// Key of the marker object that replaces a value larger than the payload limit.
pub const TRUNCATED_KEY: &str = "mv37.truncated";
/// Key of the marker object that replaces a value whose `Serialize` impl failed.
pub const SERIALIZATION_ERROR_KEY: &str = "mv37.serialization_error";
/// Key of the marker object that replaces the parts of a value nested deeper than
/// [`MAX_DEPTH`]: `{"mv37.depth_limit": 64}`.
pub const DEPTH_LIMIT_KEY: &str = "mv37.depth_limit";
/// The deepest nesting of arrays and objects kept in a captured value. Deeper parts are
/// replaced by a marker when the value is captured, so that every record mv37 writes
/// stays well inside the nesting that JSON readers accept (128 levels for `serde_json`,
/// the CLI and spool redelivery included).
pub const MAX_DEPTH: usize = 64;

/// How a client captures user data: the payload size limit, and whether content
/// (inputs, outputs, messages) is captured at all. Every recording handle holds a copy
/// (a `usize` and a `bool`), read where a value is captured, never at span start or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CapturePolicy {
    /// Largest captured payload, in bytes of JSON.
    pub(crate) max_bytes: usize,
    /// Whether inputs, outputs and messages are captured; when not, they are not even
    /// serialized.
    pub(crate) content: bool,
}

impl CapturePolicy {
    /// `value` as a payload, or `None` when content is not captured.
    #[inline]
    pub(crate) fn capture<T: Serialize + ?Sized>(self, value: &T) -> Option<Payload> {
        self.content.then(|| Payload::capture(value, self.max_bytes))
    }

    /// `value` as a span's or trace's input or output, or `None` when content is not
    /// captured: written into a text buffer the thread kept from an earlier input or
    /// output, which [`Payload::give_back`] returns once the text is in the chunk.
    #[inline]
    pub(crate) fn capture_io<T: Serialize + ?Sized>(self, value: &T) -> Option<Payload> {
        self.content.then(|| Payload::capture_reusing(value, self.max_bytes))
    }
}

/// How many text buffers a thread keeps for inputs and outputs (see
/// [`CapturePolicy::capture_io`]), and the largest it keeps: at most 16 KiB a thread.
const SPARE_TEXTS: usize = 4;
const SPARE_TEXT_BYTES: usize = 4 * 1024;
/// The capacity a new text buffer starts with (most inputs and outputs fit).
const NEW_TEXT_BYTES: usize = 256;

thread_local! {
    static SPARE_TEXT: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A JSON value captured from user data, held as compact JSON text.
///
/// Non-finite floats (NaN, ±inf) are written as `null`, as `serde_json` does.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(String);

impl Payload {
    /// Serializes `value`, keeping at most `limit` bytes: a larger value becomes
    /// `{"mv37.truncated": true, "original_bytes": N, "preview": "<first bytes>"}`, and a
    /// serialization error becomes `{"mv37.serialization_error": "<message>"}`.
    pub fn capture<T: Serialize + ?Sized>(value: &T, limit: usize) -> Self {
        thread_local! {
            static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
        }
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buffer) => Self::capture_into(&mut buffer, value, limit),
            // Re-entered from inside a `Serialize` impl: use a fresh buffer.
            Err(_) => Self::capture_into(&mut String::new(), value, limit),
        })
    }

    fn capture_into<T: Serialize + ?Sized>(buffer: &mut String, value: &T, limit: usize) -> Self {
        let payload = Self::write(buffer, value, limit).unwrap_or_else(|| Self(buffer.as_str().to_owned()));
        // Do not let one huge value pin a huge buffer to the thread.
        if buffer.capacity() > 64 * 1024 {
            *buffer = String::new();
        }
        payload
    }

    /// Like [`Payload::capture`], in a text buffer the thread kept (see
    /// [`CapturePolicy::capture_io`]): no allocation once the thread has one.
    pub(crate) fn capture_reusing<T: Serialize + ?Sized>(value: &T, limit: usize) -> Self {
        let spare = SPARE_TEXT
            .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut spare| spare.pop()))
            .ok()
            .flatten();
        let mut buffer = spare.unwrap_or_else(|| String::with_capacity(NEW_TEXT_BYTES));
        match Self::write(&mut buffer, value, limit) {
            Some(marker) => {
                give_back_text(buffer);
                marker
            }
            None => Self(buffer),
        }
    }

    /// Gives the payload's text buffer back to the thread for its next input or output
    /// (kept if the thread has room for it and it is not large), once its text has been
    /// copied elsewhere.
    pub(crate) fn give_back(self) {
        give_back_text(self.0);
    }

    /// Writes `value` into `buffer` (cleared first), keeping at most `limit` bytes.
    /// Returns the marker that stands for the value if it was too large or its
    /// `Serialize` failed; `None` when the buffer holds the whole value.
    fn write<T: Serialize + ?Sized>(buffer: &mut String, value: &T, limit: usize) -> Option<Self> {
        buffer.clear();
        let mut writer = JsonWriter::new(buffer, limit);
        let result = value.serialize(&mut writer);
        match result {
            Err(error) => Some(Self::serialization_error(&error.to_string())),
            Ok(()) if writer.total() > limit => Some(Self::truncated(writer.kept(), writer.total(), limit)),
            Ok(()) => None,
        }
    }

    /// The marker for a `Serialize` impl that returned an error.
    pub fn serialization_error(message: &str) -> Self {
        let marker = serde_json::json!({ SERIALIZATION_ERROR_KEY: message });
        Self(marker.to_string())
    }

    fn truncated(kept: &str, total: usize, limit: usize) -> Self {
        let mut end = limit.saturating_sub(160).min(kept.len());
        // Cut at a character boundary so the preview is valid text.
        while end > 0 && !kept.is_char_boundary(end) {
            end -= 1;
        }
        let preview = kept.get(..end).unwrap_or_default();
        let marker = serde_json::json!({
            TRUNCATED_KEY: true,
            "original_bytes": total,
            "preview": preview,
        });
        Self(marker.to_string())
    }

    /// A payload from JSON text that is already known to be valid.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<&serde_json::value::RawValue>(json)?;
        Ok(Self(json.into()))
    }

    /// A payload from text that was a payload before (moved between buffers).
    pub(crate) fn trusted(json: &str) -> Self {
        Self(json.into())
    }

    /// [`Payload::trusted`], written into the buffer of `spare` (a payload no longer
    /// needed) unless it is large: no allocation when it has room.
    pub(crate) fn refilled(spare: Option<Payload>, json: &str) -> Self {
        match spare {
            Some(Payload(mut buffer)) if buffer.capacity() <= SPARE_TEXT_BYTES => {
                buffer.clear();
                buffer.push_str(json);
                Self(buffer)
            }
            _ => Self::trusted(json),
        }
    }

    /// A payload holding `value` (no size limit applied; parts nested deeper than
    /// [`MAX_DEPTH`] are replaced by a marker).
    pub fn from_value(value: &serde_json::Value) -> Self {
        Self::capture(value, usize::MAX)
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The value, parsed (for tests and exporters that need a tree).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// Whether this payload is the truncation marker.
    pub fn is_truncated(&self) -> bool {
        self.0.starts_with(concat!("{\"", "mv37.truncated", "\""))
    }

    /// Size of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the JSON text is empty (never true for a captured payload).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A payload read back (a JSONL file, the spool) is the JSON text it was written as,
/// its object keys in their order. Streamed from any deserializer straight into JSON
/// text (`serde_transcode`), so that this works inside tagged enums too; read through a
/// `serde_json::Value` it came out with its keys sorted, or in their order when another
/// crate in the build turns on serde_json's `preserve_order` (rig does): the same file
/// read two ways.
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut text = Vec::new();
        serde_transcode::transcode(deserializer, &mut serde_json::Serializer::new(&mut text))
            .map_err(serde::de::Error::custom)?;
        String::from_utf8(text).map(Self).map_err(serde::de::Error::custom)
    }
}

/// Replaces every array or object nested deeper than [`MAX_DEPTH`] in `value` by the
/// depth-limit marker.
pub(crate) fn limit_depth(value: &mut serde_json::Value) {
    fn walk(value: &mut serde_json::Value, depth: usize) {
        let children: &mut dyn Iterator<Item = &mut serde_json::Value> = match value {
            serde_json::Value::Array(items) => &mut items.iter_mut(),
            serde_json::Value::Object(map) => &mut map.values_mut(),
            _ => return,
        };
        if depth > MAX_DEPTH {
            *value = depth_marker();
            return;
        }
        for child in children {
            walk(child, depth + 1);
        }
    }
    walk(value, 1);
}

fn depth_marker() -> serde_json::Value {
    serde_json::json!({ DEPTH_LIMIT_KEY: MAX_DEPTH })
}

/// The nesting depth of JSON text (brackets outside strings).
fn json_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

const DEPTH_MARKER: &str = concat!("{\"", "mv37.depth_limit", "\":64}");

/// Keeps `buffer` for the thread's next input or output if it is not large and the
/// thread has room; otherwise frees it.
fn give_back_text(mut buffer: String) {
    if buffer.capacity() > SPARE_TEXT_BYTES {
        return;
    }
    buffer.clear();
    let _ = SPARE_TEXT.try_with(|spare| {
        if let Ok(mut spare) = spare.try_borrow_mut() {
            if spare.len() < SPARE_TEXTS {
                spare.push(buffer);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare_capacities() -> Vec<usize> {
        SPARE_TEXT.with(|spare| spare.borrow().iter().map(String::capacity).collect())
    }

    #[test]
    fn an_input_written_into_a_kept_buffer_holds_only_itself() {
        let long = serde_json::json!({"question": "x".repeat(300), "n": 1});
        let first = Payload::capture_reusing(&long, 1024);
        assert_eq!(first, Payload::capture(&long, 1024));
        first.give_back();
        for value in [
            serde_json::json!({"q": 2}),
            serde_json::json!("short"),
            serde_json::json!(null),
        ] {
            let payload = Payload::capture_reusing(&value, 1024);
            assert_eq!(payload.as_json(), value.to_string());
            payload.give_back();
        }
        // Markers come out the same way, and leave the buffer behind.
        let truncated = Payload::capture_reusing(&"y".repeat(5_000), 1000);
        assert!(truncated.is_truncated());
        assert_eq!(truncated, Payload::capture(&"y".repeat(5_000), 1000));
    }

    #[test]
    fn a_thread_keeps_a_few_small_text_buffers_and_no_large_one() {
        let payloads: Vec<Payload> = (0..10).map(|i| Payload::capture_reusing(&i, 1024)).collect();
        payloads.into_iter().for_each(Payload::give_back);
        let kept = spare_capacities();
        assert_eq!(kept.len(), SPARE_TEXTS, "{kept:?}");
        // A large value's buffer is freed rather than kept.
        let taken: Vec<Payload> = (0..SPARE_TEXTS).map(|i| Payload::capture_reusing(&i, 1024)).collect();
        assert!(spare_capacities().is_empty());
        Payload::capture_reusing(&"z".repeat(10_000), usize::MAX).give_back();
        assert!(spare_capacities().is_empty(), "{:?}", spare_capacities());
        taken.into_iter().for_each(Payload::give_back);
        assert!(spare_capacities().iter().all(|&capacity| capacity <= SPARE_TEXT_BYTES));
    }

    #[test]
    fn small_values_are_kept_verbatim() {
        let payload = Payload::capture(&serde_json::json!({"query": "refund"}), 1024);
        assert_eq!(payload.as_json(), r#"{"query":"refund"}"#);
    }

    #[test]
    fn oversize_values_become_a_truncation_marker() {
        let big = "x".repeat(10_000);
        let payload = Payload::capture(&big, 1000);
        assert!(payload.is_truncated());
        let value = payload.to_value();
        assert_eq!(value["original_bytes"], 10_002);
        let preview = value["preview"].as_str().expect("preview is text");
        assert!(preview.starts_with("\"xxx"));
        assert!(preview.len() <= 1000);
    }

    #[test]
    fn multibyte_text_is_cut_at_a_character_boundary() {
        // Characters of two, three and four bytes, cut at every offset within one.
        for character in ["é", "€", "🦀"] {
            let big = character.repeat(5_000);
            let json = serde_json::to_string(&big).expect("json");
            for limit in 501..509 {
                let payload = Payload::capture(&big, limit);
                assert!(payload.is_truncated());
                let value = payload.to_value();
                let preview = value["preview"].as_str().expect("preview is text");
                let cut = limit - 160;
                assert!(
                    json.starts_with(preview),
                    "{character} at {limit}: the preview is the start of the value"
                );
                assert!(
                    preview.len() <= cut && preview.len() > cut - character.len(),
                    "{character} at {limit}: cut at the last boundary before byte {cut}, not at {}",
                    preview.len()
                );
            }
        }
    }

    #[test]
    fn a_failing_serialize_impl_becomes_an_error_marker() {
        struct Broken;
        impl Serialize for Broken {
            fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("database handle is not serializable"))
            }
        }
        let payload = Payload::capture(&Broken, 1024);
        assert_eq!(
            payload.to_value()[SERIALIZATION_ERROR_KEY],
            "database handle is not serializable"
        );
    }

    fn nested(levels: usize) -> serde_json::Value {
        let mut value = serde_json::json!("leaf");
        for level in 0..levels {
            // Built by hand: `json!` would copy `value` at every level.
            value = if level % 2 == 0 {
                serde_json::Value::Array(vec![value])
            } else {
                serde_json::Value::Object(std::iter::once(("k".to_owned(), value)).collect())
            };
        }
        value
    }

    #[test]
    fn values_nested_deeper_than_the_limit_are_cut_at_the_limit_and_stay_readable() {
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(DEPTH_MARKER).ok(),
            Some(depth_marker())
        );
        // 10,000 levels take more stack to build and compare than a test thread has.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(deep_values_are_cut)
            .expect("thread")
            .join()
            .expect("no panic");
    }

    fn deep_values_are_cut() {
        for levels in [MAX_DEPTH, MAX_DEPTH + 1, 200, 10_000] {
            let value = nested(levels);
            let payload = Payload::capture(&value, usize::MAX);
            let parsed = serde_json::from_str::<serde_json::Value>(payload.as_json());
            assert!(parsed.is_ok(), "{levels} levels: not readable back: {parsed:?}");
            let parsed = parsed.unwrap_or_default();
            assert_eq!(
                json_depth(payload.as_json()),
                levels.min(MAX_DEPTH + 1),
                "{levels} levels"
            );
            assert_eq!(
                payload.as_json().contains(DEPTH_LIMIT_KEY),
                levels > MAX_DEPTH,
                "{levels} levels"
            );
            // The same through a `Value`, as attributes and feedback values are held.
            let mut held = value.clone();
            limit_depth(&mut held);
            assert_eq!(held, parsed, "{levels} levels");
            std::mem::forget(value); // dropping 10,000 nested levels recursively is the test's cost, not ours
        }
    }

    #[test]
    fn values_beside_a_cut_part_are_kept() {
        let value = serde_json::json!({ "deep": nested(100), "after": [1, 2], "s": "]}\"[" });
        let payload = Payload::capture(&value, usize::MAX).to_value();
        assert_eq!(payload["after"], serde_json::json!([1, 2]));
        assert_eq!(payload["s"], "]}\"[");
    }

    #[test]
    fn raw_json_that_would_go_too_deep_is_replaced_by_the_marker() {
        let inner = Payload::capture(&nested(MAX_DEPTH), usize::MAX);
        let payload = Payload::capture(&vec![inner], usize::MAX);
        assert_eq!(payload.to_value()[0][DEPTH_LIMIT_KEY], MAX_DEPTH);
        let shallow = Payload::capture(&vec![Payload::capture(&nested(3), usize::MAX)], usize::MAX);
        assert_eq!(shallow.to_value()[0], nested(3));
    }

    #[test]
    fn non_finite_floats_become_null() {
        let payload = Payload::capture(&[f64::NAN, f64::INFINITY, 1.5], 1024);
        assert_eq!(payload.as_json(), "[null,null,1.5]");
    }
}
