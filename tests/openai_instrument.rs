//! async-openai, instrumented (`mv37::openai`), against a local server speaking the
//! OpenAI shapes from recorded fixtures: chat completions and responses, created and
//! streamed, embeddings, and the failures (429 with `Retry-After`, 500, a stream cut
//! mid-way, a dead server).

#![cfg(feature = "async-openai")]
// Tests fail by panicking.
#![allow(clippy::panic, clippy::unwrap_used)]

mod support;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::types::embeddings::CreateEmbeddingRequest;
use async_openai::types::responses::CreateResponse;
use async_openai::Client as OpenAi;
use futures_util::StreamExt;
use mv37::openai::Instrument;
use mv37::{
    Client, Content, ContentPart, MemoryExporter, Price, PriceTable, Role, SpanKind, SpanRecord, Status,
    STREAM_CHUNKS_ATTRIBUTE, TOKENS_PER_SECOND_ATTRIBUTE, TTFT_MS_ATTRIBUTE,
};
use serde_json::{json, Value};
use support::llm_server::{fixture, fixture_items, LlmServer, Reply};
use support::memory::{flushed, memory_client};

fn prices() -> PriceTable {
    let price = |input, cached_input, output| Price {
        input,
        cached_input,
        cache_write_input: None,
        output,
    };
    PriceTable::new()
        .model("o4-mini", price(1.10, 0.275, 4.40))
        .model("gpt-4.1-mini", price(0.40, 0.10, 1.60))
}

fn openai(server: &LlmServer, instrument: Instrument) -> OpenAi<OpenAIConfig> {
    let config = OpenAIConfig::new().with_api_base(server.v1()).with_api_key("sk-test");
    instrument.client(OpenAi::with_config(config))
}

fn chat_request(stream: bool) -> CreateChatCompletionRequest {
    let mut request = fixture("openai_chat_request.json");
    if stream {
        request["stream"] = json!(true);
        request["stream_options"] = json!({ "include_usage": true });
    }
    serde_json::from_value(request).unwrap()
}

/// One non-streamed chat call inside a trace named `support`.
async fn chat_in_trace(
    client: &Client,
    openai: OpenAi<OpenAIConfig>,
) -> Result<async_openai::types::chat::CreateChatCompletionResponse, OpenAIError> {
    client
        .trace("support")
        .run_async(|_| async move { openai.chat().create(chat_request(false)).await })
        .await
}

fn llm_spans(memory: &MemoryExporter) -> Vec<SpanRecord> {
    memory.spans().into_iter().filter(|s| s.kind == SpanKind::Llm).collect()
}

fn only_llm_span(memory: &MemoryExporter) -> SpanRecord {
    let spans = llm_spans(memory);
    assert_eq!(spans.len(), 1, "one llm span: {spans:#?}");
    spans.into_iter().next().unwrap()
}

fn attribute<'a>(span: &'a SpanRecord, key: &str) -> &'a Value {
    span.attributes
        .get(key)
        .unwrap_or_else(|| panic!("{key} on {}: {:?}", span.name, span.attributes))
}

#[tokio::test]
async fn a_chat_completion_is_an_llm_span_with_what_the_call_said() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(fixture("openai_chat_completions.json")).header("x-request-id", "req_123"));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new().prices(prices()));

    let response = client
        .trace("support")
        .run_async(|trace| async move {
            trace
                .agent("planner")
                .run_async(|_| async move { openai.chat().create(chat_request(false)).await })
                .await
        })
        .await
        .expect("the call succeeds");
    // The caller gets the response whole.
    let tool_calls = serde_json::to_value(&response.choices[0].message.tool_calls).unwrap();
    assert_eq!(tool_calls[0]["function"]["name"], "lookup_order");
    flushed(&client);

    let span = only_llm_span(&memory);
    let planner = memory.span("planner").expect("the agent span");
    assert_eq!(
        span.parent_span_id,
        Some(planner.span_id),
        "a child of the span current at the call"
    );
    assert_eq!(span.trace_id, planner.trace_id);
    assert_eq!(span.name, "chat gpt-4.1-mini");
    assert_eq!(span.status, Status::Ok);
    assert_eq!(span.model.as_deref(), Some("gpt-4.1-mini"));
    assert_eq!(span.provider.as_deref(), Some("openai_compatible"));

    let request = span.request.as_deref().expect("request parameters");
    assert_eq!(request.temperature, Some(0.2));
    assert_eq!(request.top_p, Some(0.9));
    assert_eq!(request.max_tokens, Some(512));
    assert_eq!(request.seed, Some(4421));
    assert_eq!(request.stop_sequences, ["\n\nCustomer:"]);
    assert_eq!(request.server_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        attribute(&span, "gen_ai.tool.definitions")[0]["function"]["name"],
        "lookup_order"
    );

    let response = span.response.as_deref().expect("response fields");
    assert_eq!(response.id.as_deref(), Some("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"));
    assert_eq!(response.model.as_deref(), Some("o4-mini-2025-04-16"));
    assert_eq!(response.finish_reasons, ["tool_calls"]);
    assert_eq!(attribute(&span, "http.response.status_code"), 200);
    assert_eq!(attribute(&span, "http.response.header.x-request-id"), "req_123");

    let usage = span.usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (Some(2006), Some(300)));
    assert_eq!((usage.cached_tokens, usage.reasoning_tokens), (Some(1920), Some(256)));
    let expected_cost = (86.0 * 1.10 + 1920.0 * 0.275 + 300.0 * 4.40) / 1e6;
    let cost = usage
        .cost_usd
        .expect("cost from the price table, for the model the response names");
    assert!((cost - expected_cost).abs() < 1e-12, "{cost} vs {expected_cost}");

    let roles: Vec<Role> = span.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Assistant,
            Role::Assistant
        ],
        "the input conversation, then the answer"
    );
    let Content::Parts(parts) = &span.messages[5].content else {
        panic!("the answer is a tool call: {:?}", span.messages[5]);
    };
    assert!(matches!(&parts[0], ContentPart::ToolCall { name, .. } if name == "lookup_order"));
    let output = span.output.as_ref().expect("output").to_value();
    assert_eq!(output["tool_calls"][0]["id"], "call_abc123");

    let sent = server.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/chat/completions");
}

#[tokio::test]
async fn a_streamed_chat_records_time_to_first_token_output_and_usage_as_it_flows() {
    let server = LlmServer::start().await;
    server.reply(Reply::openai_stream(&fixture_items("openai_chat_stream.json")));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new().prices(prices()));

    let text = client
        .trace("support")
        .run_async(|_| async move {
            let mut stream = openai
                .chat()
                .create_stream(chat_request(true))
                .await
                .expect("stream opens");
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.expect("each chunk parses");
                for choice in chunk.choices {
                    text.push_str(choice.delta.content.as_deref().unwrap_or(""));
                }
            }
            text
        })
        .await;
    flushed(&client);

    let span = only_llm_span(&memory);
    assert_eq!(span.status, Status::Ok);
    let output = span.output.as_ref().expect("assembled output").to_value();
    assert_eq!(output, json!(text), "the span holds what the caller read");
    assert!(!text.is_empty());
    assert!(attribute(&span, TTFT_MS_ATTRIBUTE).as_f64().is_some());
    assert!(attribute(&span, TOKENS_PER_SECOND_ATTRIBUTE).as_f64().unwrap() > 0.0);
    assert!(attribute(&span, STREAM_CHUNKS_ATTRIBUTE).as_u64().unwrap() >= 3);
    let usage = span.usage.expect("usage from the last chunk");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.cached_tokens),
        (Some(1200), Some(5), Some(1024))
    );
    assert!(usage.cost_usd.is_some());
    let response = span.response.as_deref().expect("response fields");
    assert_eq!(response.id.as_deref(), Some("chatcmpl-123"));
    assert_eq!(response.finish_reasons, ["stop"]);
    assert_eq!(span.messages.last().map(|m| m.role.clone()), Some(Role::Assistant));
    assert_eq!(server.sent()[0].body["stream"], true);
}

#[tokio::test]
async fn responses_created_and_streamed_are_recorded() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(fixture("openai_responses.json")));
    server.reply(Reply::openai_stream(&fixture_items("openai_responses_stream.json")));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new());
    let request = |stream: bool| -> CreateResponse {
        serde_json::from_value(json!({
            "model": "gpt-4.1-mini", "instructions": "You are a support agent.",
            "input": "Where is order 4421?", "temperature": 0.3, "max_output_tokens": 256, "stream": stream
        }))
        .unwrap()
    };

    client
        .trace("support")
        .run_async(|_| async move {
            openai.responses().create(request(false)).await.expect("created");
            let mut stream = openai
                .responses()
                .create_stream(request(true))
                .await
                .expect("stream opens");
            while let Some(event) = stream.next().await {
                let _ = event;
            }
        })
        .await;
    flushed(&client);

    let spans = llm_spans(&memory);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let created = spans
        .iter()
        .find(|s| !s.attributes.contains_key(STREAM_CHUNKS_ATTRIBUTE))
        .unwrap();
    assert_eq!(created.usage.unwrap().input_tokens, Some(1832));
    assert_eq!(created.usage.unwrap().reasoning_tokens, Some(64));
    assert_eq!(created.request.as_deref().unwrap().max_tokens, Some(256));
    assert_eq!(
        created.messages[0].role,
        Role::System,
        "instructions are the system message"
    );
    assert!(created.output.is_some());
    let streamed = spans
        .iter()
        .find(|s| s.attributes.contains_key(STREAM_CHUNKS_ATTRIBUTE))
        .unwrap();
    assert_eq!(streamed.usage.unwrap().input_tokens, Some(900));
    assert_eq!(streamed.response.as_deref().unwrap().id.as_deref(), Some("resp_1"));
    assert_eq!(streamed.response.as_deref().unwrap().finish_reasons, ["tool_calls"]);
    let output = streamed.output.as_ref().unwrap().to_value();
    assert!(
        output["tool_calls"].is_array(),
        "the streamed function call is assembled: {output}"
    );
}

#[tokio::test]
async fn an_embeddings_call_is_an_embeddings_span_without_the_vectors() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(json!({
        "object": "list", "model": "text-embedding-3-small",
        "data": [
            { "object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3, 0.4] },
            { "object": "embedding", "index": 1, "embedding": [0.5, 0.6, 0.7, 0.8] }
        ],
        "usage": { "prompt_tokens": 9, "total_tokens": 9 }
    })));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new());
    let request: CreateEmbeddingRequest =
        serde_json::from_value(json!({ "model": "text-embedding-3-small", "input": ["refund policy", "shipping"] }))
            .unwrap();

    let response = client
        .trace("index")
        .run_async(|_| async move { openai.embeddings().create(request).await })
        .await
        .expect("embeddings");
    assert_eq!(response.data.len(), 2);
    flushed(&client);

    let span = memory
        .span("embeddings text-embedding-3-small")
        .expect("embeddings span");
    assert_eq!(span.kind, SpanKind::Custom("embeddings".into()));
    assert_eq!(span.usage.unwrap().input_tokens, Some(9));
    assert_eq!(
        span.input.as_ref().unwrap().to_value(),
        json!(["refund policy", "shipping"])
    );
    assert_eq!(
        span.output.as_ref().unwrap().to_value(),
        json!({ "embeddings": 2, "dimensions": 4 })
    );
}

#[tokio::test]
async fn a_429_fails_the_span_with_status_provider_type_and_retry_after() {
    let server = LlmServer::start().await;
    server.reply(
        Reply::error(429, "rate_limit_exceeded", "Rate limit reached for gpt-4.1-mini").header("retry-after", "0"),
    );
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new().max_retries(0));

    let error = chat_in_trace(&client, openai)
        .await
        .expect_err("the 429 reaches the caller");
    let OpenAIError::ApiError(api_error) = &error else {
        panic!("an API error: {error:?}");
    };
    assert_eq!(
        api_error.status_code.as_u16(),
        429,
        "the caller still reads the error body"
    );
    flushed(&client);

    let span = only_llm_span(&memory);
    assert_eq!(span.status, Status::Error);
    let failure = span.error.as_ref().expect("error");
    assert_eq!(failure.error_type.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(
        failure.message,
        "HTTP 429 Too Many Requests: Rate limit reached for gpt-4.1-mini"
    );
    assert_eq!(attribute(&span, "http.response.status_code"), 429);
    assert_eq!(attribute(&span, "http.response.header.retry-after"), "0");
}

#[tokio::test]
async fn each_retried_attempt_is_its_own_span() {
    let server = LlmServer::start().await;
    server.reply(Reply::error(429, "rate_limit_exceeded", "slow down").header("retry-after", "0"));
    server.reply(Reply::json(fixture("openai_chat_completions.json")));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new());

    chat_in_trace(&client, openai).await.expect("the retry succeeds");
    flushed(&client);

    let mut spans = llm_spans(&memory);
    spans.sort_by_key(|s| s.start_time_unix_nano);
    let statuses: Vec<Status> = spans.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [Status::Error, Status::Ok]);
    assert_eq!(server.sent().len(), 2);
}

#[tokio::test]
async fn a_500_fails_the_span_with_the_server_error() {
    let server = LlmServer::start().await;
    server.reply(Reply::error(500, "server_error", "The server had an error"));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new().max_retries(0));

    let result = chat_in_trace(&client, openai).await;
    assert!(result.is_err());
    flushed(&client);

    let span = only_llm_span(&memory);
    assert_eq!(span.status, Status::Error);
    assert_eq!(span.error.as_ref().unwrap().error_type.as_deref(), Some("server_error"));
    assert_eq!(attribute(&span, "http.response.status_code"), 500);
}

#[tokio::test]
async fn a_stream_cut_mid_way_fails_the_span_and_keeps_the_partial_output() {
    let server = LlmServer::start().await;
    // The role chunk and two content chunks, then the connection drops.
    server.reply(Reply::openai_stream(&fixture_items("openai_chat_stream.json")).cut_after(3));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new());

    let (text, errors) = client
        .trace("support")
        .run_async(|_| async move {
            let mut stream = openai
                .chat()
                .create_stream(chat_request(true))
                .await
                .expect("stream opens");
            let (mut text, mut errors) = (String::new(), 0);
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => chunk
                        .choices
                        .iter()
                        .for_each(|c| text.push_str(c.delta.content.as_deref().unwrap_or(""))),
                    Err(_) => errors += 1,
                }
            }
            (text, errors)
        })
        .await;
    assert!(errors >= 1, "the caller sees the cut");
    flushed(&client);

    let span = only_llm_span(&memory);
    assert_eq!(span.status, Status::Error, "{span:#?}");
    assert!(!text.is_empty());
    assert_eq!(span.output.as_ref().expect("partial output").to_value(), json!(text));
    assert!(span.usage.is_none(), "the usage chunk never came");
}

#[tokio::test]
async fn a_dead_server_fails_the_span_as_a_connection_error() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", dead.local_addr().unwrap());
    drop(dead);
    let (client, memory) = memory_client();
    let config = OpenAIConfig::new().with_api_base(url).with_api_key("sk-test");
    let openai = Instrument::new().max_retries(0).client(OpenAi::with_config(config));

    let result = chat_in_trace(&client, openai).await;
    assert!(result.is_err());
    flushed(&client);

    let span = only_llm_span(&memory);
    assert_eq!(span.status, Status::Error);
    assert_eq!(span.error.as_ref().unwrap().error_type.as_deref(), Some("connect"));
}

#[tokio::test]
async fn a_call_outside_any_trace_opens_a_trace_of_its_own() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(fixture("openai_chat_completions.json")));
    let (client, memory) = memory_client();
    let openai = openai(&server, Instrument::new());

    {
        let _default = client.set_default();
        openai.chat().create(chat_request(false)).await.expect("call");
    }
    flushed(&client);

    let span = only_llm_span(&memory);
    let trace = memory.trace("chat gpt-4.1-mini").expect("a trace named after the call");
    assert_eq!(span.trace_id, trace.trace_id);
    assert_eq!(span.parent_span_id, Some(trace.span_id));
    assert!(
        trace.end_time_unix_nano >= span.end_time_unix_nano,
        "the trace ends after its span"
    );
}

#[tokio::test]
async fn without_content_capture_no_message_or_output_is_kept() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(fixture("openai_chat_completions.json")));
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .capture_content(false)
        .build()
        .unwrap();
    let openai = openai(&server, Instrument::new());

    chat_in_trace(&client, openai).await.expect("call");
    flushed(&client);

    let span = only_llm_span(&memory);
    assert!(span.messages.is_empty(), "{:?}", span.messages);
    assert!(span.output.is_none());
    assert!(!span.attributes.contains_key("gen_ai.tool.definitions"));
    assert_eq!(span.usage.unwrap().input_tokens, Some(2006), "usage is not content");
}

#[tokio::test]
async fn with_no_client_the_call_passes_through_untouched() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(fixture("openai_chat_completions.json")));
    let openai = openai(&server, Instrument::new());
    let response = openai.chat().create(chat_request(false)).await.expect("call");
    assert_eq!(response.id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
}
