//! Messages and feedback: records made with a short builder that is sent when dropped.

use std::sync::Arc;

use serde_json::Value;

use crate::clock;
use crate::ids::{SpanId, TraceId};
use crate::record::{Content, FeedbackRecord, MessageRecord, Record, Role, TraceScope};
use crate::state::local::{frame_in, Frame};
use crate::state::open::{Recorder, SharedSpan, SharedTrace};

impl From<&str> for Role {
    fn from(role: &str) -> Self {
        match role {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            other => Role::Other(other.to_owned()),
        }
    }
}

/// Where a message goes: into the record of the span or trace open when it was made,
/// so that exporters see a span together with its conversation.
enum Owner {
    Span(Arc<SharedSpan>),
    Trace(Arc<SharedTrace>),
}

impl Owner {
    fn deliver(self, message: MessageRecord) {
        let (left_over, recorder) = match &self {
            Owner::Span(span) => (span.attach_message(message), &span.trace.recorder),
            Owner::Trace(trace) => (trace.attach_message(message), &trace.recorder),
        };
        // The owner already ended (or is full): the message becomes a record of its own.
        if let Some(message) = left_over {
            recorder.submit(Record::Message(message));
        }
    }
}

/// A message being recorded; it is sent when dropped, at the end of the statement. It is
/// carried by the record of the span open when it was made (or of the trace), so it is
/// exported when that span ends.
pub struct MessageBuilder {
    target: Option<(Owner, MessageRecord)>,
}

impl std::fmt::Debug for MessageBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageBuilder")
            .field("record", &self.target.as_ref().map(|t| &t.1))
            .finish()
    }
}

impl MessageBuilder {
    fn new(owner: Owner, trace: &SharedTrace, span_id: SpanId, role: Role, content: Content) -> Self {
        Self {
            target: Some((
                owner,
                MessageRecord {
                    trace_id: trace.trace_id,
                    span_id,
                    time_unix_nano: clock::unix_nanos_now(),
                    role,
                    content,
                    tool_call_id: None,
                    is_internal: false,
                    scope: Some(Arc::clone(&trace.scope)),
                },
            )),
        }
    }

    /// A message on the innermost span of `trace` open here, or on the trace itself;
    /// none when the client captures no content.
    pub(crate) fn in_trace(trace: &Arc<SharedTrace>, role: Role, content: Content) -> Self {
        if !trace.recorder.capture.content {
            return Self::disabled();
        }
        match frame_in(trace).as_ref().and_then(Frame::span) {
            Some(span) => Self::in_span(span, role, content),
            None => Self::new(
                Owner::Trace(Arc::clone(trace)),
                trace,
                trace.root_span_id,
                role,
                content,
            ),
        }
    }

    /// A message on this span; none when the client captures no content (a message is
    /// its content: even its tool calls carry arguments).
    pub(crate) fn in_span(span: &Arc<SharedSpan>, role: Role, content: Content) -> Self {
        if !span.trace.recorder.capture.content {
            return Self::disabled();
        }
        Self::new(Owner::Span(Arc::clone(span)), &span.trace, span.span_id, role, content)
    }

    pub(crate) fn disabled() -> Self {
        Self { target: None }
    }

    /// Links a tool message to the tool call it answers.
    pub fn tool_call_id(mut self, id: impl Into<String>) -> Self {
        if let Some((_, record)) = &mut self.target {
            record.tool_call_id = Some(id.into());
        }
        self
    }

    /// Marks a message the end user never sees (scratchpad, reflection).
    pub fn internal(mut self) -> Self {
        if let Some((_, record)) = &mut self.target {
            record.is_internal = true;
        }
        self
    }
}

impl Drop for MessageBuilder {
    fn drop(&mut self) {
        if let Some((owner, record)) = self.target.take() {
            owner.deliver(record);
        }
    }
}

/// Feedback being recorded; it is sent when dropped, at the end of the statement.
pub struct FeedbackBuilder {
    target: Option<(Arc<Recorder>, FeedbackRecord)>,
}

impl std::fmt::Debug for FeedbackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedbackBuilder")
            .field("record", &self.target.as_ref().map(|t| &t.1))
            .finish()
    }
}

impl FeedbackBuilder {
    pub(crate) fn new(
        recorder: Arc<Recorder>,
        trace_id: TraceId,
        root_span_id: Option<SpanId>,
        name: String,
        value: Value,
        scope: Option<Arc<TraceScope>>,
    ) -> Self {
        Self {
            target: Some((
                recorder,
                FeedbackRecord {
                    trace_id,
                    span_id: None,
                    root_span_id,
                    time_unix_nano: clock::unix_nanos_now(),
                    name,
                    value,
                    comment: None,
                    scope,
                },
            )),
        }
    }

    pub(crate) fn disabled() -> Self {
        Self { target: None }
    }

    /// A free-text comment.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        if let Some((_, record)) = &mut self.target {
            record.comment = Some(comment.into());
        }
        self
    }

    /// The span the feedback is about.
    pub fn span(mut self, span_id: SpanId) -> Self {
        if let Some((_, record)) = &mut self.target {
            record.span_id = Some(span_id);
        }
        self
    }
}

impl Drop for FeedbackBuilder {
    fn drop(&mut self) {
        if let Some((recorder, record)) = self.target.take() {
            recorder.submit(Record::Feedback(record));
        }
    }
}
