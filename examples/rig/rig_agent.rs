//! A [rig](https://docs.rs/rig-agent) agent with a tool, traced through mv37's `tracing`
//! layer: rig's own `invoke_agent`, `chat` and `execute_tool` spans become mv37's agent,
//! llm and tool spans (model, usage, messages), and the span the tool's implementation
//! opens with `#[mv37::task]` nests inside rig's tool span.
//!
//! ```text
//! cargo run -p mv37-rig-example --example rig_agent
//! ```
//!
//! It is a package of its own (`examples/rig`), so that rig's dependencies stay out of
//! mv37's other builds; in your project: `mv37` with the `tracing` feature, `rig-agent`,
//! and `rig-core` with `reqwest`. It starts a small OpenAI-compatible Chat Completions
//! server on a free loopback port (canned answers: a tool call, then the answer once the
//! tool's result is in, and a streamed answer to the follow-up), so it needs no network.
//! The trace goes to standard error as a tree and to `MV37_JSONL_PATH` (default
//! `mv37-traces.jsonl`), or where `MV37_EXPORTER` or `OTEL_EXPORTER_OTLP_ENDPOINT` send it.
//!
//! ```text
//! trace rig_agent
//! ├─ agent support            (rig's invoke_agent: the first prompt)
//! │  ├─ llm chat              (the tool call)
//! │  ├─ tool lookup_order     (rig's execute_tool)
//! │  │  └─ task find_order    (#[mv37::task], inside the tool)
//! │  └─ llm chat              (the answer)
//! └─ agent support            (the follow-up, streamed)
//!    └─ llm chat
//! ```

use std::future::poll_fn;
use std::pin::Pin;

use futures_core::Stream;
use mv37::{Client, ConsoleExporter, Role};
use rig_agent::agent::MultiTurnStreamItem;
use rig_agent::AgentBuilder;
use rig_core::providers::openai::OpenAIConfig;
use rig_core::tool::PortableTool;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

const MODEL: &str = "gpt-4.1-mini";
const QUESTION: &str = "Where is my order 4421?";
const FOLLOW_UP: &str = "Thanks! Can you send that to my email too?";

/// The order database the tool reads, as an mv37 span of its own.
#[mv37::task]
fn find_order(order_id: &str) -> Value {
    json!({ "order_id": order_id, "status": "shipped", "carrier": "UPS", "eta": "2025-03-14" })
}

/// The agent's one tool, as rig sees it.
struct LookupOrder;

#[derive(Deserialize)]
struct LookupArgs {
    order_id: String,
}

impl PortableTool for LookupOrder {
    const NAME: &'static str = "lookup_order";
    type Args = LookupArgs;
    type Output = Value;
    type Error = std::convert::Infallible;

    fn description(&self) -> String {
        "Look up an order's shipping status.".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": { "order_id": { "type": "string" } },
            "required": ["order_id"]
        })
    }

    async fn call(&self, args: LookupArgs) -> Result<Value, Self::Error> {
        // rig runs this inside its `execute_tool` span: the task span nests under it.
        Ok(find_order(&args.order_id))
    }
}

/// Runs the agent twice (once awaited, once streamed) in one mv37 trace; returns both
/// answers.
pub async fn run(client: &Client, base_url: &str) -> Result<(String, String), Error> {
    let model = OpenAIConfig::new("sk-local")
        .with_base_url(base_url)
        .client()
        .chat(MODEL);
    let agent = AgentBuilder::new(model)
        .name("support")
        .preamble("You are a support agent. Use the tools to answer.")
        // Prompts, answers and tool arguments on the spans (rig leaves them out by default).
        .record_content_telemetry(true)
        .tool(LookupOrder)
        .build();

    client
        .trace("rig_agent")
        .user_id("cus_123")
        .try_run_async(|trace| async move {
            trace.message(Role::User, QUESTION);
            let answer = agent.prompt(QUESTION).max_turns(3).await?.output();
            trace.message(Role::Assistant, answer.as_str());

            let mut stream = agent.prompt(FOLLOW_UP).stream();
            let mut streamed = String::new();
            while let Some(item) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
                if let MultiTurnStreamItem::FinalResponse(response) = item? {
                    streamed = response.output();
                }
            }
            Ok::<_, Error>((answer, streamed))
        })
        .await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSONL (or what MV37_EXPORTER or an OTLP endpoint chooses), and a tree on stderr.
    let destination = mv37::Config::from_env()?.destination();
    let client = Client::builder()
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .build()?;
    // rig's spans, recorded by mv37.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(mv37::tracing::layer()))?;

    let base_url = fake_chat_api::start()?;
    eprintln!("using the local fake Chat Completions API at {base_url}");
    let (answer, streamed) = run(&client, &base_url).await?;
    println!("agent: {answer}");
    println!("agent (streamed): {streamed}");

    client.shutdown_async().await?;
    let stats = client.stats();
    println!(
        "mv37: {} records exported to {destination} ({} dropped, {} queued)",
        stats.exported,
        stats.dropped.total(),
        stats.queued
    );
    Ok(())
}

/// A local stand-in for an OpenAI-compatible Chat Completions API: real response shapes,
/// canned content.
pub mod fake_chat_api {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use serde_json::{json, Value};

    /// The model name the API answers with.
    pub const RESPONSE_MODEL: &str = "gpt-4.1-mini-2025-04-14";

    /// Serves on a free loopback port from a background thread; returns the base URL.
    pub fn start() -> std::io::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                // One request per connection; a broken one is just dropped.
                let _ = serve(connection);
            }
        });
        Ok(format!("http://{address}/v1"))
    }

    fn serve(mut connection: TcpStream) -> std::io::Result<()> {
        connection.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(connection.try_clone()?);
        let mut length = 0;
        for _ in 0..100 {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        reader.read_exact(&mut body)?;
        let request: Value = serde_json::from_slice(&body).unwrap_or_default();
        let last_role = request["messages"]
            .as_array()
            .and_then(|messages| messages.last())
            .map(|message| message["role"].clone());
        let (content_type, body) = if request["stream"] == true {
            ("text/event-stream", streamed_answer())
        } else if last_role == Some(json!("tool")) {
            ("application/json", answer().to_string())
        } else {
            ("application/json", tool_call().to_string())
        };
        write!(
            connection,
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )?;
        connection.flush()
    }

    fn completion(id: &str, message: Value, finish_reason: &str, usage: Value) -> Value {
        json!({
            "id": id,
            "object": "chat.completion",
            "created": 1741476542,
            "model": RESPONSE_MODEL,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason }],
            "usage": usage
        })
    }

    fn usage(prompt: u64, cached: u64, completion: u64) -> Value {
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": { "cached_tokens": cached },
            "completion_tokens_details": { "reasoning_tokens": 0 }
        })
    }

    fn tool_call() -> Value {
        let call = json!({
            "id": "call_lookup_4421",
            "type": "function",
            "function": { "name": "lookup_order", "arguments": "{\"order_id\":\"4421\"}" }
        });
        completion(
            "chatcmpl-rig-1",
            json!({ "role": "assistant", "content": null, "tool_calls": [call] }),
            "tool_calls",
            usage(412, 256, 19),
        )
    }

    fn answer() -> Value {
        let text = "Your order 4421 has shipped with UPS and should arrive on March 14.";
        completion(
            "chatcmpl-rig-2",
            json!({ "role": "assistant", "content": text }),
            "stop",
            usage(468, 384, 17),
        )
    }

    fn streamed_answer() -> String {
        let chunk = |choices: Value, usage: Value| {
            json!({
                "id": "chatcmpl-rig-3",
                "object": "chat.completion.chunk",
                "created": 1741476543,
                "model": RESPONSE_MODEL,
                "choices": choices,
                "usage": usage
            })
        };
        let mut chunks = vec![chunk(
            json!([{ "index": 0, "delta": { "role": "assistant", "content": "" }, "finish_reason": null }]),
            Value::Null,
        )];
        for delta in ["Done:", " the tracking link", " is on its way", " to your email."] {
            chunks.push(chunk(
                json!([{ "index": 0, "delta": { "content": delta }, "finish_reason": null }]),
                Value::Null,
            ));
        }
        chunks.push(chunk(
            json!([{ "index": 0, "delta": {}, "finish_reason": "stop" }]),
            Value::Null,
        ));
        // `stream_options.include_usage`: the usage comes last, with no choices.
        chunks.push(chunk(json!([]), usage(505, 448, 12)));
        let mut events: String = chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect();
        events.push_str("data: [DONE]\n\n");
        events
    }
}
