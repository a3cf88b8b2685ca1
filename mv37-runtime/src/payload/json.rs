//! The JSON writer inputs and outputs are captured with: `serde_json`'s compact output,
//! byte for byte, written straight into a `String` with the payload limit and the depth
//! limit applied as it goes.
//!
//! `serde_json::Serializer` writes through `io::Write`: every key, string, bracket and
//! comma is a call that bounds-checks and copies a few bytes, and the bytes must be
//! checked as UTF-8 again before they can be a `String`. Capturing a small struct spent
//! most of its time there (see docs/PERFORMANCE.md). This writer appends `&str`s to a
//! `String` (nothing to check afterwards) and scans each string for characters to escape
//! once. Numbers are formatted by the crates `serde_json` itself uses (`itoa`, `zmij`),
//! so they come out the same, except that an `f64` with a few decimals (`0.75`) is
//! written by [`decimal`] with the same digits and no division loop; the tests compare
//! the two writers over every shape `serde` has.
//!
//! Over 500 lines: `serde::Serializer` and its seven compound traits are long, and the
//! map-key serializer repeats the shape once more; they are one writer and read best
//! together.

use std::fmt::{self, Display};

use serde::ser::{self, Impossible, Serialize};

use super::decimal;

use super::{json_depth, DEPTH_MARKER, MAX_DEPTH};

/// The name `serde_json` gives the struct a `RawValue` serializes as, so that a
/// serializer can tell raw JSON from a struct (`serde_json::value::RawValue`).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";
/// The name a `serde_json::Number` serializes as when `serde_json`'s
/// `arbitrary_precision` feature is on (any crate in a program can turn it on): its one
/// field is the number's text, written as it is.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Why a value could not be written: a `Serialize` impl's own error, or a map key
/// JSON cannot have. The messages are `serde_json`'s.
#[derive(Debug)]
pub(crate) struct JsonError(String);

impl Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl ser::Error for JsonError {
    fn custom<T: Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

fn key_must_be_a_string() -> JsonError {
    JsonError("key must be a string".into())
}

fn float_key_must_be_finite() -> JsonError {
    JsonError("float key must be finite (got NaN or +/-inf)".into())
}

/// Appends compact JSON to `out`, keeping at most `limit` bytes of it (cut at a
/// character boundary) and counting in `cut` the bytes past the limit, so that
/// [`JsonWriter::total`] is the bytes the whole value takes. Nothing is counted on the
/// way when everything fits: a running total was a load and a store per write, in a
/// chain through memory.
/// Containers nested deeper than [`MAX_DEPTH`] are written as the depth marker and their
/// contents skipped.
pub(crate) struct JsonWriter<'a> {
    out: &'a mut String,
    limit: usize,
    /// The length `out` had before the value.
    start: usize,
    /// Bytes of the value not kept (past the limit).
    cut: usize,
    depth: usize,
    /// The depth of the container being skipped, if any.
    skipping: Option<usize>,
}

impl<'a> JsonWriter<'a> {
    pub(crate) fn new(out: &'a mut String, limit: usize) -> Self {
        Self {
            start: out.len(),
            out,
            limit,
            cut: 0,
            depth: 0,
            skipping: None,
        }
    }

    /// The bytes the whole value takes, kept or not (skipped containers aside).
    pub(crate) fn total(&self) -> usize {
        (self.out.len() - self.start).saturating_add(self.cut)
    }

    /// The text written, cut at the limit.
    pub(crate) fn kept(&self) -> &str {
        self.out
    }

    #[inline]
    fn put(&mut self, text: &str) {
        if self.skipping.is_some() {
            return;
        }
        if self.out.len() + text.len() <= self.limit {
            self.out.push_str(text);
        } else {
            self.put_part(text);
        }
    }

    /// A number in its short decimal form, pushed straight into the text when it fits.
    #[inline]
    fn short_decimal(&mut self, short: decimal::Short) {
        if self.skipping.is_none() && self.fits(decimal::MAX_LEN) {
            short.write(self.out);
        } else {
            self.short_decimal_near_limit(short);
        }
    }

    #[cold]
    fn short_decimal_near_limit(&mut self, short: decimal::Short) {
        let mut text = String::with_capacity(decimal::MAX_LEN);
        short.write(&mut text);
        self.put(&text);
    }

    /// As much of `text` as fits under the limit, cut at a character boundary.
    #[cold]
    fn put_part(&mut self, text: &str) {
        let mut room = self.limit.saturating_sub(self.out.len()).min(text.len());
        while room > 0 && !text.is_char_boundary(room) {
            room -= 1;
        }
        self.out.push_str(text.get(..room).unwrap_or_default());
        self.cut = self.cut.saturating_add(text.len() - room);
        // Nothing more is kept, not even a byte that would still fit: the kept text
        // stays a prefix of the whole.
        self.limit = self.out.len();
    }

    /// One ASCII character.
    #[inline]
    fn put_char(&mut self, ascii: char) {
        if self.skipping.is_some() {
            return;
        }
        if self.out.len() < self.limit {
            self.out.push(ascii);
        } else {
            self.cut = self.cut.saturating_add(1);
        }
    }

    /// `text` as a JSON string, escaped as `serde_json` escapes it: `"`, `\` and the
    /// control characters, nothing else.
    #[inline]
    fn string(&mut self, text: &str) {
        if self.skipping.is_none() && self.fits(text.len() + 2) && !needs_escape(text) {
            self.out.reserve(text.len() + 2);
            self.out.push('"');
            self.out.push_str(text);
            self.out.push('"');
        } else {
            self.escaped(text);
        }
    }

    /// An object's key and the colon after it, with the comma before it unless `first`.
    #[inline(always)]
    fn key(&mut self, key: &str, first: bool) {
        let len = key.len() + 3 + usize::from(!first);
        if self.skipping.is_none() && self.fits(len) && !needs_escape(key) {
            self.out.reserve(len);
            if !first {
                self.out.push(',');
            }
            self.out.push('"');
            self.out.push_str(key);
            self.out.push_str("\":");
        } else {
            if !first {
                self.put_char(',');
            }
            self.escaped(key);
            self.put_char(':');
        }
    }

    #[inline]
    fn fits(&self, len: usize) -> bool {
        self.out.len() + len <= self.limit
    }

    /// [`JsonWriter::string`] for text with characters to escape, or near the limit.
    fn escaped(&mut self, text: &str) {
        self.put_char('"');
        let mut start = 0;
        for (at, &byte) in text.as_bytes().iter().enumerate() {
            let escape = ESCAPE[byte as usize];
            if escape == 0 {
                continue;
            }
            // The byte is ASCII, so both ends are character boundaries.
            self.put(text.get(start..at).unwrap_or_default());
            start = at + 1;
            match escape {
                b'u' => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let code = [
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[(byte >> 4) as usize],
                        HEX[(byte & 0xf) as usize],
                    ];
                    self.put(std::str::from_utf8(&code).unwrap_or_default());
                }
                short => {
                    let code = [b'\\', short];
                    self.put(std::str::from_utf8(&code).unwrap_or_default());
                }
            }
        }
        self.put(text.get(start..).unwrap_or_default());
        self.put_char('"');
    }

    #[inline]
    fn open(&mut self, bracket: char) {
        self.depth += 1;
        if self.skipping.is_some() {
            return;
        }
        if self.depth > MAX_DEPTH {
            self.put(DEPTH_MARKER);
            self.skipping = Some(self.depth);
            return;
        }
        self.put_char(bracket);
    }

    #[inline]
    fn close(&mut self, bracket: char) {
        self.depth = self.depth.saturating_sub(1);
        match self.skipping {
            Some(depth) if depth == self.depth + 1 => self.skipping = None,
            Some(_) => {}
            None => self.put_char(bracket),
        }
    }

    /// Raw JSON (a `RawValue` or a nested `Payload`): kept if it fits under the depth
    /// limit where it stands, replaced by the marker if it does not.
    fn raw(&mut self, json: &str) {
        if self.skipping.is_some() {
            return;
        }
        if self.depth + json_depth(json) > MAX_DEPTH {
            self.put(DEPTH_MARKER);
        } else {
            self.put(json);
        }
    }

    /// An integer; one digit (a count, an index, a `top_k`) is pushed as it is, without
    /// formatting into a buffer and copying from it.
    #[inline]
    fn integer<I: itoa::Integer + TryInto<u8> + Copy>(&mut self, value: I) {
        match value.try_into() {
            Ok(digit) if digit < 10 => self.put_char(char::from(b'0' + digit)),
            _ => self.put(itoa::Buffer::new().format(value)),
        }
    }

    #[inline]
    fn float(&mut self, value: impl zmij::Float) {
        self.put(zmij::Buffer::new().format_finite(value));
    }
}

/// Whether `text` has a character JSON escapes: eight bytes at a time, then a table
/// lookup per byte for the rest, with no branch per byte.
#[inline]
fn needs_escape(text: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte that is zero (a byte `b` of `x ^ c` is zero where `b == c`),
    // or below `0x20`; at least one bit is set when there is one.
    let below = |word: u64, bound: u8| word.wrapping_sub(ONES * u64::from(bound)) & !word & HIGHS;
    let chunks = text.as_bytes().chunks_exact(8);
    let rest = chunks.remainder();
    let mut found = 0;
    for chunk in chunks {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(bytes);
        found |=
            below(word, 0x20) | below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1);
    }
    let mut escape = 0;
    for &byte in rest {
        escape |= ESCAPE[byte as usize];
    }
    found != 0 || escape != 0
}

// What follows `\` for each byte that must be escaped (`u`: `\u00XX`); 0 for the rest.
const UU: u8 = b'u';
const __: u8 = 0;
const ESCAPE: [u8; 256] = {
    let mut table = [__; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = UU;
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

type Result<T = ()> = std::result::Result<T, JsonError>;

impl<'w, 'a> ser::Serializer for &'w mut JsonWriter<'a> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    #[inline]
    fn serialize_bool(self, value: bool) -> Result {
        self.put(if value { "true" } else { "false" });
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, value: i8) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_i16(self, value: i16) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_i32(self, value: i32) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_i64(self, value: i64) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_i128(self, value: i128) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, value: u8) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_u16(self, value: u16) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_u32(self, value: u32) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_u64(self, value: u64) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_u128(self, value: u128) -> Result {
        self.integer(value);
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, value: f32) -> Result {
        if value.is_finite() {
            self.float(value);
        } else {
            self.put("null");
        }
        Ok(())
    }

    #[inline]
    fn serialize_f64(self, value: f64) -> Result {
        if value.is_finite() {
            match decimal::short_decimal(value) {
                Some(short) => self.short_decimal(short),
                None => self.float(value),
            }
        } else {
            self.put("null");
        }
        Ok(())
    }

    #[inline]
    fn serialize_char(self, value: char) -> Result {
        self.string(value.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    #[inline]
    fn serialize_str(self, value: &str) -> Result {
        self.string(value);
        Ok(())
    }

    /// An array of numbers, as `serde_json` writes bytes (not counted as a level of
    /// nesting, as there).
    #[inline]
    fn serialize_bytes(self, value: &[u8]) -> Result {
        self.put_char('[');
        for (at, byte) in value.iter().enumerate() {
            if at > 0 {
                self.put_char(',');
            }
            self.integer(*byte);
        }
        self.put_char(']');
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result {
        self.put("null");
        Ok(())
    }

    #[inline]
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result {
        self.put("null");
        Ok(())
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.put("null");
        Ok(())
    }

    #[inline]
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.string(variant);
        Ok(())
    }

    #[inline]
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.open('{');
        self.string(variant);
        self.put_char(':');
        value.serialize(&mut *self)?;
        self.close('}');
        Ok(())
    }

    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'a>> {
        self.open('[');
        Ok(Compound::new(self))
    }

    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_seq(Some(len))
    }

    #[inline]
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'w, 'a>> {
        self.serialize_seq(Some(len))
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>> {
        self.open('{');
        self.string(variant);
        self.put_char(':');
        self.open('[');
        Ok(Compound::new(self))
    }

    #[inline]
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'a>> {
        self.open('{');
        Ok(Compound::new(self))
    }

    #[inline]
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'w, 'a>> {
        if name == RAW_VALUE_TOKEN || name == NUMBER_TOKEN {
            return Ok(Compound {
                raw: true,
                ..Compound::new(self)
            });
        }
        self.open('{');
        Ok(Compound::new(self))
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>> {
        self.open('{');
        self.string(variant);
        self.put_char(':');
        self.open('{');
        Ok(Compound::new(self))
    }
}

/// An array or object being written.
pub(crate) struct Compound<'w, 'a> {
    writer: &'w mut JsonWriter<'a>,
    first: bool,
    /// A `RawValue` or an arbitrary-precision `Number`: its one field is JSON text.
    raw: bool,
}

impl<'w, 'a> Compound<'w, 'a> {
    #[inline]
    fn new(writer: &'w mut JsonWriter<'a>) -> Self {
        Self {
            writer,
            first: true,
            raw: false,
        }
    }

    #[inline]
    fn separate(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.writer.put_char(',');
        }
    }

    #[inline]
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.separate();
        value.serialize(&mut *self.writer)
    }

    #[inline]
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        if self.raw {
            return self.raw_field(value);
        }
        let first = std::mem::replace(&mut self.first, false);
        self.writer.key(key, first);
        value.serialize(&mut *self.writer)
    }

    /// The one field of a `RawValue` (or an arbitrary-precision number): its JSON text.
    /// Out of line, so that the common field stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn raw_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        match serde_json::to_value(value) {
            Ok(serde_json::Value::String(json)) => {
                self.writer.raw(&json);
                Ok(())
            }
            _ => Err(ser::Error::custom("expected RawValue")),
        }
    }

    #[inline]
    fn end_raw_or(self, bracket: char) -> Result {
        if !self.raw {
            self.writer.close(bracket);
        }
        Ok(())
    }

    /// Closes the inner array or object of a variant, then the object around it.
    #[inline]
    fn end_variant(self, bracket: char) -> Result {
        self.writer.close(bracket);
        self.writer.close('}');
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;

    #[inline]
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }

    #[inline]
    fn end(self) -> Result {
        self.end_raw_or(']')
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;

    #[inline]
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }

    #[inline]
    fn end(self) -> Result {
        self.end_raw_or(']')
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }

    #[inline]
    fn end(self) -> Result {
        self.end_raw_or(']')
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.element(value)
    }

    #[inline]
    fn end(self) -> Result {
        self.end_variant(']')
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;

    #[inline]
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        self.separate();
        key.serialize(MapKey(&mut *self.writer))
    }

    #[inline]
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.writer.put_char(':');
        value.serialize(&mut *self.writer)
    }

    #[inline]
    fn end(self) -> Result {
        self.end_raw_or('}')
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.field(key, value)
    }

    #[inline]
    fn end(self) -> Result {
        self.end_raw_or('}')
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.field(key, value)
    }

    #[inline]
    fn end(self) -> Result {
        self.end_variant('}')
    }
}

/// A map key: JSON keys are strings, so a string, a character, a unit variant, a bool
/// or a number (finite, for floats) is written as one, and anything else is an error.
struct MapKey<'w, 'a>(&'w mut JsonWriter<'a>);

impl MapKey<'_, '_> {
    #[inline]
    fn quoted(self, write: impl FnOnce(&mut JsonWriter<'_>)) -> Result {
        self.0.put_char('"');
        write(self.0);
        self.0.put_char('"');
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Impossible<(), JsonError>;
    type SerializeTuple = Impossible<(), JsonError>;
    type SerializeTupleStruct = Impossible<(), JsonError>;
    type SerializeTupleVariant = Impossible<(), JsonError>;
    type SerializeMap = Impossible<(), JsonError>;
    type SerializeStruct = Impossible<(), JsonError>;
    type SerializeStructVariant = Impossible<(), JsonError>;

    #[inline]
    fn serialize_str(self, value: &str) -> Result {
        self.0.string(value);
        Ok(())
    }

    #[inline]
    fn serialize_char(self, value: char) -> Result {
        self.0.string(value.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    #[inline]
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.0.string(variant);
        Ok(())
    }

    #[inline]
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }

    #[inline]
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }

    #[inline]
    fn serialize_bool(self, value: bool) -> Result {
        self.quoted(|writer| writer.put(if value { "true" } else { "false" }))
    }

    #[inline]
    fn serialize_i8(self, value: i8) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_i16(self, value: i16) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_i32(self, value: i32) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_i64(self, value: i64) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_i128(self, value: i128) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_u8(self, value: u8) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_u16(self, value: u16) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_u32(self, value: u32) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_u64(self, value: u64) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_u128(self, value: u128) -> Result {
        self.quoted(|writer| writer.integer(value))
    }

    #[inline]
    fn serialize_f32(self, value: f32) -> Result {
        if !value.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|writer| writer.float(value))
    }

    #[inline]
    fn serialize_f64(self, value: f64) -> Result {
        if !value.is_finite() {
            return Err(float_key_must_be_finite());
        }
        self.quoted(|writer| writer.float(value))
    }

    #[inline]
    fn serialize_bytes(self, _value: &[u8]) -> Result {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_none(self) -> Result {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_unit(self) -> Result {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    //! The writer against `serde_json` itself: the same text for every shape `serde` has,
    //! the same errors for keys JSON cannot have.

    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::Value;

    use crate::payload::Payload;

    #[track_caller]
    fn same_as_serde_json<T: Serialize + ?Sized>(value: &T) {
        let expected = serde_json::to_string(value).expect("serde_json writes it");
        assert_eq!(Payload::capture(value, usize::MAX).as_json(), expected);
        assert_eq!(Payload::capture_reusing(value, usize::MAX).as_json(), expected);
    }

    /// Text with every character JSON escapes, and some it must not.
    fn awkward_text(rng: &mut fastrand::Rng) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", " ", "\"", "\\", "/", "\u{7f}", "é", "日本", "🦀", "\u{2028}", "'", "<", "{", "]", ":", ",",
        ];
        let len = rng.usize(0..12);
        (0..len)
            .map(|_| {
                if rng.bool() {
                    char::from(rng.u8(0..0x20)).to_string()
                } else {
                    PIECES[rng.usize(0..PIECES.len())].to_string()
                }
            })
            .collect()
    }

    fn random_number(rng: &mut fastrand::Rng) -> Value {
        match rng.u8(0..6) {
            0 => Value::from(rng.i64(..)),
            1 => Value::from(rng.u64(..)),
            2 => Value::from(rng.i64(-1000..1000)),
            // Any bit pattern: subnormals, huge and tiny exponents (non-finite ones are null).
            3 => Value::from(f64::from_bits(rng.u64(..))),
            4 => Value::from(rng.f64() * 10f64.powi(rng.i32(-30..30))),
            _ => Value::from(f64::from(rng.i32(..)) / 8.0),
        }
    }

    fn random_value(rng: &mut fastrand::Rng, depth: usize) -> Value {
        match rng.u8(0..if depth < 4 { 8 } else { 5 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.bool()),
            2 => random_number(rng),
            3 | 4 => Value::String(awkward_text(rng)),
            5 | 6 => Value::Array((0..rng.usize(0..5)).map(|_| random_value(rng, depth + 1)).collect()),
            _ => Value::Object(
                (0..rng.usize(0..5))
                    .map(|_| (awkward_text(rng), random_value(rng, depth + 1)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn random_json_values_come_out_as_serde_json_writes_them() {
        let mut rng = fastrand::Rng::with_seed(37);
        for _ in 0..3_000 {
            same_as_serde_json(&random_value(&mut rng, 0));
        }
    }

    #[test]
    fn every_control_character_and_every_float_class_come_out_as_serde_json_writes_them() {
        for byte in 0..=0x7f_u8 {
            same_as_serde_json(&char::from(byte));
            same_as_serde_json(&format!("x{}y", char::from(byte)));
        }
        for float in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e21,
            1e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
        ] {
            same_as_serde_json(&float);
            same_as_serde_json(&(float as f32));
        }
        same_as_serde_json(&(i128::MIN, u128::MAX, i8::MIN, u16::MAX, 'é'));
    }

    #[test]
    fn a_character_to_escape_is_found_at_every_place_in_a_long_string() {
        for special in [
            "\"", "\\", "\u{0}", "\u{1f}", "\n", " ", "!", "#", "[", "]", "\u{7f}", "é", "🦀",
        ] {
            for at in 0..20 {
                let text = format!("{}{special}{}", "a".repeat(at), "b".repeat(19 - at));
                same_as_serde_json(&text);
            }
        }
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Newtype(u32);

    #[derive(Serialize)]
    struct Pair(i32, String);

    #[derive(Serialize)]
    struct Query {
        user: &'static str,
        top_k: u32,
        score: f64,
        #[serde(rename = "we\"ird\n")]
        weird: Option<Vec<u8>>,
        nothing: Option<()>,
        unit: Unit,
        newtype: Newtype,
        pair: Pair,
        empty: Vec<Unit>,
    }

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Shape {
        Unit,
        Newtype(i64),
        Tuple(i8, char),
        Struct { a: bool, b: &'static str },
        EmptyTuple(),
        EmptyStruct {},
    }

    #[derive(Serialize)]
    #[serde(tag = "kind")]
    enum Tagged {
        Call { id: u32 },
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Untagged {
        Text(String),
        Many(Vec<Shape>),
    }

    struct Bytes(&'static [u8]);

    impl Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }

    #[test]
    fn every_serde_shape_comes_out_as_serde_json_writes_it() {
        same_as_serde_json(&Query {
            user: "cus_\"123\"",
            top_k: 5,
            score: 0.75,
            weird: Some(vec![0, 255]),
            nothing: None,
            unit: Unit,
            newtype: Newtype(7),
            pair: Pair(-1, "\t".into()),
            empty: vec![],
        });
        same_as_serde_json(&[
            Shape::Unit,
            Shape::Newtype(-3),
            Shape::Tuple(1, '\u{1}'),
            Shape::Struct { a: true, b: "\\" },
            Shape::EmptyTuple(),
            Shape::EmptyStruct {},
        ]);
        same_as_serde_json(&(Tagged::Call { id: 9 }, Untagged::Text("t".into())));
        same_as_serde_json(&Untagged::Many(vec![Shape::Unit, Shape::Newtype(1)]));
        same_as_serde_json(&(Bytes(b""), Bytes(b"\x00\x7f\xff"), (), Some(Some(1)), ((),)));
        same_as_serde_json(&format_args!("collected {} \"str\"", 1));
        same_as_serde_json(&std::time::Duration::from_millis(1500));
        same_as_serde_json(&std::path::Path::new("/tmp/a\"b"));
    }

    #[test]
    fn integers_around_the_one_digit_path_come_out_as_serde_json_writes_them() {
        for value in -12_i64..=12 {
            same_as_serde_json(&value);
            same_as_serde_json(&(value as i8, value as i16, value as i32, i128::from(value)));
            let unsigned = value.unsigned_abs();
            same_as_serde_json(&(
                unsigned as u8,
                unsigned as u16,
                unsigned as u32,
                unsigned,
                u128::from(unsigned),
            ));
            same_as_serde_json(&BTreeMap::from([(value, unsigned)]));
        }
        same_as_serde_json(&(u8::MAX, i8::MIN, u64::MAX, i64::MIN, 256_u16, 266_u32));
    }

    #[test]
    fn map_keys_that_are_not_strings_come_out_as_serde_json_writes_them() {
        same_as_serde_json(&BTreeMap::from([(-1_i64, 'a'), (7, 'b')]));
        same_as_serde_json(&BTreeMap::from([(u128::MAX, ())]));
        same_as_serde_json(&BTreeMap::from([(true, 1), (false, 0)]));
        same_as_serde_json(&BTreeMap::from([('"', 1), ('\n', 2)]));
        same_as_serde_json(&BTreeMap::from([(Shape::Unit, 1)]));
        same_as_serde_json(&BTreeMap::from([(Some("k"), 1)]));
        same_as_serde_json(
            &vec![(Newtype(3), 1)]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        let floats: Vec<(f64, u8)> = vec![(0.5, 1), (-1e300, 2)];
        same_as_serde_json(&FloatKeys(&floats));
    }

    impl std::hash::Hash for Newtype {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }
    impl PartialEq for Newtype {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Newtype {}

    /// A map with float keys (no std map has them).
    struct FloatKeys<'a>(&'a [(f64, u8)]);

    impl Serialize for FloatKeys<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().map(|(key, value)| (key, value)))
        }
    }

    #[test]
    fn keys_json_cannot_have_are_the_error_serde_json_gives() {
        fn same_error<T: Serialize>(value: &T) {
            let expected = serde_json::to_string(value)
                .expect_err("serde_json refuses it")
                .to_string();
            assert_eq!(
                Payload::capture(value, usize::MAX),
                Payload::serialization_error(&expected)
            );
        }
        same_error(&BTreeMap::from([(vec![1], 1)]));
        same_error(&BTreeMap::from([((), 1)]));
        same_error(&BTreeMap::from([(Shape::Newtype(1), 1)]));
        same_error(&BTreeMap::from([(None::<&str>, 1)]));
        same_error(&FloatKeys(&[(f64::NAN, 1)]));
        same_error(&FloatKeys(&[(f64::INFINITY, 1)]));
    }

    #[test]
    fn what_is_kept_under_any_limit_is_a_prefix_of_the_whole_at_a_character_boundary() {
        let value = serde_json::json!({"q": "日本🦀\n\"x\"", "n": [1.5, -2], "k": {"é": null}});
        let whole = serde_json::to_string(&value).expect("serde_json writes it");
        for limit in 0..=whole.len() + 1 {
            let mut out = String::new();
            let mut writer = super::JsonWriter::new(&mut out, limit);
            value.serialize(&mut writer).expect("written");
            assert_eq!(writer.total(), whole.len(), "limit {limit}");
            let kept = writer.kept().to_owned();
            assert!(kept.len() <= limit, "limit {limit}: {kept}");
            assert!(whole.starts_with(&kept), "limit {limit}: {kept}");
            assert!(kept.len() + 4 > limit.min(whole.len()), "limit {limit}: only {kept}");
        }
    }

    /// What a `serde_json::Number` is with `serde_json`'s `arbitrary_precision` on.
    struct ArbitraryPrecision(&'static str);

    impl Serialize for ArbitraryPrecision {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut number = serializer.serialize_struct("$serde_json::private::Number", 1)?;
            number.serialize_field("$serde_json::private::Number", self.0)?;
            number.end()
        }
    }

    #[test]
    fn an_arbitrary_precision_number_is_written_as_its_digits() {
        let value = (
            ArbitraryPrecision("1.50"),
            ArbitraryPrecision("123456789012345678901234567890"),
        );
        assert_eq!(
            Payload::capture(&value, usize::MAX).as_json(),
            "[1.50,123456789012345678901234567890]"
        );
    }

    #[test]
    fn raw_json_inside_a_value_is_written_as_it_is() {
        let raw = serde_json::value::RawValue::from_string(r#"{"a": [1, 2],"b":"\n"}"#.into()).expect("valid JSON");
        let payload = Payload::from_json(r#"{"inner":true}"#).expect("valid JSON");
        same_as_serde_json(&(&raw, BTreeMap::from([("p", &payload)])));
    }
}
