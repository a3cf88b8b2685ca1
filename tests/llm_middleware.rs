//! The reqwest-middleware middleware (`mv37::http::LlmMiddleware`), against a local
//! server speaking the Anthropic and OpenAI shapes from recorded fixtures: Anthropic
//! Messages created and streamed, an OpenAI stream read as raw bytes, other requests
//! passed through (or traced when asked), and the failures.

#![cfg(feature = "reqwest-middleware")]
// Tests fail by panicking.
#![allow(clippy::panic, clippy::unwrap_used)]

mod support;

use futures_util::StreamExt;
use mv37::http::LlmMiddleware;
use mv37::{Content, ContentPart, MemoryExporter, Role, SpanKind, SpanRecord, Status, TTFT_MS_ATTRIBUTE};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::{json, Value};
use support::llm_server::{fixture, fixture_items, LlmServer, Reply};
use support::memory::{flushed, memory_client};

fn http(middleware: LlmMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new()).with(middleware).build()
}

fn spans_of(memory: &MemoryExporter, kind: SpanKind) -> Vec<SpanRecord> {
    memory.spans().into_iter().filter(|s| s.kind == kind).collect()
}

fn anthropic_request(stream: bool) -> Value {
    let mut request = fixture("anthropic_messages_request.json");
    request["stream"] = json!(stream);
    request
}

#[tokio::test]
async fn an_anthropic_message_is_an_llm_span() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(fixture("anthropic_messages.json")).header("request-id", "req_9"));
    let (client, memory) = memory_client();
    let http = http(LlmMiddleware::new());
    let url = format!("{}/v1/messages", server.url);

    let body: Value = client
        .trace("support")
        .run_async(|_| async move {
            let response = http
                .post(&url)
                .header("anthropic-version", "2023-06-01")
                .json(&anthropic_request(false))
                .send()
                .await
                .expect("sent");
            response.json().await.expect("the caller reads the body whole")
        })
        .await;
    assert_eq!(body["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
    flushed(&client);

    let spans = spans_of(&memory, SpanKind::Llm);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span.name, "chat claude-sonnet-4-5");
    assert_eq!(span.provider.as_deref(), Some("anthropic"));
    assert_eq!(span.status, Status::Ok);
    let request = span.request.as_deref().unwrap();
    assert_eq!((request.max_tokens, request.top_k), (Some(1024), Some(40.0)));
    assert_eq!(request.stop_sequences, ["</answer>"]);
    let usage = span.usage.unwrap();
    assert_eq!(
        (usage.cached_tokens, usage.cache_write_tokens, usage.output_tokens),
        (Some(3120), Some(210), Some(187))
    );
    assert_eq!(span.response.as_deref().unwrap().finish_reasons, ["tool_use"]);
    assert_eq!(span.attributes["http.response.header.request-id"], "req_9");
    assert_eq!(span.messages[0].role, Role::System);
    let answer = span.messages.iter().rev().find(|m| !m.is_internal).unwrap();
    let Content::Parts(parts) = &answer.content else {
        panic!("parts: {answer:?}");
    };
    assert!(parts
        .iter()
        .any(|p| matches!(p, ContentPart::ToolCall { name, .. } if name == "lookup_order")));
}

#[tokio::test]
async fn an_anthropic_stream_is_recorded_as_the_caller_reads_it() {
    let server = LlmServer::start().await;
    server.reply(Reply::anthropic_stream(&fixture_items("anthropic_stream.json")));
    let (client, memory) = memory_client();
    let http = http(LlmMiddleware::new());
    let url = format!("{}/v1/messages", server.url);

    let read = client
        .trace("support")
        .run_async(|_| async move {
            let response = http
                .post(&url)
                .json(&anthropic_request(true))
                .send()
                .await
                .expect("sent");
            let mut bytes = response.bytes_stream();
            let mut read = Vec::new();
            while let Some(chunk) = bytes.next().await {
                read.extend_from_slice(&chunk.expect("chunk"));
            }
            read
        })
        .await;
    assert!(
        String::from_utf8(read).unwrap().contains("event: message_stop"),
        "bytes pass through unchanged"
    );
    flushed(&client);

    let span = spans_of(&memory, SpanKind::Llm).pop().expect("llm span");
    assert_eq!(span.status, Status::Ok);
    assert!(span.attributes.contains_key(TTFT_MS_ATTRIBUTE));
    let usage = span.usage.expect("usage from message_start and message_delta");
    assert_eq!(usage.output_tokens, Some(89));
    assert_eq!(span.response.as_deref().unwrap().finish_reasons, ["tool_use"]);
    let output = span.output.as_ref().unwrap().to_value();
    assert!(output["tool_calls"].is_array(), "{output}");
}

#[tokio::test]
async fn an_openai_stream_read_by_hand_is_recorded() {
    let server = LlmServer::start().await;
    server.reply(Reply::openai_stream(&fixture_items("openai_chat_stream.json")));
    let (client, memory) = memory_client();
    let http = http(LlmMiddleware::new());
    let url = format!("{}/v1/chat/completions", server.v1().trim_end_matches("/v1"));

    client
        .trace("support")
        .run_async(|_| async move {
            let request =
                json!({ "model": "gpt-4.1-mini", "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
            let response = http.post(&url).json(&request).send().await.expect("sent");
            let _ = response.bytes().await.expect("body");
        })
        .await;
    flushed(&client);

    let span = spans_of(&memory, SpanKind::Llm).pop().expect("llm span");
    assert_eq!(span.usage.unwrap().input_tokens, Some(1200));
    assert_eq!(span.response.as_deref().unwrap().id.as_deref(), Some("chatcmpl-123"));
    assert!(span.output.is_some());
}

#[tokio::test]
async fn other_requests_pass_through_or_become_plain_spans_when_asked() {
    let server = LlmServer::start().await;
    server.reply(Reply::json(json!({ "data": [] })));
    server.reply(Reply::error(404, "not_found", "no such file"));
    let (client, memory) = memory_client();
    let (quiet, traced) = (
        http(LlmMiddleware::new()),
        http(LlmMiddleware::new().trace_other_requests(true)),
    );
    let url = format!("{}/v1/files?api_key=secret", server.url);

    client
        .trace("support")
        .run_async(|_| async move {
            let first = quiet.get(&url).send().await.expect("sent");
            assert_eq!(first.json::<Value>().await.unwrap(), json!({ "data": [] }));
            let second = traced.get(&url).send().await.expect("sent");
            assert_eq!(second.status(), 404);
        })
        .await;
    flushed(&client);

    assert!(spans_of(&memory, SpanKind::Llm).is_empty());
    let plain = spans_of(&memory, SpanKind::Span);
    assert_eq!(plain.len(), 1, "only the traced client's request: {plain:#?}");
    assert_eq!(plain[0].name, "GET");
    assert_eq!(plain[0].status, Status::Error);
    assert_eq!(plain[0].attributes["http.response.status_code"], 404);
    let url = plain[0].attributes["url.full"].as_str().unwrap();
    assert!(url.ends_with("/v1/files") && !url.contains("secret"), "{url}");
}

#[tokio::test]
async fn a_dead_server_fails_the_call_span() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/messages", dead.local_addr().unwrap());
    drop(dead);
    let (client, memory) = memory_client();
    let http = http(LlmMiddleware::new());

    let result = client
        .trace("support")
        .run_async(|_| async move { http.post(&url).json(&anthropic_request(false)).send().await })
        .await;
    assert!(result.is_err());
    flushed(&client);

    let span = spans_of(&memory, SpanKind::Llm).pop().expect("llm span");
    assert_eq!(span.status, Status::Error);
    assert_eq!(span.error.as_ref().unwrap().error_type.as_deref(), Some("connect"));
}

#[tokio::test]
async fn an_overloaded_anthropic_error_names_its_type() {
    let server = LlmServer::start().await;
    let overloaded = json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } });
    server.reply(Reply::json(overloaded).status(529));
    let (client, memory) = memory_client();
    let http = http(LlmMiddleware::new());
    let url = format!("{}/v1/messages", server.url);

    client
        .trace("support")
        .run_async(|_| async move {
            let response = http
                .post(&url)
                .json(&anthropic_request(false))
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status().as_u16(), 529);
            let _ = response.bytes().await;
        })
        .await;
    flushed(&client);

    let span = spans_of(&memory, SpanKind::Llm).pop().expect("llm span");
    assert_eq!(span.status, Status::Error);
    let error = span.error.as_ref().unwrap();
    assert_eq!(error.error_type.as_deref(), Some("overloaded_error"));
    assert!(error.message.starts_with("HTTP 529"), "{}", error.message);
}
