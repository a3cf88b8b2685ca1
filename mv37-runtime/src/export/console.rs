//! The `console` exporter: one readable, indented tree per finished trace.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{ExportError, Exporter};
use crate::record::{Content, ContentPart, MessageRecord, Record, SpanRecord, Status, TraceRecord};
use crate::render::{draw, usage_text, Node, Paint, PendingTraces, TraceGroup, TraceTree};

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
    pending: PendingTraces<TraceGroup>,
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
            pending: PendingTraces::default(),
        }
    }

    fn print(&mut self, group: &TraceGroup) -> Result<(), ExportError> {
        let text = render_trace(group);
        self.out.write_all(text.as_bytes()).map_err(Self::io_error)
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
            if matches!(record, Record::Trace(_)) {
                ended.push(trace_id);
            }
            self.pending
                .add(trace_id, || TraceGroup::new(trace_id))
                .push(record.clone());
        }
        for trace_id in ended {
            if let Some(group) = self.pending.remove(&trace_id) {
                self.print(&group)?;
            }
        }
        while self.pending.len() > MAX_PENDING_TRACES {
            let Some(oldest) = self.pending.pop_oldest() else { break };
            self.print(&oldest)?;
        }
        self.out.flush().map_err(Self::io_error)
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(Self::io_error)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        // Records of traces that never ended (or ended elsewhere) are printed as they are.
        while let Some(group) = self.pending.pop_oldest() {
            self.print(&group)?;
        }
        self.out.flush().map_err(Self::io_error)
    }
}

/// The line texts of the console's tree: plain, without colour.
struct Lines;

impl Paint for Lines {
    fn line(&self, node: &Node<'_>) -> String {
        match node {
            Node::Span(span) => span_line(span),
            Node::Message(message) => message_line(message),
            Node::Feedback(feedback) => format!(
                "feedback {} = {}{}",
                feedback.name,
                feedback.value,
                feedback
                    .comment
                    .as_ref()
                    .map(|c| format!(" \"{}\"", first_line(c, 80)))
                    .unwrap_or_default()
            ),
            Node::Signal(signal) => format!("signal {} = {}", signal.name, signal.value),
        }
    }
}

/// Renders the records of one trace as an indented tree.
fn render_trace(group: &TraceGroup) -> String {
    let mut out = match &group.trace {
        Some(trace) => trace_line(trace),
        None => format!("trace (still open) [{}]", group.trace_id),
    };
    out.push('\n');
    draw(&TraceTree::new(group), &Lines, &mut out);
    out
}

fn message_line(message: &MessageRecord) -> String {
    format!(
        "message {}{}{}: {}",
        message.role.as_str(),
        message
            .tool_call_id
            .as_ref()
            .map(|id| format!(" ({id})"))
            .unwrap_or_default(),
        if message.is_internal { " [internal]" } else { "" },
        content_summary(&message.content)
    )
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
        line.push_str(&usage_text(usage, &Lines));
    }
    line
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
