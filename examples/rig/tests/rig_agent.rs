//! A real third-party agent through the `tracing` bridge: `examples/rig/rig_agent.rs` (a
//! rig agent with a tool, against its local OpenAI-compatible server, awaited then
//! streamed) run into the memory exporter, and the tree it makes: one trace, agent → llm →
//! tool → llm, then agent → llm for the streamed follow-up, with the example's own
//! `#[mv37::task]` span inside rig's tool span.

#![allow(clippy::panic)]

#[path = "../rig_agent.rs"]
#[allow(dead_code)] // its `main`: the test calls `run` with a memory client instead
mod example;

use mv37::{Client, MemoryExporter, SpanKind, SpanRecord, Status};
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

/// Each message of a span as `{"role", "content"}`, with the call a tool result answers.
fn said(span: &SpanRecord) -> Vec<Value> {
    span.messages
        .iter()
        .map(|m| {
            let mut message = json!({ "role": m.role.as_str(), "content": m.content });
            if let Some(id) = &m.tool_call_id {
                message["tool_call_id"] = json!(id);
            }
            message
        })
        .collect()
}

fn usage(span: &SpanRecord) -> (Option<u64>, Option<u64>, Option<u64>) {
    let usage = span.usage.unwrap_or_else(|| panic!("{} has no usage", span.name));
    (usage.input_tokens, usage.output_tokens, usage.cached_tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rig_agent_run_is_one_trace_of_agent_llm_tool_llm_with_the_mv37_span_inside_the_tool() {
    // The only test of this binary: rig's spans go through the global subscriber.
    let subscriber = tracing_subscriber::registry().with(mv37::tracing::layer());
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    let memory = MemoryExporter::new();
    let client = Client::builder().exporter(memory.clone()).build().expect("a client");
    let base_url = example::fake_chat_api::start().expect("the fake API starts");

    let (answer, streamed) = example::run(&client, &base_url).await.expect("the agent answers");
    client.flush_async().await.expect("flush completes");

    assert!(answer.starts_with("Your order 4421 has shipped"), "{answer}");
    assert_eq!(streamed, "Done: the tracking link is on its way to your email.");
    let traces = memory.traces();
    assert_eq!(traces.len(), 1, "one trace: {traces:?}");
    let trace = &traces[0];
    assert_eq!(trace.name, "rig_agent");
    let mut spans = memory.spans();
    assert!(spans.iter().all(|span| span.trace_id == trace.trace_id));
    assert!(spans.iter().all(|span| span.status == Status::Ok));
    spans.sort_by_key(|span| span.start_time_unix_nano);
    let shape: Vec<(SpanKind, &str)> = spans.iter().map(|span| (span.kind.clone(), &*span.name)).collect();
    assert_eq!(
        shape,
        [
            (SpanKind::Agent, "support"),
            (SpanKind::Llm, "chat"),
            (SpanKind::Tool, "lookup_order"),
            (SpanKind::Task, "find_order"),
            (SpanKind::Llm, "chat"),
            (SpanKind::Agent, "support"),
            (SpanKind::Llm, "chat"),
        ]
    );
    let [agent, call_tool, tool, find_order, answer_call, follow_up, streamed_call] = &spans[..] else {
        unreachable!("checked above")
    };

    // The tree: rig's spans under the mv37 trace, the mv37 task under rig's tool span.
    let parent_of = |span: &SpanRecord| span.parent_span_id;
    assert_eq!(parent_of(agent), Some(trace.span_id));
    for child in [call_tool, tool, answer_call] {
        assert_eq!(parent_of(child), Some(agent.span_id), "{} under the agent", child.name);
    }
    assert_eq!(
        parent_of(find_order),
        Some(tool.span_id),
        "the mv37 task inside rig's tool"
    );
    assert_eq!(parent_of(follow_up), Some(trace.span_id));
    assert_eq!(parent_of(streamed_call), Some(follow_up.span_id));

    let payload = |value: Option<&mv37::Payload>| value.map(mv37::Payload::to_value);

    // The model calls: model, provider, response, usage (each its own), messages.
    for call in [call_tool, answer_call, streamed_call] {
        assert_eq!(call.model.as_deref(), Some("gpt-4.1-mini"));
        assert_eq!(call.provider.as_deref(), Some("openai"));
        let response_model = call.response.as_ref().and_then(|r| r.model.as_deref());
        assert_eq!(response_model, Some(example::fake_chat_api::RESPONSE_MODEL));
    }
    assert_eq!(usage(call_tool), (Some(412), Some(19), Some(256)));
    assert_eq!(usage(answer_call), (Some(468), Some(17), Some(384)));
    assert_eq!(usage(streamed_call), (Some(505), Some(12), Some(448)));
    let system = json!({ "role": "system", "content": "You are a support agent. Use the tools to answer." });
    let question = json!({ "role": "user", "content": "Where is my order 4421?" });
    let tool_call = json!({ "role": "assistant", "content": [{
        "type": "tool_call", "id": "call_lookup_4421", "name": "lookup_order", "arguments": { "order_id": "4421" }
    }] });
    assert_eq!(said(call_tool), [system.clone(), question.clone(), tool_call.clone()]);
    // The tool's result comes back as a tool message (rig sends it in a user message).
    let result = payload(find_order.output.as_ref())
        .expect("the task's output")
        .to_string();
    let tool_result = json!({ "role": "tool", "tool_call_id": "call_lookup_4421", "content": result });
    let answered = json!({ "role": "assistant", "content": answer });
    assert_eq!(
        said(answer_call),
        [system.clone(), question, tool_call, tool_result, answered]
    );
    let follow_up_question = json!({ "role": "user", "content": "Thanks! Can you send that to my email too?" });
    let streamed_answer = json!({ "role": "assistant", "content": streamed });
    assert_eq!(said(streamed_call), [system, follow_up_question, streamed_answer]);
    assert_eq!(
        streamed_call.attributes.get("gen_ai.request.stream"),
        Some(&json!(true))
    );
    assert_eq!(call_tool.attributes.get("gen_ai.request.stream"), Some(&json!(false)));

    // The tool: its call id, arguments and result; the task inside it, its own input.
    assert_eq!(tool.attributes.get("tool_call_id"), Some(&json!("call_lookup_4421")));
    assert_eq!(payload(tool.input.as_ref()), Some(json!({ "order_id": "4421" })));
    assert_eq!(payload(tool.output.as_ref()), payload(find_order.output.as_ref()));
    assert_eq!(payload(find_order.input.as_ref()), Some(json!({ "order_id": "4421" })));

    // The agent runs: prompt and answer; their token totals only as attributes (the
    // model calls under them carry the usage).
    assert_eq!(payload(agent.input.as_ref()), Some(json!("Where is my order 4421?")));
    assert_eq!(payload(agent.output.as_ref()), Some(json!(answer)));
    assert_eq!(agent.usage, None);
    assert_eq!(
        agent.attributes.get("gen_ai.usage.input_tokens"),
        Some(&json!(412 + 468))
    );
    assert_eq!(follow_up.attributes.get("gen_ai.usage.output_tokens"), Some(&json!(12)));
}
