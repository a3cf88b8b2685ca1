//! Provider helpers: usage read off recorded-shape responses, cost from a price table,
//! chat messages recorded on llm spans, streamed responses recorded as they flow, request
//! parameters and response fields, and retrieved documents. One file (over 500 lines)
//! because the sections share the provider fixtures and the stream helpers.

// Tests fail by panicking.
#![allow(clippy::panic)]

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use mv37::{
    messages_from_anthropic, messages_from_openai, record_anthropic_messages, record_openai_messages,
    request_params_from_anthropic, request_params_from_openai, response_info_from_anthropic, response_info_from_openai,
    trace_stream, trace_try_stream, usage_from_anthropic, usage_from_openai, AnthropicAccumulator, Client, Content,
    ContentPart, Document, MemoryExporter, OpenAiAccumulator, Price, PriceTable, RequestParams, ResponseInfo, Role,
    SpanRecord, Status, StreamAccumulator, TextAccumulator, Usage, STREAM_CHUNKS_ATTRIBUTE,
    TOKENS_PER_SECOND_ATTRIBUTE, TTFT_MS_ATTRIBUTE,
};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn fixture_items(name: &str) -> Vec<Value> {
    match fixture(name) {
        Value::Array(items) => items,
        other => panic!("{name} is not an array: {other}"),
    }
}

mod support;

use support::memory::{flushed, memory_client};

fn gpt_4_1_mini() -> Price {
    Price {
        input: 0.40,
        cached_input: 0.10,
        output: 1.60,
        cache_write_input: None,
    }
}

/// A stream over a list of items, ready at every poll.
struct Items<T>(std::vec::IntoIter<T>);

impl<T: Unpin> Stream for Items<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
        Poll::Ready(self.0.next())
    }
}

fn items<T>(items: Vec<T>) -> Items<T> {
    Items(items.into_iter())
}

/// The next item of a stream that is always ready.
fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    match Pin::new(stream).poll_next(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(item) => item,
        Poll::Pending => panic!("the test stream is always ready"),
    }
}

/// Drains a stream, bounded.
fn drain<S: Stream + Unpin>(stream: &mut S) -> usize {
    for count in 0..10_000 {
        if next(stream).is_none() {
            return count;
        }
    }
    panic!("the stream did not end");
}

fn attribute_f64(span: &SpanRecord, key: &str) -> f64 {
    span.attributes
        .get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("span has no numeric {key}: {:?}", span.attributes))
}

// --- usage -----------------------------------------------------------------------

#[test]
fn openai_responses_usage_counts_cached_and_reasoning_tokens() {
    let usage = usage_from_openai(&fixture("openai_responses.json"));
    assert_eq!(
        usage,
        Usage {
            input_tokens: Some(1832),
            output_tokens: Some(96),
            cached_tokens: Some(1536),
            reasoning_tokens: Some(64),
            total_tokens: Some(1928),
            ..Usage::default()
        }
    );
}

#[test]
fn openai_chat_completions_usage_counts_cached_and_reasoning_tokens() {
    let usage = usage_from_openai(&fixture("openai_chat_completions.json"));
    assert_eq!(
        usage,
        Usage {
            input_tokens: Some(2006),
            output_tokens: Some(300),
            cached_tokens: Some(1920),
            reasoning_tokens: Some(256),
            total_tokens: Some(2306),
            ..Usage::default()
        }
    );
}

#[test]
fn anthropic_usage_counts_cache_reads_and_writes_in_input_tokens_and_keeps_each() {
    let usage = usage_from_anthropic(&fixture("anthropic_messages.json"));
    assert_eq!(
        usage,
        Usage {
            input_tokens: Some(42 + 210 + 3120),
            output_tokens: Some(187),
            cached_tokens: Some(3120),
            cache_write_tokens: Some(210),
            total_tokens: Some(42 + 210 + 3120 + 187),
            ..Usage::default()
        }
    );
}

#[test]
fn usage_is_read_from_a_typed_response_struct() {
    #[derive(serde::Serialize)]
    struct Response {
        model: &'static str,
        usage: TypedUsage,
    }
    #[derive(serde::Serialize)]
    struct TypedUsage {
        prompt_tokens: u32,
        completion_tokens: u32,
    }
    let usage = usage_from_openai(&Response {
        model: "gpt-4.1-mini",
        usage: TypedUsage {
            prompt_tokens: 10,
            completion_tokens: 5,
        },
    });
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(10), Some(5), Some(15))
    );
}

#[test]
fn a_response_missing_usage_gives_empty_usage() {
    let mut response = fixture("openai_responses.json");
    response.as_object_mut().map(|o| o.remove("usage"));
    assert!(usage_from_openai(&response).is_empty());
    let mut chat = fixture("openai_chat_completions.json");
    chat["usage"] = Value::Null;
    assert!(usage_from_openai(&chat).is_empty());
    let mut message = fixture("anthropic_messages.json");
    message.as_object_mut().map(|o| o.remove("usage"));
    assert!(usage_from_anthropic(&message).is_empty());
    assert!(usage_from_openai(&json!(null)).is_empty());
    assert!(usage_from_anthropic(&json!([1, 2, 3])).is_empty());
}

#[test]
fn usage_is_read_from_streaming_events_that_wrap_it() {
    let completed = fixture_items("openai_responses_stream.json").pop().expect("last event");
    assert_eq!(usage_from_openai(&completed).cached_tokens, Some(768));
    let start = fixture_items("anthropic_stream.json").remove(0);
    assert_eq!(usage_from_anthropic(&start).cached_tokens, Some(2048));
}

// --- cost ------------------------------------------------------------------------

#[test]
fn cost_prices_cached_tokens_as_a_part_of_input_tokens() {
    let prices = PriceTable::new().model("gpt-4.1-mini", gpt_4_1_mini());
    let usage = prices.apply("gpt-4.1-mini", usage_from_openai(&fixture("openai_responses.json")));
    // (1832 − 1536) × 0.40 + 1536 × 0.10 + 96 × 1.60, per million tokens
    let expected = (296.0 * 0.40 + 1536.0 * 0.10 + 96.0 * 1.60) / 1e6;
    let cost = usage.cost_usd.expect("priced");
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}");
}

#[test]
fn a_dated_model_name_takes_the_price_of_its_undated_entry() {
    let prices = PriceTable::new().model("gpt-4.1-mini", gpt_4_1_mini()).model(
        "claude-sonnet-4-5",
        Price {
            input: 3.0,
            cached_input: 0.30,
            output: 15.0,
            cache_write_input: None,
        },
    );
    assert_eq!(prices.price("gpt-4.1-mini-2025-04-14"), Some(gpt_4_1_mini()));
    assert_eq!(prices.price("gpt-4.1-mini"), Some(gpt_4_1_mini()));
    assert_eq!(prices.price("gpt-4.1"), None);
    let response = fixture("anthropic_messages.json");
    let model = response["model"].as_str().expect("model");
    let cost = prices.cost(model, &usage_from_anthropic(&response)).expect("priced");
    let expected = ((42.0 + 210.0) * 3.0 + 3120.0 * 0.30 + 187.0 * 15.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}");
}

#[test]
fn cache_writes_are_priced_at_the_cache_write_rate_when_the_table_has_one() {
    let claude = Price {
        input: 3.0,
        cached_input: 0.30,
        output: 15.0,
        cache_write_input: Some(3.75),
    };
    let prices = PriceTable::new().model("claude-sonnet-4-5", claude);
    let response = fixture("anthropic_messages.json");
    let cost = prices
        .cost("claude-sonnet-4-5", &usage_from_anthropic(&response))
        .expect("priced");
    // 42 uncached × 3.0 + 3120 read × 0.30 + 210 written × 3.75 + 187 out × 15.0
    let expected = (42.0 * 3.0 + 3120.0 * 0.30 + 210.0 * 3.75 + 187.0 * 15.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}");
}

#[test]
fn cost_is_left_alone_when_unpriced_or_already_set() {
    let prices = PriceTable::new().model("gpt-4.1-mini", gpt_4_1_mini());
    let usage = Usage {
        input_tokens: Some(100),
        ..Usage::default()
    };
    assert_eq!(prices.apply("o3", usage).cost_usd, None);
    let given = Usage {
        cost_usd: Some(1.0),
        ..usage
    };
    assert_eq!(prices.apply("gpt-4.1-mini", given).cost_usd, Some(1.0));
    assert_eq!(prices.cost("gpt-4.1-mini", &Usage::default()), None);
}

// --- streaming -------------------------------------------------------------------

/// How long the tests' model takes to send its first chunk, counted from the span start.
const FIRST_TOKEN_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

/// The span's time to first token is the delay (the chunks themselves come at once),
/// within a generous slack for a loaded machine.
fn assert_ttft_is_the_delay(span: &SpanRecord) {
    let ttft = attribute_f64(span, TTFT_MS_ATTRIBUTE);
    let delay = FIRST_TOKEN_DELAY.as_secs_f64() * 1000.0;
    assert!(
        ttft >= delay && ttft < delay + 400.0,
        "time to first token {ttft} ms, the model took {delay} ms"
    );
}

#[test]
fn a_stream_that_ends_records_ttft_output_usage_and_ends_its_span() {
    let (client, memory) = memory_client();
    let prices = PriceTable::new().model("gpt-4.1-mini", gpt_4_1_mini());
    client.trace("chat").run(|trace| {
        let span = trace.llm("openai.chat").model("gpt-4.1-mini").start_detached();
        // The model takes this long to answer.
        std::thread::sleep(FIRST_TOKEN_DELAY);
        let mut stream = trace_stream(
            span,
            items(fixture_items("openai_chat_stream.json")),
            OpenAiAccumulator::new(),
        )
        .prices(prices, "gpt-4.1-mini");
        assert_eq!(drain(&mut stream), 6);
        assert!(next(&mut stream).is_none(), "a finished stream stays finished");
    });
    flushed(&client);
    let span = memory.span("openai.chat").expect("llm span");
    assert_eq!(span.status, Status::Ok);
    assert_eq!(
        span.output.as_ref().map(|p| p.to_value()),
        Some(json!("Your order has shipped."))
    );
    let usage = span.usage.expect("usage from the last chunk");
    assert_eq!(usage.input_tokens, Some(1200));
    assert_eq!(usage.cached_tokens, Some(1024));
    assert_eq!(usage.output_tokens, Some(5));
    let expected = (176.0 * 0.40 + 1024.0 * 0.10 + 5.0 * 1.60) / 1e6;
    assert!((usage.cost_usd.expect("priced") - expected).abs() < 1e-12);
    assert_ttft_is_the_delay(&span);
    assert!(attribute_f64(&span, TOKENS_PER_SECOND_ATTRIBUTE) > 0.0);
    assert_eq!(span.attributes[STREAM_CHUNKS_ATTRIBUTE], json!(6));
    assert_eq!(span.messages.len(), 1);
    assert_eq!(span.messages[0].role, Role::Assistant);
    assert_eq!(
        span.messages[0].content,
        Content::Text("Your order has shipped.".into())
    );
}

#[test]
fn time_to_first_token_waits_for_the_first_chunk_with_output() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        let span = trace.llm("openai.chat").start_detached();
        let chunks = fixture_items("openai_chat_stream.json");
        let mut stream = trace_stream(span, items(chunks), OpenAiAccumulator::new());
        next(&mut stream); // role only, empty content: not a token
        assert_eq!(stream.accumulator().output(), None);
        std::thread::sleep(std::time::Duration::from_millis(3));
        drain(&mut stream);
    });
    flushed(&client);
    let span = memory.span("openai.chat").expect("llm span");
    assert!(attribute_f64(&span, TTFT_MS_ATTRIBUTE) >= 3.0);
}

#[test]
fn a_stream_dropped_early_cancels_its_span_and_keeps_the_partial_output() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        let span = trace.llm("openai.chat").start_detached();
        std::thread::sleep(FIRST_TOKEN_DELAY);
        let mut stream = trace_stream(
            span,
            items(fixture_items("openai_chat_stream.json")),
            OpenAiAccumulator::new(),
        );
        next(&mut stream);
        next(&mut stream);
        drop(stream);
    });
    flushed(&client);
    let span = memory.span("openai.chat").expect("llm span");
    assert_eq!(span.status, Status::Cancelled);
    assert_eq!(span.output.as_ref().map(|p| p.to_value()), Some(json!("Your order")));
    assert!(span.usage.is_none(), "the usage chunk never arrived");
    assert_ttft_is_the_delay(&span);
    assert_eq!(span.attributes[STREAM_CHUNKS_ATTRIBUTE], json!(2));
}

#[test]
fn a_responses_api_stream_assembles_text_tool_calls_and_usage() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        let span = trace.llm("openai.responses").start_detached();
        let events = fixture_items("openai_responses_stream.json");
        let mut stream = trace_stream(span, items(events), OpenAiAccumulator::new());
        drain(&mut stream);
    });
    flushed(&client);
    let span = memory.span("openai.responses").expect("llm span");
    assert_eq!(
        span.output.as_ref().map(|p| p.to_value()),
        Some(json!({
            "content": "Refunding now.",
            "tool_calls": [{ "id": "call_9", "name": "issue_refund", "arguments": { "order": "4421" } }]
        }))
    );
    let usage = span.usage.expect("usage from response.completed");
    assert_eq!((usage.cached_tokens, usage.reasoning_tokens), (Some(768), Some(16)));
    assert_eq!(
        span.messages[0].content,
        Content::Parts(vec![
            ContentPart::text("Refunding now."),
            ContentPart::tool_call("call_9", "issue_refund", json!({ "order": "4421" })),
        ])
    );
}

#[test]
fn an_anthropic_stream_assembles_text_tool_use_and_usage() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        let span = trace.llm("anthropic.messages").start_detached();
        let mut stream = trace_stream(
            span,
            items(fixture_items("anthropic_stream.json")),
            AnthropicAccumulator::new(),
        );
        drain(&mut stream);
    });
    flushed(&client);
    let span = memory.span("anthropic.messages").expect("llm span");
    assert_eq!(
        span.output.as_ref().map(|p| p.to_value()),
        Some(json!({
            "content": "Checking the order.",
            "tool_calls": [{ "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "lookup_order", "arguments": { "order": "4421" } }]
        }))
    );
    assert_eq!(
        span.usage,
        Some(Usage {
            input_tokens: Some(25 + 2048),
            output_tokens: Some(89),
            cached_tokens: Some(2048),
            cache_write_tokens: Some(0),
            total_tokens: Some(25 + 2048 + 89),
            ..Usage::default()
        })
    );
}

#[test]
fn an_error_item_marks_the_streamed_span_failed_and_is_passed_through() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        let span = trace.llm("openai.chat").start_detached();
        let chunks: Vec<Result<Value, String>> = vec![
            Ok(json!({ "choices": [{ "index": 0, "delta": { "content": "Hel" } }] })),
            Err("connection reset".to_owned()),
        ];
        let mut stream = trace_try_stream(span, items(chunks), OpenAiAccumulator::new());
        assert!(matches!(next(&mut stream), Some(Ok(_))));
        assert_eq!(next(&mut stream), Some(Err("connection reset".to_owned())));
        assert_eq!(next(&mut stream), None);
    });
    flushed(&client);
    let span = memory.span("openai.chat").expect("llm span");
    assert_eq!(span.status, Status::Error);
    assert_eq!(
        span.error.as_ref().map(|e| e.message.as_str()),
        Some("connection reset")
    );
    assert_eq!(span.output.as_ref().map(|p| p.to_value()), Some(json!("Hel")));
}

#[test]
fn a_user_supplied_accumulator_assembles_chunks_of_its_own_type() {
    struct Chunk {
        delta: &'static str,
    }
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        let span = trace.llm("local.model").start_detached();
        let chunks = vec![Chunk { delta: "4" }, Chunk { delta: "2" }];
        let accumulator = TextAccumulator::new(|chunk: &Chunk| Some(chunk.delta.to_owned()));
        let mut stream = trace_stream(span, items(chunks), accumulator);
        drain(&mut stream);
    });
    flushed(&client);
    let span = memory.span("local.model").expect("llm span");
    assert_eq!(span.output.as_ref().map(|p| p.to_value()), Some(json!("42")));
    // No usage: tokens per second counts the chunks that carried output.
    assert!(attribute_f64(&span, TOKENS_PER_SECOND_ATTRIBUTE) > 0.0);
}

#[test]
fn a_traced_stream_is_send_when_its_inner_stream_is() {
    fn assert_send<T: Send>(_: &T) {}
    let (client, _memory) = memory_client();
    let trace = client.trace("chat").start();
    let span = trace.llm("openai.chat").start_detached();
    let stream = trace_stream(span, items(vec![json!({})]), OpenAiAccumulator::new());
    assert_send(&stream);
    let handle = std::thread::spawn(move || {
        let mut stream = stream;
        drain(&mut stream)
    });
    assert_eq!(handle.join().expect("the thread finishes"), 1);
}

#[test]
fn a_stream_on_a_disabled_span_passes_items_through() {
    let trace = Client::disabled().trace("off").start();
    let span = trace.llm("openai.chat").start_detached();
    let mut stream = trace_stream(span, items(vec![json!(1), json!(2)]), OpenAiAccumulator::new());
    assert_eq!(drain(&mut stream), 2);
}

// --- chat messages ---------------------------------------------------------------

#[test]
fn a_chat_completions_conversation_is_recorded_on_the_llm_span() {
    let (client, memory) = memory_client();
    let request = fixture("openai_chat_request.json");
    let response = fixture("openai_chat_completions.json");
    client.trace("chat").run(|trace| {
        trace.llm("openai.chat").run(|span| {
            assert_eq!(record_openai_messages(span, &request), 5);
            assert_eq!(record_openai_messages(span, &response), 1);
        });
    });
    flushed(&client);
    let span = memory.span("openai.chat").expect("llm span");
    let roles: Vec<&str> = span.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant", "assistant"]);
    assert_eq!(
        span.messages[1].content,
        Content::Parts(vec![
            ContentPart::text("Where is my order? Here is the receipt."),
            ContentPart::ImageUrl {
                url: "https://example.com/receipt-4421.png".into(),
                detail: Some("low".into())
            },
        ])
    );
    let call = ContentPart::tool_call("call_abc123", "lookup_order", json!({ "order": "4421" }));
    assert_eq!(span.messages[2].content, Content::Parts(vec![call.clone()]));
    assert_eq!(span.messages[3].tool_call_id.as_deref(), Some("call_abc123"));
    assert_eq!(
        span.messages[3].content,
        Content::Text(r#"{"order":"4421","status":"shipped"}"#.into())
    );
    assert_eq!(span.messages[5].content, Content::Parts(vec![call]));
}

#[test]
fn responses_api_input_and_output_items_become_messages() {
    let request = json!({
        "model": "gpt-4.1-mini",
        "instructions": "Be brief.",
        "input": [
            { "role": "user", "content": [
                { "type": "input_text", "text": "Receipt attached" },
                { "type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=" }
            ] },
            { "type": "function_call", "call_id": "call_1", "name": "lookup_order", "arguments": "{\"order\":\"4421\"}" },
            { "type": "function_call_output", "call_id": "call_1", "output": "{\"status\":\"shipped\"}" }
        ]
    });
    let messages = messages_from_openai(&request);
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(
        messages[1].content,
        Content::Parts(vec![
            ContentPart::text("Receipt attached"),
            ContentPart::image_base64("image/png", "iVBORw0KGgo="),
        ])
    );
    assert_eq!(messages[3].tool_call_id.as_deref(), Some("call_1"));

    let output = messages_from_openai(&fixture("openai_responses.json"));
    assert_eq!(output.len(), 2, "the empty reasoning item is skipped: {output:?}");
    assert_eq!(
        output[0].content,
        Content::Parts(vec![ContentPart::text("Let me check the refund for order 4421.")])
    );
    assert_eq!(
        output[1].content,
        Content::Parts(vec![ContentPart::tool_call(
            "call_12xK3g7YkBk2kfN8ZbO1nQxX",
            "issue_refund",
            json!({ "order": "4421", "amount_usd": 42.5 })
        )])
    );
    assert_eq!(messages_from_openai(&json!({ "input": "hi" }))[0].role, Role::User);
}

#[test]
fn anthropic_tool_results_become_tool_messages_linked_to_their_tool_use() {
    let request = json!({
        "system": "You are a support agent.",
        "messages": [
            { "role": "user", "content": "Where is order 4421?" },
            { "role": "assistant", "content": [
                { "type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": { "order": "4421" } }
            ] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_1", "content": "shipped" },
                { "type": "text", "text": "Thanks!" }
            ] }
        ]
    });
    let messages = messages_from_anthropic(&request);
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    assert_eq!(messages[3].tool_call_id.as_deref(), Some("toolu_1"));
    assert_eq!(messages[3].content, Content::Text("shipped".into()));

    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        trace.llm("anthropic.messages").run(|span| {
            record_anthropic_messages(span, &fixture("anthropic_messages.json"));
        });
    });
    flushed(&client);
    let span = memory.span("anthropic.messages").expect("llm span");
    assert_eq!(span.messages.len(), 2);
    assert!(span.messages[0].is_internal, "thinking is internal");
    assert_eq!(
        span.messages[1].content,
        Content::Parts(vec![
            ContentPart::text("I'll look up that order."),
            ContentPart::tool_call(
                "toolu_01A09q90qw90lq917835lq9",
                "lookup_order",
                json!({ "order": "4421" })
            ),
        ])
    );
}

#[test]
fn without_content_capture_a_stream_keeps_usage_and_timings_and_the_helpers_record_no_message() {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .capture_content(false)
        .build()
        .expect("builds");
    let request = fixture("openai_chat_request.json");
    client.trace("chat").run(|trace| {
        let span = trace.llm("openai.stream").model("gpt-4.1-mini").start_detached();
        let mut stream = trace_stream(
            span,
            items(fixture_items("openai_chat_stream.json")),
            OpenAiAccumulator::new(),
        );
        assert_eq!(drain(&mut stream), 6, "the items still pass through");
        trace.llm("openai.chat").run(|span| {
            assert_eq!(record_openai_messages(span, &request), 0);
        });
    });
    flushed(&client);
    let streamed = memory.span("openai.stream").expect("llm span");
    assert_eq!(streamed.output, None);
    assert!(streamed.messages.is_empty());
    assert_eq!(streamed.usage.and_then(|u| u.output_tokens), Some(5));
    assert_eq!(streamed.attributes[STREAM_CHUNKS_ATTRIBUTE], json!(6));
    assert!(streamed.attributes.contains_key(TTFT_MS_ATTRIBUTE));
    assert!(memory.messages().is_empty());
}

#[test]
fn an_openai_chat_request_gives_its_sampling_parameters() {
    let params = request_params_from_openai(&fixture("openai_chat_request.json"));
    assert_eq!(
        params,
        RequestParams {
            temperature: Some(0.2),
            max_tokens: Some(512),
            top_p: Some(0.9),
            stop_sequences: vec!["\n\nCustomer:".into()],
            seed: Some(4421),
            frequency_penalty: Some(0.1),
            presence_penalty: Some(0.0),
            ..RequestParams::default()
        }
    );
    // The Responses API names its output limit `max_output_tokens`; a response echoes
    // the request's parameters, `null` when unset.
    let responses =
        request_params_from_openai(&json!({ "input": "Hi", "max_output_tokens": 300, "temperature": null }));
    assert_eq!(responses.max_tokens, Some(300));
    assert_eq!(responses.temperature, None);
    let echoed = request_params_from_openai(&fixture("openai_responses.json"));
    assert_eq!(
        (echoed.temperature, echoed.top_p, echoed.max_tokens),
        (Some(1.0), Some(1.0), None)
    );
}

#[test]
fn an_anthropic_request_gives_its_sampling_parameters() {
    let params = request_params_from_anthropic(&fixture("anthropic_messages_request.json"));
    assert_eq!(
        params,
        RequestParams {
            temperature: Some(0.7),
            max_tokens: Some(1024),
            top_p: Some(0.95),
            top_k: Some(40.0),
            stop_sequences: vec!["</answer>".into()],
            ..RequestParams::default()
        }
    );
}

#[test]
fn responses_give_their_id_model_and_finish_reasons() {
    let chat = response_info_from_openai(&fixture("openai_chat_completions.json"));
    assert_eq!(
        chat,
        ResponseInfo {
            id: Some("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG".into()),
            model: Some("o4-mini-2025-04-16".into()),
            finish_reasons: vec!["tool_calls".into()],
        }
    );
    // The Responses API reports a status, not a reason: a completed response that calls
    // a function ended for a tool call.
    let responses = response_info_from_openai(&fixture("openai_responses.json"));
    assert_eq!(
        responses.id.as_deref(),
        Some("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b")
    );
    assert_eq!(responses.model.as_deref(), Some("gpt-4.1-mini-2025-04-14"));
    assert_eq!(responses.finish_reasons, ["tool_calls"]);
    let anthropic = response_info_from_anthropic(&fixture("anthropic_messages.json"));
    assert_eq!(
        anthropic,
        ResponseInfo {
            id: Some("msg_01XFDUDYJgAACzvnptvVoYEL".into()),
            model: Some("claude-sonnet-4-5-20250929".into()),
            finish_reasons: vec!["tool_use".into()],
        }
    );
}

#[test]
fn request_parameters_and_response_fields_are_recorded_on_the_llm_span() {
    let (client, memory) = memory_client();
    let request = fixture("openai_chat_request.json");
    let response = fixture("openai_chat_completions.json");
    client.trace("chat").run(|trace| {
        trace.llm("openai.chat").model("gpt-4.1-mini").run(|span| {
            span.set_request_params(RequestParams::default().server_url("http://localhost:11434/v1"));
            span.set_request_params(request_params_from_openai(&request));
            span.set_response_info(response_info_from_openai(&response));
        });
    });
    flushed(&client);
    let span = memory.span("openai.chat").expect("llm span");
    let request = span.request.expect("request parameters");
    // The later call adds the parameters and keeps the server set before.
    assert_eq!(request.temperature, Some(0.2));
    assert_eq!(request.seed, Some(4421));
    assert_eq!(request.server_address.as_deref(), Some("localhost"));
    assert_eq!(request.server_port, Some(11434));
    let response = span.response.expect("response fields");
    assert_eq!(response.model.as_deref(), Some("o4-mini-2025-04-16"));
    assert_eq!(response.finish_reasons, ["tool_calls"]);
}

#[test]
fn nothing_is_recorded_for_a_request_or_response_without_those_fields() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        trace.llm("bare").run(|span| {
            span.set_request_params(request_params_from_openai(&json!({ "messages": [] })));
            span.set_response_info(response_info_from_openai(&json!({ "output": [] })));
        });
    });
    flushed(&client);
    let span = memory.span("bare").expect("llm span");
    assert_eq!((span.request, span.response), (None, None));
}

#[test]
fn streams_record_the_response_id_model_and_finish_reasons() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        for (name, fixture_name) in [
            ("chat stream", "openai_chat_stream.json"),
            ("responses stream", "openai_responses_stream.json"),
        ] {
            let span = trace.llm(name).start_detached();
            let mut stream = trace_stream(span, items(fixture_items(fixture_name)), OpenAiAccumulator::new());
            drain(&mut stream);
        }
        let span = trace.llm("anthropic stream").start_detached();
        let mut stream = trace_stream(
            span,
            items(fixture_items("anthropic_stream.json")),
            AnthropicAccumulator::new(),
        );
        drain(&mut stream);
    });
    flushed(&client);
    let response = |name: &str| *memory.span(name).and_then(|s| s.response).expect("response fields");
    assert_eq!(
        response("chat stream"),
        ResponseInfo {
            id: Some("chatcmpl-123".into()),
            model: Some("gpt-4.1-mini-2025-04-14".into()),
            finish_reasons: vec!["stop".into()],
        }
    );
    assert_eq!(
        response("responses stream"),
        ResponseInfo {
            id: Some("resp_1".into()),
            model: Some("gpt-4.1-mini-2025-04-14".into()),
            // `response.completed` leaves the output out, but the stream called a tool.
            finish_reasons: vec!["tool_calls".into()],
        }
    );
    assert_eq!(
        response("anthropic stream"),
        ResponseInfo {
            id: Some("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY".into()),
            model: Some("claude-sonnet-4-5-20250929".into()),
            finish_reasons: vec!["tool_use".into()],
        }
    );
}

#[test]
fn chat_stream_finish_reasons_are_kept_per_choice_in_choice_order() {
    let mut accumulator = OpenAiAccumulator::new();
    for chunk in [
        json!({ "id": "c", "choices": [{ "index": 1, "delta": {}, "finish_reason": "length" }] }),
        json!({ "id": "c", "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] }),
    ] {
        StreamAccumulator::push(&mut accumulator, &chunk);
    }
    let info = accumulator.response_info().expect("response fields");
    assert_eq!(info.finish_reasons, ["stop", "length"]);
}

#[test]
fn retrieved_documents_are_recorded_in_order_with_their_content_under_the_payload_limit() {
    let memory = mv37::MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .max_payload_bytes(400)
        .build()
        .expect("client");
    let long = "Orders ship within 2 business days. ".repeat(40);
    client.trace("rag").run(|trace| {
        trace.retrieval("search_docs").run(|span| {
            span.record_documents(&[
                Document::new("Orders can be refunded within 30 days.")
                    .id("kb-12")
                    .score(0.92)
                    .metadata("source", "refund-policy.md")
                    .metadata("page", 3),
                Document::new(long.clone()),
            ]);
        });
    });
    flushed(&client);
    let span = memory.span("search_docs").expect("retrieval span");
    assert_eq!(span.documents.len(), 2);
    let first = &span.documents[0];
    assert_eq!(first.id.as_deref(), Some("kb-12"));
    assert_eq!(first.score, Some(0.92));
    assert_eq!(
        first.content_text().as_deref(),
        Some("Orders can be refunded within 30 days.")
    );
    assert_eq!(
        first.metadata.as_ref().map(|m| Value::Object(m.clone())),
        Some(json!({ "source": "refund-policy.md", "page": 3 }))
    );
    let second = &span.documents[1];
    let content = second.content.as_ref().expect("content captured");
    assert!(content.is_truncated(), "{content:?}");
    assert!(content.len() <= 400, "{} bytes", content.len());
    assert_eq!(content.to_value()["original_bytes"], json!(long.len() + 2));
}

#[test]
fn documents_request_parameters_and_response_fields_survive_the_jsonl_file() {
    let path = std::env::temp_dir().join(format!("mv37-llm-call-{}.jsonl", std::process::id()));
    let client = Client::builder()
        .exporter(mv37::JsonlExporter::open(&path).expect("jsonl"))
        .build()
        .expect("client");
    client.trace("rag").run(|trace| {
        trace.retrieval("search_docs").run(|span| {
            span.record_documents(&[Document::new("Refunds within 30 days.").id("kb-12").score(0.5)]);
        });
        trace.llm("openai.chat").run(|span| {
            span.set_request_params(request_params_from_openai(&fixture("openai_chat_request.json")));
            span.set_response_info(response_info_from_openai(&fixture("openai_chat_completions.json")));
        });
    });
    client.shutdown().expect("shutdown");
    let text = std::fs::read_to_string(&path).expect("read");
    let _ = std::fs::remove_file(&path);
    let spans: Vec<SpanRecord> = text
        .lines()
        .filter_map(|line| match mv37::Record::from_json_line(line).expect("a record") {
            mv37::Record::Span(span) => Some(span),
            _ => None,
        })
        .collect();
    let retrieval = spans.iter().find(|s| s.name == "search_docs").expect("retrieval");
    assert_eq!(retrieval.documents[0].id.as_deref(), Some("kb-12"));
    assert_eq!(
        retrieval.documents[0].content_text().as_deref(),
        Some("Refunds within 30 days.")
    );
    let llm = spans.iter().find(|s| s.name == "openai.chat").expect("llm");
    assert_eq!(
        llm.request.as_deref(),
        Some(&request_params_from_openai(&fixture("openai_chat_request.json")))
    );
    assert_eq!(
        llm.response.as_deref(),
        Some(&response_info_from_openai(&fixture("openai_chat_completions.json")))
    );
}
