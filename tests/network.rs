//! Network export against real HTTP servers on loopback: the OTLP exporter (protobuf and
//! JSON, decoded with the official proto types), the mv37 ingest exporter, and delivery
//! under faults, with exact accounting.

// These tests use the OTLP and ingest exporters: they need the `otlp` and `ingest`
// features (on by default; CI also runs the suite without them).
#![cfg(all(feature = "otlp", feature = "ingest"))]
// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mv37::{
    ApiKey, Client, IngestConfig, IngestExporter, OtlpConfig, OtlpExporter, OtlpProtocol, ResourceInfo, RetryPolicy,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use support::collector::{Collector, Received, Reply};
use support::fixtures::record_support_trace;

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(5),
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(200),
        ..RetryPolicy::default()
    }
}

fn otlp_config(collector: &Collector, protocol: OtlpProtocol, gzip: bool) -> OtlpConfig {
    OtlpConfig {
        endpoint: format!("{}/v1/traces", collector.url()),
        protocol,
        gzip,
        headers: vec![("x-team".into(), "agents".into())],
        resource_attributes: vec![("k8s.pod.name".into(), "agent-7".into())],
        retry: fast_retries(),
    }
}

fn resource() -> ResourceInfo {
    ResourceInfo {
        service_name: Some("support-bot".into()),
        service_version: Some("1.4.2".into()),
        environment: Some("staging".into()),
        extra: Vec::new(),
    }
}

fn otlp_client(collector: &Collector, protocol: OtlpProtocol, gzip: bool) -> Client {
    Client::builder()
        .exporter(OtlpExporter::new(otlp_config(collector, protocol, gzip), &resource()).expect("exporter"))
        .build()
        .expect("client")
}

fn decode(received: &Received) -> ExportTraceServiceRequest {
    match received.headers.get("content-type").map(String::as_str) {
        Some("application/x-protobuf") => ExportTraceServiceRequest::decode(&received.body[..]).expect("protobuf"),
        Some("application/json") => serde_json::from_slice(&received.body).expect("OTLP/JSON"),
        other => panic!("unexpected content type {other:?}"),
    }
}

fn spans_of(requests: &[Received]) -> Vec<Span> {
    requests
        .iter()
        .flat_map(|r| decode(r).resource_spans)
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect()
}

fn attributes(list: &[KeyValue]) -> HashMap<String, any_value::Value> {
    list.iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?.value?)))
        .collect()
}

fn text(attributes: &HashMap<String, any_value::Value>, key: &str) -> String {
    match attributes.get(key) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        other => panic!("{key}: expected a string, got {other:?}"),
    }
}

fn int(attributes: &HashMap<String, any_value::Value>, key: &str) -> i64 {
    match attributes.get(key) {
        Some(any_value::Value::IntValue(value)) => *value,
        other => panic!("{key}: expected an int, got {other:?}"),
    }
}

/// A string attribute holding JSON text, parsed.
fn json(attributes: &HashMap<String, any_value::Value>, key: &str) -> serde_json::Value {
    serde_json::from_str(&text(attributes, key)).unwrap_or_else(|e| panic!("{key}: not JSON: {e}"))
}

#[test]
fn otlp_protobuf_carries_genai_and_openinference_attributes() {
    let collector = Collector::start(|_| Reply::Ok);
    let client = otlp_client(&collector, OtlpProtocol::Protobuf, false);
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    assert_eq!(client.stats().exported, client.stats().produced);

    let requests = collector.received();
    assert!(requests.iter().all(|r| r.path == "/v1/traces"));
    assert!(requests
        .iter()
        .all(|r| r.headers.get("x-team").map(String::as_str) == Some("agents")));
    let request = decode(&requests[0]);
    let resource = attributes(
        &request.resource_spans[0]
            .resource
            .as_ref()
            .expect("resource")
            .attributes,
    );
    assert_eq!(text(&resource, "service.name"), "support-bot");
    assert_eq!(text(&resource, "service.version"), "1.4.2");
    assert_eq!(text(&resource, "deployment.environment"), "staging");
    assert_eq!(text(&resource, "k8s.pod.name"), "agent-7");

    let spans = spans_of(&requests);
    assert_eq!(spans.len(), 5, "root + retrieval + task + llm + tool");
    let by_name: HashMap<&str, &Span> = spans.iter().map(|s| (s.name.as_str(), s)).collect();
    let root = by_name["support_agent"];
    assert!(root.parent_span_id.is_empty());
    for span in &spans {
        assert_eq!(span.trace_id, root.trace_id);
        let attrs = attributes(&span.attributes);
        assert_eq!(text(&attrs, "user.id"), "cus_123", "{}", span.name);
        assert_eq!(text(&attrs, "session.id"), "sess_9", "{}", span.name);
        assert_eq!(text(&attrs, "gen_ai.conversation.id"), "thread_123", "{}", span.name);
    }
    let task = by_name["resolve_ticket"];
    assert_eq!(task.parent_span_id, root.span_id);

    let llm = by_name["chat gpt-4.1-mini"];
    assert_eq!(llm.parent_span_id, task.span_id);
    let attrs = attributes(&llm.attributes);
    assert_eq!(text(&attrs, "openinference.span.kind"), "LLM");
    assert_eq!(text(&attrs, "gen_ai.operation.name"), "chat");
    assert_eq!(text(&attrs, "gen_ai.request.model"), "gpt-4.1-mini");
    assert_eq!(text(&attrs, "llm.model_name"), "gpt-4.1-mini");
    assert_eq!(text(&attrs, "mv37.span.name"), "openai.responses");
    assert_eq!(text(&attrs, "gen_ai.provider.name"), "openai");
    assert!(
        !attrs.contains_key("gen_ai.system"),
        "the deprecated gen_ai.system is not sent"
    );
    assert_eq!(text(&attrs, "llm.provider"), "openai");
    assert_eq!(int(&attrs, "gen_ai.usage.input_tokens"), 812);
    assert_eq!(int(&attrs, "gen_ai.usage.output_tokens"), 64);
    assert_eq!(int(&attrs, "llm.token_count.prompt"), 812);
    assert_eq!(int(&attrs, "llm.token_count.completion"), 64);
    assert_eq!(int(&attrs, "llm.token_count.total"), 876);
    assert_eq!(int(&attrs, "llm.token_count.prompt_details.cache_read"), 512);
    assert_eq!(int(&attrs, "llm.token_count.completion_details.reasoning"), 16);
    assert_eq!(
        attrs.get("llm.cost.total"),
        Some(&any_value::Value::DoubleValue(0.00042))
    );
    assert_eq!(text(&attrs, "output.value"), "Calling issue_refund");
    assert_eq!(text(&attrs, "output.mime_type"), "text/plain");
    assert_eq!(text(&attrs, "llm.input_messages.0.message.role"), "system");
    assert_eq!(
        text(&attrs, "llm.input_messages.0.message.content"),
        "You are a support agent."
    );
    assert_eq!(
        text(&attrs, "llm.input_messages.1.message.contents.0.message_content.text"),
        "Refund order 4421"
    );
    assert_eq!(
        text(
            &attrs,
            "llm.input_messages.1.message.contents.1.message_content.image.image.url"
        ),
        "https://x/r.png"
    );
    assert_eq!(text(&attrs, "llm.output_messages.0.message.role"), "assistant");
    assert_eq!(
        text(
            &attrs,
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name"
        ),
        "issue_refund"
    );
    assert_eq!(
        json(&attrs, "gen_ai.system_instructions"),
        serde_json::json!([{"type": "text", "content": "You are a support agent."}])
    );
    assert_eq!(
        json(&attrs, "gen_ai.input.messages"),
        serde_json::json!([{"role": "user", "parts": [
            {"type": "text", "content": "Refund order 4421"},
            {"type": "uri", "modality": "image", "uri": "https://x/r.png"}
        ]}])
    );
    assert_eq!(
        json(&attrs, "gen_ai.output.messages"),
        serde_json::json!([{"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "issue_refund", "arguments": {"order": "4421"}}
        ]}])
    );
    assert!(llm.events.is_empty(), "no per-message events: {:?}", llm.events);
    assert_eq!(llm.status.as_ref().map(|s| s.code), Some(1), "OK");
    assert_eq!(llm.kind, 3, "CLIENT");

    let tool = attributes(&by_name["execute_tool issue_refund"].attributes);
    assert_eq!(text(&tool, "openinference.span.kind"), "TOOL");
    assert_eq!(text(&tool, "tool.name"), "issue_refund");
    assert_eq!(text(&tool, "gen_ai.tool.name"), "issue_refund");
    assert_eq!(text(&tool, "tool.parameters"), r#"{"order":"4421"}"#);
    let status = by_name["execute_tool issue_refund"].status.as_ref().expect("status");
    assert_eq!(status.code, 2, "ERROR");
    assert_eq!(status.message, "card declined");
    assert!(by_name["execute_tool issue_refund"]
        .events
        .iter()
        .any(|e| e.name == "exception"));

    let retrieval = attributes(&by_name["search_docs"].attributes);
    assert_eq!(text(&retrieval, "openinference.span.kind"), "RETRIEVER");
    assert_eq!(text(&retrieval, "input.value"), r#"{"query":"refund policy"}"#);
    assert_eq!(text(&retrieval, "input.mime_type"), "application/json");

    let root_attrs = attributes(&root.attributes);
    assert_eq!(
        text(&root_attrs, "llm.input_messages.0.message.content"),
        "Where is my order?"
    );
    assert_eq!(
        json(&root_attrs, "gen_ai.input.messages"),
        serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}])
    );
    assert_eq!(text(&root_attrs, "metadata"), r#"{"plan":"pro"}"#);
}

#[test]
fn otlp_json_with_gzip_is_decodable_by_the_official_types() {
    let collector = Collector::start(|_| Reply::Ok);
    let client = otlp_client(&collector, OtlpProtocol::Json, true);
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    let requests = collector.received();
    assert!(requests
        .iter()
        .all(|r| r.headers.get("content-encoding").map(String::as_str) == Some("gzip")));
    let text = String::from_utf8(requests[0].body.clone()).expect("utf-8");
    assert!(
        text.contains("\"traceId\":\""),
        "hex ids in camelCase JSON: {text:.200}"
    );
    assert_eq!(spans_of(&requests).len(), 5);
}

#[test]
fn the_mv37_ingest_exporter_posts_gzipped_json_batches_with_a_bearer_key() {
    let collector = Collector::start(|_| Reply::Ok);
    let exporter = IngestExporter::new(
        IngestConfig {
            endpoint: collector.url(),
            api_key: Some(ApiKey::new("sk-test-1")),
            gzip: true,
            retry: fast_retries(),
        },
        &resource(),
    )
    .expect("exporter");
    assert!(!format!("{exporter:?}").contains("sk-test-1"));
    let client = Client::builder().exporter(exporter).build().expect("client");
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    let requests = collector.received();
    let request = &requests[0];
    assert_eq!(request.path, "/v1/batches");
    assert_eq!(request.headers["authorization"], "Bearer sk-test-1");
    assert_eq!(request.headers["content-encoding"], "gzip");
    assert_eq!(request.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
    assert_eq!(body["v"], 1);
    assert_eq!(body["batch_id"], request.headers["idempotency-key"].as_str());
    assert_eq!(body["resource"]["service_name"], "support-bot");
    let records: Vec<mv37::Record> = body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| mv37::Record::from_json_line(&r.to_string()).expect("a versioned record"))
        .collect();
    let total: usize = requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["records"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(total as u64, client.stats().exported);
    assert!(records
        .iter()
        .any(|r| matches!(r, mv37::Record::Trace(t) if t.name == "support_agent")));
}

/// Sends `records` through a fresh ingest exporter (as a new process would) to a
/// collector that answers the first request with a 503, and returns the idempotency
/// keys of both attempts.
fn ingest_keys_for(records: &[mv37::Record]) -> Vec<String> {
    use mv37::Exporter;
    let collector = Collector::start(|n| if n == 0 { Reply::Status(503, None) } else { Reply::Ok });
    let mut exporter = IngestExporter::new(
        IngestConfig {
            endpoint: collector.url(),
            api_key: Some(ApiKey::new("sk-test-1")),
            gzip: false,
            retry: fast_retries(),
        },
        &resource(),
    )
    .expect("exporter");
    exporter.export(records).expect("delivered on the retry");
    collector
        .received()
        .iter()
        .map(|request| request.headers["idempotency-key"].clone())
        .collect()
}

#[test]
fn the_ingest_idempotency_key_is_the_same_on_a_retry_and_on_a_re_send_by_another_process() {
    let memory = mv37::MemoryExporter::new();
    let client = Client::builder().exporter(memory.clone()).build().expect("client");
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    let records = memory.records();
    let first = ingest_keys_for(&records);
    assert_eq!(first.len(), 2, "one failure, one retry: {first:?}");
    assert_eq!(first[0], first[1], "a retry carries the same key");
    assert_eq!(first[0].len(), 32);
    // The batch as the spool holds it: written as JSON lines and read back.
    let reread: Vec<mv37::Record> = records
        .iter()
        .map(|r| mv37::Record::from_json_line(&r.to_json_line().expect("json")).expect("parse"))
        .collect();
    assert_eq!(
        ingest_keys_for(&reread)[0],
        first[0],
        "a re-send of the same batch carries the same key"
    );
    assert_ne!(
        ingest_keys_for(&records[1..])[0],
        first[0],
        "another batch has another key"
    );
}

#[test]
fn a_client_error_is_not_retried_and_is_counted() {
    let collector = Collector::start(|_| Reply::Status(401, None));
    let client = otlp_client(&collector, OtlpProtocol::Protobuf, false);
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(
        spans_of(&collector.received()).len() as u64,
        stats.produced,
        "each span sent once: no retry"
    );
    assert_eq!(stats.exported, 0);
    assert_eq!(stats.dropped.export_failed, stats.produced);
    assert!(stats.is_balanced());
}

/// Every span id of the test's traces, and how often the collector accepted each.
fn delivery_counts(collector: &Collector) -> HashMap<Vec<u8>, usize> {
    let mut counts = HashMap::new();
    for span in spans_of(&collector.accepted()) {
        *counts.entry(span.span_id).or_insert(0) += 1;
    }
    counts
}

#[test]
fn transient_failures_are_retried_until_every_span_arrives_exactly_once() {
    // Half the requests fail: 500, 503, 429 with Retry-After: 0, 429 without it, 408, a
    // dropped connection.
    let collector = Collector::start(|n| match n % 12 {
        0 => Reply::Status(500, None),
        2 => Reply::Status(503, None),
        4 => Reply::Status(429, Some(0)),
        6 => Reply::Drop,
        8 => Reply::Status(429, None),
        10 => Reply::Status(408, None),
        _ => Reply::Ok,
    });
    let client = Client::builder()
        .exporter(
            OtlpExporter::new(otlp_config(&collector, OtlpProtocol::Protobuf, true), &resource()).expect("exporter"),
        )
        .max_batch_records(20)
        .build()
        .expect("client");
    let mut slowest = Duration::ZERO;
    for i in 0..100 {
        let started = Instant::now();
        client
            .trace("t")
            .attribute("i", i)
            .run(|trace| trace.task("step").run(|_| ()));
        slowest = slowest.max(started.elapsed());
    }
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.produced, 200);
    assert_eq!(stats.exported, 200, "{stats:?}");
    assert!(stats.is_balanced());
    let counts = delivery_counts(&collector);
    assert_eq!(counts.len(), 200, "every span arrived");
    assert!(
        counts.values().all(|&n| n == 1),
        "failed requests were not stored, so no duplicates"
    );
    assert!(
        collector.received().len() > collector.accepted().len(),
        "faults were injected"
    );
    assert!(
        slowest < Duration::from_millis(100),
        "the app never waits for the network: {slowest:?}"
    );
}

#[test]
fn a_stalled_collector_times_out_and_the_retry_may_duplicate_but_never_loses() {
    // The first two requests stall past the client timeout (the collector did receive
    // them, so a retry is a duplicate), then everything succeeds.
    let collector = Collector::start(|n| {
        if n < 2 {
            Reply::Stall(Duration::from_millis(800))
        } else {
            Reply::Ok
        }
    });
    let client = otlp_client(&collector, OtlpProtocol::Protobuf, false);
    for _ in 0..10 {
        client.trace("t").run(|trace| trace.task("step").run(|_| ()));
    }
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.exported, 20, "{stats:?}");
    let counts = delivery_counts(&collector);
    assert_eq!(counts.len(), 20, "every span arrived at least once");
    let received_anywhere: usize = spans_of(&collector.received()).len();
    assert!(
        received_anywhere - 20 <= 2 * 20,
        "duplicates are bounded by the stalled requests"
    );
    // The client's 500 ms timeout cut the first request off, before the collector gave
    // up on it at 800 ms: the retry arrived in between. The collector stamps a request
    // once it has read it, a little after the client started its clock, so the gap it
    // sees can be a few milliseconds under the timeout (499.4 ms was seen under load).
    let received = collector.received();
    let retried_after = received[1].received_at - received[0].received_at;
    assert!(
        retried_after >= Duration::from_millis(450) && retried_after < Duration::from_millis(800),
        "the retry came {retried_after:?} after the stalled request"
    );
}

#[test]
fn an_outage_loses_nothing_silently_and_delivery_resumes() {
    let mut collector = Collector::start(|_| Reply::Ok);
    let policy = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        budget_tokens: 4.0,
        ..fast_retries()
    };
    let config = OtlpConfig {
        retry: policy,
        ..otlp_config(&collector, OtlpProtocol::Protobuf, false)
    };
    let client = Client::builder()
        .exporter(OtlpExporter::new(config, &resource()).expect("exporter"))
        .max_batch_records(10)
        .build()
        .expect("client");
    let trace = |client: &Client| client.trace("t").run(|trace| trace.task("step").run(|_| ()));

    for _ in 0..10 {
        trace(&client);
    }
    client.flush().expect("flush");
    collector.pause();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let started = Instant::now();
        trace(&client);
        slowest = slowest.max(started.elapsed());
    }
    client.flush().expect("flush during the outage returns");
    let during = client.stats();
    assert!(during.dropped.export_failed > 0, "the outage was noticed: {during:?}");
    collector.resume();
    for _ in 0..10 {
        trace(&client);
    }
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    let delivered = delivery_counts(&collector).len() as u64;
    assert_eq!(stats.produced, 100);
    assert_eq!(
        delivered, stats.exported,
        "what the client counts as exported is what arrived"
    );
    assert_eq!(stats.exported + stats.dropped.export_failed, 100, "{stats:?}");
    assert!(
        stats.exported >= 40,
        "before and after the outage everything arrived: {stats:?}"
    );
    assert!(
        slowest < Duration::from_millis(100),
        "the app never waits for the network: {slowest:?}"
    );
}

/// A TLS server on loopback presenting a self-signed certificate; counts connections.
fn self_signed_tls_server() -> (String, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs = CertificateDer::pem_file_iter(dir.join("self-signed.crt"))
        .expect("cert file")
        .collect::<Result<Vec<_>, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_file(dir.join("self-signed.key")).expect("key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}/v1/traces", listener.local_addr().expect("addr"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = Arc::clone(&config);
            let counted = Arc::clone(&counted);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                // Count only TLS clients (a handshake record starts with 0x16): a client of
                // another test may still be retrying a port this listener now has. The
                // count is made before the certificate is sent, so before the client fails.
                let mut first = [0u8; 1];
                if stream.peek(&mut first).is_ok_and(|n| n == 1) && first[0] == 0x16 {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut buffer = [0u8; 1024];
                let _ = std::io::Read::read(&mut tls, &mut buffer);
            });
        }
    });
    (url, connections)
}

#[test]
fn a_certificate_error_fails_fast_with_a_clear_message_and_is_not_retried() {
    let (url, connections) = self_signed_tls_server();
    // Retries stay fast and many, so a retry would show in the count; the timeouts are
    // generous, because on a loaded machine a handshake can outlast `fast_retries`' 200 ms
    // connect timeout, and a timed-out first attempt is (rightly) retried.
    let config = OtlpConfig {
        endpoint: url,
        retry: RetryPolicy {
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(30),
            ..fast_retries()
        },
        ..OtlpConfig::default()
    };
    let mut exporter = OtlpExporter::new(config, &resource()).expect("exporter");
    let memory = mv37::MemoryExporter::new();
    let client = Client::builder().exporter(memory.clone()).build().expect("client");
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    let error = mv37::Exporter::export(&mut exporter, &memory.records()).expect_err("an untrusted certificate");
    assert!(!error.transient, "{error}");
    assert!(error.message.contains("TLS certificate"), "{error}");
    assert!(error.message.contains("not retried"), "{error}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one attempt, no retries: {error}"
    );
}
