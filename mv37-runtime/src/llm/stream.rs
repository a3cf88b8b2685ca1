//! Streaming model calls: a `Stream` adapter that records time to first token, tokens
//! per second, the assembled output and the final usage on an llm span, and ends the
//! span with the stream.

use std::fmt::Display;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use serde::Serialize;
use serde_json::{Map, Value};

use super::cost::PriceTable;
use crate::builder::DetachedSpan;
use crate::record::{Content, ContentPart, Role, Usage};
use crate::usage::{usage_from_anthropic, usage_from_openai};

/// Attribute: milliseconds from the start of the streamed span (see [`TracedStream::started_at`])
/// to its first chunk carrying output, as a float.
pub const TTFT_MS_ATTRIBUTE: &str = "mv37.ttft_ms";
/// Attribute: output tokens per second between the first output chunk and the end of the
/// stream. Output tokens are the final usage's `output_tokens`, or else the number of
/// chunks that carried output.
pub const TOKENS_PER_SECOND_ATTRIBUTE: &str = "mv37.tokens_per_second";
/// Attribute: how many chunks the stream yielded.
pub const STREAM_CHUNKS_ATTRIBUTE: &str = "mv37.stream_chunks";

/// Folds the chunks of a streamed model response into its output and usage.
///
/// Built in: [`OpenAiAccumulator`] (Chat Completions chunks and Responses API events)
/// and [`AnthropicAccumulator`] (Messages events), over any `Serialize` chunk;
/// [`TextAccumulator`] over a function that picks the text delta of your own chunk type.
/// Implement it for anything else.
pub trait StreamAccumulator<Chunk: ?Sized> {
    /// Takes one chunk in; returns whether it carried generated output (text, a tool
    /// call delta). The first such chunk marks the time to first token.
    fn push(&mut self, chunk: &Chunk) -> bool;

    /// The output assembled so far, recorded as the span's output (nothing when `None`).
    fn output(&self) -> Option<Value>;

    /// The assembled output as an assistant message, recorded on the span.
    fn message(&self) -> Option<Content> {
        None
    }

    /// The usage the stream reported so far.
    fn usage(&self) -> Option<Usage> {
        None
    }

    /// The model the stream named (used to look up its price).
    fn model(&self) -> Option<&str> {
        None
    }
}

/// A streamed tool call being assembled.
#[derive(Debug, Clone, Default)]
struct ToolCallDraft {
    key: String,
    id: String,
    name: String,
    arguments: String,
}

/// Text and tool calls assembled from deltas: the state both built-in accumulators share.
#[derive(Debug, Clone, Default)]
struct Assembly {
    text: String,
    tool_calls: Vec<ToolCallDraft>,
    usage: Option<Usage>,
    model: Option<String>,
}

impl Assembly {
    fn tool_call(&mut self, key: String) -> &mut ToolCallDraft {
        let index = match self.tool_calls.iter().position(|call| call.key == key) {
            Some(index) => index,
            None => {
                self.tool_calls.push(ToolCallDraft {
                    key,
                    ..ToolCallDraft::default()
                });
                self.tool_calls.len() - 1
            }
        };
        &mut self.tool_calls[index]
    }

    fn set_model(&mut self, model: Option<&Value>) {
        if let Some(model) = model.and_then(Value::as_str) {
            if self.model.as_deref() != Some(model) {
                self.model = Some(model.to_owned());
            }
        }
    }

    fn output(&self) -> Option<Value> {
        if self.tool_calls.is_empty() {
            return (!self.text.is_empty()).then(|| Value::String(self.text.clone()));
        }
        let calls = self
            .tool_calls
            .iter()
            .map(|call| {
                let mut object = Map::new();
                object.insert("id".into(), Value::String(call.id.clone()));
                object.insert("name".into(), Value::String(call.name.clone()));
                object.insert("arguments".into(), parse_arguments(&call.arguments));
                Value::Object(object)
            })
            .collect();
        let mut object = Map::new();
        if !self.text.is_empty() {
            object.insert("content".into(), Value::String(self.text.clone()));
        }
        object.insert("tool_calls".into(), Value::Array(calls));
        Some(Value::Object(object))
    }

    fn message(&self) -> Option<Content> {
        if self.tool_calls.is_empty() {
            return (!self.text.is_empty()).then(|| Content::Text(self.text.clone()));
        }
        let mut parts = Vec::with_capacity(self.tool_calls.len() + 1);
        if !self.text.is_empty() {
            parts.push(ContentPart::text(self.text.clone()));
        }
        parts.extend(
            self.tool_calls.iter().map(|call| {
                ContentPart::tool_call(call.id.clone(), call.name.clone(), parse_arguments(&call.arguments))
            }),
        );
        Some(Content::Parts(parts))
    }
}

/// Tool-call arguments as JSON when they parse, else as the raw string.
pub(crate) fn parse_arguments(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// Assembles OpenAI streams: Chat Completions chunks (`choices[].delta.content`,
/// `choices[].delta.tool_calls`, and the final chunk's `usage` when the request set
/// `stream_options.include_usage`) and Responses API events
/// (`response.output_text.delta`, `response.function_call_arguments.delta`,
/// `response.output_item.done`, and `response.completed` with the usage).
///
/// ```
/// use mv37_runtime::{OpenAiAccumulator, StreamAccumulator};
///
/// let mut acc = OpenAiAccumulator::new();
/// acc.push(&serde_json::json!({ "choices": [{ "index": 0, "delta": { "content": "Hel" } }] }));
/// acc.push(&serde_json::json!({ "choices": [{ "index": 0, "delta": { "content": "lo" } }] }));
/// assert_eq!(acc.output(), Some(serde_json::json!("Hello")));
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenAiAccumulator {
    assembly: Assembly,
}

impl OpenAiAccumulator {
    fn push_value(&mut self, chunk: &Value) -> bool {
        match str_of(chunk, "type") {
            Some(kind) if kind.starts_with("response.") => self.push_responses_event(kind, chunk),
            _ => self.push_chat_chunk(chunk),
        }
    }

    fn push_chat_chunk(&mut self, chunk: &Value) -> bool {
        let assembly = &mut self.assembly;
        assembly.set_model(chunk.get("model"));
        if chunk.get("usage").is_some_and(Value::is_object) {
            assembly.usage = Some(usage_from_openai(chunk));
        }
        let mut produced = false;
        let choices = chunk
            .get("choices")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        // The first choice is the response; `n > 1` streams interleave others.
        for choice in choices
            .iter()
            .filter(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        {
            let Some(delta) = choice.get("delta") else {
                continue;
            };
            if let Some(text) = str_of(delta, "content").filter(|t| !t.is_empty()) {
                assembly.text.push_str(text);
                produced = true;
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let key = call.get("index").and_then(Value::as_u64).unwrap_or(0).to_string();
                let draft = assembly.tool_call(key);
                if let Some(id) = str_of(call, "id") {
                    draft.id = id.to_owned();
                }
                if let Some(function) = call.get("function") {
                    if let Some(name) = str_of(function, "name") {
                        draft.name.push_str(name);
                    }
                    if let Some(arguments) = str_of(function, "arguments") {
                        draft.arguments.push_str(arguments);
                    }
                }
                produced = true;
            }
        }
        produced
    }

    fn push_responses_event(&mut self, kind: &str, event: &Value) -> bool {
        let assembly = &mut self.assembly;
        match kind {
            "response.output_text.delta" | "response.refusal.delta" => match str_of(event, "delta") {
                Some(delta) if !delta.is_empty() => {
                    assembly.text.push_str(delta);
                    true
                }
                _ => false,
            },
            "response.function_call_arguments.delta" => {
                let key = str_of(event, "item_id").unwrap_or_default().to_owned();
                if let Some(delta) = str_of(event, "delta") {
                    assembly.tool_call(key).arguments.push_str(delta);
                }
                true
            }
            "response.output_item.added" | "response.output_item.done" => {
                let Some(item) = event.get("item").filter(|i| str_of(i, "type") == Some("function_call")) else {
                    return false;
                };
                let key = str_of(item, "id").unwrap_or_default().to_owned();
                let draft = assembly.tool_call(key);
                if let Some(id) = str_of(item, "call_id") {
                    draft.id = id.to_owned();
                }
                if let Some(name) = str_of(item, "name") {
                    draft.name = name.to_owned();
                }
                if let Some(arguments) = str_of(item, "arguments").filter(|a| !a.is_empty()) {
                    draft.arguments = arguments.to_owned();
                }
                false
            }
            "response.created"
            | "response.in_progress"
            | "response.completed"
            | "response.incomplete"
            | "response.failed" => {
                if let Some(response) = event.get("response") {
                    assembly.set_model(response.get("model"));
                    if response.get("usage").is_some_and(Value::is_object) {
                        assembly.usage = Some(usage_from_openai(response));
                    }
                }
                false
            }
            _ => false,
        }
    }
}

/// The provider accumulators: the same accessors over their assembly, and any
/// `Serialize` chunk read through its JSON form.
macro_rules! json_accumulator {
    ($accumulator:ty) => {
        impl $accumulator {
            /// An empty accumulator.
            pub fn new() -> Self {
                Self::default()
            }

            /// The output assembled so far: the text, or `{"content", "tool_calls"}` once
            /// a tool call was streamed.
            pub fn output(&self) -> Option<Value> {
                self.assembly.output()
            }

            /// The usage the stream reported so far.
            pub fn usage(&self) -> Option<Usage> {
                self.assembly.usage
            }

            /// The model the stream named.
            pub fn model(&self) -> Option<&str> {
                self.assembly.model.as_deref()
            }
        }

        impl<C: Serialize + ?Sized> StreamAccumulator<C> for $accumulator {
            fn push(&mut self, chunk: &C) -> bool {
                serde_json::to_value(chunk).is_ok_and(|chunk| self.push_value(&chunk))
            }

            fn output(&self) -> Option<Value> {
                Self::output(self)
            }

            fn message(&self) -> Option<Content> {
                self.assembly.message()
            }

            fn usage(&self) -> Option<Usage> {
                Self::usage(self)
            }

            fn model(&self) -> Option<&str> {
                Self::model(self)
            }
        }
    };
}

json_accumulator!(OpenAiAccumulator);

/// Assembles Anthropic Messages streams: `message_start` (model, input and cache
/// usage), `content_block_start` / `content_block_delta` (`text_delta`,
/// `input_json_delta` of a `tool_use` block) and `message_delta` (output usage).
/// Thinking deltas count as output for time to first token but are not assembled.
///
/// ```
/// use mv37_runtime::{AnthropicAccumulator, StreamAccumulator};
///
/// let mut acc = AnthropicAccumulator::new();
/// acc.push(&serde_json::json!({ "type": "message_start", "message": { "usage": { "input_tokens": 12, "output_tokens": 1 } } }));
/// acc.push(&serde_json::json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Hi" } }));
/// acc.push(&serde_json::json!({ "type": "message_delta", "delta": {}, "usage": { "output_tokens": 4 } }));
/// assert_eq!(acc.output(), Some(serde_json::json!("Hi")));
/// assert_eq!(acc.usage().unwrap().total_tokens, Some(16));
/// ```
#[derive(Debug, Clone, Default)]
pub struct AnthropicAccumulator {
    assembly: Assembly,
}

impl AnthropicAccumulator {
    /// Merges a partial usage: later counts replace earlier ones, the total is derived.
    fn merge_usage(&mut self, event: &Value) {
        let update = usage_from_anthropic(event);
        let merged = match self.assembly.usage {
            None => update,
            Some(old) => {
                // `message_delta` may repeat only output tokens: keep the input side.
                let input_given = field_present(event, "input_tokens")
                    || field_present(event, "cache_read_input_tokens")
                    || field_present(event, "cache_creation_input_tokens");
                Usage {
                    input_tokens: if input_given {
                        update.input_tokens
                    } else {
                        old.input_tokens
                    },
                    cached_tokens: if input_given {
                        update.cached_tokens
                    } else {
                        old.cached_tokens
                    },
                    cache_write_tokens: if input_given {
                        update.cache_write_tokens
                    } else {
                        old.cache_write_tokens
                    },
                    output_tokens: update.output_tokens.or(old.output_tokens),
                    ..old
                }
            }
        };
        self.assembly.usage = Some(
            Usage {
                total_tokens: None,
                ..merged
            }
            .with_derived_total(),
        );
    }

    fn push_value(&mut self, event: &Value) -> bool {
        let assembly = &mut self.assembly;
        match str_of(event, "type") {
            Some("message_start") => {
                if let Some(message) = event.get("message") {
                    assembly.set_model(message.get("model"));
                }
                self.merge_usage(event);
                false
            }
            Some("message_delta") => {
                self.merge_usage(event);
                false
            }
            Some("content_block_start") => {
                let block = event.get("content_block");
                match block.and_then(|b| str_of(b, "type")) {
                    Some("tool_use") => {
                        let key = block_key(event);
                        let draft = assembly.tool_call(key);
                        if let Some(block) = block {
                            draft.id = str_of(block, "id").unwrap_or_default().to_owned();
                            draft.name = str_of(block, "name").unwrap_or_default().to_owned();
                        }
                        false
                    }
                    Some("text") => match block.and_then(|b| str_of(b, "text")) {
                        Some(text) if !text.is_empty() => {
                            assembly.text.push_str(text);
                            true
                        }
                        _ => false,
                    },
                    _ => false,
                }
            }
            Some("content_block_delta") => {
                let Some(delta) = event.get("delta") else {
                    return false;
                };
                match str_of(delta, "type") {
                    Some("text_delta") => match str_of(delta, "text") {
                        Some(text) if !text.is_empty() => {
                            assembly.text.push_str(text);
                            true
                        }
                        _ => false,
                    },
                    Some("input_json_delta") => {
                        if let Some(json) = str_of(delta, "partial_json") {
                            assembly.tool_call(block_key(event)).arguments.push_str(json);
                        }
                        true
                    }
                    Some("thinking_delta") => true,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

fn field_present(event: &Value, key: &str) -> bool {
    let usage = event
        .get("usage")
        .or_else(|| event.get("message").and_then(|m| m.get("usage")));
    usage.and_then(|u| u.get(key)).is_some_and(Value::is_u64)
}

fn block_key(event: &Value) -> String {
    event.get("index").and_then(Value::as_u64).unwrap_or(0).to_string()
}

json_accumulator!(AnthropicAccumulator);

/// Assembles text from a function that picks the text delta out of each chunk of your
/// own type.
///
/// ```
/// use mv37_runtime::{StreamAccumulator, TextAccumulator};
///
/// struct Chunk { delta: &'static str }
/// let mut acc = TextAccumulator::new(|chunk: &Chunk| Some(chunk.delta.to_owned()));
/// acc.push(&Chunk { delta: "Hi" });
/// assert_eq!(acc.output(), Some(serde_json::json!("Hi")));
/// ```
pub struct TextAccumulator<F> {
    delta: F,
    text: String,
}

impl<F> std::fmt::Debug for TextAccumulator<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextAccumulator").field("text", &self.text).finish()
    }
}

impl<F> TextAccumulator<F> {
    /// An accumulator appending what `delta` returns for each chunk.
    pub fn new(delta: F) -> Self {
        Self {
            delta,
            text: String::new(),
        }
    }

    /// The text assembled so far.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl<C: ?Sized, F: FnMut(&C) -> Option<String>> StreamAccumulator<C> for TextAccumulator<F> {
    fn push(&mut self, chunk: &C) -> bool {
        match (self.delta)(chunk) {
            Some(text) if !text.is_empty() => {
                self.text.push_str(&text);
                true
            }
            _ => false,
        }
    }

    fn output(&self) -> Option<Value> {
        (!self.text.is_empty()).then(|| Value::String(self.text.clone()))
    }

    fn message(&self) -> Option<Content> {
        (!self.text.is_empty()).then(|| Content::Text(self.text.clone()))
    }
}

/// Splits a stream item into its chunk or its error text.
type Split<Item, Chunk> = for<'a> fn(&'a Item) -> Result<&'a Chunk, String>;

fn split_plain<C>(item: &C) -> Result<&C, String> {
    Ok(item)
}

fn split_result<C, E: Display>(item: &Result<C, E>) -> Result<&C, String> {
    item.as_ref().map_err(ToString::to_string)
}

/// What the stream wrapper records, and the span it ends.
struct Recorder<A> {
    span: Option<DetachedSpan>,
    accumulator: A,
    started: Instant,
    first_output: Option<Instant>,
    chunks: u64,
    output_chunks: u64,
    prices: Option<(Arc<PriceTable>, String)>,
    /// `finish` for the chunk type the accumulator takes, so that `Drop` (which cannot
    /// name that type) can record the partial output of a stream dropped early.
    finish_with: fn(&mut Recorder<A>, bool),
}

impl<A> Recorder<A> {
    fn finish<C: ?Sized>(&mut self, cancelled: bool)
    where
        A: StreamAccumulator<C>,
    {
        let Some(span) = self.span.take() else {
            return;
        };
        let end = Instant::now();
        span.set_attribute(STREAM_CHUNKS_ATTRIBUTE, self.chunks);
        if let Some(first) = self.first_output {
            let ttft = first.saturating_duration_since(self.started);
            span.set_attribute(TTFT_MS_ATTRIBUTE, ttft.as_secs_f64() * 1000.0);
        }
        let mut usage = self.accumulator.usage().filter(|usage| !usage.is_empty());
        if let (Some(value), Some((prices, model))) = (usage, &self.prices) {
            let model = self.accumulator.model().unwrap_or(model);
            usage = Some(prices.apply(model, value));
        }
        let output_tokens = usage.and_then(|u| u.output_tokens).unwrap_or(self.output_chunks);
        if let Some(first) = self.first_output {
            let seconds = end.saturating_duration_since(first).as_secs_f64();
            if seconds > 0.0 && output_tokens > 0 {
                span.set_attribute(TOKENS_PER_SECOND_ATTRIBUTE, output_tokens as f64 / seconds);
            }
        }
        if let Some(usage) = usage {
            span.set_usage(usage);
        }
        if let Some(output) = self.accumulator.output() {
            span.record_output(&output);
        }
        if let Some(message) = self.accumulator.message() {
            span.message(Role::Assistant, message);
        }
        if cancelled {
            span.cancel();
        } else {
            span.end();
        }
    }
}

pin_project_lite::pin_project! {
    /// A stream of model output chunks that records them on an llm span; made with
    /// [`trace_stream`] or [`trace_try_stream`].
    ///
    /// It yields the inner stream's items unchanged. When the inner stream ends, the span
    /// gets [`TTFT_MS_ATTRIBUTE`], [`TOKENS_PER_SECOND_ATTRIBUTE`],
    /// [`STREAM_CHUNKS_ATTRIBUTE`], the final usage (priced with
    /// [`TracedStream::prices`]), the assembled output and an assistant message, and ends.
    /// Dropped before its end, it records what it saw so far and ends the span
    /// `cancelled`. An `Err` item of a [`trace_try_stream`] marks the span failed.
    ///
    /// `Send` when the inner stream and the accumulator are; never blocks.
    #[must_use = "streams do nothing unless polled"]
    pub struct TracedStream<S: Stream, A, C> {
        #[pin]
        inner: S,
        split: Split<S::Item, C>,
        recorder: Recorder<A>,
        done: bool,
        _chunk: PhantomData<fn(&C)>,
    }
}

impl<S: Stream, A, C> std::fmt::Debug for TracedStream<S, A, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedStream")
            .field("span", &self.recorder.span)
            .field("chunks", &self.recorder.chunks)
            .field("done", &self.done)
            .finish()
    }
}

/// Records a stream of chunks on `span`; see [`TracedStream`]. The time to first token
/// is measured from the start of `span` (so start it when the request is sent); call
/// [`TracedStream::started_at`] to measure from another moment.
///
/// ```
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
/// use futures_core::Stream;
/// use mv37_runtime::{trace_stream, Client, MemoryExporter, OpenAiAccumulator, Status};
///
/// /// Chat Completions chunks, as an HTTP client would yield them.
/// struct Chunks(std::vec::IntoIter<serde_json::Value>);
/// impl Stream for Chunks {
///     type Item = serde_json::Value;
///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
///         Poll::Ready(self.0.next())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = MemoryExporter::new();
/// let client = Client::builder().exporter(memory.clone()).build().unwrap();
/// let trace = client.trace("chat").start();
/// let span = trace.llm("openai.chat").model("gpt-4.1-mini").start_detached();
/// let chunks = vec![serde_json::json!({ "choices": [{ "index": 0, "delta": { "content": "Hi" } }] })];
/// let mut stream = trace_stream(span, Chunks(chunks.into_iter()), OpenAiAccumulator::new());
/// while let Some(_chunk) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {}
/// drop(trace);
/// client.flush().unwrap();
/// assert_eq!(memory.span("openai.chat").unwrap().status, Status::Ok);
/// # });
/// ```
pub fn trace_stream<S, A>(span: DetachedSpan, inner: S, accumulator: A) -> TracedStream<S, A, S::Item>
where
    S: Stream,
    A: StreamAccumulator<S::Item>,
{
    TracedStream::with_split(span, inner, accumulator, split_plain::<S::Item>)
}

/// Like [`trace_stream`], for a stream of `Result`s (what HTTP and SDK streams yield):
/// the accumulator sees the `Ok` chunks; an `Err` marks the span failed with its text.
pub fn trace_try_stream<S, A, C, E>(span: DetachedSpan, inner: S, accumulator: A) -> TracedStream<S, A, C>
where
    S: Stream<Item = Result<C, E>>,
    A: StreamAccumulator<C>,
    E: Display,
{
    TracedStream::with_split(span, inner, accumulator, split_result::<C, E>)
}

impl<S: Stream, A, C> TracedStream<S, A, C> {
    fn with_split(span: DetachedSpan, inner: S, accumulator: A, split: Split<S::Item, C>) -> Self
    where
        A: StreamAccumulator<C>,
    {
        let now = Instant::now();
        let started = span
            .elapsed()
            .and_then(|elapsed| now.checked_sub(elapsed))
            .unwrap_or(now);
        Self {
            inner,
            split,
            recorder: Recorder {
                span: Some(span),
                accumulator,
                started,
                first_output: None,
                chunks: 0,
                output_chunks: 0,
                prices: None,
                finish_with: Recorder::<A>::finish::<C>,
            },
            done: false,
            _chunk: PhantomData,
        }
    }

    /// Measures the time to first token from `start` (when the request was sent)
    /// instead of from the wrapper's creation.
    pub fn started_at(mut self, start: Instant) -> Self {
        self.recorder.started = start;
        self
    }

    /// Fills the usage's `cost_usd` from `prices`, for the model the stream names (or
    /// `model` when it names none).
    pub fn prices(mut self, prices: impl Into<Arc<PriceTable>>, model: impl Into<String>) -> Self {
        self.recorder.prices = Some((prices.into(), model.into()));
        self
    }

    /// The accumulator, with what it assembled so far.
    pub fn accumulator(&self) -> &A {
        &self.recorder.accumulator
    }
}

impl<S, A, C> Stream for TracedStream<S, A, C>
where
    S: Stream,
    A: StreamAccumulator<C>,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match this.inner.poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                *this.done = true;
                (this.recorder.finish_with)(this.recorder, false);
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => {
                let recorder = this.recorder;
                recorder.chunks += 1;
                match (this.split)(&item) {
                    Ok(chunk) => {
                        if recorder.accumulator.push(chunk) {
                            recorder.output_chunks += 1;
                            recorder.first_output.get_or_insert_with(Instant::now);
                        }
                    }
                    Err(error) => {
                        if let Some(span) = &recorder.span {
                            span.fail(&error);
                        }
                    }
                }
                Poll::Ready(Some(item))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            self.inner.size_hint()
        }
    }
}

impl<A> Drop for Recorder<A> {
    fn drop(&mut self) {
        // Still open: the stream was dropped before its end.
        if self.span.is_some() {
            (self.finish_with)(self, true);
        }
    }
}
