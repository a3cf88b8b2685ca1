//! A support agent that calls an OpenAI-compatible Responses API over HTTP, traced:
//! a retrieval span with its documents, a task holding two llm calls (the second one
//! streamed) around a tool call, with messages, request parameters, response fields,
//! usage and cost.
//!
//! ```text
//! cargo run --example openai_agent                  # offline: a local fake API on 127.0.0.1
//! OPENAI_API_KEY=sk-… cargo run --example openai_agent
//! OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_API_KEY=ollama cargo run --example openai_agent
//! ```
//!
//! Without `OPENAI_API_KEY` it starts a small server on a free loopback port that answers
//! in the Responses API's JSON shape (usage with cached and reasoning tokens, a
//! `function_call` item, and a streamed final answer), so it needs no network. Traces go
//! to standard error as a tree and to `MV37_JSONL_PATH` (default `mv37-traces.jsonl`),
//! or where `MV37_EXPORTER` or `OTEL_EXPORTER_OTLP_ENDPOINT` send them (see the README's
//! "Send to a backend").

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use mv37::{
    record_openai_messages, request_params_from_openai, response_info_from_openai, trace_try_stream, usage_from_openai,
    Client, ConsoleExporter, Document, OpenAiAccumulator, Price, PriceTable, Role, Span,
};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

const MODEL: &str = "gpt-4.1-mini";

fn prices() -> PriceTable {
    PriceTable::new().model(
        MODEL,
        Price {
            input: 0.40,
            cached_input: 0.10,
            output: 1.60,
            cache_write_input: None,
        },
    )
}

/// The Responses API, as far as this agent uses it.
struct Api {
    http: reqwest::Client,
    base_url: String,
    key: String,
}

impl Api {
    fn request(&self, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/responses", self.base_url.trim_end_matches('/')))
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    async fn create(&self, body: &Value) -> Result<Value, Error> {
        let response = self.request(body).send().await?.error_for_status()?;
        Ok(serde_json::from_slice(&response.bytes().await?)?)
    }

    /// `stream: true`: the response's server-sent events, parsed, as a `Stream`.
    async fn create_stream(&self, body: &Value) -> Result<SseEvents, Error> {
        let mut response = self.request(body).send().await?.error_for_status()?;
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut buffer = String::new();
            loop {
                let chunk = match response.chunk().await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(error) => {
                        let _ = sender.send(Err(error.to_string())).await;
                        break;
                    }
                };
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    for data in event.lines().filter_map(|line| line.strip_prefix("data: ")) {
                        let parsed = serde_json::from_str::<Value>(data).map_err(|e| e.to_string());
                        if sender.send(parsed).await.is_err() {
                            return; // the consumer went away
                        }
                    }
                }
            }
        });
        Ok(SseEvents(receiver))
    }
}

/// Parsed server-sent events, received from the task reading the response body.
struct SseEvents(tokio::sync::mpsc::Receiver<Result<Value, String>>);

impl Stream for SseEvents {
    type Item = Result<Value, String>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

fn record_call(span: &Span, base_url: &str, request: &Value, response: &Value) {
    record_openai_messages(span, request);
    span.set_request_params(request_params_from_openai(request).server_url(base_url));
    record_openai_messages(span, response);
    span.set_response_info(response_info_from_openai(response));
    span.record_output(&response["output"]);
    let model = response["model"].as_str().unwrap_or(MODEL);
    span.set_usage(prices().apply(model, usage_from_openai(response)));
}

fn search_docs(query: &str) -> Vec<Value> {
    let docs = [
        ("kb-12", "Refund policy", "Orders can be refunded within 30 days."),
        ("kb-31", "Shipping times", "Orders ship within 2 business days."),
    ];
    docs.iter()
        .filter(|(_, title, _)| query.split(' ').any(|word| title.to_lowercase().contains(word)))
        .map(|(id, title, text)| json!({ "id": id, "title": title, "text": text }))
        .collect()
}

fn issue_refund(arguments: &Value) -> Value {
    json!({ "order": arguments["order"], "amount_usd": arguments["amount_usd"], "status": "refunded" })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSONL (or what MV37_EXPORTER or an OTLP endpoint chooses), and a tree on stderr.
    let destination = mv37::Config::from_env()?.destination();
    let client = Client::builder()
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .build()?;

    let api = match std::env::var("OPENAI_API_KEY") {
        Ok(key) if !key.is_empty() => Api {
            base_url: std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".to_owned()),
            key,
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
        },
        _ => {
            let base_url = fake_api::start()?;
            eprintln!("OPENAI_API_KEY is not set: using the local fake Responses API at {base_url}");
            Api {
                base_url,
                key: "sk-local".to_owned(),
                http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
            }
        }
    };

    let question = "Where is my order 4421? I'd like a refund.";
    let answer = client
        .trace("openai_agent")
        .user_id("cus_123")
        .conversation_id("thread_123")
        .try_run_async(|trace| async move {
            trace.message(Role::User, question);

            let docs = trace
                .retrieval("search_docs")
                .run_async(|span| async move {
                    span.record_input(&json!({ "query": "refund policy" }));
                    let docs = search_docs("refund policy");
                    span.record_output(&docs);
                    let documents: Vec<Document> = docs
                        .iter()
                        .map(|doc| {
                            Document::new(doc["text"].as_str().unwrap_or_default())
                                .id(doc["id"].as_str().unwrap_or_default())
                                .metadata("title", &doc["title"])
                        })
                        .collect();
                    span.record_documents(&documents);
                    docs
                })
                .await;

            let agent = trace.clone();
            let answer = trace
                .task("resolve_ticket")
                .try_run_async(|task| async move {
                    task.record_input(&json!({ "question": question }));
                    let mut input = vec![json!({ "role": "user", "content": question })];
                    let tools = json!([{
                        "type": "function",
                        "name": "issue_refund",
                        "description": "Refund an order.",
                        "parameters": {
                            "type": "object",
                            "properties": { "order": { "type": "string" }, "amount_usd": { "type": "number" } },
                            "required": ["order", "amount_usd"]
                        }
                    }]);
                    let instructions = format!("You are a support agent. Policy: {}", docs[0]["text"]);

                    // 1. The model decides to call a tool.
                    let request = json!({
                        "model": MODEL, "instructions": instructions, "input": input, "tools": tools,
                        "temperature": 0.2, "max_output_tokens": 500
                    });
                    let response = agent
                        .llm("openai.responses")
                        .model(MODEL)
                        .provider("openai")
                        .try_run_async(|span| {
                            let (api, request) = (&api, &request);
                            async move {
                                let response = api.create(request).await?;
                                record_call(&span, &api.base_url, request, &response);
                                Ok::<_, Error>(response)
                            }
                        })
                        .await?;

                    // 2. Run the tools it called, and hand their results back.
                    let calls = response["output"].as_array().cloned().unwrap_or_default();
                    for call in calls.iter().filter(|item| item["type"] == "function_call") {
                        let arguments: Value =
                            serde_json::from_str(call["arguments"].as_str().unwrap_or("{}")).unwrap_or_default();
                        let result = agent.tool("issue_refund").arguments(&arguments).run(|span| {
                            let result = issue_refund(&arguments);
                            span.record_output(&result);
                            result
                        });
                        input.push(call.clone());
                        input.push(json!({ "type": "function_call_output", "call_id": call["call_id"], "output": result.to_string() }));
                    }

                    // 3. The final answer, streamed.
                    let request = json!({
                        "model": MODEL, "instructions": instructions, "input": input, "stream": true,
                        "temperature": 0.2, "max_output_tokens": 500
                    });
                    let span = agent.llm("openai.responses.stream").model(MODEL).provider("openai").start_detached();
                    record_openai_messages(&span, &request);
                    span.set_request_params(request_params_from_openai(&request).server_url(&api.base_url));
                    let sent = Instant::now();
                    let events = api.create_stream(&request).await?;
                    let mut stream = trace_try_stream(span, events, OpenAiAccumulator::new())
                        .started_at(sent)
                        .prices(prices(), MODEL);
                    while let Some(event) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
                        event?;
                    }
                    let answer = stream.accumulator().output().and_then(|o| o.as_str().map(str::to_owned));
                    drop(stream);
                    let answer = answer.unwrap_or_default();
                    task.record_output(&json!({ "answer": answer }));
                    Ok::<_, Error>(answer)
                })
                .await?;

            trace.message(Role::Assistant, answer.as_str());
            Ok::<_, Error>(answer)
        })
        .await?;

    println!("agent: {answer}");
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

/// A local stand-in for the Responses API: real response shapes, canned content.
mod fake_api {
    use super::*;

    /// Serves on a free loopback port from a background thread; returns the base URL.
    pub(super) fn start() -> std::io::Result<String> {
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
        let (content_type, body) = if request["stream"] == true {
            ("text/event-stream", final_answer_events())
        } else {
            ("application/json", tool_call_response().to_string())
        };
        write!(
            connection,
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )?;
        connection.flush()
    }

    fn tool_call_response() -> Value {
        json!({
            "id": "resp_67ccd2bed1ec8190b14f964abc054267",
            "object": "response",
            "created_at": 1741476542,
            "status": "completed",
            "model": "gpt-4.1-mini-2025-04-14",
            "output": [
                { "type": "reasoning", "id": "rs_67ccd2bf17f08190", "summary": [] },
                {
                    "type": "function_call",
                    "id": "fc_67ccd3acc8ac8190",
                    "call_id": "call_12xK3g7YkBk2kfN8",
                    "name": "issue_refund",
                    "arguments": "{\"order\":\"4421\",\"amount_usd\":42.5}",
                    "status": "completed"
                }
            ],
            "parallel_tool_calls": true,
            "tool_choice": "auto",
            "usage": {
                "input_tokens": 1832,
                "input_tokens_details": { "cached_tokens": 1536 },
                "output_tokens": 96,
                "output_tokens_details": { "reasoning_tokens": 64 },
                "total_tokens": 1928
            }
        })
    }

    fn final_answer_events() -> String {
        let model = "gpt-4.1-mini-2025-04-14";
        let mut events = vec![json!({ "type": "response.created", "sequence_number": 0,
            "response": { "id": "resp_2", "object": "response", "status": "in_progress", "model": model, "output": [] } })];
        for (i, delta) in ["Your order 4421", " has shipped,", " and I've refunded", " $42.50."]
            .iter()
            .enumerate()
        {
            events.push(json!({ "type": "response.output_text.delta", "sequence_number": i + 1,
                "item_id": "msg_2", "output_index": 0, "content_index": 0, "delta": delta }));
        }
        events.push(json!({ "type": "response.completed", "sequence_number": 5,
            "response": { "id": "resp_2", "object": "response", "status": "completed", "model": model,
                "usage": { "input_tokens": 1960, "input_tokens_details": { "cached_tokens": 1792 },
                           "output_tokens": 14, "output_tokens_details": { "reasoning_tokens": 0 },
                           "total_tokens": 1974 } } }));
        events
            .iter()
            .map(|event| {
                format!(
                    "event: {}\ndata: {event}\n\n",
                    event["type"].as_str().unwrap_or("message")
                )
            })
            .collect()
    }
}
