//! The `console` exporter: one readable, indented tree per finished trace.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Write};

use super::{ExportError, Exporter};
use crate::ids::{SpanId, TraceId};
use crate::record::{Content, ContentPart, MessageRecord, Record, SpanRecord, Status, TraceRecord, Usage};

/// Traces whose records are held while waiting for the trace to end. Past this the
/// oldest is printed as it is.
const MAX_PENDING_TRACES: usize = 1024;

/// Prints each trace as a tree when it ends, for local development:
///
/// ```text
/// trace support_agent ok 48.2ms user=cus_123 conversation=thread_123 [4bf92f35…]
/// ├─ message user: Where is my order?
/// ├─ retrieval search_docs ok 1.1ms
/// └─ task resolve_ticket ok 40.0ms
///    ├─ llm openai.responses ok 30.2ms gpt-4.1-mini (openai) tokens in=812 out=64 cached=512 $0.000420
///    └─ tool issue_refund ok 1.0ms
/// ```
pub struct ConsoleExporter {
    out: Box<dyn Write + Send>,
    pending: HashMap<TraceId, Vec<Record>>,
    order: VecDeque<TraceId>,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("pending_traces", &self.pending.len())
            .finish()
    }
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        Self::stderr()
    }
}

impl ConsoleExporter {
    /// Prints to standard error.
    pub fn stderr() -> Self {
        Self::to_writer(io::stderr())
    }

    /// Prints to standard output.
    pub fn stdout() -> Self {
        Self::to_writer(io::stdout())
    }

    /// Prints to any writer (a file, a buffer in tests).
    pub fn to_writer(out: impl Write + Send + 'static) -> Self {
        Self {
            out: Box::new(out),
            pending: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn print(&mut self, trace_id: TraceId) -> io::Result<()> {
        if let Some(records) = self.pending.remove(&trace_id) {
            self.order.retain(|id| *id != trace_id);
            let text = render_trace(&records);
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    fn io_error(error: io::Error) -> ExportError {
        ExportError::new("console", error.to_string())
    }
}

impl Exporter for ConsoleExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let mut ended = Vec::new();
        for record in batch {
            let trace_id = record.trace_id();
            if !self.pending.contains_key(&trace_id) {
                self.order.push_back(trace_id);
            }
            self.pending.entry(trace_id).or_default().push(record.clone());
            if matches!(record, Record::Trace(_)) {
                ended.push(trace_id);
            }
        }
        for trace_id in ended {
            self.print(trace_id).map_err(Self::io_error)?;
        }
        while self.order.len() > MAX_PENDING_TRACES {
            if let Some(oldest) = self.order.front().copied() {
                self.print(oldest).map_err(Self::io_error)?;
            }
        }
        self.out.flush().map_err(Self::io_error)
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(Self::io_error)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        // Records of traces that never ended (or ended elsewhere) are printed as they are.
        while let Some(trace_id) = self.order.front().copied() {
            self.print(trace_id).map_err(Self::io_error)?;
        }
        self.out.flush().map_err(Self::io_error)
    }
}

/// One line of the tree, placed under a span and ordered by time.
struct Line {
    time: u64,
    text: String,
    span: Option<SpanId>,
}

/// Renders the records of one trace (in any order) as an indented tree.
pub(crate) fn render_trace(records: &[Record]) -> String {
    let trace = records.iter().find_map(|r| match r {
        Record::Trace(t) => Some(t),
        _ => None,
    });
    let mut children: HashMap<Option<SpanId>, Vec<Line>> = HashMap::new();
    let root = trace.map(|t| t.span_id);
    for record in records {
        let (line, parent) = match record {
            Record::Trace(trace) => {
                for message in &trace.messages {
                    children
                        .entry(Some(message.span_id))
                        .or_default()
                        .push(message_line(message));
                }
                continue;
            }
            Record::Span(span) => {
                for message in &span.messages {
                    children
                        .entry(Some(message.span_id))
                        .or_default()
                        .push(message_line(message));
                }
                (
                    Line {
                        time: span.start_time_unix_nano,
                        text: span_line(span),
                        span: Some(span.span_id),
                    },
                    span.parent_span_id,
                )
            }
            Record::Message(message) => (message_line(message), Some(message.span_id)),
            Record::Feedback(feedback) => (
                Line {
                    time: feedback.time_unix_nano,
                    text: format!(
                        "feedback {} = {}{}",
                        feedback.name,
                        feedback.value,
                        feedback
                            .comment
                            .as_ref()
                            .map(|c| format!(" \"{}\"", first_line(c, 80)))
                            .unwrap_or_default()
                    ),
                    span: None,
                },
                feedback.span_id.or(root),
            ),
            Record::Signal(signal) => (
                Line {
                    time: signal.time_unix_nano,
                    text: format!("signal {} = {}", signal.name, signal.value),
                    span: None,
                },
                signal.span_id.or(root),
            ),
        };
        children.entry(parent).or_default().push(line);
    }
    for lines in children.values_mut() {
        lines.sort_by_key(|line| line.time);
    }
    let mut out = String::new();
    match trace {
        Some(trace) => out.push_str(&trace_line(trace)),
        None => {
            let id = records.first().map(Record::trace_id);
            let _ = write!(
                out,
                "trace (still open) [{}]",
                id.map(|id| id.to_string()).unwrap_or_default()
            );
        }
    }
    out.push('\n');
    // Lines whose parent is not in this trace (a late span) hang under the root.
    let known: Vec<Option<SpanId>> = children.keys().copied().collect();
    let mut roots: Vec<Line> = children.remove(&root).unwrap_or_default();
    for key in known {
        let orphan = key != root
            && !records
                .iter()
                .any(|r| matches!(r, Record::Span(s) if Some(s.span_id) == key));
        if orphan {
            roots.extend(children.remove(&key).unwrap_or_default());
        }
    }
    roots.sort_by_key(|line| line.time);
    render_children(&mut out, roots, &mut children, "");
    out
}

fn render_children(
    out: &mut String,
    lines: Vec<Line>,
    children: &mut HashMap<Option<SpanId>, Vec<Line>>,
    indent: &str,
) {
    let count = lines.len();
    for (index, line) in lines.into_iter().enumerate() {
        let last = index + 1 == count;
        let _ = writeln!(out, "{indent}{}{}", if last { "└─ " } else { "├─ " }, line.text);
        if let Some(span) = line.span {
            let nested = children.remove(&Some(span)).unwrap_or_default();
            let deeper = format!("{indent}{}", if last { "   " } else { "│  " });
            render_children(out, nested, children, &deeper);
        }
    }
}

fn message_line(message: &MessageRecord) -> Line {
    Line {
        time: message.time_unix_nano,
        text: format!(
            "message {}{}{}: {}",
            message.role.as_str(),
            message
                .tool_call_id
                .as_ref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default(),
            if message.is_internal { " [internal]" } else { "" },
            content_summary(&message.content)
        ),
        span: None,
    }
}

fn trace_line(trace: &TraceRecord) -> String {
    let mut line = format!(
        "trace {} {} {}",
        trace.name,
        status_text(trace.status, trace.error.as_ref().map(|e| e.message.as_str())),
        millis(trace.latency_ns)
    );
    for (key, value) in [
        ("user", &trace.user_id),
        ("session", &trace.session_id),
        ("conversation", &trace.conversation_id),
        ("external", &trace.external_trace_id),
    ] {
        if let Some(value) = value {
            let _ = write!(line, " {key}={value}");
        }
    }
    let _ = write!(line, " [{}]", trace.trace_id);
    line
}

fn span_line(span: &SpanRecord) -> String {
    let mut line = format!(
        "{} {} {} {}",
        span.kind,
        span.name,
        status_text(span.status, span.error.as_ref().map(|e| e.message.as_str())),
        millis(span.latency_ns)
    );
    if let Some(model) = &span.model {
        let _ = write!(line, " {model}");
        if let Some(provider) = &span.provider {
            let _ = write!(line, " ({provider})");
        }
    }
    if let Some(usage) = &span.usage {
        line.push_str(&usage_text(usage));
    }
    line
}

fn usage_text(usage: &Usage) -> String {
    let mut text = String::new();
    let tokens = [
        ("in", usage.input_tokens),
        ("out", usage.output_tokens),
        ("cached", usage.cached_tokens),
        ("reasoning", usage.reasoning_tokens),
    ];
    if tokens.iter().any(|(_, v)| v.is_some()) {
        text.push_str(" tokens");
        for (name, value) in tokens {
            if let Some(value) = value {
                let _ = write!(text, " {name}={value}");
            }
        }
    }
    if let Some(cost) = usage.cost_usd {
        let _ = write!(text, " ${cost:.6}");
    }
    text
}

fn status_text(status: Status, error: Option<&str>) -> String {
    match (status, error) {
        (Status::Ok, _) => "ok".to_owned(),
        (status, Some(message)) => format!("{}!({})", status.as_str().to_uppercase(), first_line(message, 80)),
        (status, None) => format!("{}!", status.as_str().to_uppercase()),
    }
}

fn millis(nanos: u64) -> String {
    format!("{:.1}ms", nanos as f64 / 1e6)
}

fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > max_chars {
        let cut: String = line.chars().take(max_chars).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

fn content_summary(content: &Content) -> String {
    match content {
        Content::Text(text) => first_line(text, 100),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text } => first_line(text, 60),
                ContentPart::ImageUrl { url, .. } => format!("[image {}]", first_line(url, 40)),
                ContentPart::ImageBase64 { media_type, .. } => format!("[image {media_type}]"),
                ContentPart::Audio { media_type, .. } => format!("[audio {media_type}]"),
                ContentPart::File { name, .. } => format!("[file {}]", name.as_deref().unwrap_or("")),
                ContentPart::ToolCall { id, name, .. } => format!("[tool call {name} {id}]"),
                ContentPart::ToolResult { tool_call_id, .. } => format!("[tool result {tool_call_id}]"),
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}
