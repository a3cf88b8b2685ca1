//! Langfuse's own attributes in the OTLP export, sent to a loopback collector standing in
//! for Langfuse's OTLP endpoint and decoded with the official protobuf types.

#![cfg(feature = "otlp")]
#![allow(clippy::panic)]

mod support;

use std::collections::HashMap;

use mv37::{Client, Config, ExporterKind, OtlpConfig, Usage};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;
use support::collector::{Collector, Reply};
use support::otlp::{attribute_map, text};

fn sent_spans(collector: &Collector) -> HashMap<String, Span> {
    collector
        .accepted()
        .iter()
        .flat_map(|request| {
            ExportTraceServiceRequest::decode(request.body.as_slice())
                .expect("OTLP protobuf")
                .resource_spans
        })
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|span| (span.name.clone(), span))
        .collect()
}

fn strings(value: Option<&&AnyValue>) -> Vec<String> {
    match value {
        Some(AnyValue::ArrayValue(array)) => array
            .values
            .iter()
            .map(|v| match &v.value {
                Some(AnyValue::StringValue(text)) => text.clone(),
                other => panic!("not a string: {other:?}"),
            })
            .collect(),
        other => panic!("expected a string array, got {other:?}"),
    }
}

#[test]
fn langfuse_reads_trace_name_tags_metadata_observation_types_usage_cost_and_level() {
    let collector = Collector::start(|_| Reply::Ok);
    let config = Config {
        exporters: vec![ExporterKind::Otlp],
        otlp: OtlpConfig {
            endpoint: format!("{}/api/public/otel/v1/traces", collector.url()),
            ..OtlpConfig::default()
        },
        ..Config::default()
    };
    let client = Client::builder().config(config).build().expect("builds");
    let _ = client
        .trace("support")
        .user_id("u-1")
        .session_id("s-1")
        .tags(["beta", "eu"])
        .context("tenant", "acme")
        .try_run(|trace| {
            trace.llm("answer").model("claude-sonnet-4").run(|span| {
                span.set_usage(Usage {
                    input_tokens: Some(100),
                    output_tokens: Some(20),
                    cached_tokens: Some(60),
                    cache_write_tokens: Some(30),
                    reasoning_tokens: Some(5),
                    cost_usd: Some(0.002),
                    ..Usage::default()
                });
            });
            trace.tool("lookup").run(|_| {});
            trace.retrieval("search").run(|_| {});
            Err::<(), _>("refused")
        });
    client.shutdown().expect("shutdown");

    let spans = sent_spans(&collector);
    let root = attribute_map(&spans["support"].attributes);
    assert_eq!(text(&root, "langfuse.trace.name"), "support");
    assert_eq!(strings(root.get("langfuse.trace.tags")), ["beta", "eu"]);
    assert_eq!(strings(root.get("tag.tags")), ["beta", "eu"]);
    assert_eq!(text(&root, "langfuse.trace.metadata.tenant"), "acme");
    assert_eq!(text(&root, "user.id"), "u-1");
    assert_eq!(text(&root, "session.id"), "s-1");
    assert_eq!(text(&root, "langfuse.observation.level"), "ERROR");
    assert_eq!(text(&root, "langfuse.observation.status_message"), "refused");

    let llm = attribute_map(&spans["chat claude-sonnet-4"].attributes);
    assert_eq!(text(&llm, "langfuse.observation.type"), "generation");
    assert_eq!(text(&llm, "langfuse.observation.model.name"), "claude-sonnet-4");
    let usage: serde_json::Value =
        serde_json::from_str(text(&llm, "langfuse.observation.usage_details")).expect("JSON");
    assert_eq!(
        usage,
        json!({"input": 100, "output": 20, "cache_read_input_tokens": 60,
               "cache_creation_input_tokens": 30, "output_reasoning_tokens": 5, "total": 120})
    );
    let cost: serde_json::Value = serde_json::from_str(text(&llm, "langfuse.observation.cost_details")).expect("JSON");
    assert_eq!(cost, json!({"total": 0.002}));
    assert!(
        !llm.contains_key("langfuse.observation.level"),
        "a successful span has no level"
    );

    let tool = attribute_map(&spans["execute_tool lookup"].attributes);
    assert_eq!(text(&tool, "langfuse.observation.type"), "tool");
    let retrieval = attribute_map(&spans["search"].attributes);
    assert_eq!(text(&retrieval, "langfuse.observation.type"), "retriever");
}
