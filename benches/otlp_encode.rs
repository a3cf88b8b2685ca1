//! OTLP encoding throughput and size (a bench binary, not a test).
//!
//! ```text
//! cargo bench --bench otlp_encode
//! ```
//!
//! Encodes batches of 512 realistic records (llm spans with usage, messages and JSON
//! input/output, tool and retrieval spans, the trace record) on one thread and reports
//! spans per second and bytes per span for protobuf and JSON, gzip off and on, against
//! a baseline measured in the same run: writing the same records as mv37 JSON lines.
//! It checks what it measured: the last batch of each encoding is gunzipped and decoded
//! with the official `opentelemetry-proto` types, and must hold one span per record, with
//! the records' trace ids, span ids and names. Run without `--bench` (as
//! `cargo test --all-targets` does) it only smoke-tests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Instant;

use mv37::{Client, MemoryExporter, OtlpEncoder, OtlpProtocol, Record, ResourceInfo, Role, Usage};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fn sample_records() -> Vec<Record> {
    let memory = MemoryExporter::new();
    let client = Client::builder().exporter(memory.clone()).build().expect("client");
    while memory.records().len() < 512 {
        client
            .trace("support_agent")
            .user_id("cus_123")
            .session_id("sess_9")
            .run(|trace| {
                trace.retrieval("search_docs").run(|span| {
                    span.record_input(&serde_json::json!({"query": "refund policy", "top_k": 5}));
                    span.record_output(
                        &serde_json::json!({"hits": [{"id": "kb-12", "score": 0.91}, {"id": "kb-31", "score": 0.55}]}),
                    );
                });
                trace
                    .llm("openai.responses")
                    .model("gpt-4.1-mini")
                    .provider("openai")
                    .run(|span| {
                        span.message(Role::System, "You are a helpful support agent for an online shop.");
                        span.message(
                            Role::User,
                            "Where is my order 4421? I would like a refund if it is late.",
                        );
                        span.message(Role::Assistant, "Your order shipped yesterday; it arrives on Friday.");
                        span.set_usage(Usage {
                            input_tokens: Some(812),
                            output_tokens: Some(64),
                            cached_tokens: Some(512),
                            cost_usd: Some(0.00042),
                            ..Usage::default()
                        });
                    });
                trace
                    .tool("track_order")
                    .arguments(&serde_json::json!({"order": "4421"}))
                    .run(|span| span.record_output(&serde_json::json!({"status": "shipped", "eta": "2026-11-27"})));
            });
        client.flush().expect("flush");
    }
    let mut records = memory.take();
    records.truncate(512);
    records
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .expect("gunzip");
    plain
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Decodes one encoded batch with the official OTLP types and checks that it holds one
/// span per record, and each trace and span record as a span with its ids and name.
/// Returns the number of spans.
fn check_batch(body: &[u8], protocol: OtlpProtocol, gzipped: bool, records: &[Record]) -> usize {
    let body = if gzipped { gunzip(body) } else { body.to_vec() };
    let request = match protocol {
        OtlpProtocol::Protobuf => ExportTraceServiceRequest::decode(&body[..]).expect("decode OTLP protobuf"),
        OtlpProtocol::Json => serde_json::from_slice(&body).expect("decode OTLP JSON"),
    };
    let spans: Vec<_> = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| &scope.spans)
        .collect();
    assert_eq!(spans.len(), records.len(), "one OTLP span per record ({protocol:?})");
    let mut decoded: HashMap<(String, String), &str> = HashMap::new();
    for span in &spans {
        // LLM and tool spans are named by the GenAI conventions in OTLP (`chat {model}`);
        // mv37's own name travels as `mv37.span.name`.
        let own_name = span
            .attributes
            .iter()
            .find(|kv| kv.key == "mv37.span.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(name) => Some(name.as_str()),
                _ => None,
            });
        decoded.insert(
            (hex(&span.trace_id), hex(&span.span_id)),
            own_name.unwrap_or(&span.name),
        );
    }
    for record in records {
        let (trace_id, span_id, name) = match record {
            Record::Trace(trace) => (trace.trace_id, trace.span_id, &trace.name),
            Record::Span(span) => (span.trace_id, span.span_id, &span.name),
            _ => continue,
        };
        let key = (trace_id.to_string(), span_id.to_string());
        assert_eq!(
            decoded.get(&key).copied(),
            Some(name.as_ref()),
            "the span {key:?} ({protocol:?}) is missing or misnamed"
        );
    }
    spans.len()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 400 } else { 2 };
    let records = sample_records();
    let encoder = OtlpEncoder::new(&ResourceInfo {
        service_name: Some("support-bot".into()),
        ..ResourceInfo::default()
    });

    // Records per second, bytes per record, and the last batch encoded.
    let measure = |encode: &dyn Fn() -> Vec<u8>| {
        let started = Instant::now();
        let mut last = Vec::new();
        for _ in 0..rounds {
            last = encode();
        }
        let per_batch = started.elapsed().as_secs_f64() / rounds as f64;
        let size = last.len() as f64 / records.len() as f64;
        (records.len() as f64 / per_batch, size, last)
    };

    let baseline = measure(&|| {
        let mut out = Vec::new();
        for record in &records {
            out.extend_from_slice(record.to_json_line().expect("json").as_bytes());
            out.push(b'\n');
        }
        out
    });
    println!(
        "OTLP encoding, {} records per batch, one thread, {rounds} rounds",
        records.len()
    );
    println!(
        "  baseline mv37 JSON lines:   {:>9.0} records/s  {:>6.0} bytes/record",
        baseline.0, baseline.1
    );
    for (name, protocol) in [("protobuf", OtlpProtocol::Protobuf), ("json", OtlpProtocol::Json)] {
        for gzipped in [false, true] {
            let (rate, size, last) = measure(&|| {
                let body = encoder.encode(&records, protocol).expect("encode");
                if gzipped {
                    gzip(&body)
                } else {
                    body
                }
            });
            println!(
                "  otlp {name:<8} gzip {:<3}:   {rate:>9.0} records/s  {size:>6.0} bytes/record  ({:.2}x baseline speed)",
                if gzipped { "on" } else { "off" },
                rate / baseline.0
            );
            let spans = check_batch(&last, protocol, gzipped, &records);
            println!("    decoded with opentelemetry-proto: {spans} spans, ids and names as recorded");
        }
    }
}
