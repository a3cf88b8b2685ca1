//! Messages and feedback: records made with a short builder that is sent when dropped.

use std::sync::Arc;

use serde_json::Value;

use crate::client::ClientInner;
use crate::clock::Moment;
use crate::ids::{SpanId, TraceId};
use crate::record::{Attributes, Content, FeedbackRecord, MessageRecord, Record, Role};
use crate::trace::TraceInner;

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

/// A message being recorded; it is sent when dropped, at the end of the statement.
pub struct MessageBuilder {
    target: Option<(Arc<ClientInner>, MessageRecord)>,
}

impl std::fmt::Debug for MessageBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageBuilder")
            .field("record", &self.target.as_ref().map(|t| &t.1))
            .finish()
    }
}

impl MessageBuilder {
    pub(crate) fn new(trace: &Arc<TraceInner>, span_id: SpanId, role: Role, content: Content) -> Self {
        Self {
            target: Some((
                Arc::clone(&trace.client),
                MessageRecord {
                    trace_id: trace.trace_id,
                    span_id,
                    time_unix_nano: Moment::now().unix_nanos,
                    role,
                    content,
                    tool_call_id: None,
                    is_internal: false,
                    context: trace.context.clone(),
                },
            )),
        }
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
        if let Some((client, record)) = self.target.take() {
            client.submit(Record::Message(record));
        }
    }
}

/// Feedback being recorded; it is sent when dropped, at the end of the statement.
pub struct FeedbackBuilder {
    target: Option<(Arc<ClientInner>, FeedbackRecord)>,
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
        client: Arc<ClientInner>,
        trace_id: TraceId,
        name: String,
        value: Value,
        context: Option<Arc<Attributes>>,
    ) -> Self {
        Self {
            target: Some((
                client,
                FeedbackRecord {
                    trace_id,
                    span_id: None,
                    time_unix_nano: Moment::now().unix_nanos,
                    name,
                    value,
                    comment: None,
                    context,
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
        if let Some((client, record)) = self.target.take() {
            client.submit(Record::Feedback(record));
        }
    }
}
