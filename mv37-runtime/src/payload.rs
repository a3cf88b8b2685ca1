//! Captured inputs and outputs: serialized once, on the calling thread, with a size limit.
//!
//! A value is written straight into a reused thread-local buffer by `serde_json` (no
//! `serde_json::Value` in between) and kept as JSON text. Oversize values become a
//! truncation marker and failing `Serialize` impls an error marker: never a panic and
//! never a lost span.

use std::cell::RefCell;
use std::fmt;
use std::io;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Key of the marker object that replaces a value larger than the payload limit.
pub const TRUNCATED_KEY: &str = "mv37.truncated";
/// Key of the marker object that replaces a value whose `Serialize` impl failed.
pub const SERIALIZATION_ERROR_KEY: &str = "mv37.serialization_error";

/// A JSON value captured from user data, held as compact JSON text.
///
/// Non-finite floats (NaN, ±inf) are written as `null`, as `serde_json` does.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload(Box<str>);

impl Payload {
    /// Serializes `value`, keeping at most `limit` bytes: a larger value becomes
    /// `{"mv37.truncated": true, "original_bytes": N, "preview": "<first bytes>"}`, and a
    /// serialization error becomes `{"mv37.serialization_error": "<message>"}`.
    pub fn capture<T: Serialize + ?Sized>(value: &T, limit: usize) -> Self {
        thread_local! {
            static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buffer) => Self::capture_into(&mut buffer, value, limit),
            // Re-entered from inside a `Serialize` impl: use a fresh buffer.
            Err(_) => Self::capture_into(&mut Vec::new(), value, limit),
        })
    }

    fn capture_into<T: Serialize + ?Sized>(buffer: &mut Vec<u8>, value: &T, limit: usize) -> Self {
        buffer.clear();
        let mut writer = CappedWriter {
            buffer,
            limit,
            total: 0,
        };
        let result = serde_json::to_writer(&mut writer, value);
        let total = writer.total;
        let kept = &writer.buffer[..];
        let payload = match result {
            Err(error) => Self::serialization_error(&error.to_string()),
            Ok(()) if total > limit => Self::truncated(kept, total, limit),
            // serde_json writes valid UTF-8.
            Ok(()) => match std::str::from_utf8(kept) {
                Ok(text) => Self(text.into()),
                Err(error) => Self::serialization_error(&error.to_string()),
            },
        };
        // Do not let one huge value pin a huge buffer to the thread.
        if buffer.capacity() > 64 * 1024 {
            *buffer = Vec::new();
        }
        payload
    }

    /// The marker for a `Serialize` impl that returned an error.
    pub fn serialization_error(message: &str) -> Self {
        let marker = serde_json::json!({ SERIALIZATION_ERROR_KEY: message });
        Self(marker.to_string().into())
    }

    fn truncated(kept: &[u8], total: usize, limit: usize) -> Self {
        let mut end = limit.saturating_sub(160).min(kept.len());
        // Cut at a character boundary so the preview is valid text.
        while end > 0 && std::str::from_utf8(&kept[..end]).is_err() {
            end -= 1;
        }
        let preview = std::str::from_utf8(&kept[..end]).unwrap_or_default();
        let marker = serde_json::json!({
            TRUNCATED_KEY: true,
            "original_bytes": total,
            "preview": preview,
        });
        Self(marker.to_string().into())
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

    /// A payload holding `value` (no size limit applied).
    pub fn from_value(value: &serde_json::Value) -> Self {
        Self(value.to_string().into())
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

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through a `Value`, so that this works inside tagged enums too.
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Self(value.to_string().into()))
    }
}

/// Keeps the first `limit` bytes and counts the rest.
struct CappedWriter<'a> {
    buffer: &'a mut Vec<u8>,
    limit: usize,
    total: usize,
}

impl CappedWriter<'_> {
    #[inline]
    fn keep(&mut self, bytes: &[u8]) {
        self.total = self.total.saturating_add(bytes.len());
        if self.buffer.len() + bytes.len() <= self.limit {
            self.buffer.extend_from_slice(bytes);
        } else {
            let room = self.limit.saturating_sub(self.buffer.len());
            self.buffer.extend_from_slice(&bytes[..room.min(bytes.len())]);
        }
    }
}

impl io::Write for CappedWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.keep(bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.keep(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let big = "é".repeat(5_000);
        let payload = Payload::capture(&big, 501);
        assert!(payload.is_truncated());
        assert!(payload.to_value()["preview"].as_str().is_some());
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

    #[test]
    fn non_finite_floats_become_null() {
        let payload = Payload::capture(&[f64::NAN, f64::INFINITY, 1.5], 1024);
        assert_eq!(payload.as_json(), "[null,null,1.5]");
    }
}
