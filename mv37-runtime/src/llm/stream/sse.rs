//! [`SseAccumulator`]: server-sent events, as raw bytes off the wire, into the JSON
//! chunks a provider accumulator takes.

use serde_json::Value;

use super::accumulator::{str_of, StreamAccumulator};
use super::{AnthropicAccumulator, OpenAiAccumulator};
use crate::record::{Content, ErrorInfo, ResponseInfo, Usage};

/// The longest event (its `data` lines together) kept, in bytes. A longer one is skipped
/// and counted (see [`SseAccumulator::skipped_events`]); the bytes still reach the reader.
pub const MAX_SSE_EVENT_BYTES: usize = 4 << 20;

/// Reads a `text/event-stream` body chunk by chunk, as the bytes arrive (split anywhere,
/// even inside a line or a UTF-8 character), and hands each event's `data` JSON to the
/// provider accumulator inside: [`OpenAiAccumulator`](super::OpenAiAccumulator) or
/// [`AnthropicAccumulator`](super::AnthropicAccumulator). It keeps only the event being
/// read, never the whole stream. `data: [DONE]` and comments are skipped.
///
/// An error event fails the span: `event: error` or a chunk of `"type": "error"`
/// (Anthropic, the Responses API), a chunk holding only an `error` object (Chat
/// Completions), or `response.failed`.
///
/// ```
/// use mv37_runtime::{SseAccumulator, StreamAccumulator};
///
/// let mut acc = SseAccumulator::openai();
/// acc.push(&b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel"[..]);
/// acc.push(&b"\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n"[..]);
/// assert_eq!(acc.inner().output(), Some(serde_json::json!("Hello")));
/// ```
#[derive(Debug, Clone)]
pub struct SseAccumulator<A> {
    inner: A,
    /// How a chunk reaches `inner`: its `StreamAccumulator<Value>::push`, or for the
    /// built-in accumulators their JSON entry point (no copy of the chunk).
    push: fn(&mut A, &Value) -> bool,
    /// The line being read (bytes after the last newline).
    line: Vec<u8>,
    /// The current event's `data` lines, joined by newlines (parsed as JSON, which
    /// checks their UTF-8).
    data: Vec<u8>,
    /// The current event's `event:` name, when it is `error`.
    error_event: bool,
    /// The current event outgrew [`MAX_SSE_EVENT_BYTES`]: skip it.
    oversized: bool,
    skipped: u64,
    failure: Option<ErrorInfo>,
    complete: bool,
}

impl SseAccumulator<OpenAiAccumulator> {
    /// Reads OpenAI streams (Chat Completions chunks, Responses API events).
    pub fn openai() -> Self {
        Self::with_push(OpenAiAccumulator::new(), OpenAiAccumulator::push_json)
    }
}

impl SseAccumulator<AnthropicAccumulator> {
    /// Reads Anthropic Messages streams.
    pub fn anthropic() -> Self {
        Self::with_push(AnthropicAccumulator::new(), AnthropicAccumulator::push_json)
    }
}

impl<A> SseAccumulator<A> {
    /// An accumulator handing each event's JSON to `inner`.
    pub fn new(inner: A) -> Self
    where
        A: StreamAccumulator<Value>,
    {
        Self::with_push(inner, |inner, chunk| inner.push(chunk))
    }

    fn with_push(inner: A, push: fn(&mut A, &Value) -> bool) -> Self {
        Self {
            inner,
            push,
            line: Vec::new(),
            data: Vec::new(),
            error_event: false,
            oversized: false,
            skipped: 0,
            failure: None,
            complete: false,
        }
    }

    /// The provider accumulator, with what it assembled so far.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Events skipped: longer than [`MAX_SSE_EVENT_BYTES`], or whose data was not JSON.
    pub fn skipped_events(&self) -> u64 {
        self.skipped
    }

    /// The error an error event reported, if one did.
    pub fn failure(&self) -> Option<&ErrorInfo> {
        self.failure.as_ref()
    }
}

impl<A> SseAccumulator<A> {
    /// Takes bytes in; returns whether an event among them carried output.
    fn push_bytes(&mut self, mut bytes: &[u8]) -> bool {
        let mut produced = false;
        while let Some(end) = memchr::memchr(b'\n', bytes) {
            if self.line.is_empty() {
                produced |= self.line_done(&bytes[..end]);
            } else {
                self.keep(&bytes[..end]);
                let line = std::mem::take(&mut self.line);
                // A line dropped for its size is not a blank line.
                if !line.is_empty() {
                    produced |= self.line_done(&line);
                }
                self.line = line;
                self.line.clear();
            }
            bytes = &bytes[end + 1..];
        }
        self.keep(bytes);
        produced
    }

    /// Keeps a partial line, unless the event already outgrew the bound.
    fn keep(&mut self, part: &[u8]) {
        if self.line.len() + part.len() + self.data.len() > MAX_SSE_EVENT_BYTES {
            self.oversized = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(part);
        }
    }

    fn line_done(&mut self, line: &[u8]) -> bool {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return self.dispatch();
        }
        if self.oversized {
            return false;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return false, // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() > MAX_SSE_EVENT_BYTES {
                    self.oversized = true;
                    return false;
                }
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
            }
            b"event" => self.error_event = value == b"error",
            _ => {}
        }
        false
    }

    /// An event ended (a blank line): hand its data on.
    fn dispatch(&mut self) -> bool {
        let error_event = std::mem::take(&mut self.error_event);
        if std::mem::take(&mut self.oversized) {
            self.data.clear();
            self.skipped += 1;
            return false;
        }
        let parsed = match self.data.as_slice() {
            b"" => return false,
            b"[DONE]" => {
                self.data.clear();
                self.complete = true;
                return false;
            }
            data => serde_json::from_slice::<Value>(data),
        };
        // The buffer keeps its allocation for the next event.
        self.data.clear();
        let Ok(chunk) = parsed else {
            self.skipped += 1;
            return false;
        };
        if matches!(
            str_of(&chunk, "type"),
            Some("message_stop" | "response.completed" | "response.incomplete" | "response.failed")
        ) {
            self.complete = true;
        }
        if let Some(error) = stream_error(&chunk, error_event) {
            self.failure.get_or_insert(error);
        }
        (self.push)(&mut self.inner, &chunk)
    }
}

/// The error a streamed chunk reports, if it is an error event.
fn stream_error(chunk: &Value, error_event: bool) -> Option<ErrorInfo> {
    let kind = str_of(chunk, "type");
    let error = if kind == Some("response.failed") {
        chunk.get("response").and_then(|r| r.get("error")).unwrap_or(chunk)
    } else if error_event || kind == Some("error") {
        chunk.get("error").filter(|e| e.is_object()).unwrap_or(chunk)
    } else if chunk.get("choices").is_none() && kind.is_none() {
        chunk.get("error").filter(|e| e.is_object())?
    } else {
        return None;
    };
    Some(provider_error(error, "stream_error"))
}

/// An error object of a provider (`{"type", "code", "message"}`) as error info: its type,
/// else its code, else `fallback`.
pub(crate) fn provider_error(error: &Value, fallback: &str) -> ErrorInfo {
    let error_type = ["type", "code"]
        .iter()
        .find_map(|key| str_of(error, key).filter(|t| !t.is_empty() && *t != "error"))
        .unwrap_or(fallback);
    ErrorInfo {
        message: str_of(error, "message").unwrap_or(error_type).to_owned(),
        error_type: Some(error_type.to_owned()),
    }
}

impl<C, A> StreamAccumulator<C> for SseAccumulator<A>
where
    C: AsRef<[u8]> + ?Sized,
    A: StreamAccumulator<Value>,
{
    fn push(&mut self, chunk: &C) -> bool {
        self.push_bytes(chunk.as_ref())
    }

    fn output(&self) -> Option<Value> {
        self.inner.output()
    }

    fn message(&self) -> Option<Content> {
        self.inner.message()
    }

    fn usage(&self) -> Option<Usage> {
        self.inner.usage()
    }

    fn model(&self) -> Option<&str> {
        self.inner.model()
    }

    fn response_info(&self) -> Option<ResponseInfo> {
        self.inner.response_info()
    }

    fn is_complete(&self) -> bool {
        self.complete || self.inner.is_complete()
    }

    fn failure(&self) -> Option<ErrorInfo> {
        self.failure.clone().or_else(|| self.inner.failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::stream::OpenAiAccumulator;
    use serde_json::json;

    const CHAT: &str = concat!(
        "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Héllo\"}}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\r\n\r\n",
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
        "data: [DONE]\n\n"
    );

    #[test]
    fn events_split_anywhere_assemble_the_same() {
        for size in [1, 2, 3, 7, 64, CHAT.len()] {
            let mut acc = SseAccumulator::new(OpenAiAccumulator::new());
            let outputs = CHAT
                .as_bytes()
                .chunks(size)
                .filter(|chunk| StreamAccumulator::<[u8]>::push(&mut acc, chunk))
                .count();
            // Byte by byte, each of the two output events completes in its own chunk.
            let expected = if size == 1 { 2 } else { 1 };
            assert!(outputs >= expected && outputs <= 2, "chunks of {size}: {outputs}");
            assert_eq!(acc.inner().output(), Some(json!("Héllo world")), "chunks of {size}");
            let usage = StreamAccumulator::<[u8]>::usage(&acc).expect("usage");
            assert_eq!((usage.input_tokens, usage.output_tokens), (Some(5), Some(2)));
            assert_eq!(acc.skipped_events(), 0);
            assert!(acc.failure().is_none());
            assert!(StreamAccumulator::<[u8]>::is_complete(&acc), "`[DONE]` completes it");
        }
    }

    #[test]
    fn an_error_event_fails_and_bad_events_are_counted() {
        let mut acc = SseAccumulator::anthropic();
        let body = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\"}}\n\n",
            "data: not json\n\n",
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        );
        StreamAccumulator::<[u8]>::push(&mut acc, body.as_bytes());
        let failure = StreamAccumulator::<[u8]>::failure(&acc).expect("failure");
        assert_eq!(failure.error_type.as_deref(), Some("overloaded_error"));
        assert_eq!(failure.message, "Overloaded");
        assert_eq!(acc.skipped_events(), 1);

        let mut chat = SseAccumulator::new(OpenAiAccumulator::new());
        StreamAccumulator::<[u8]>::push(
            &mut chat,
            &b"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"[..],
        );
        let failure = chat.failure().expect("chat failure");
        assert_eq!(
            (failure.error_type.as_deref(), failure.message.as_str()),
            (Some("server_error"), "boom")
        );
    }

    #[test]
    fn an_oversized_event_is_skipped_and_the_next_one_read() {
        let mut acc = SseAccumulator::new(OpenAiAccumulator::new());
        let huge = vec![b'x'; MAX_SSE_EVENT_BYTES / 4];
        StreamAccumulator::<[u8]>::push(&mut acc, &b"data: "[..]);
        for _ in 0..5 {
            StreamAccumulator::<[u8]>::push(&mut acc, &huge[..]);
        }
        assert!(acc.line.len() <= MAX_SSE_EVENT_BYTES, "the buffer stays bounded");
        StreamAccumulator::<[u8]>::push(
            &mut acc,
            &b"\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\n"[..],
        );
        assert_eq!(acc.skipped_events(), 1);
        assert_eq!(acc.inner().output(), Some(json!("ok")));
    }
}
