//! OTLP/JSON conformance, checked by an independent implementation: Google's protobuf
//! JSON parser and the official opentelemetry-proto Python messages
//! (tests/conformance/otlp_json_check.py), not the serde code that wrote it.
//!
//! Needs a Python with `opentelemetry-proto` (`MV37_CONFORMANCE_PYTHON`, default
//! `python3`); `.ci/run` installs one in a cached virtualenv and runs this with
//! `--ignored`.

// These tests use the OTLP exporter or encoder: they need the `otlp` feature (on by
// default; CI also runs the suite without it).
#![cfg(feature = "otlp")]
// Tests fail by panicking.
#![allow(clippy::panic)]

use std::collections::HashMap;
use std::process::Command;

use mv37::{Client, MemoryExporter, OtlpEncoder, OtlpProtocol, Record, ResourceInfo};
use serde_json::Value;

mod support;

use support::fixtures::record_support_trace;

#[test]
#[ignore = "needs Python with opentelemetry-proto; .ci/run runs it with --ignored"]
fn otlp_json_follows_the_protobuf_json_mapping_as_the_official_messages_read_it() {
    let memory = MemoryExporter::new();
    let client = Client::builder().exporter(memory.clone()).build().expect("client");
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    let records = memory.records();
    let resource = ResourceInfo {
        service_name: Some("support-bot".into()),
        ..ResourceInfo::default()
    };
    let body = OtlpEncoder::new(&resource)
        .encode(&records, OtlpProtocol::Json)
        .expect("encode");
    let path = std::env::temp_dir().join(format!("mv37-otlp-json-{}.json", std::process::id()));
    std::fs::write(&path, &body).expect("write body");
    let python = std::env::var("MV37_CONFORMANCE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/otlp_json_check.py");
    let output = Command::new(&python)
        .arg(script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "the checker rejected mv37's OTLP/JSON:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("summary");
    let decoded: HashMap<String, &Value> = summary["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|span| (span["span_id"].as_str().expect("id").to_owned(), span))
        .collect();

    // Every span and the trace's root span, as the official messages decoded them.
    let mut checked = 0;
    for record in &records {
        let (trace_id, span_id, parent, name, start, end, failed) = match record {
            Record::Span(s) => (
                s.trace_id,
                s.span_id,
                s.parent_span_id,
                s.name.to_string(),
                s.start_time_unix_nano,
                s.end_time_unix_nano,
                s.error.is_some(),
            ),
            Record::Trace(t) => (
                t.trace_id,
                t.span_id,
                t.parent_span_id,
                t.name.to_string(),
                t.start_time_unix_nano,
                t.end_time_unix_nano,
                t.error.is_some(),
            ),
            _ => continue,
        };
        let span = decoded
            .get(&span_id.to_string())
            .unwrap_or_else(|| panic!("{name} ({span_id}) is not in the decoded request: {summary}"));
        assert_eq!(span["trace_id"], trace_id.to_string(), "{name}");
        assert_eq!(
            span["parent_span_id"],
            parent.map(|p| p.to_string()).unwrap_or_default(),
            "{name}"
        );
        assert_eq!(span["start"], start, "{name}");
        assert_eq!(span["end"], end, "{name}");
        assert!(span["end"].as_u64() >= span["start"].as_u64(), "{name}");
        assert_eq!(span["service"]["stringValue"], "support-bot", "{name}");
        if failed {
            assert_eq!(span["status"], 2, "{name}: STATUS_CODE_ERROR");
        }
        checked += 1;
    }
    assert_eq!(checked, 5, "a trace and four spans: {summary}");
    let llm = decoded
        .values()
        .find(|span| span["attributes"]["gen_ai.request.model"]["stringValue"] == "gpt-4.1-mini")
        .unwrap_or_else(|| panic!("no llm span with its model: {summary}"));
    // 64-bit integers decode to the numbers that were sent.
    assert_eq!(llm["attributes"]["gen_ai.usage.input_tokens"]["intValue"], "812");
    assert_eq!(llm["attributes"]["gen_ai.usage.output_tokens"]["intValue"], "64");
}
