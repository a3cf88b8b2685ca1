//! Making text read from records safe to print on a terminal.
//!
//! Payloads, names and error messages come from LLMs and users; printed raw, an ESC or a
//! C1 control starts a terminal escape sequence (moving the cursor, rewriting the title,
//! hiding text), a BEL rings, a CR overwrites the line, and a bidi override (U+202E)
//! makes text read backwards. Every piece of record text the CLI prints goes through
//! [`escape`] (trees, tables, messages) or [`escape_json`] (JSON output), which show
//! these characters as visible escapes instead.
//!
//! The characters escaped are the controls (C0, DEL and C1: Unicode category `Cc`), the
//! bidi formatting characters (the `Bidi_Control` property: U+061C, U+200E, U+200F,
//! U+202A–U+202E, U+2066–U+2069) and the line and paragraph separators U+2028 and U+2029.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// `text` with every unsafe character shown as an escape: `\t`, `\n` and `\r`, `\xNN`
/// for the other ASCII controls (`\x1b` for ESC), `\u{NNNN}` for the rest (`\u{202e}`).
/// Borrowed when there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            c if c.is_ascii() && is_unsafe(c) => {
                let _ = write!(escaped, "\\x{:02x}", u32::from(c));
            }
            c if is_unsafe(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// A JSON text with every unsafe character written as a JSON `\uNNNN` escape: the same
/// JSON value, safe on a terminal. In valid JSON such characters can only occur inside
/// strings (whitespace outside strings is space, tab, CR and LF), where `\uNNNN` means
/// the same character; tab, CR and LF outside strings are left alone.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let needs = |c: char| is_unsafe(c) && !matches!(c, '\t' | '\n' | '\r');
    if !json.chars().any(needs) {
        return Cow::Borrowed(json);
    }
    let mut escaped = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one `\uNNNN`.
            let _ = write!(escaped, "\\u{:04x}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{escape, escape_json, is_unsafe};

    /// Each character a payload could use to reach the terminal, and how it is shown.
    const HOSTILE: [(char, &str); 22] = [
        ('\u{1b}', "\\x1b"),       // ESC: starts every ANSI sequence
        ('\u{7}', "\\x07"),        // BEL
        ('\0', "\\x00"),           // NUL
        ('\u{8}', "\\x08"),        // backspace
        ('\r', "\\r"),             // carriage return: overwrites the line
        ('\n', "\\n"),             // line feed
        ('\t', "\\t"),             // tab
        ('\u{7f}', "\\x7f"),       // DEL
        ('\u{80}', "\\u{80}"),     // first C1 control
        ('\u{9b}', "\\u{9b}"),     // CSI: a one-byte ESC [ on 8-bit terminals
        ('\u{9d}', "\\u{9d}"),     // OSC: title, hyperlinks, clipboard
        ('\u{9f}', "\\u{9f}"),     // last C1 control
        ('\u{202e}', "\\u{202e}"), // RIGHT-TO-LEFT OVERRIDE
        ('\u{202d}', "\\u{202d}"), // LEFT-TO-RIGHT OVERRIDE
        ('\u{202a}', "\\u{202a}"), // LEFT-TO-RIGHT EMBEDDING
        ('\u{202b}', "\\u{202b}"), // RIGHT-TO-LEFT EMBEDDING
        ('\u{202c}', "\\u{202c}"), // POP DIRECTIONAL FORMATTING
        ('\u{2066}', "\\u{2066}"), // LEFT-TO-RIGHT ISOLATE
        ('\u{2067}', "\\u{2067}"), // RIGHT-TO-LEFT ISOLATE
        ('\u{2068}', "\\u{2068}"), // FIRST STRONG ISOLATE
        ('\u{2069}', "\\u{2069}"), // POP DIRECTIONAL ISOLATE
        ('\u{200f}', "\\u{200f}"), // RIGHT-TO-LEFT MARK
    ];

    #[test]
    fn each_control_and_bidi_character_is_shown_as_an_escape() {
        for (c, shown) in HOSTILE {
            assert!(is_unsafe(c), "{c:?}");
            assert_eq!(escape(&format!("a{c}b")), format!("a{shown}b"), "{c:?}");
        }
        for c in ['\u{61c}', '\u{200e}', '\u{2028}', '\u{2029}', '\u{85}'] {
            assert!(is_unsafe(c), "{c:?}");
            assert!(!escape(&c.to_string()).contains(c), "{c:?}");
        }
    }

    #[test]
    fn an_escape_sequence_is_printed_as_text() {
        let title = "ok\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m";
        assert_eq!(escape(title), "ok\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in ["plain", "héllo wörld", "日本語 🦀 👩‍👩‍👧", "\\x1b typed by hand", "عربى"] {
            assert!(matches!(escape(text), std::borrow::Cow::Borrowed(_)), "{text}");
            assert!(matches!(escape_json(text), std::borrow::Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn escaped_json_is_the_same_json_value_without_the_characters() {
        for (c, _) in HOSTILE {
            let value = serde_json::json!({ "name": format!("a{c}b"), format!("k{c}"): [format!("{c}")] });
            // serde_json escapes C0 controls itself but writes DEL, C1 and bidi raw.
            let json = serde_json::to_string(&value).unwrap();
            let escaped = escape_json(&json);
            assert!(!escaped.chars().any(is_unsafe), "{c:?}: {escaped}");
            let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
            assert_eq!(back, value, "{c:?}");
        }
        let pretty = "{\n\t\"a\": \"\u{202e}\"\r\n}";
        assert_eq!(escape_json(pretty), "{\n\t\"a\": \"\\u202e\"\r\n}");
    }
}
