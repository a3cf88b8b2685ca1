//! Printing one trace as an indented tree, in colour or not: the header and the text of
//! each line. The tree's shape is the runtime's (`mv37_runtime::render`), shared with the
//! console exporter.

use std::fmt::Write as _;

use mv37_runtime::render::{draw, usage_text, Node, Paint, TraceTree};
use mv37_runtime::{
    Content, ContentPart, ErrorInfo, MessageRecord, Payload, SpanRecord, Status, SERIALIZATION_ERROR_KEY, TRUNCATED_KEY,
};
use serde_json::Value;

use crate::assemble::TraceGroup;
use crate::escape::escape;
use crate::time::{format_duration, format_time};

/// Longest first line of an input, output or message shown, in characters.
const PREVIEW_CHARS: usize = 100;

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether to emit colour escapes.
    pub color: bool,
}

impl Paint for Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn line(&self, node: &Node<'_>) -> String {
        let style = *self;
        match node {
            Node::Span(span) => span_line(span, style),
            Node::Message(message) => message_line(message, style),
            Node::Feedback(feedback) => {
                let mut line = format!(
                    "{} {} = {}",
                    style.paint("35", "feedback"),
                    escape(&feedback.name),
                    escape(&feedback.value.to_string())
                );
                if let Some(comment) = &feedback.comment {
                    let _ = write!(line, " \"{}\"", first_line(comment));
                }
                line
            }
            Node::Signal(signal) => format!(
                "{} {} = {}",
                style.paint("35", "signal"),
                escape(&signal.name),
                escape(&signal.value.to_string())
            ),
        }
    }

    fn details(&self, span: &SpanRecord, prefix: &str, out: &mut String) {
        details(
            span.error.as_ref(),
            span.input.as_ref(),
            span.output.as_ref(),
            prefix,
            *self,
            out,
        );
    }
}

impl Style {
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    fn status(self, status: Status) -> String {
        match status {
            Status::Ok => self.paint("32", "ok"),
            Status::Error => self.paint("1;31", "ERROR"),
            Status::Cancelled => self.paint("33", "CANCELLED"),
        }
    }
}

/// Appends the tree of `group` to `out`.
pub fn render(group: &TraceGroup, style: Style, out: &mut String) {
    header(group, style, out);
    draw(&TraceTree::new(&group.records), &style, out);
}

fn header(group: &TraceGroup, style: Style, out: &mut String) {
    let id = style.dim(&format!("[{}]", group.records.trace_id));
    let Some(trace) = &group.records.trace else {
        let what = if group.late {
            "late records of a trace shown above"
        } else {
            "incomplete: no trace record"
        };
        let _ = writeln!(
            out,
            "{} {} {id}",
            style.paint("1", "trace"),
            style.dim(&format!("({what})"))
        );
        return;
    };
    let mut line = format!(
        "{} {} {} {} {}",
        style.paint("1", "trace"),
        style.paint("1", &escape(&trace.name)),
        style.status(trace.status),
        format_duration(trace.latency_ns),
        style.dim(&format_time(trace.start_time_unix_nano)),
    );
    for (key, value) in [
        ("user", &trace.user_id),
        ("session", &trace.session_id),
        ("conversation", &trace.conversation_id),
    ] {
        if let Some(value) = value {
            let _ = write!(line, " {key}={}", escape(value));
        }
    }
    let _ = writeln!(out, "{line} {id}");
    details(
        trace.error.as_ref(),
        trace.input.as_ref(),
        trace.output.as_ref(),
        "",
        style,
        out,
    );
}

fn span_line(span: &SpanRecord, style: Style) -> String {
    let mark = if span.status == Status::Error {
        style.paint("1;31", "✗ ")
    } else {
        String::new()
    };
    let mut line = format!(
        "{mark}{} {} {} {}",
        style.paint("36", &escape(span.kind.as_str())),
        style.paint("1", &escape(&span.name)),
        style.status(span.status),
        format_duration(span.latency_ns)
    );
    if let Some(model) = &span.model {
        let _ = write!(line, " {}", style.paint("34", &escape(model)));
    }
    if let Some(provider) = &span.provider {
        let _ = write!(line, " ({})", escape(provider));
    }
    if let Some(usage) = &span.usage {
        line.push_str(&usage_text(usage, &style));
    }
    line
}

fn details(
    error: Option<&ErrorInfo>,
    input: Option<&Payload>,
    output: Option<&Payload>,
    prefix: &str,
    style: Style,
    out: &mut String,
) {
    if let Some(error) = error {
        let kind = error
            .error_type
            .as_deref()
            .map(|t| format!(" ({})", escape(t)))
            .unwrap_or_default();
        let text = format!("error: {}{kind}", first_line(&error.message));
        let _ = writeln!(out, "{prefix}  {}", style.paint("31", &text));
    }
    for (label, payload) in [("in: ", input), ("out:", output)] {
        if let Some(payload) = payload {
            let _ = writeln!(out, "{prefix}  {} {}", style.dim(label), payload_preview(payload));
        }
    }
}

fn message_line(message: &MessageRecord, style: Style) -> String {
    let mut line = format!("{} {}", style.paint("35", "message"), escape(message.role.as_str()));
    if message.is_internal {
        line.push_str(" [internal]");
    }
    if let Some(id) = &message.tool_call_id {
        let _ = write!(line, " ({})", escape(id));
    }
    let _ = write!(line, ": {}", first_line(&content_text(&message.content)));
    line
}

/// Message content as one line of text, with non-text parts as bracketed markers.
fn content_text(content: &Content) -> String {
    let parts = match content {
        Content::Text(text) => return text.clone(),
        Content::Parts(parts) => parts,
    };
    let described: Vec<String> = parts
        .iter()
        .map(|part| match part {
            ContentPart::Text { text } => text.clone(),
            ContentPart::ImageUrl { url, .. } => format!("[image {url}]"),
            ContentPart::ImageBase64 { media_type, data } => {
                format!("[image {media_type}, {} bytes base64]", data.len())
            }
            ContentPart::Audio { media_type, data } => format!("[audio {media_type}, {} bytes base64]", data.len()),
            ContentPart::File {
                name, url, media_type, ..
            } => {
                let what = name.as_deref().or(url.as_deref()).unwrap_or("inline");
                match media_type {
                    Some(media_type) => format!("[file {what} {media_type}]"),
                    None => format!("[file {what}]"),
                }
            }
            ContentPart::ToolCall { name, arguments, .. } => format!("[tool call {name}({arguments})]"),
            ContentPart::ToolResult { tool_call_id, content } => format!("[tool result {tool_call_id}: {content}]"),
        })
        .collect();
    described.join(" ")
}

/// The first line of a payload: a JSON string as its text, markers described, anything
/// else as compact JSON.
fn payload_preview(payload: &Payload) -> String {
    match serde_json::from_str::<Value>(payload.as_json()) {
        Ok(Value::String(text)) => first_line(&text),
        Ok(Value::Object(map)) if map.contains_key(TRUNCATED_KEY) => {
            let bytes = map.get("original_bytes").and_then(Value::as_u64).unwrap_or(0);
            let preview = map.get("preview").and_then(Value::as_str).unwrap_or("");
            first_line(&format!("[truncated, {bytes} bytes] {preview}"))
        }
        Ok(Value::Object(map)) if map.contains_key(SERIALIZATION_ERROR_KEY) => {
            let message = map.get(SERIALIZATION_ERROR_KEY).and_then(Value::as_str).unwrap_or("");
            first_line(&format!("[could not serialize: {message}]"))
        }
        _ => first_line(payload.as_json()),
    }
}

/// The first non-empty line of `text`, cut to [`PREVIEW_CHARS`] characters, with control
/// and bidi characters escaped; `…` marks anything left out.
pub fn first_line(text: &str) -> String {
    let trimmed = text.trim();
    let line = trimmed.lines().next().unwrap_or("").trim_end();
    let cut: String = line.chars().take(PREVIEW_CHARS).collect();
    let mut shown = escape(&cut).into_owned();
    if cut.len() < trimmed.len() {
        shown.push('…');
    }
    shown
}
