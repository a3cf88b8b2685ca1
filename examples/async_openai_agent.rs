//! A support agent on async-openai, instrumented in one line (feature `async-openai`):
//! a chat completion that calls a tool, the tool, then the answer streamed. No span is
//! written by hand around the model calls; each becomes an llm span with its request
//! parameters, messages, tool calls, usage, cost, and for the stream the time to first
//! token.
//!
//! ```text
//! cargo run --example async_openai_agent --features async-openai
//! OPENAI_API_KEY=sk-… cargo run --example async_openai_agent --features async-openai
//! ```
//!
//! Without `OPENAI_API_KEY` it talks to a local fake Chat Completions API (real response
//! shapes, canned content); with it, to `OPENAI_BASE_URL` or api.openai.com. Records go
//! to JSONL (or where `MV37_EXPORTER` or an OTLP endpoint says), and a tree to stderr.

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse};
use async_openai::Client as OpenAi;
use futures_util::StreamExt;
use mv37::{Client, ConsoleExporter, Price, PriceTable, Role};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

const MODEL: &str = "gpt-4.1-mini";

fn prices() -> PriceTable {
    PriceTable::new().model(
        MODEL,
        Price {
            input: 0.40,
            cached_input: 0.10,
            cache_write_input: None,
            output: 1.60,
        },
    )
}

fn request(messages: &[Value], stream: bool) -> Result<CreateChatCompletionRequest, Error> {
    let tools = json!([{
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look an order up by its number.",
            "parameters": { "type": "object", "properties": { "order": { "type": "string" } }, "required": ["order"] }
        }
    }]);
    let mut request = json!({ "model": MODEL, "messages": messages, "temperature": 0.2, "max_completion_tokens": 300 });
    if stream {
        request["stream"] = json!(true);
        request["stream_options"] = json!({ "include_usage": true });
    } else {
        request["tools"] = tools;
    }
    Ok(serde_json::from_value(request)?)
}

/// The tool the model calls.
#[mv37::tool]
async fn lookup_order(order: String) -> Value {
    json!({ "order": order, "status": "shipped", "carrier": "DHL", "eta": "tomorrow" })
}

/// Asks the model, runs the tool it calls, then streams its answer.
async fn answer(openai: &OpenAi<OpenAIConfig>, question: &str) -> Result<String, Error> {
    let mut messages = vec![
        json!({ "role": "system", "content": "You are a support agent for an online shop. Be brief." }),
        json!({ "role": "user", "content": question }),
    ];
    let first: CreateChatCompletionResponse = openai.chat().create(request(&messages, false)?).await?;
    let message = serde_json::to_value(&first.choices[0].message)?;
    messages.push(json!({ "role": "assistant", "content": message["content"], "tool_calls": message["tool_calls"] }));
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}"))?;
        let order = arguments["order"].as_str().unwrap_or_default().to_owned();
        let result = lookup_order(order).await;
        messages.push(json!({ "role": "tool", "tool_call_id": call["id"], "content": result.to_string() }));
    }
    let mut stream = openai.chat().create_stream(request(&messages, true)?).await?;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    Ok(text)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let destination = mv37::Config::from_env()?.destination();
    let client = Client::builder()
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .build()?;

    let config = match std::env::var("OPENAI_API_KEY") {
        Ok(key) if !key.is_empty() => {
            let base = std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".to_owned());
            OpenAIConfig::new().with_api_base(base).with_api_key(key)
        }
        _ => {
            let base = fake_api::start().await?;
            eprintln!("OPENAI_API_KEY is not set: using the local fake Chat Completions API at {base}");
            OpenAIConfig::new().with_api_base(base).with_api_key("sk-local")
        }
    };
    // The one line: the same client, every call recorded.
    let openai = mv37::openai::Instrument::new()
        .prices(prices())
        .client(OpenAi::with_config(config));

    let question = "Where is my order 4421?";
    let reply = client
        .trace("async_openai_agent")
        .user_id("cus_123")
        .run_async(|trace| async move {
            trace.message(Role::User, question);
            let reply = trace
                .agent("support_agent")
                .try_run_async(|_| async { answer(&openai, question).await })
                .await?;
            trace.message(Role::Assistant, reply.as_str());
            Ok::<_, Error>(reply)
        })
        .await?;

    println!("agent: {reply}");
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

/// A local stand-in for the Chat Completions API: the first call asks for the
/// `lookup_order` tool, the streamed one answers.
mod fake_api {
    use super::*;

    pub(super) async fn start() -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/v1", listener.local_addr()?);
        let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(chat));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(base)
    }

    async fn chat(axum::Json(request): axum::Json<Value>) -> axum::response::Response {
        let usage = json!({ "prompt_tokens": 182, "completion_tokens": 21, "total_tokens": 203,
                            "prompt_tokens_details": { "cached_tokens": 128 },
                            "completion_tokens_details": { "reasoning_tokens": 0 } });
        if request["stream"] != json!(true) {
            let order = request["messages"][1]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("4421");
            let arguments = json!({ "order": if order { "4421" } else { "unknown" } }).to_string();
            let body = json!({
                "id": "chatcmpl-local-1", "object": "chat.completion", "created": 1764460800, "model": "gpt-4.1-mini-2025-04-14",
                "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": { "role": "assistant", "content": null,
                    "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "lookup_order", "arguments": arguments } }] } }],
                "usage": usage
            });
            return axum::Json(body).into_response();
        }
        let chunk = |delta: Value, finish: Value, usage: Value| {
            let choices = if delta.is_null() {
                json!([])
            } else {
                json!([{ "index": 0, "delta": delta, "finish_reason": finish }])
            };
            let chunk = json!({ "id": "chatcmpl-local-2", "object": "chat.completion.chunk", "created": 1764460801,
                                "model": "gpt-4.1-mini-2025-04-14", "choices": choices, "usage": usage });
            format!("data: {chunk}\n\n")
        };
        let mut body = chunk(json!({ "role": "assistant", "content": "" }), Value::Null, Value::Null);
        for word in ["Your order 4421 ", "has shipped with DHL ", "and arrives tomorrow."] {
            body.push_str(&chunk(json!({ "content": word }), Value::Null, Value::Null));
        }
        body.push_str(&chunk(json!({}), json!("stop"), Value::Null));
        body.push_str(&chunk(Value::Null, Value::Null, usage));
        body.push_str("data: [DONE]\n\n");
        ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], body).into_response()
    }

    use axum::response::IntoResponse;
}
