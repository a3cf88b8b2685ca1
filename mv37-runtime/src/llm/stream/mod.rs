//! Streaming model calls: a `Stream` adapter that records time to first token, tokens
//! per second, the assembled output and the final usage on an llm span, and ends the
//! span with the stream.
//!
//! The wrapper ([`TracedStream`]) is here; what turns chunks into output and usage is a
//! [`StreamAccumulator`]: the trait and the text one in `accumulator.rs`, one file per
//! provider shape (`openai.rs`, `anthropic.rs`).

use std::fmt::Display;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;

mod accumulator;
mod anthropic;
mod openai;
mod sse;

pub(crate) use self::accumulator::{parse_arguments, str_of};
pub use self::accumulator::{StreamAccumulator, TextAccumulator};
pub use self::anthropic::AnthropicAccumulator;
pub use self::openai::OpenAiAccumulator;
#[cfg(feature = "llm-http")]
pub(crate) use self::sse::provider_error;
pub use self::sse::{SseAccumulator, MAX_SSE_EVENT_BYTES};
use super::cost::PriceTable;
use crate::builder::DetachedSpan;
use crate::record::Role;

/// Attribute: milliseconds from the start of the streamed span (see [`TracedStream::started_at`])
/// to its first chunk carrying output, as a float.
pub const TTFT_MS_ATTRIBUTE: &str = "mv37.ttft_ms";
/// Attribute: output tokens per second between the first output chunk and the end of the
/// stream. Output tokens are the final usage's `output_tokens`, or else the number of
/// chunks that carried output.
pub const TOKENS_PER_SECOND_ATTRIBUTE: &str = "mv37.tokens_per_second";
/// Attribute: how many chunks the stream yielded.
pub const STREAM_CHUNKS_ATTRIBUTE: &str = "mv37.stream_chunks";

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
    /// An `Err` item was seen.
    failed: bool,
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
        if let Some(info) = self.accumulator.response_info() {
            span.set_response_info(info);
        }
        if span.captures_content() {
            if let Some(output) = self.accumulator.output() {
                span.record_output(&output);
            }
            if let Some(message) = self.accumulator.message() {
                span.message(Role::Assistant, message);
            }
        }
        if let Some(error) = self.accumulator.failure() {
            span.fail_with(error);
            self.failed = true;
        }
        // Dropped after an error (a connection cut) or after the stream said it was
        // complete: the span keeps that outcome rather than `cancelled`.
        if cancelled && !self.failed && !self.accumulator.is_complete() {
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
    /// [`TracedStream::prices`]), the response's id, model and finish reasons, the
    /// assembled output and an assistant message, and ends.
    /// Dropped before its end, it records what it saw so far and ends the span
    /// `cancelled`, unless the stream already said it was complete
    /// ([`StreamAccumulator::is_complete`]) or failed. An `Err` item of a
    /// [`trace_try_stream`] marks the span failed (and a stream dropped after one stays
    /// failed, with its partial output).
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
                failed: false,
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
                        recorder.failed = true;
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
