//! Timings checked against bodies of known duration: a span's and a trace's
//! `latency_ns`, their start and end times (in records and in OTLP), their nesting, and
//! a stream's time to first token and token rate.

// These tests use the OTLP exporter or encoder: they need the `otlp` feature (on by
// default; CI also runs the suite without it).
#![cfg(feature = "otlp")]
// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_core::Stream;
use mv37::{
    trace_stream, Client, MemoryExporter, OpenAiAccumulator, OtlpConfig, OtlpExporter, OtlpProtocol, ResourceInfo,
    SpanRecord, TOKENS_PER_SECOND_ATTRIBUTE, TTFT_MS_ATTRIBUTE,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use support::collector::{Collector, Reply};

/// How long a body sleeps.
const BODY: Duration = Duration::from_millis(50);
/// How much longer than its body a span may last: generous, as a loaded machine
/// oversleeps, but far below what a wrong unit or a wrong end would give.
const SLACK: Duration = Duration::from_millis(400);

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).expect("fits")
}

fn wall_clock_nanos() -> u64 {
    nanos(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970"))
}

/// A span's or a trace's times, as a record or an OTLP span holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Times {
    start: u64,
    end: u64,
}

impl Times {
    fn lasted(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    fn contains(&self, inner: &Times) -> bool {
        self.start <= inner.start && inner.end <= self.end
    }
}

/// `latency_ns` is at least `body` and less than `body` plus the slack.
fn assert_lasts(what: &str, latency_ns: u64, body: Duration) {
    assert!(
        latency_ns >= nanos(body),
        "{what} lasted {latency_ns} ns, its body slept {body:?}"
    );
    assert!(
        latency_ns < nanos(body + SLACK),
        "{what} lasted {latency_ns} ns, its body slept {body:?}"
    );
}

fn span_times(span: &SpanRecord) -> Times {
    assert_eq!(
        span.end_time_unix_nano - span.start_time_unix_nano,
        span.latency_ns,
        "{}: end - start is the latency",
        span.name
    );
    Times {
        start: span.start_time_unix_nano,
        end: span.end_time_unix_nano,
    }
}

/// Every span the collector received, by name.
fn otlp_times(collector: &Collector) -> HashMap<String, Times> {
    collector
        .received()
        .iter()
        .flat_map(|r| {
            ExportTraceServiceRequest::decode(&r.body[..])
                .expect("protobuf")
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .map(|span| {
            // LLM and tool spans are named by the GenAI conventions in OTLP (`execute_tool
            // look_up_order`); mv37's own name travels as `mv37.span.name`.
            let own_name = span
                .attributes
                .iter()
                .find(|kv| kv.key == "mv37.span.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(name) => Some(name.clone()),
                    _ => None,
                });
            (
                own_name.unwrap_or(span.name),
                Times {
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                },
            )
        })
        .collect()
}

#[mv37::tool]
fn look_up_order() {
    std::thread::sleep(BODY);
}

#[test]
fn spans_and_their_trace_last_as_long_as_their_bodies_in_records_and_in_otlp() {
    let collector = Collector::start(|_| Reply::Ok);
    let otlp = OtlpExporter::new(
        OtlpConfig {
            endpoint: format!("{}/v1/traces", collector.url()),
            protocol: OtlpProtocol::Protobuf,
            ..OtlpConfig::default()
        },
        &ResourceInfo::default(),
    )
    .expect("exporter");
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .exporter(otlp)
        .build()
        .expect("client");
    let before = wall_clock_nanos();
    client.trace("timed").run(|trace| {
        std::thread::sleep(BODY);
        trace.task("outer").run(|_| {
            std::thread::sleep(BODY);
            trace.llm("inner").run(|_| std::thread::sleep(BODY));
            look_up_order();
        });
        let guarded = trace.retrieval("guarded").start();
        std::thread::sleep(BODY);
        drop(guarded);
    });
    let after = wall_clock_nanos();
    client.shutdown().expect("shutdown");

    let root = &memory.traces()[0];
    assert_eq!(root.end_time_unix_nano - root.start_time_unix_nano, root.latency_ns);
    let trace = Times {
        start: root.start_time_unix_nano,
        end: root.end_time_unix_nano,
    };
    let span = |name: &str| memory.span(name).unwrap_or_else(|| panic!("span {name}"));
    let (outer, inner, tool, guarded) = (span("outer"), span("inner"), span("look_up_order"), span("guarded"));
    assert_lasts("the trace", root.latency_ns, BODY * 5);
    assert_lasts("outer", outer.latency_ns, BODY * 3);
    assert_lasts("inner", inner.latency_ns, BODY);
    assert_lasts("the #[tool] fn", tool.latency_ns, BODY);
    assert_lasts("the guarded span", guarded.latency_ns, BODY);

    // Nesting: a child starts after its parent and ends before it; siblings in order.
    let (outer_t, inner_t, tool_t, guarded_t) = (
        span_times(&outer),
        span_times(&inner),
        span_times(&tool),
        span_times(&guarded),
    );
    assert!(trace.contains(&outer_t), "{trace:?} {outer_t:?}");
    assert!(outer_t.contains(&inner_t), "{outer_t:?} {inner_t:?}");
    assert!(outer_t.contains(&tool_t), "{outer_t:?} {tool_t:?}");
    assert!(trace.contains(&guarded_t), "{trace:?} {guarded_t:?}");
    assert!(
        outer_t.start - trace.start >= nanos(BODY),
        "the trace slept before outer"
    );
    assert!(inner_t.start - outer_t.start >= nanos(BODY), "outer slept before inner");
    assert!(tool_t.start >= inner_t.end, "the tool ran after inner");
    assert!(guarded_t.start >= outer_t.end, "the guarded span began after outer");

    // On the wall clock, within the calls that made them (the clock is anchored once;
    // the tolerance covers clock adjustments since).
    let tolerance = nanos(Duration::from_millis(50));
    assert!(trace.start + tolerance >= before, "{} < {before}", trace.start);
    assert!(trace.end <= after + tolerance, "{} > {after}", trace.end);
    assert!(
        trace.lasted() <= after - before + tolerance,
        "the trace lasted no longer than the call"
    );

    // OTLP carries the same times.
    let otlp = otlp_times(&collector);
    assert_eq!(otlp["timed"], trace);
    assert_eq!(otlp["outer"], outer_t);
    assert_eq!(otlp["inner"], inner_t);
    assert_eq!(otlp["look_up_order"], tool_t);
    assert_eq!(otlp["guarded"], guarded_t);
}

#[test]
fn an_async_span_lasts_across_its_awaits() {
    let (client, memory) = support::memory::memory_client();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(client.trace("async").run_async(|trace| async move {
        trace
            .llm("call")
            .run_async(|_| async {
                tokio::time::sleep(BODY).await;
                tokio::time::sleep(BODY).await;
            })
            .await;
        tokio::time::sleep(BODY).await;
    }));
    support::memory::flushed(&client);
    let call = memory.span("call").expect("call");
    let root = &memory.traces()[0];
    assert_lasts("the async span", call.latency_ns, BODY * 2);
    assert_lasts("the async trace", root.latency_ns, BODY * 3);
    let trace = Times {
        start: root.start_time_unix_nano,
        end: root.end_time_unix_nano,
    };
    let call = span_times(&call);
    assert!(trace.contains(&call), "{trace:?} {call:?}");
    assert!(trace.end - call.end >= nanos(BODY), "the trace slept after the call");
}

/// A model's stream: each chunk after a known delay (the first one counting from the
/// request), as a provider's server-sent events arrive.
struct Delayed {
    chunks: std::vec::IntoIter<(Duration, serde_json::Value)>,
}

impl Stream for Delayed {
    type Item = serde_json::Value;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.chunks.next().map(|(delay, chunk)| {
            std::thread::sleep(delay);
            chunk
        }))
    }
}

fn content(text: &str) -> serde_json::Value {
    serde_json::json!({ "choices": [{ "index": 0, "delta": { "content": text } }] })
}

fn attribute_f64(span: &SpanRecord, key: &str) -> f64 {
    span.attributes
        .get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("no numeric {key}: {:?}", span.attributes))
}

#[test]
fn time_to_first_token_and_token_rate_match_a_stream_of_known_delays() {
    let (client, memory) = support::memory::memory_client();
    let mut stream_lasted = Duration::ZERO;
    client.trace("chat").run(|trace| {
        // The request goes out when the span starts; the wrapper is made later.
        let span = trace.llm("openai.chat").start_detached();
        std::thread::sleep(BODY);
        let chunks = vec![
            (BODY, content("Your")),
            (BODY, content(" order")),
            (BODY, content(" has")),
            (BODY, content(" shipped")),
        ];
        let mut stream = trace_stream(
            span,
            Delayed {
                chunks: chunks.into_iter(),
            },
            OpenAiAccumulator::new(),
        );
        let started = Instant::now();
        for _ in 0..10 {
            match Pin::new(&mut stream).poll_next(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => break,
                Poll::Pending => panic!("always ready"),
            }
        }
        stream_lasted = started.elapsed();
    });
    support::memory::flushed(&client);
    let span = memory.span("openai.chat").expect("llm span");
    // From the span's start: the wait before the wrapper and the first chunk's delay.
    let ttft_ms = attribute_f64(&span, TTFT_MS_ATTRIBUTE);
    let expected_ms = (BODY * 2).as_secs_f64() * 1000.0;
    assert!(
        ttft_ms >= expected_ms && ttft_ms < expected_ms + SLACK.as_secs_f64() * 1000.0,
        "time to first token {ttft_ms} ms, expected {expected_ms} ms"
    );
    // Four output chunks (no usage chunk), the last three after the first.
    let rate = attribute_f64(&span, TOKENS_PER_SECOND_ATTRIBUTE);
    let fastest = 4.0 / (BODY * 3).as_secs_f64();
    let slowest = 4.0 / (stream_lasted + SLACK).as_secs_f64();
    assert!(
        rate <= fastest && rate > slowest,
        "{rate} tokens/s, expected between {slowest} and {fastest}"
    );
    assert_lasts("the streamed span", span.latency_ns, BODY * 5);
}
