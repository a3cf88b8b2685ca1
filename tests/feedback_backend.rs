//! Feedback sent to a backend's own feedback API (`MV37_FEEDBACK_BACKEND`), against a
//! loopback server: after the spans, with the OTLP headers, retried like any export, and
//! counted.

// The feedback exporter needs a network transport, which the `otlp` feature brings.
#![cfg(feature = "otlp")]
#![allow(clippy::panic)]

mod support;

use std::time::Duration;

use mv37::{Client, Config, ExporterKind, FeedbackBackend, OtlpConfig, RetryPolicy};
use serde_json::Value;
use support::collector::{Collector, Received, Reply};

fn feedback_client(collector: &Collector, otlp_path: &str, backend: FeedbackBackend) -> Client {
    let config = Config {
        exporters: vec![ExporterKind::Otlp],
        otlp: OtlpConfig {
            endpoint: format!("{}{otlp_path}", collector.url()),
            headers: vec![("authorization".into(), "Basic cGstbGY6c2stbGY=".into())],
            retry: RetryPolicy {
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                ..RetryPolicy::default()
            },
            ..OtlpConfig::default()
        },
        feedback_backend: Some(backend),
        ..Config::default()
    };
    Client::builder().config(config).build().expect("builds")
}

fn json(received: &Received) -> Value {
    serde_json::from_slice(&received.body).expect("a JSON body")
}

#[test]
fn langfuse_scores_follow_the_spans_with_the_otlp_credentials() {
    let collector = Collector::start(|_| Reply::Ok);
    let client = feedback_client(&collector, "/api/public/otel/v1/traces", FeedbackBackend::Langfuse);
    let trace_id = client
        .trace("answer")
        .run(|trace| {
            trace.feedback("thumbs", true).comment("spot on");
            trace.id()
        })
        .expect("recording");
    client.shutdown().expect("shutdown");

    let received = collector.accepted();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/api/public/otel/v1/traces", "/api/public/scores"]);
    let score = json(&received[1]);
    assert_eq!(score["traceId"], trace_id.to_string());
    assert_eq!(score["name"], "thumbs");
    assert_eq!(score["dataType"], "BOOLEAN");
    assert_eq!(score["value"], 1);
    assert_eq!(score["comment"], "spot on");
    assert_eq!(
        received[1].headers.get("authorization").map(String::as_str),
        Some("Basic cGstbGY6c2stbGY=")
    );
    let stats = client.stats();
    assert_eq!((stats.exported, stats.dropped.total()), (2, 0), "{stats:?}");
}

#[test]
fn a_failed_feedback_call_is_retried_and_a_lost_one_is_counted() {
    // The spans go through; the feedback call fails once (503), then succeeds.
    let collector = Collector::start(|n| if n == 1 { Reply::Status(503, None) } else { Reply::Ok });
    let client = feedback_client(&collector, "/v1/traces", FeedbackBackend::Mlflow);
    client.trace("answer").run(|trace| trace.feedback("rating", 3));
    client.shutdown().expect("shutdown");
    let paths: Vec<String> = collector.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths[1].ends_with("/assessments") && paths[2] == paths[1], "{paths:?}");
    assert_eq!(client.stats().exported, 2);

    // A backend that rejects feedback for good: the batch is counted as dropped.
    let collector = Collector::start(|n| if n == 0 { Reply::Ok } else { Reply::Status(400, None) });
    let client = feedback_client(&collector, "/v1/traces", FeedbackBackend::Phoenix);
    client.trace("answer").run(|trace| trace.feedback("rating", 3));
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(
        (stats.exported, stats.dropped.total(), stats.queued),
        (0, 2, 0),
        "{stats:?}"
    );
    assert_eq!(collector.received()[1].path, "/v1/trace_annotations");
}
