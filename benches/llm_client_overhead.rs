//! What instrumenting an LLM client costs per call: async-openai plain against
//! `mv37::openai::instrument`, and a reqwest-middleware client without and with
//! `mv37::http::LlmMiddleware`, all against one local server in this process that
//! answers with the recorded fixtures (a chat completion with a tool call, ~1.3 KB, and
//! a 9-chunk chat stream). Every instrumented call records its span (inside a trace, to
//! a no-op exporter, so the export thread's work is in the CPU figures but no I/O is).
//!
//! ```text
//! cargo bench --bench llm_client_overhead --features async-openai,reqwest-middleware
//! ```
//!
//! Rounds interleave the plain and instrumented clients; each round makes 200 calls (5 under `cargo test`)
//! with each. It prints the median wall time per call of each, the CPU time per call of
//! the whole process (client, connections, exporter thread and server: the server's
//! share is the same on both sides), and the ratios. The `CAPTURE=0` environment
//! variable runs the instrumented side with content capture off.

use std::time::{Duration, Instant};

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::Client as OpenAi;
use futures_util::StreamExt;
use mv37::{Client, NoopExporter};
use serde_json::{json, Value};

/// Calls per round and rounds: the full run under `cargo bench`, a smoke run (a few
/// calls, checked) under `cargo test --benches`.
fn sizes() -> (usize, usize) {
    if std::env::args().any(|arg| arg == "--bench") {
        (200, 15)
    } else {
        (5, 2)
    }
}

const COMPLETION: &str = include_str!("../tests/fixtures/openai_chat_completions.json");
const STREAM: &str = include_str!("../tests/fixtures/openai_chat_stream.json");
const REQUEST: &str = include_str!("../tests/fixtures/openai_chat_request.json");

async fn serve() -> String {
    let completion: Value = serde_json::from_str(COMPLETION).expect("fixture");
    let chunks: Vec<Value> = serde_json::from_str(STREAM).expect("fixture");
    let mut events: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    events.push_str("data: [DONE]\n\n");
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |axum::Json(request): axum::Json<Value>| {
            let (completion, events) = (completion.clone(), events.clone());
            async move {
                use axum::response::IntoResponse;
                if request["stream"] == json!(true) {
                    ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], events).into_response()
                } else {
                    axum::Json(completion).into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn request(stream: bool) -> CreateChatCompletionRequest {
    let mut request: Value = serde_json::from_str(REQUEST).expect("fixture");
    if stream {
        request["stream"] = json!(true);
        request["stream_options"] = json!({ "include_usage": true });
    }
    serde_json::from_value(request).expect("a typed request")
}

async fn openai_calls(openai: &OpenAi<OpenAIConfig>, stream: bool) {
    for _ in 0..sizes().0 {
        if stream {
            let mut chunks = openai.chat().create_stream(request(true)).await.expect("stream");
            while let Some(chunk) = chunks.next().await {
                chunk.expect("chunk");
            }
        } else {
            openai.chat().create(request(false)).await.expect("call");
        }
    }
}

async fn middleware_calls(http: &reqwest_middleware::ClientWithMiddleware, url: &str, stream: bool) {
    let mut body: Value = serde_json::from_str(REQUEST).expect("fixture");
    body["stream"] = json!(stream);
    let body = body.to_string();
    for _ in 0..sizes().0 {
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        let mut bytes = response.bytes_stream();
        while let Some(chunk) = bytes.next().await {
            chunk.expect("chunk");
        }
    }
}

/// CPU time this process has used (all threads: the client, its connections, the
/// exporter thread and the server), from `/proc/self/stat`, in clock ticks (1/100 s).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// Medians of wall time and totals of CPU time, per call.
struct Figures {
    plain_us: f64,
    instrumented_us: f64,
    plain_cpu_us: f64,
    instrumented_cpu_us: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `plain` and `instrumented` alternately: median wall µs per call, and CPU µs per
/// call over all rounds.
async fn compare<P, I, PF, IF>(client: &Client, mut plain: P, mut instrumented: I) -> Figures
where
    P: FnMut() -> PF,
    I: FnMut() -> IF,
    PF: std::future::Future<Output = ()>,
    IF: std::future::Future<Output = ()>,
{
    let (calls, rounds) = sizes();
    let per_call = |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / calls as f64;
    // Warm-up: connections, allocator, the price of the first span.
    plain().await;
    client.trace("warm-up").run_async(|_| instrumented()).await;
    let (mut plain_us, mut instrumented_us) = (Vec::new(), Vec::new());
    let (mut plain_ticks, mut instrumented_ticks) = (0, 0);
    for _ in 0..rounds {
        let (start, ticks) = (Instant::now(), cpu_ticks());
        plain().await;
        plain_us.push(per_call(start.elapsed()));
        plain_ticks += cpu_ticks() - ticks;
        let (start, ticks) = (Instant::now(), cpu_ticks());
        client.trace("bench").run_async(|_| instrumented()).await;
        instrumented_us.push(per_call(start.elapsed()));
        instrumented_ticks += cpu_ticks() - ticks;
    }
    let cpu_per_call = |ticks: u64| ticks as f64 * 1e4 / (rounds * calls) as f64;
    Figures {
        plain_us: median(plain_us),
        instrumented_us: median(instrumented_us),
        plain_cpu_us: cpu_per_call(plain_ticks),
        instrumented_cpu_us: cpu_per_call(instrumented_ticks),
    }
}

fn report(name: &str, f: Figures) {
    println!(
        "| {name} | {:.1} µs | {:.1} µs | {:.3}× | {:.1} µs | {:.1} µs | {:+.1} µs | {:.3}× |",
        f.plain_us,
        f.instrumented_us,
        f.instrumented_us / f.plain_us,
        f.plain_cpu_us,
        f.instrumented_cpu_us,
        f.instrumented_cpu_us - f.plain_cpu_us,
        f.instrumented_cpu_us / f.plain_cpu_us
    );
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).map(|l| l.to_owned()))
        .and_then(|line| line.split(':').nth(1).map(|m| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let (calls, rounds) = sizes();
    let capture = std::env::var("CAPTURE").map_or(true, |v| v != "0");
    println!(
        "Machine: {cpu}; {calls} calls per round, {rounds} rounds; one local server in-process; content capture {}.",
        if capture { "on" } else { "off" }
    );
    println!();
    println!("| call | wall, plain | wall, instrumented | wall ratio | CPU, plain | CPU, instrumented | CPU added | CPU ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let base = serve().await;
        let client = Client::builder()
            .exporter(NoopExporter)
            .capture_content(capture)
            .build()
            .expect("client");
        let config = OpenAIConfig::new().with_api_base(base.clone()).with_api_key("sk-bench");
        let plain = OpenAi::with_config(config.clone());
        let instrumented = mv37::openai::instrument(OpenAi::with_config(config));
        for (name, stream) in [
            ("async-openai chat.create", false),
            ("async-openai chat.create_stream", true),
        ] {
            let figures = compare(
                &client,
                || openai_calls(&plain, stream),
                || openai_calls(&instrumented, stream),
            )
            .await;
            report(name, figures);
        }

        let url = format!("{base}/chat/completions");
        let bare = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
        let with = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(mv37::http::LlmMiddleware::new())
            .build();
        for (name, stream) in [("reqwest-middleware JSON", false), ("reqwest-middleware SSE", true)] {
            let figures = compare(
                &client,
                || middleware_calls(&bare, &url, stream),
                || middleware_calls(&with, &url, stream),
            )
            .await;
            report(name, figures);
        }
        client.shutdown().expect("shutdown");
        let stats = client.stats();
        println!();
        println!(
            "mv37: {} records exported, {} dropped, {} queued",
            stats.exported,
            stats.dropped.total(),
            stats.queued
        );
        // Every instrumented call of every round (and the warm-ups) was recorded.
        let spans = 4 * (rounds + 1) * calls;
        assert!(
            stats.exported as usize >= spans,
            "{} records for {spans} calls",
            stats.exported
        );
        assert_eq!(stats.dropped.total(), 0, "nothing dropped");
    });
}
