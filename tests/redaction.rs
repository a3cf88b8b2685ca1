//! The redaction hook covers every string that leaves the process: what exporters
//! receive (inputs, outputs, messages, attributes, ids, context, errors, feedback,
//! signals, tool arguments, retrieved documents), what the disk spool writes (after a failed export and at
//! the shutdown deadline), and the failure line logged on standard error.

// These tests use the OTLP exporter or encoder: they need the `otlp` feature (on by
// default; CI also runs the suite without it).
#![cfg(feature = "otlp")]
// Tests fail by panicking.
#![allow(clippy::panic)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mv37::{
    Client, Document, ExportError, Exporter, MemoryExporter, OtlpEncoder, OtlpProtocol, Record, ResourceInfo, Role,
};
use serde_json::Value;

mod support;

use support::scratch_dir;

const CARD: &str = "4111 1111 1111 1111";
const EMAIL: &str = "jane.doe@example.com";
const OTHER_EMAIL: &str = "ops@example.org";

fn leaks(text: &str) -> Vec<&'static str> {
    [CARD, EMAIL, OTHER_EMAIL]
        .into_iter()
        .filter(|secret| text.contains(secret))
        .collect()
}

/// The user's hook: masks card numbers and e-mail addresses wherever they are.
fn scrub(value: &mut Value) {
    match value {
        Value::String(text) => {
            *text = text
                .replace(CARD, "[card]")
                .replace(EMAIL, "[email]")
                .replace(OTHER_EMAIL, "[email]");
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => map.values_mut().for_each(scrub),
        _ => {}
    }
}

/// Records the secrets in every place a user can put text.
fn record_everywhere(client: &Client) {
    let trace_id = client
        .trace("checkout")
        .user_id(EMAIL)
        .session_id(format!("session-of-{EMAIL}"))
        .conversation_id(format!("thread-{OTHER_EMAIL}"))
        .external_trace_id(format!("ext-{CARD}"))
        .attribute("billing_card", CARD)
        .context("contact", EMAIL)
        .run(|trace| {
            trace.message(Role::User, format!("my card is {CARD}, mail me at {EMAIL}"));
            trace.llm("answer").model("gpt-4.1-mini").run(|span| {
                span.record_input(&serde_json::json!({ "card": CARD, "to": [EMAIL] }));
                span.record_output(&format!("sent to {EMAIL}"));
                span.set_attribute("recipient", EMAIL);
            });
            let _ = trace
                .task("charge")
                .try_run(|_| Err::<(), _>(format!("card {CARD} declined")));
            trace
                .tool("notify")
                .arguments(&serde_json::json!({ "email": OTHER_EMAIL }))
                .run(|call| call.record_output(&OTHER_EMAIL));
            trace.retrieval("customer_notes").run(|span| {
                span.record_documents(&[Document::new(format!("card on file: {CARD}")).metadata("owner", EMAIL)]);
            });
            trace
                .feedback("contact_ok", EMAIL)
                .comment(format!("reply to {OTHER_EMAIL}"));
            trace.signal("card_seen", CARD);
            trace.id()
        });
    client
        .feedback(trace_id.expect("recorded"), "late", 1.0)
        .comment(format!("late note from {EMAIL}"));
}

/// Everything a record holds, as every exporter could write it: its JSON line, its
/// OTLP form (user, session and context travel on every span there) and its Debug.
fn everything_in(records: &[Record]) -> String {
    let mut text = String::new();
    for record in records {
        text.push_str(&record.to_json_line().expect("json"));
        text.push_str(&format!("{record:?}"));
    }
    let otlp = OtlpEncoder::new(&ResourceInfo::default())
        .encode(records, OtlpProtocol::Json)
        .expect("otlp");
    text.push_str(&String::from_utf8_lossy(&otlp));
    text
}

#[test]
fn no_secret_reaches_an_exporter() {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .redact(scrub)
        .build()
        .expect("client");
    record_everywhere(&client);
    client.shutdown().expect("shutdown");
    let records = memory.records();
    assert!(records.len() >= 6, "{records:?}");
    let exported = everything_in(&records);
    assert_eq!(leaks(&exported), Vec::<&str>::new(), "{exported}");
    // The hook did run (and did not just drop the values).
    assert!(exported.contains("[card]") && exported.contains("[email]"));
}

/// An exporter whose failures say what it was sent, as a collector echoing a bad
/// request would.
struct Echoing {
    transient: bool,
    block_after_first: bool,
    calls: Arc<Mutex<usize>>,
}

impl Exporter for Echoing {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let call = {
            let mut calls = self.calls.lock().expect("lock");
            *calls += 1;
            *calls
        };
        if self.block_after_first && call > 1 {
            loop {
                std::thread::park();
            }
        }
        let echo = batch
            .first()
            .map(|r| r.to_json_line().unwrap_or_default())
            .unwrap_or_default();
        let message = format!("400 Bad Request: {echo} {CARD}");
        Err(if self.transient {
            ExportError::transient("echo", message)
        } else {
            ExportError::new("echo", message)
        })
    }
}

fn spool_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("spool dir") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).expect("read segment")));
    }
    text
}

#[test]
fn no_secret_reaches_the_spool_after_a_failed_export() {
    let dir = scratch_dir("redaction-failed");
    let client = Client::builder()
        .exporter(Echoing {
            transient: true,
            block_after_first: false,
            calls: Arc::default(),
        })
        .redact(scrub)
        .spool_dir(&dir)
        .build()
        .expect("client");
    record_everywhere(&client);
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert!(stats.spooled > 0, "{stats:?}");
    let text = spool_text(&dir);
    assert!(!text.is_empty());
    assert_eq!(leaks(&text), Vec::<&str>::new(), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_secret_reaches_the_spool_at_the_shutdown_deadline() {
    let dir = scratch_dir("redaction-deadline");
    let calls = Arc::new(Mutex::new(0));
    let client = Client::builder()
        .exporter(Echoing {
            transient: true,
            block_after_first: true,
            calls: Arc::clone(&calls),
        })
        .redact(scrub)
        .spool_dir(&dir)
        .export_linger(Duration::ZERO)
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let wait_for_calls = |n: usize| {
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while *calls.lock().expect("lock") < n {
            assert!(
                std::time::Instant::now() < give_up,
                "the exporter was not called {n} times"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    // The first batch fails and is spooled; the exporter then hangs on the second, and
    // what is queued behind it is spooled at the deadline without ever being exported.
    record_everywhere(&client);
    wait_for_calls(1);
    record_everywhere(&client);
    wait_for_calls(2);
    record_everywhere(&client);
    let _ = client.shutdown();
    let stats = client.stats();
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
    let text = spool_text(&dir);
    assert!(!text.is_empty(), "{stats:?}");
    assert_eq!(leaks(&text), Vec::<&str>::new(), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_secret_is_re_sent_from_a_spool_an_earlier_process_wrote_without_the_hook() {
    let dir = scratch_dir("redaction-resend");
    let earlier = Client::builder()
        .exporter(Echoing {
            transient: true,
            block_after_first: false,
            calls: Arc::default(),
        })
        .spool_dir(&dir)
        .build()
        .expect("client");
    record_everywhere(&earlier);
    earlier.shutdown().expect("shutdown");
    drop(earlier);
    assert!(!leaks(&spool_text(&dir)).is_empty(), "the earlier process had no hook");
    let memory = MemoryExporter::new();
    let next = Client::builder()
        .exporter(memory.clone())
        .redact(scrub)
        .spool_dir(&dir)
        .build()
        .expect("client");
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while next.stats().resent_from_spool == 0 {
        assert!(std::time::Instant::now() < give_up, "{:?}", next.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    next.shutdown().expect("shutdown");
    let records = memory.records();
    assert!(!records.is_empty());
    let resent = everything_in(&records);
    assert_eq!(leaks(&resent), Vec::<&str>::new(), "{resent}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run as a child process by the test below, so that its standard error can be read.
#[test]
fn child_logs_an_export_failure() {
    if std::env::var_os("MV37_REDACTION_CHILD").is_none() {
        return;
    }
    let client = Client::builder()
        .exporter(Echoing {
            transient: false,
            block_after_first: false,
            calls: Arc::default(),
        })
        .redact(scrub)
        .build()
        .expect("client");
    record_everywhere(&client);
    client.shutdown().expect("shutdown");
}

#[test]
fn no_secret_reaches_standard_error() {
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_logs_an_export_failure",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MV37_REDACTION_CHILD", "1")
        .output()
        .expect("run the child");
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("echo exporter: 400 Bad Request"), "{stderr}");
    assert_eq!(leaks(&stderr), Vec::<&str>::new(), "{stderr}");
}
