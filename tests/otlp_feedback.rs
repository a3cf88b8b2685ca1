//! Feedback and signals in the OTLP output: `gen_ai.evaluation.result` events on the span
//! they are about, and never a span without a parent (which MLflow and Phoenix take for
//! the trace's root: a failed trace with feedback showed as OK).

// The OTLP encoder comes with the `otlp` feature (on by default).
#![cfg(feature = "otlp")]
// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use mv37::Record;
use opentelemetry_proto::tonic::trace::v1::{span::Event, status::StatusCode, Span};
use support::memory::{flushed, memory_client};
use support::otlp::{attribute_map, double, encoded_spans, text};

fn evaluations(span: &Span) -> Vec<&Event> {
    span.events
        .iter()
        .filter(|e| e.name == "gen_ai.evaluation.result")
        .collect()
}

fn roots(spans: &[Span]) -> Vec<&str> {
    spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .map(|s| s.name.as_str())
        .collect()
}

#[test]
fn feedback_on_a_failed_trace_is_an_event_on_its_root_and_the_trace_keeps_one_root() {
    let (client, memory) = memory_client();
    let _ = client.trace("answer").user_id("u-7").try_run(|trace| {
        trace.feedback("thumbs", false).comment("wrong order number");
        trace.feedback("rating", 2);
        trace.feedback("category", "billing");
        Err::<(), _>("model refused")
    });
    flushed(&client);
    let spans = encoded_spans(&memory.records());

    assert_eq!(roots(&spans), ["answer"], "only the trace is a root");
    assert_eq!(spans.len(), 1, "feedback makes no spans of its own: {spans:?}");
    let root = &spans[0];
    assert_eq!(root.status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    let events = evaluations(root);
    assert_eq!(events.len(), 3);

    let thumbs = attribute_map(&events[0].attributes);
    assert_eq!(text(&thumbs, "gen_ai.evaluation.name"), "thumbs");
    assert_eq!(double(&thumbs, "gen_ai.evaluation.score.value"), 0.0);
    assert_eq!(text(&thumbs, "gen_ai.evaluation.score.label"), "false");
    assert_eq!(text(&thumbs, "gen_ai.evaluation.explanation"), "wrong order number");
    assert_eq!(text(&thumbs, "mv37.kind"), "feedback");

    let rating = attribute_map(&events[1].attributes);
    assert_eq!(double(&rating, "gen_ai.evaluation.score.value"), 2.0);
    assert!(!rating.contains_key("gen_ai.evaluation.score.label"));
    let category = attribute_map(&events[2].attributes);
    assert_eq!(text(&category, "gen_ai.evaluation.score.label"), "billing");
    assert!(!category.contains_key("gen_ai.evaluation.score.value"));
}

#[test]
fn feedback_on_a_span_and_a_signal_go_on_that_span() {
    let (client, memory) = memory_client();
    client.trace("agent").run(|trace| {
        trace.tool("lookup").run(|span| {
            trace.signal("retried", 1);
            let id = span.id().expect("recording");
            trace.feedback("useful", true).span(id);
        });
    });
    flushed(&client);
    let spans = encoded_spans(&memory.records());
    assert_eq!(spans.len(), 2, "{spans:?}");
    let tool = spans
        .iter()
        .find(|s| s.name == "execute_tool lookup")
        .expect("tool span");
    let events = evaluations(tool);
    let names: Vec<&str> = events
        .iter()
        .map(|e| text(&attribute_map(&e.attributes), "gen_ai.evaluation.name"))
        .collect();
    assert_eq!(names, ["retried", "useful"]);
    assert_eq!(text(&attribute_map(&events[0].attributes), "mv37.kind"), "signal");
    let root = spans.iter().find(|s| s.name == "agent").expect("trace span");
    assert!(evaluations(root).is_empty());
}

#[test]
fn late_feedback_keeps_the_traces_scope_and_is_a_child_of_its_root() {
    let (client, memory) = memory_client();
    let trace_id = client
        .trace("support")
        .user_id("u-1")
        .session_id("s-1")
        .run(|trace| trace.id().expect("recording"));
    flushed(&client);
    client.feedback(trace_id, "csat", 4).comment("quick");
    flushed(&client);

    let records = memory.records();
    let Some(Record::Trace(trace)) = records.iter().find(|r| matches!(r, Record::Trace(_))) else {
        panic!("no trace record in {records:?}")
    };
    let Some(Record::Feedback(feedback)) = records.iter().find(|r| matches!(r, Record::Feedback(_))) else {
        panic!("no feedback record in {records:?}")
    };
    let scope = feedback
        .scope
        .as_ref()
        .expect("the client remembered the trace's scope");
    assert_eq!(scope.name, "support");
    assert_eq!(scope.user_id.as_deref(), Some("u-1"));
    assert_eq!(scope.session_id.as_deref(), Some("s-1"));
    assert_eq!(feedback.root_span_id, Some(trace.span_id));

    // Exported on its own, later: a child span of the trace's root.
    let spans = encoded_spans(std::slice::from_ref(&Record::Feedback(feedback.clone())));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_span_id, trace.span_id.to_bytes().to_vec());
    let attributes = attribute_map(&spans[0].attributes);
    assert_eq!(text(&attributes, "user.id"), "u-1");
    assert_eq!(text(&attributes, "session.id"), "s-1");
    let events = evaluations(&spans[0]);
    assert_eq!(events.len(), 1);
    assert_eq!(
        double(&attribute_map(&events[0].attributes), "gen_ai.evaluation.score.value"),
        4.0
    );
}

#[test]
fn feedback_on_a_trace_the_client_does_not_know_still_has_a_parent() {
    let (client, memory) = memory_client();
    let unknown = mv37::TraceId::random();
    client.feedback(unknown, "thumbs", true);
    flushed(&client);
    let spans = encoded_spans(&memory.records());
    assert_eq!(spans.len(), 1);
    assert!(
        roots(&spans).is_empty(),
        "a parentless feedback span would be taken for the root"
    );
    assert_eq!(spans[0].trace_id, unknown.to_bytes().to_vec());
}
