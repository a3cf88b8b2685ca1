//! Shared by the `mv37 ui` tests: a JSONL file of hand-made traces (an agent with chat,
//! tool calls, an image, internal messages, markup in payloads, a truncated output,
//! documents, feedback and signals), a running `mv37 ui` on a free port, and a tiny HTTP
//! GET.

#![allow(dead_code, clippy::panic, clippy::unwrap_used)]

pub mod browser;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The trace with chat, tool calls and markup in its payloads.
pub const AGENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A failed trace of another user.
pub const REFUND_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
/// Markup that must show as text.
pub const SCRIPT_TEXT: &str = "<script>window.__pwned = 'script'</script>";
/// Markup that must show as text, not run.
pub const IMG_TEXT: &str = "<img src=x onerror=\"window.__pwned='img'\">";
/// Width and height of the image in the agent trace's chat.
pub const IMAGE_SIZE: (u32, u32) = (96, 64);

/// A PNG of `width` × `height` pixels: a colour gradient, made here so that the fixture
/// carries a real image without a binary file.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0);
        for x in 0..width {
            raw.extend_from_slice(&[(40 + 200 * x / width) as u8, (90 + 120 * y / height) as u8, 220]);
        }
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&raw).unwrap();
    let pixels = encoder.finish().unwrap();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &pixels);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// When the fixture's traces start (2026-05-30T10:00:00Z).
pub const T0: u64 = 1_780_135_200_000_000_000;
const MS: u64 = 1_000_000;

fn line(record: Value) -> String {
    let mut text = serde_json::to_string(&record).unwrap();
    text.push('\n');
    text
}

fn message(trace: &str, span: &str, at: u64, role: &str, content: Value) -> Value {
    json!({ "trace_id": trace, "span_id": span, "time_unix_nano": at, "role": role, "content": content })
}

/// The records of the agent trace: an agent span over two model calls, a tool and a
/// retrieval; the second call fails and its output was truncated.
pub fn agent_trace() -> String {
    let t = AGENT_TRACE;
    let (root, agent, chat1, tool, retrieval, chat2) = (
        "a1a1a1a1a1a1a1a1",
        "b2b2b2b2b2b2b2b2",
        "c3c3c3c3c3c3c3c3",
        "d4d4d4d4d4d4d4d4",
        "e5e5e5e5e5e5e5e5",
        "f6f6f6f6f6f6f6f6",
    );
    let mut out = String::new();
    let user_message = message(
        t,
        chat1,
        T0 + 12 * MS,
        "user",
        json!([
            { "type": "text", "text": format!("Where is my order? {SCRIPT_TEXT}") },
            { "type": "image_base64", "media_type": "image/png", "data": base64(&png(IMAGE_SIZE.0, IMAGE_SIZE.1)) }
        ]),
    );
    let mut internal = message(
        t,
        chat1,
        T0 + 13 * MS,
        "assistant",
        json!("Plan: look the order up first."),
    );
    internal["is_internal"] = json!(true);
    let call = message(
        t,
        chat1,
        T0 + 340 * MS,
        "assistant",
        json!([
            { "type": "text", "text": "Let me check that order." },
            { "type": "tool_call", "id": "call_7", "name": "lookup_order", "arguments": { "order_id": "A-17" } }
        ]),
    );
    out += &line(json!({
        "v": 1, "type": "span", "trace_id": t, "span_id": chat1, "parent_span_id": agent, "kind": "llm",
        "name": "openai.chat", "start_time_unix_nano": T0 + 10 * MS, "end_time_unix_nano": T0 + 340 * MS,
        "latency_ns": 330 * MS, "status": "ok", "model": "gpt-4.1-mini", "provider": "openai",
        "usage": { "input_tokens": 812, "output_tokens": 64, "cached_tokens": 512, "total_tokens": 876, "cost_usd": 0.00042 },
        "input": { "question": format!("Where is my order? {IMG_TEXT}") },
        "output": { "tool_calls": [{ "id": "call_7", "name": "lookup_order" }] },
        "attributes": { "mv37.ttft_ms": 182.5 },
        "messages": [user_message, internal, call]
    }));
    let result = {
        let mut result = message(
            t,
            tool,
            T0 + 520 * MS,
            "tool",
            json!("{\"status\":\"shipped\",\"carrier\":\"DHL\"}"),
        );
        result["tool_call_id"] = json!("call_7");
        result
    };
    out += &line(json!({
        "v": 1, "type": "span", "trace_id": t, "span_id": tool, "parent_span_id": agent, "kind": "tool",
        "name": "lookup_order", "start_time_unix_nano": T0 + 350 * MS, "end_time_unix_nano": T0 + 520 * MS,
        "latency_ns": 170 * MS, "status": "ok", "input": { "order_id": "A-17" },
        "output": { "status": "shipped", "carrier": "DHL" }, "messages": [result]
    }));
    out += &line(json!({
        "v": 1, "type": "span", "trace_id": t, "span_id": retrieval, "parent_span_id": agent, "kind": "retrieval",
        "name": "search_kb", "start_time_unix_nano": T0 + 525 * MS, "end_time_unix_nano": T0 + 600 * MS,
        "latency_ns": 75 * MS, "status": "ok", "input": { "query": "shipping times DHL" },
        "documents": [{ "id": "kb-12", "content": "DHL delivers in 2-3 days.", "score": 0.92, "metadata": { "source": "shipping.md" } }]
    }));
    let answer = message(
        t,
        chat2,
        T0 + 900 * MS,
        "assistant",
        json!("Your order A-17 has shipped with DHL."),
    );
    out += &line(json!({
        "v": 1, "type": "span", "trace_id": t, "span_id": chat2, "parent_span_id": agent, "kind": "llm",
        "name": "openai.chat", "start_time_unix_nano": T0 + 610 * MS, "end_time_unix_nano": T0 + 900 * MS,
        "latency_ns": 290 * MS, "status": "error", "model": "gpt-4.1", "provider": "openai",
        "error": { "message": "rate limited, retried", "type": "RateLimitError" },
        "usage": { "input_tokens": 1200, "output_tokens": 40, "cost_usd": 0.0031 },
        "output": { "mv37.truncated": true, "original_bytes": 70000, "preview": "{\"text\":\"Your order A-17 has" },
        "messages": [answer]
    }));
    out += &line(json!({
        "v": 1, "type": "span", "trace_id": t, "span_id": agent, "parent_span_id": root, "kind": "agent",
        "name": "triage_agent", "start_time_unix_nano": T0 + 5 * MS, "end_time_unix_nano": T0 + 905 * MS,
        "latency_ns": 900 * MS, "status": "ok", "input": { "ticket": "T-42" }
    }));
    out += &line(json!({
        "v": 1, "type": "feedback", "trace_id": t, "time_unix_nano": T0 + 950 * MS, "name": "thumbs",
        "value": 1, "comment": "fast and right"
    }));
    out += &line(json!({
        "v": 1, "type": "signal", "trace_id": t, "span_id": root, "time_unix_nano": T0 + 940 * MS,
        "name": "escalated", "value": false
    }));
    out += &line(json!({
        "v": 1, "type": "trace", "trace_id": t, "span_id": root, "name": "support_agent", "user_id": "cus_42",
        "session_id": "sess_1", "conversation_id": "conv_1", "start_time_unix_nano": T0,
        "end_time_unix_nano": T0 + 910 * MS, "latency_ns": 910 * MS, "status": "ok",
        "messages": [message(t, root, T0 + MS, "system", json!("You are a support agent."))]
    }));
    out
}

/// A failed trace of another user and session.
pub fn refund_trace() -> String {
    let t = REFUND_TRACE;
    let start = T0 + 2_000 * MS;
    let mut out = line(json!({
        "v": 1, "type": "span", "trace_id": t, "span_id": "1111111111111111", "parent_span_id": "2222222222222222",
        "kind": "tool", "name": "issue_refund", "start_time_unix_nano": start + MS, "end_time_unix_nano": start + 40 * MS,
        "latency_ns": 39 * MS, "status": "error", "error": { "message": "card declined", "type": "PaymentError" },
        "input": { "order": "4421", "amount_usd": 42.5 }
    }));
    out += &line(json!({
        "v": 1, "type": "trace", "trace_id": t, "span_id": "2222222222222222", "name": "refund_flow", "user_id": "cus_7",
        "session_id": "sess_2", "start_time_unix_nano": start, "end_time_unix_nano": start + 45 * MS,
        "latency_ns": 45 * MS, "status": "error", "error": { "message": "refund failed", "type": "PaymentError" }
    }));
    out
}

/// `count` small traces named `batch_job`, one span each, in session `sess_1`.
pub fn batch_traces(count: u64) -> String {
    let mut out = String::new();
    for n in 0..count {
        let t = format!("{:032x}", 0x5000 + n);
        let start = T0 + (3_000 + n * 100) * MS;
        out += &line(json!({
            "v": 1, "type": "span", "trace_id": t, "span_id": format!("{:016x}", 0x9000 + n), "parent_span_id": format!("{:016x}", 0x8000 + n),
            "kind": "task", "name": "step", "start_time_unix_nano": start + MS, "end_time_unix_nano": start + (5 + n) * MS,
            "latency_ns": (4 + n) * MS, "status": "ok", "input": { "n": n }, "output": format!("batch output {n}")
        }));
        out += &line(json!({
            "v": 1, "type": "trace", "trace_id": t, "span_id": format!("{:016x}", 0x8000 + n), "name": "batch_job",
            "user_id": "cus_9", "session_id": "sess_1", "start_time_unix_nano": start, "end_time_unix_nano": start + (6 + n) * MS,
            "latency_ns": (6 + n) * MS, "status": "ok"
        }));
    }
    out
}

/// A directory of this test's own under the temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mv37-ui-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Appends `text` to `path`.
pub fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// A running `mv37 ui`, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub address: String,
}

impl Server {
    /// Starts `mv37 ui ARGS --port 0` and waits for the address it prints.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mv37"))
            .arg("ui")
            .args(args)
            .args(["--port", "0", "--poll-interval", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .trim_end_matches('/')
            .to_owned();
        let address = url.trim_start_matches("http://").to_owned();
        let server = Server {
            child,
            base: url,
            address,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&self) {
        for _ in 0..600 {
            if let Ok((200, body)) = self.try_get("/api/progress") {
                if body.contains("\"ready\":true") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("mv37 ui did not finish indexing");
    }

    /// GET `path`: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path).unwrap()
    }

    /// A raw request; the status line's code and the whole response.
    pub fn raw(&self, request: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, response)
    }

    fn try_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(&self.address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// GET `path` as JSON (status 200 expected).
    pub fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
