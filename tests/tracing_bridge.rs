//! The `tracing` bridge: `tracing` spans with GenAI fields recorded as mv37 spans, nested
//! with mv37's own spans both ways, in sync code, across `.await` and into spawned tasks;
//! events as span events; filtering; implicit traces.

#![cfg(feature = "tracing")]
#![allow(clippy::panic)]

mod support;

use std::sync::OnceLock;

use mv37::{Client, FutureExt as _, MemoryExporter, Record, SpanKind, Status};
use serde_json::{json, Value};
use support::memory::{flushed, memory_client};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// One subscriber for the whole test binary (spawned tasks run on threads that see only
/// the global default): the layer with no client of its own, plus `tests::allowed`.
fn install_layer() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let layer = mv37::tracing::layer()
            .with_target("tracing_bridge::allowed")
            .event_level(tracing::Level::INFO);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
}

fn client() -> (Client, MemoryExporter) {
    install_layer();
    memory_client()
}

mod allowed {
    /// A span of a target the layer was told to record, with no GenAI field.
    pub fn checkout() -> tracing::Span {
        tracing::info_span!("checkout", cart = 3)
    }
}

#[test]
fn a_genai_chat_span_inside_an_mv37_trace_is_an_llm_child_with_model_usage_and_messages() {
    let (client, memory) = client();
    client.trace("answer").run(|_| {
        let chat = tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-4.1-mini",
            gen_ai.provider.name = "openai",
            gen_ai.request.temperature = 0.2,
            gen_ai.input.messages = r#"[{"role":"user","parts":[{"type":"text","content":"Where is 4421?"}]}]"#,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            gen_ai.response.id = tracing::field::Empty,
            gen_ai.output.messages = tracing::field::Empty,
        );
        let _entered = chat.enter();
        // Recorded later, as clients do once the response is in.
        chat.record("gen_ai.usage.input_tokens", 40);
        chat.record("gen_ai.usage.output_tokens", 7);
        chat.record("gen_ai.response.id", "chatcmpl-1");
        chat.record(
            "gen_ai.output.messages",
            r#"[{"role":"assistant","parts":[{"type":"text","content":"Shipped."}],"finish_reason":"stop"}]"#,
        );
    });
    flushed(&client);
    let trace = memory.trace("answer").expect("trace");
    let chat = memory.span("chat").expect("the tracing span, as an mv37 span");
    assert_eq!(chat.kind, SpanKind::Llm);
    assert_eq!(chat.parent_span_id, Some(trace.span_id));
    assert_eq!(chat.model.as_deref(), Some("gpt-4.1-mini"));
    assert_eq!(chat.provider.as_deref(), Some("openai"));
    let usage = chat.usage.expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(40), Some(7), Some(47))
    );
    assert_eq!(chat.request.as_ref().and_then(|r| r.temperature), Some(0.2));
    assert_eq!(chat.response.as_ref().and_then(|r| r.id.as_deref()), Some("chatcmpl-1"));
    let said: Vec<String> = chat
        .messages
        .iter()
        .map(|m| format!("{}: {}", m.role.as_str(), json!(m.content)))
        .collect();
    assert_eq!(said, [r#"user: "Where is 4421?""#, r#"assistant: "Shipped.""#]);
    assert!(
        chat.attributes.is_empty(),
        "every field was a GenAI field: {:?}",
        chat.attributes
    );
}

#[test]
fn nesting_holds_both_ways_in_sync_code() {
    let (client, memory) = client();
    client.trace("agent_run").run(|trace| {
        trace.task("plan").run(|_| {
            let agent = tracing::info_span!(
                "invoke_agent",
                gen_ai.operation.name = "invoke_agent",
                gen_ai.agent.name = "support"
            );
            let _agent = agent.enter();
            // An mv37 span inside the bridged span is its child...
            mv37::current_trace().tool("lookup").run(|_| {
                // ...and a bridged span inside that mv37 span is the mv37 span's child.
                let tool = tracing::info_span!(
                    "execute_tool",
                    gen_ai.operation.name = "execute_tool",
                    gen_ai.tool.name = "carrier_eta",
                    gen_ai.tool.call.arguments = r#"{"order":"4421"}"#,
                    gen_ai.tool.call.id = "call_9"
                );
                let _tool = tool.enter();
            });
        });
    });
    flushed(&client);
    let plan = memory.span("plan").expect("plan");
    let agent = memory.span("support").expect("the agent, named by gen_ai.agent.name");
    let lookup = memory.span("lookup").expect("lookup");
    let eta = memory.span("carrier_eta").expect("the tool, named by gen_ai.tool.name");
    assert_eq!(agent.kind, SpanKind::Agent);
    assert_eq!(agent.parent_span_id, Some(plan.span_id));
    assert_eq!(lookup.parent_span_id, Some(agent.span_id));
    assert_eq!(eta.parent_span_id, Some(lookup.span_id));
    assert_eq!(eta.kind, SpanKind::Tool);
    assert_eq!(eta.input.as_ref().map(|p| p.to_value()), Some(json!({"order": "4421"})));
    assert_eq!(eta.attributes.get("tool_call_id"), Some(&json!("call_9")));
}

#[test]
fn nesting_holds_across_await_and_into_spawned_tasks() {
    let (client, memory) = client();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(client.trace("async_run").run_async(|_| async {
        let chat = tracing::info_span!("chat", gen_ai.operation.name = "chat", gen_ai.request.model = "m");
        async {
            tokio::task::yield_now().await;
            mv37::current_trace().task("inside_chat").run(|_| {});
            // A task spawned inside the bridged span, carrying the mv37 context.
            let spawned = tokio::spawn(
                async {
                    tokio::task::yield_now().await;
                    mv37::current_trace().tool("spawned_tool").run(|_| {});
                }
                .with_context(mv37::Context::current()),
            );
            spawned.await.expect("joined");
            // And a bridged span carried into a spawned task with `Instrument`.
            let tool = tracing::info_span!(
                "execute_tool",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = "instrumented_tool"
            );
            tokio::spawn(
                async {
                    tokio::task::yield_now().await;
                    mv37::current_trace().task("under_instrumented").run(|_| {});
                }
                .instrument(tool),
            )
            .await
            .expect("joined");
        }
        .instrument(chat)
        .await;
    }));
    flushed(&client);
    let trace = memory.trace("async_run").expect("trace");
    let chat = memory.span("chat").expect("chat");
    assert_eq!(chat.parent_span_id, Some(trace.span_id));
    for (child, parent) in [
        ("inside_chat", "chat"),
        ("spawned_tool", "chat"),
        ("instrumented_tool", "chat"),
        ("under_instrumented", "instrumented_tool"),
    ] {
        let child = memory.span(child).unwrap_or_else(|| panic!("no span {child}"));
        let parent = memory.span(parent).unwrap_or_else(|| panic!("no span {parent}"));
        assert_eq!(
            child.parent_span_id,
            Some(parent.span_id),
            "{} under {}",
            child.name,
            parent.name
        );
        assert_eq!(child.trace_id, trace.trace_id);
    }
}

#[test]
fn spans_without_genai_fields_are_transparent_unless_their_target_is_allowed() {
    let (client, memory) = client();
    client.trace("filtered").run(|trace| {
        trace.task("outer").run(|_| {
            let noise = tracing::info_span!("http_request", method = "GET");
            let _noise = noise.enter();
            mv37::current_trace().tool("under_noise").run(|_| {});
            let checkout = allowed::checkout();
            let _checkout = checkout.enter();
            mv37::current_trace().tool("under_checkout").run(|_| {});
        });
    });
    flushed(&client);
    assert!(memory.span("http_request").is_none(), "HTTP noise stays out");
    let outer = memory.span("outer").expect("outer");
    assert_eq!(
        memory.span("under_noise").expect("span").parent_span_id,
        Some(outer.span_id)
    );
    let checkout = memory.span("checkout").expect("an allowed target is recorded");
    assert_eq!(checkout.kind, SpanKind::Span);
    assert_eq!(checkout.attributes.get("cart"), Some(&json!(3)));
    assert_eq!(
        memory.span("under_checkout").expect("span").parent_span_id,
        Some(checkout.span_id)
    );
}

#[test]
fn a_bridged_span_with_no_trace_around_it_starts_an_implicit_trace() {
    let (client, memory) = client();
    {
        let _default = client.set_default();
        let chat = tracing::info_span!("chat", gen_ai.operation.name = "chat", gen_ai.request.model = "m");
        let _entered = chat.enter();
        mv37::current_trace().tool("inside").run(|_| {});
    }
    flushed(&client);
    let trace = memory.trace("chat").expect("an implicit trace named after the span");
    let chat = memory.span("chat").expect("the span itself");
    assert_eq!(chat.parent_span_id, Some(trace.span_id));
    assert_eq!(memory.span("inside").expect("span").parent_span_id, Some(chat.span_id));
}

#[test]
fn events_become_span_events_and_only_otel_status_code_fails_a_span() {
    let (client, memory) = client();
    client.trace("events").run(|_| {
        let chat = tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            otel.status_code = tracing::field::Empty
        );
        let _entered = chat.enter();
        tracing::info!(attempt = 2, "calling the model");
        tracing::debug!("below the event level: not recorded");
        tracing::error!(code = 429, "rate limited, retrying");
        let tool = tracing::info_span!(
            "execute_tool",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = "broken",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty
        );
        let _tool = tool.enter();
        tool.record("otel.status_code", "ERROR");
        tool.record("otel.status_description", "carrier API down");
    });
    flushed(&client);
    let chat = memory.span("chat").expect("chat");
    assert_eq!(chat.status, Status::Ok, "an error event alone does not fail the span");
    let events: Vec<(&str, &str)> = chat
        .events
        .iter()
        .map(|e| (e.name.as_str(), e.attributes["level"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        events,
        [("calling the model", "INFO"), ("rate limited, retrying", "ERROR")]
    );
    assert_eq!(chat.events[0].attributes["attempt"], json!(2));
    assert_eq!(chat.events[0].attributes["target"], json!("tracing_bridge"));
    let broken = memory.span("broken").expect("tool");
    assert_eq!(broken.status, Status::Error);
    assert_eq!(
        broken.error.as_ref().map(|e| e.message.as_str()),
        Some("carrier API down")
    );
}

#[test]
fn events_inside_an_mv37_span_are_kept_on_it() {
    let (client, memory) = client();
    client.trace("logged").run(|trace| {
        trace.task("step").run(|_| {
            tracing::warn!(retries = 3, "slow upstream");
        });
    });
    flushed(&client);
    let step = memory.span("step").expect("step");
    assert_eq!(step.events.len(), 1);
    assert_eq!(step.events[0].name, "slow upstream");
    assert_eq!(step.events[0].attributes["level"], json!("WARN"));
    let records = memory.records();
    let Some(Record::Span(span)) = records
        .iter()
        .find(|r| matches!(r, Record::Span(s) if s.name == "step"))
    else {
        panic!("no span record")
    };
    let line = serde_json::to_string(span).expect("serializes");
    assert!(line.contains(r#""events":[{"#), "{line}");
}

#[test]
fn an_operation_and_tool_name_recorded_late_retype_and_rename_the_span() {
    let (client, memory) = client();
    client.trace("late").run(|_| {
        let span = tracing::info_span!(
            "agent_step",
            gen_ai.operation.name = tracing::field::Empty,
            gen_ai.tool.name = tracing::field::Empty
        );
        let _entered = span.enter();
        span.record("gen_ai.operation.name", "execute_tool");
        span.record("gen_ai.tool.name", "lookup_order");
    });
    flushed(&client);
    assert!(memory.span("agent_step").is_none(), "renamed");
    let tool = memory
        .span("lookup_order")
        .expect("the tool span, under its tool's name");
    assert_eq!(tool.kind, SpanKind::Tool);
}

/// A chat span as rig opens it: the system instructions (GenAI parts) at the start, the
/// input and output messages recorded later.
fn rig_chat_span() -> tracing::Span {
    tracing::info_span!(
        "chat",
        gen_ai.operation.name = "chat",
        gen_ai.system_instructions = r#"[{"type":"text","content":"Be brief."}]"#,
        gen_ai.input.messages = tracing::field::Empty,
        gen_ai.output.messages = tracing::field::Empty,
        gen_ai.request.stream = tracing::field::Empty,
    )
}

#[test]
fn system_instructions_recorded_again_or_repeated_in_the_input_are_one_system_message() {
    let (client, memory) = client();
    client.trace("instructed").run(|_| {
        let chat = rig_chat_span();
        let _entered = chat.enter();
        // rig records them again when its model call adopts the span, and sends the
        // preamble as the first input message too.
        chat.record("gen_ai.system_instructions", r#"[{"type":"text","content":"Be brief."}]"#);
        // Some emitters send them as a message.
        chat.record(
            "gen_ai.system_instructions",
            r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]}]"#,
        );
        let input = r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},{"role":"user","parts":[{"type":"text","content":"Hi"}]}]"#;
        chat.record("gen_ai.input.messages", input);
        chat.record("gen_ai.input.messages", input);
    });
    flushed(&client);
    let chat = memory.span("chat").expect("chat");
    let said: Vec<Value> = chat
        .messages
        .iter()
        .map(|m| json!({ "role": m.role.as_str(), "content": m.content }))
        .collect();
    assert_eq!(
        said,
        [
            json!({ "role": "system", "content": "Be brief." }),
            json!({ "role": "user", "content": "Hi" }),
        ]
    );
}

#[test]
fn a_tool_call_response_is_a_tool_message_answering_its_call() {
    let (client, memory) = client();
    client.trace("answered").run(|_| {
        let chat = rig_chat_span();
        let _entered = chat.enter();
        // rig sends tool results in a user message, with any other part after them.
        chat.record(
            "gen_ai.input.messages",
            r#"[{"role":"user","parts":[
                {"type":"tool_call_response","id":"call_1","response":{"eta":"Friday"}},
                {"type":"tool_call_response","id":"call_2","response":"refunded"},
                {"type":"text","content":"Anything else?"}]}]"#,
        );
    });
    flushed(&client);
    let chat = memory.span("chat").expect("chat");
    let said: Vec<(&str, Option<&str>, Value)> = chat
        .messages
        .iter()
        .map(|m| (m.role.as_str(), m.tool_call_id.as_deref(), json!(m.content)))
        .collect();
    assert_eq!(
        said[1..], // after the system instructions
        [
            ("tool", Some("call_1"), json!(r#"{"eta":"Friday"}"#)),
            ("tool", Some("call_2"), json!("refunded")),
            ("user", None, json!("Anything else?")),
        ]
    );
}

#[test]
fn usage_on_an_agent_span_stays_in_attributes_and_a_streamed_call_says_so() {
    let (client, memory) = client();
    client.trace("totals").run(|_| {
        let agent = tracing::info_span!(
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = "support",
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
        );
        let _agent = agent.enter();
        {
            let chat = rig_chat_span();
            let _chat = chat.enter();
            chat.record("gen_ai.request.stream", true);
        }
        // rig's run totals: the sum of the model calls under the agent.
        agent.record("gen_ai.usage.input_tokens", 880);
        agent.record("gen_ai.usage.output_tokens", 36);
    });
    flushed(&client);
    let agent = memory.span("support").expect("agent");
    assert_eq!(agent.usage, None, "not counted a second time");
    assert_eq!(agent.attributes.get("gen_ai.usage.input_tokens"), Some(&json!(880)));
    assert_eq!(agent.attributes.get("gen_ai.usage.output_tokens"), Some(&json!(36)));
    let chat = memory.span("chat").expect("chat");
    assert_eq!(chat.attributes.get("gen_ai.request.stream"), Some(&json!(true)));
}

#[test]
fn a_tool_call_whose_outcome_is_error_fails_the_tool_span() {
    let (client, memory) = client();
    client.trace("tools").run(|_| {
        for (name, outcome) in [("carrier_eta", "error"), ("lookup_order", "success")] {
            // As rig records a tool call: identity, then outcome and error type.
            let tool = tracing::info_span!(
                "execute_tool",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = name,
                gen_ai.tool.call.outcome = tracing::field::Empty,
                gen_ai.tool.error.type = tracing::field::Empty,
            );
            let _entered = tool.enter();
            tool.record("gen_ai.tool.call.outcome", outcome);
            if outcome == "error" {
                tool.record("gen_ai.tool.error.type", "execution");
            }
        }
    });
    flushed(&client);
    let failed = memory.span("carrier_eta").expect("tool");
    assert_eq!(failed.status, Status::Error);
    assert_eq!(failed.error.as_ref().map(|e| e.message.as_str()), Some("execution"));
    assert_eq!(memory.span("lookup_order").expect("tool").status, Status::Ok);
}
