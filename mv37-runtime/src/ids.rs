//! Trace and span identifiers: W3C-compatible, random, lowercase hex on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 128-bit trace identifier, as in W3C Trace Context (never all zeros).
///
/// Held as two 64-bit halves, high first (so that the derived order is the number's):
/// a `u128` would align every structure holding one to 16 bytes, and the compact form a
/// finished span travels in to the exporter thread would take two cache lines, not one
/// and a half.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId {
    high: u64,
    low: u64,
}

/// A 64-bit span identifier, as in W3C Trace Context (never all zeros).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

impl TraceId {
    /// A new random trace id, from a thread-local generator (no lock, no syscall).
    pub fn random() -> Self {
        loop {
            let id = fastrand::u128(..);
            if id != 0 {
                return Self::from_nonzero(id);
            }
        }
    }

    /// The id as a number; `None` is returned by [`TraceId::from_u128`] for zero.
    pub fn to_u128(self) -> u128 {
        (u128::from(self.high) << 64) | u128::from(self.low)
    }

    /// An id from its numeric value; zero is not a valid trace id.
    pub fn from_u128(value: u128) -> Option<Self> {
        (value != 0).then(|| Self::from_nonzero(value))
    }

    fn from_nonzero(value: u128) -> Self {
        Self {
            high: (value >> 64) as u64,
            low: value as u64,
        }
    }

    /// The 16 big-endian bytes, as OTLP carries them.
    pub fn to_bytes(self) -> [u8; 16] {
        self.to_u128().to_be_bytes()
    }
}

impl SpanId {
    /// A new random span id, from a thread-local generator (no lock, no syscall).
    pub fn random() -> Self {
        loop {
            let id = fastrand::u64(..);
            if id != 0 {
                return Self(id);
            }
        }
    }

    /// The id as a number.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// An id from its numeric value; zero is not a valid span id.
    pub fn from_u64(value: u64) -> Option<Self> {
        (value != 0).then_some(Self(value))
    }

    /// The 8 big-endian bytes, as OTLP carries them.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

/// Why a string is not a valid id or `traceparent` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// The id does not have the required number of hex digits.
    #[error("expected {expected} lowercase hex digits, got {found:?}")]
    Length {
        /// Digits required (32 for a trace id, 16 for a span id).
        expected: usize,
        /// The text that was given.
        found: String,
    },
    /// The id contains a character that is not a lowercase hex digit.
    #[error("{found:?} is not lowercase hex")]
    NotHex {
        /// The text that was given.
        found: String,
    },
    /// The id is all zeros, which W3C Trace Context forbids.
    #[error("an all-zero id is invalid")]
    Zero,
    /// The `traceparent` header is not `version-traceid-spanid-flags`.
    #[error("malformed traceparent {found:?}: expected `00-<32 hex>-<16 hex>-<2 hex>`")]
    Traceparent {
        /// The header that was given.
        found: String,
    },
}

fn parse_hex(text: &str, digits: usize) -> Result<u128, IdParseError> {
    if text.len() != digits {
        return Err(IdParseError::Length {
            expected: digits,
            found: text.to_owned(),
        });
    }
    if !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(IdParseError::NotHex { found: text.to_owned() });
    }
    let value = u128::from_str_radix(text, 16).map_err(|_| IdParseError::NotHex { found: text.to_owned() })?;
    if value == 0 {
        return Err(IdParseError::Zero);
    }
    Ok(value)
}

impl FromStr for TraceId {
    type Err = IdParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_hex(text, 32).map(Self::from_nonzero)
    }
}

impl FromStr for SpanId {
    type Err = IdParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // 16 hex digits always fit in a u64.
        parse_hex(text, 16).map(|v| Self(v as u64))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.to_u128())
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

macro_rules! hex_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_serde!(TraceId);
hex_serde!(SpanId);

/// A W3C `traceparent` header: the trace to continue and the remote parent span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace being continued.
    pub trace_id: TraceId,
    /// The caller's span, which becomes the parent of this process's root span.
    pub parent_span_id: SpanId,
    /// Whether the caller sampled the trace (flag bit 0).
    pub sampled: bool,
}

impl TraceParent {
    /// Parses a `traceparent` header value, such as
    /// `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
    ///
    /// ```
    /// let parent: mv37_runtime::TraceParent =
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
    /// assert!(parent.sampled);
    /// assert_eq!(parent.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// ```
    pub fn parse(header: &str) -> Result<Self, IdParseError> {
        header.parse()
    }
}

impl FromStr for TraceParent {
    type Err = IdParseError;
    fn from_str(header: &str) -> Result<Self, Self::Err> {
        let malformed = || IdParseError::Traceparent {
            found: header.to_owned(),
        };
        let mut parts = header.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        // Version 00 has exactly four fields; later versions may append more.
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return Err(malformed());
        }
        u8::from_str_radix(version, 16).map_err(|_| malformed())?;
        let flags = if flags.len() == 2 {
            u8::from_str_radix(flags, 16).map_err(|_| malformed())?
        } else {
            return Err(malformed());
        };
        Ok(Self {
            trace_id: trace.parse()?,
            parent_span_id: span.parse()?,
            sampled: flags & 1 == 1,
        })
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.parent_span_id,
            u8::from(self.sampled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex() {
        let trace = TraceId::random();
        let span = SpanId::random();
        assert_eq!(trace.to_string().len(), 32);
        assert_eq!(span.to_string().len(), 16);
        assert_eq!(trace.to_string().parse::<TraceId>(), Ok(trace));
        assert_eq!(span.to_string().parse::<SpanId>(), Ok(span));
    }

    #[test]
    fn malformed_traceparents_are_rejected_with_the_reason() {
        assert!(matches!(
            "00-abc-00f067aa0ba902b7-01".parse::<TraceParent>(),
            Err(IdParseError::Length { expected: 32, .. })
        ));
        assert!(matches!(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".parse::<TraceParent>(),
            Err(IdParseError::Zero)
        ));
        assert!(matches!(
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".parse::<TraceParent>(),
            Err(IdParseError::NotHex { .. })
        ));
        assert!(matches!(
            "garbage".parse::<TraceParent>(),
            Err(IdParseError::Traceparent { .. })
        ));
        let unsampled: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            .parse()
            .expect("valid header");
        assert!(!unsampled.sampled);
    }
}
