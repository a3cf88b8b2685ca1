//! `mv37 send` against a small HTTP collector on loopback: every span arrives once, with
//! its original ids and its trace's user and session.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Requests received: path and (gunzipped) body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A collector answering every request with 200 and keeping the (gunzipped) bodies.
struct Collector {
    addr: SocketAddr,
    bodies: Received,
}

impl Collector {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies: Received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let mut headers = HashMap::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    }
                }
                let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                if headers.get("content-encoding").is_some_and(|e| e == "gzip") {
                    let mut plain = Vec::new();
                    flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain).unwrap();
                    body = plain;
                }
                kept.lock().unwrap().push((path, body));
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .unwrap();
            }
        });
        Self { addr, bodies }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn bodies(&self) -> Vec<(String, Vec<u8>)> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A collector that is down: it closes every connection as soon as it accepts it, so
/// every request fails at once, without waiting for a timeout.
///
/// Its port stays bound for the life of the test (the listener lives in its thread until
/// the test process exits), so no other test or process can start listening on it, as
/// could happen with a port bound and released to be "unused".
struct ClosingListener {
    addr: SocketAddr,
}

impl ClosingListener {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(1024) {
                drop(stream);
            }
        });
        Self { addr }
    }
}

fn send(args: &[&str], envs: &[(&str, &str)], code: i32) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mv37"))
        .env_clear()
        .envs(envs.iter().copied())
        .arg("send")
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone();
    (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The span ids (and trace ids) of a fixture's span and trace records.
fn expected_ids(name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let mut ids: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|record| record["type"] == "span" || record["type"] == "trace")
        .map(|record| {
            (
                record["trace_id"].as_str().unwrap().to_owned(),
                record["span_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ids.sort();
    ids
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn otlp_replay_delivers_every_span_once_with_its_ids_and_trace_fields() {
    let collector = Collector::start();
    let (summary, errors) = send(
        &[
            "--to",
            "otlp",
            "--endpoint",
            &collector.url(),
            "--batch-size",
            "4",
            &fixture("mixed.jsonl"),
        ],
        &[("OTEL_SERVICE_NAME", "replayed")],
        1,
    );
    assert!(summary.contains("sent 12 records (7 spans)"), "{summary}");
    assert!(summary.contains("failed 0; skipped 2 malformed lines"), "{summary}");
    assert!(errors.contains("mixed.jsonl:3: skipped malformed line"), "{errors}");
    let mut received = Vec::new();
    let mut user_of_span = HashMap::new();
    for (path, body) in collector.bodies() {
        assert_eq!(path, "/v1/traces");
        let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .unwrap()
                .attributes
                .into_iter()
                .find(|kv| kv.key == "service.name");
            let service = service.and_then(|kv| kv.value).and_then(|v| v.value);
            assert_eq!(service, Some(any_value::Value::StringValue("replayed".into())));
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let kind = span.attributes.iter().find(|kv| kv.key == "mv37.kind").unwrap();
                    let kind = format!("{:?}", kind.value.as_ref().unwrap().value);
                    let user = span.attributes.iter().find(|kv| kv.key == "user.id").map(|kv| {
                        match kv.value.as_ref().and_then(|v| v.value.clone()) {
                            Some(any_value::Value::StringValue(user)) => user,
                            other => panic!("{other:?}"),
                        }
                    });
                    let ids = (hex(&span.trace_id), hex(&span.span_id));
                    user_of_span.insert(ids.1.clone(), user);
                    if !kind.contains("message") && !kind.contains("feedback") && !kind.contains("signal") {
                        received.push(ids);
                    }
                }
            }
        }
    }
    received.sort();
    assert_eq!(
        received,
        expected_ids("mixed.jsonl"),
        "each span exactly once, original ids"
    );
    // Spans get their trace's user back from the trace record, which came after them.
    assert_eq!(user_of_span["a000000000000003"].as_deref(), Some("u_1"));
    assert_eq!(user_of_span["b000000000000003"].as_deref(), Some("u_2"));
    assert_eq!(user_of_span["c000000000000002"], None, "no trace record in the file");
}

#[test]
fn ingest_replay_sends_the_records_to_the_batches_endpoint() {
    let collector = Collector::start();
    let (summary, _) = send(
        &[
            "--to",
            "mv37",
            "--endpoint",
            &collector.url(),
            &fixture("support_agent.jsonl"),
        ],
        &[("MV37_API_KEY", "test-key")],
        0,
    );
    assert!(summary.contains("sent 8 records (4 spans)"), "{summary}");
    let mut received = Vec::new();
    for (path, body) in collector.bodies() {
        assert_eq!(path, "/v1/batches");
        let batch: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for record in batch["records"].as_array().unwrap() {
            if record["type"] == "span" || record["type"] == "trace" {
                received.push((
                    record["trace_id"].as_str().unwrap().to_owned(),
                    record["span_id"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    received.sort();
    assert_eq!(received, expected_ids("support_agent.jsonl"));
}

#[test]
fn configuration_problems_and_the_spool_are_clear_errors() {
    let (_, errors) = send(&["--to", "mv37", &fixture("support_agent.jsonl")], &[], 1);
    assert!(errors.contains("MV37_API_KEY is not set"), "{errors}");
    let (_, errors) = send(
        &["--to", "otlp", &fixture("support_agent.jsonl")],
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        1,
    );
    assert!(errors.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{errors}");
    let (_, errors) = send(&["--to", "otlp", "--spool", "/nonexistent/mv37-spool"], &[], 1);
    assert!(errors.contains("not a spool directory"), "{errors}");
}

#[test]
fn spooled_segments_are_delivered_once_by_send_spool_and_then_removed() {
    use mv37_runtime::{Client, OtlpConfig, OtlpExporter, ResourceInfo, RetryPolicy, Spool};
    use std::time::Duration;

    let spool_dir = std::env::temp_dir().join(format!(
        "mv37-cli-spool-{}-{}",
        std::process::id(),
        mv37_runtime::unix_nanos_now()
    ));
    // Collector down: every connection is closed at once, on a port held for the whole test.
    let down = ClosingListener::start();
    let config = OtlpConfig {
        endpoint: format!("http://{}/v1/traces", down.addr),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            connect_timeout: Duration::from_millis(100),
            request_timeout: Duration::from_millis(200),
            ..RetryPolicy::default()
        },
        ..OtlpConfig::default()
    };
    let client = Client::builder()
        .exporter(OtlpExporter::new(config, &ResourceInfo::default()).unwrap())
        .spool_dir(&spool_dir)
        .max_batch_records(5)
        .build()
        .unwrap();
    for _ in 0..6 {
        client.trace("offline").run(|trace| trace.task("step").run(|_| ()));
    }
    client.shutdown().unwrap();
    let stats = client.stats();
    assert_eq!(
        (stats.produced, stats.spooled, stats.exported),
        (12, 12, 0),
        "{stats:?}"
    );
    assert!(stats.is_balanced());
    let spool = Spool::open(&spool_dir, u64::MAX).unwrap();
    assert!(!spool.segments().unwrap().is_empty());

    // Collector up: the command re-delivers and empties the spool.
    let collector = Collector::start();
    let (summary, errors) = send(
        &[
            "--to",
            "otlp",
            "--endpoint",
            &collector.url(),
            "--spool",
            spool_dir.to_str().unwrap(),
        ],
        &[],
        0,
    );
    assert!(summary.contains("sent 12 records"), "{summary} {errors}");
    assert!(spool.segments().unwrap().is_empty(), "segments removed once delivered");
    let mut span_ids = Vec::new();
    for (_, body) in collector.bodies() {
        let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
        for span in request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            span_ids.push(hex(&span.span_id));
        }
    }
    let unique: std::collections::HashSet<_> = span_ids.iter().collect();
    assert_eq!(span_ids.len(), 12, "every span once");
    assert_eq!(unique.len(), 12);
    let _ = std::fs::remove_dir_all(spool_dir);
}
