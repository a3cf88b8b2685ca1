//! `key=value,…` lists as the OpenTelemetry variables write them
//! (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`): splitting, strict
//! percent-decoding, and header names and values checked as HTTP requires.

use std::fmt;

use http::{HeaderName, HeaderValue};

/// What is wrong with one entry of a `key=value,…` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryProblem {
    /// The entry has no `=`.
    MissingEquals,
    /// Nothing before the `=`.
    EmptyKey,
    /// A `%` is not followed by two hex digits.
    BadPercentEscape,
    /// The value, once percent-decoded, is not UTF-8.
    NotUtf8,
    /// The key is not a valid HTTP header name.
    InvalidHeaderName,
    /// The value is not a valid HTTP header value (a control character, for example).
    InvalidHeaderValue,
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingEquals => "has no `=`",
            Self::EmptyKey => "has an empty key",
            Self::BadPercentEscape => "has a `%` not followed by two hex digits",
            Self::NotUtf8 => "does not percent-decode to UTF-8 text",
            Self::InvalidHeaderName => "has a key that is not a valid HTTP header name",
            Self::InvalidHeaderValue => "has a value that is not a valid HTTP header value",
        })
    }
}

/// One malformed entry of a `key=value,…` list: where it is and what is wrong, never
/// its value (header values are secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryError {
    /// 1-based position of the entry among the comma-separated items.
    pub(crate) position: usize,
    /// The key, when the entry has one.
    pub(crate) key: Option<String>,
    pub(crate) problem: EntryProblem,
}

/// Splits `key=value,key2=value2` into (1-based position, trimmed key, raw value); empty
/// items are skipped but counted, so positions match what the user sees.
pub(crate) fn split_key_values(text: &str) -> impl Iterator<Item = Result<(usize, &str, &str), EntryError>> {
    text.split(',')
        .enumerate()
        .map(|(index, pair)| (index + 1, pair.trim()))
        .filter(|(_, pair)| !pair.is_empty())
        .map(|(position, pair)| {
            let error = |problem| EntryError {
                position,
                key: None,
                problem,
            };
            let (key, value) = pair.split_once('=').ok_or_else(|| error(EntryProblem::MissingEquals))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(error(EntryProblem::EmptyKey));
            }
            Ok((position, key, value.trim()))
        })
}

/// Parses `key=value,key2=value2` (values percent-decoded), as in
/// `OTEL_RESOURCE_ATTRIBUTES`.
pub(crate) fn parse_key_values(text: &str) -> Result<Vec<(String, String)>, EntryError> {
    split_key_values(text)
        .map(|entry| {
            let (position, key, value) = entry?;
            let value = percent_decode(value).map_err(|problem| EntryError {
                position,
                key: Some(key.to_owned()),
                problem,
            })?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

/// Decodes `%XX` escapes. Strict: a `%` not followed by two hex digits, or bytes that are
/// not UTF-8 once decoded, are errors rather than guesses (a token that is silently
/// altered would fail far from its cause).
pub(crate) fn percent_decode(text: &str) -> Result<String, EntryProblem> {
    let bytes = text.as_bytes();
    for (index, _) in bytes.iter().enumerate().filter(|(_, byte)| **byte == b'%') {
        let escape = bytes.get(index + 1..index + 3);
        if !escape.is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit)) {
            return Err(EntryProblem::BadPercentEscape);
        }
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| EntryProblem::NotUtf8)
}

/// One header, checked; its value is marked sensitive so that `HeaderMap`'s `Debug`
/// (and anything built on it) never shows it.
pub(crate) fn header_pair(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), EntryProblem> {
    let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| EntryProblem::InvalidHeaderName)?;
    let mut value = HeaderValue::from_str(value).map_err(|_| EntryProblem::InvalidHeaderValue)?;
    value.set_sensitive(true);
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_lists_are_parsed_and_percent_decoded() {
        assert_eq!(
            parse_key_values("api-key=abc%20def, x=1").expect("valid"),
            vec![("api-key".into(), "abc def".into()), ("x".into(), "1".into())]
        );
        assert!(parse_key_values("novalue").is_err());
        assert!(parse_key_values("=v").is_err());
    }
}
