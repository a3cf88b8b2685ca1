//! The OpenTelemetry GenAI conventions in the OTLP output: records made through the
//! public API, encoded to protobuf by the OTLP encoder, decoded with the official types,
//! and read back attribute by attribute (docs/OTLP.md lists what each one means).

// The OTLP encoder comes with the `otlp` feature (on by default).
#![cfg(feature = "otlp")]
// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::collections::HashMap;

use mv37::{
    request_params_from_openai, response_info_from_anthropic, Client, ContentPart, Document, MemoryExporter,
    OtlpEncoder, OtlpProtocol, RequestParams, ResourceInfo, ResponseInfo, Role, Usage, TTFT_MS_ATTRIBUTE,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message;
use serde_json::{json, Value};
use support::memory::{flushed, memory_client};

/// What `record` produced, through the OTLP encoder and back: the spans by OTLP name.
fn otlp_spans(record: impl FnOnce(&Client)) -> HashMap<String, Span> {
    let (client, memory) = memory_client();
    encoded(&client, &memory, record)
}

/// Like [`otlp_spans`], with a client that captures no content.
fn otlp_spans_without_content(record: impl FnOnce(&Client)) -> HashMap<String, Span> {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .capture_content(false)
        .build()
        .expect("builds");
    encoded(&client, &memory, record)
}

fn encoded(client: &Client, memory: &MemoryExporter, record: impl FnOnce(&Client)) -> HashMap<String, Span> {
    record(client);
    flushed(client);
    let body = OtlpEncoder::new(&ResourceInfo::default())
        .encode(&memory.records(), OtlpProtocol::Protobuf)
        .expect("encodes");
    let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes as OTLP protobuf");
    request
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|span| (span.name.clone(), span))
        .collect()
}

fn attributes(span: &Span) -> HashMap<&str, &AnyValue> {
    span.attributes
        .iter()
        .filter_map(|kv| Some((kv.key.as_str(), kv.value.as_ref()?.value.as_ref()?)))
        .collect()
}

fn text<'a>(attributes: &HashMap<&str, &'a AnyValue>, key: &str) -> &'a str {
    match attributes.get(key) {
        Some(AnyValue::StringValue(text)) => text,
        other => panic!("{key}: expected a string, got {other:?}"),
    }
}

fn int(attributes: &HashMap<&str, &AnyValue>, key: &str) -> i64 {
    match attributes.get(key) {
        Some(AnyValue::IntValue(value)) => *value,
        other => panic!("{key}: expected an int, got {other:?}"),
    }
}

fn json_text(attributes: &HashMap<&str, &AnyValue>, key: &str) -> Value {
    serde_json::from_str(text(attributes, key)).unwrap_or_else(|e| panic!("{key}: not JSON: {e}"))
}

fn span<'a>(spans: &'a HashMap<String, Span>, name: &str) -> &'a Span {
    spans
        .get(name)
        .unwrap_or_else(|| panic!("no span {name:?} in {:?}", spans.keys().collect::<Vec<_>>()))
}

fn status_code(span: &Span) -> Option<i32> {
    span.status.as_ref().map(|s| s.code)
}

#[test]
fn an_llm_span_is_named_after_its_operation_and_model_and_keeps_its_own_name() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("openai.responses").model("gpt-4.1-mini").run(|_| {});
        });
    });
    let llm = span(&spans, "chat gpt-4.1-mini");
    let attrs = attributes(llm);
    assert_eq!(text(&attrs, "gen_ai.operation.name"), "chat");
    assert_eq!(text(&attrs, "mv37.span.name"), "openai.responses");
}

#[test]
fn the_provider_goes_out_under_its_registered_name_and_gen_ai_system_is_gone() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("azure call").model("gpt-4o").provider("Azure").run(|_| {});
            trace.llm("openai call").model("gpt-4.1").provider("OpenAI").run(|_| {});
            trace
                .llm("local call")
                .model("llama")
                .provider("My-Local-LLM")
                .run(|_| {});
        });
    });
    for (name, provider) in [
        ("chat gpt-4o", "azure.ai.openai"),
        ("chat gpt-4.1", "openai"),
        ("chat llama", "my-local-llm"),
    ] {
        let attrs = attributes(span(&spans, name));
        assert_eq!(text(&attrs, "gen_ai.provider.name"), provider, "{name}");
        assert!(
            !attrs.contains_key("gen_ai.system"),
            "{name}: deprecated gen_ai.system sent"
        );
    }
    // OpenInference keeps the provider as written.
    assert_eq!(text(&attributes(span(&spans, "chat gpt-4o")), "llm.provider"), "Azure");
}

#[test]
fn token_usage_uses_the_current_names_including_cache_writes() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("anthropic.messages").model("claude-sonnet-4-5").run(|span| {
                span.set_usage(Usage {
                    input_tokens: Some(3372),
                    output_tokens: Some(187),
                    cached_tokens: Some(3120),
                    cache_write_tokens: Some(210),
                    reasoning_tokens: Some(40),
                    ..Usage::default()
                });
            });
        });
    });
    let attrs = attributes(span(&spans, "chat claude-sonnet-4-5"));
    assert_eq!(int(&attrs, "gen_ai.usage.input_tokens"), 3372);
    assert_eq!(int(&attrs, "gen_ai.usage.cache_read.input_tokens"), 3120);
    assert_eq!(int(&attrs, "gen_ai.usage.cache_creation.input_tokens"), 210);
    assert_eq!(int(&attrs, "gen_ai.usage.reasoning.output_tokens"), 40);
    assert_eq!(int(&attrs, "llm.token_count.prompt_details.cache_write"), 210);
    assert_eq!(int(&attrs, "llm.token_count.prompt_details.cache_read"), 3120);
    assert!(
        !attrs.contains_key("gen_ai.usage.reasoning_tokens"),
        "the old name is not sent"
    );
}

#[test]
fn messages_are_gen_ai_attributes_in_the_conventions_json_not_events() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("openai.chat").model("gpt-4.1-mini").run(|span| {
                span.message(Role::System, "Be brief.");
                span.message(Role::User, "Refund order 4421");
                span.message(
                    Role::Assistant,
                    ContentPart::tool_call("call_1", "issue_refund", json!({"order": "4421"})),
                );
                span.message(Role::Tool, "refunded").tool_call_id("call_1");
                span.message(Role::Assistant, "Thinking about tone.").internal();
                span.message(Role::Assistant, "Done: refunded.");
            });
        });
    });
    let llm = span(&spans, "chat gpt-4.1-mini");
    let attrs = attributes(llm);
    assert_eq!(
        json_text(&attrs, "gen_ai.system_instructions"),
        json!([{"type": "text", "content": "Be brief."}])
    );
    assert_eq!(
        json_text(&attrs, "gen_ai.input.messages"),
        json!([
            {"role": "user", "parts": [{"type": "text", "content": "Refund order 4421"}]},
            {"role": "assistant", "parts": [
                {"type": "tool_call", "id": "call_1", "name": "issue_refund", "arguments": {"order": "4421"}}
            ]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "refunded"}]}
        ])
    );
    assert_eq!(
        json_text(&attrs, "gen_ai.output.messages"),
        json!([
            {"role": "assistant", "finish_reason": "stop", "mv37.is_internal": true,
             "parts": [{"type": "text", "content": "Thinking about tone."}]},
            {"role": "assistant", "finish_reason": "stop",
             "parts": [{"type": "text", "content": "Done: refunded."}]}
        ])
    );
    // The internal marker in OpenInference's flattened messages too.
    assert_eq!(
        attrs.get("llm.output_messages.0.mv37.is_internal"),
        Some(&&AnyValue::BoolValue(true))
    );
    assert!(!attrs.contains_key("llm.output_messages.1.mv37.is_internal"));
    assert!(
        llm.events.iter().all(|e| !e.name.starts_with("gen_ai.")),
        "per-message events are gone: {:?}",
        llm.events
    );
}

#[test]
fn a_tool_span_carries_the_tool_call_and_is_named_execute_tool() {
    let spans = otlp_spans(|client| {
        client.trace("agent").run(|trace| {
            trace
                .tool("issue_refund")
                .arguments(&json!({"order": "4421"}))
                .run(|span| {
                    span.set_attribute("tool_call_id", "call_1");
                    span.record_output(&json!({"refunded": true}));
                });
        });
    });
    let tool = span(&spans, "execute_tool issue_refund");
    let attrs = attributes(tool);
    assert_eq!(text(&attrs, "gen_ai.operation.name"), "execute_tool");
    assert_eq!(text(&attrs, "gen_ai.tool.name"), "issue_refund");
    assert_eq!(text(&attrs, "gen_ai.tool.type"), "function");
    assert_eq!(text(&attrs, "gen_ai.tool.call.id"), "call_1");
    assert_eq!(
        json_text(&attrs, "gen_ai.tool.call.arguments"),
        json!({"order": "4421"})
    );
    assert_eq!(json_text(&attrs, "gen_ai.tool.call.result"), json!({"refunded": true}));
    assert_eq!(text(&attrs, "mv37.span.name"), "issue_refund");
    assert_eq!(text(&attrs, "tool.name"), "issue_refund");
}

#[test]
fn retrieval_and_embedding_spans_name_their_operation() {
    let spans = otlp_spans(|client| {
        client.trace("rag").run(|trace| {
            trace.retrieval("search_docs").run(|_| {});
            trace.span("embedding").model("text-embedding-3-small").run(|_| {});
            trace.task("plan").run(|_| {});
        });
    });
    let retrieval = attributes(span(&spans, "search_docs"));
    assert_eq!(text(&retrieval, "gen_ai.operation.name"), "retrieval");
    let embedding = attributes(span(&spans, "embeddings text-embedding-3-small"));
    assert_eq!(text(&embedding, "gen_ai.operation.name"), "embeddings");
    assert_eq!(text(&embedding, "gen_ai.request.model"), "text-embedding-3-small");
    let task = attributes(span(&spans, "plan"));
    assert!(
        !task.contains_key("gen_ai.operation.name"),
        "no GenAI operation for a task"
    );
    assert!(!task.contains_key("mv37.span.name"), "a task keeps its name");
}

#[test]
fn time_to_first_token_is_also_sent_in_seconds() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("stream").model("gpt-4.1-mini").run(|span| {
                span.set_attribute(TTFT_MS_ATTRIBUTE, 250.0);
            });
        });
    });
    let attrs = attributes(span(&spans, "chat gpt-4.1-mini"));
    assert_eq!(
        attrs.get("gen_ai.response.time_to_first_chunk"),
        Some(&&AnyValue::DoubleValue(0.25))
    );
    assert_eq!(attrs.get(TTFT_MS_ATTRIBUTE), Some(&&AnyValue::DoubleValue(250.0)));
}

#[test]
fn a_successful_span_is_ok_and_a_failure_has_a_short_error_type() {
    let spans = otlp_spans(|client| {
        client.trace("agent").run(|trace| {
            trace.task("fine").run(|_| {});
            let _ = trace
                .task("io")
                .try_run(|_| Err::<(), _>(std::io::Error::other("disk full")));
            let _ = trace.task("text").try_run(|_| Err::<(), _>("no reason given"));
        });
    });
    assert_eq!(status_code(span(&spans, "fine")), Some(StatusCode::Ok as i32));
    assert_eq!(
        status_code(span(&spans, "agent")),
        Some(StatusCode::Ok as i32),
        "the trace's root"
    );
    let io = span(&spans, "io");
    assert_eq!(status_code(io), Some(StatusCode::Error as i32));
    assert_eq!(text(&attributes(io), "error.type"), "io::Error");
    // The exception event keeps the full type name.
    let exception = io
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("exception event");
    let exception_attrs: HashMap<&str, &AnyValue> = exception
        .attributes
        .iter()
        .filter_map(|kv| Some((kv.key.as_str(), kv.value.as_ref()?.value.as_ref()?)))
        .collect();
    assert_eq!(text(&exception_attrs, "exception.type"), "std::io::error::Error");
    assert_eq!(text(&attributes(span(&spans, "text")), "error.type"), "_OTHER");
}

#[test]
fn an_internal_message_of_the_trace_keeps_its_marker_on_the_root_span() {
    let spans = otlp_spans(|client| {
        client.trace("agent").run(|trace| {
            trace.message(Role::Assistant, "scratchpad").internal();
        });
    });
    let root = attributes(span(&spans, "agent"));
    let output = json_text(&root, "gen_ai.output.messages");
    assert_eq!(output[0]["mv37.is_internal"], json!(true), "{output}");
}

#[test]
fn an_agent_span_is_invoke_agent_with_its_name_id_model_and_provider() {
    let spans = otlp_spans(|client| {
        client.trace("support").run(|trace| {
            trace
                .agent("refund_agent")
                .model("gpt-4.1")
                .provider("OpenAI")
                .attribute("agent_id", "asst_42")
                .attribute("gen_ai.agent.description", "Issues refunds")
                .run(|_| {
                    trace.tool("issue_refund").run(|_| {});
                });
        });
    });
    let agent = span(&spans, "invoke_agent refund_agent");
    let attrs = attributes(agent);
    assert_eq!(text(&attrs, "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(text(&attrs, "gen_ai.agent.name"), "refund_agent");
    assert_eq!(text(&attrs, "gen_ai.agent.id"), "asst_42");
    assert_eq!(text(&attrs, "gen_ai.agent.description"), "Issues refunds");
    assert_eq!(text(&attrs, "openinference.span.kind"), "AGENT");
    assert_eq!(text(&attrs, "mv37.kind"), "agent");
    assert_eq!(text(&attrs, "mv37.span.name"), "refund_agent");
    assert_eq!(text(&attrs, "gen_ai.request.model"), "gpt-4.1");
    assert_eq!(text(&attrs, "llm.model_name"), "gpt-4.1");
    assert_eq!(text(&attrs, "gen_ai.provider.name"), "openai");
    assert_eq!(text(&attrs, "llm.provider"), "OpenAI");
    assert_eq!(agent.kind, SpanKind::Internal as i32, "an in-process agent");
    let tool = span(&spans, "execute_tool issue_refund");
    assert_eq!(tool.parent_span_id, agent.span_id, "its steps nest under it");
}

#[test]
fn a_gen_ai_agent_id_set_by_hand_wins_over_agent_id() {
    let spans = otlp_spans(|client| {
        client.trace("support").run(|trace| {
            trace
                .agent("planner")
                .attribute("gen_ai.agent.id", "agent-7")
                .attribute("agent_id", "ignored")
                .run(|_| {});
            trace.agent("anonymous").run(|_| {});
        });
    });
    let planner = span(&spans, "invoke_agent planner");
    let ids: Vec<_> = planner
        .attributes
        .iter()
        .filter(|kv| kv.key == "gen_ai.agent.id")
        .collect();
    assert_eq!(ids.len(), 1, "sent once: {ids:?}");
    assert_eq!(text(&attributes(planner), "gen_ai.agent.id"), "agent-7");
    let anonymous = attributes(span(&spans, "invoke_agent anonymous"));
    assert!(!anonymous.contains_key("gen_ai.agent.id"));
    assert!(!anonymous.contains_key("gen_ai.request.model"));
}

/// Every attribute that carries content, in both conventions.
const CONTENT_KEYS: [&str; 9] = [
    "input.value",
    "output.value",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "tool.parameters",
    "llm.input_messages.0.message.content",
];

fn a_turn_with_content(client: &Client) {
    client
        .trace("support")
        .input(&json!({"question": "Refund order 4421"}))
        .run(|trace| {
            trace.message(Role::User, "Refund order 4421");
            trace.llm("openai.chat").model("gpt-4.1-mini").run(|span| {
                span.record_input(&json!({"prompt": "Refund order 4421"}));
                span.message(Role::System, "Be brief.");
                span.message(Role::User, "Refund order 4421");
                span.message(Role::Assistant, "Refunded.");
                span.record_output(&"Refunded.");
                span.set_usage(Usage {
                    input_tokens: Some(12),
                    output_tokens: Some(3),
                    ..Usage::default()
                });
            });
            trace
                .tool("issue_refund")
                .arguments(&json!({"order": "4421"}))
                .run(|span| span.record_output(&json!({"refunded": true})));
            trace.record_output(&"Refunded.");
        });
}

#[test]
fn with_content_capture_off_no_content_attribute_is_sent_but_the_rest_is() {
    let spans = otlp_spans_without_content(a_turn_with_content);
    for (name, span) in &spans {
        let attrs = attributes(span);
        for key in CONTENT_KEYS {
            assert!(!attrs.contains_key(key), "{name}: {key} sent");
        }
        assert!(
            !attrs
                .keys()
                .any(|key| key.starts_with("llm.input_messages.") || key.starts_with("llm.output_messages.")),
            "{name}: OpenInference messages sent"
        );
    }
    let llm = attributes(span(&spans, "chat gpt-4.1-mini"));
    assert_eq!(text(&llm, "gen_ai.request.model"), "gpt-4.1-mini");
    assert_eq!(int(&llm, "gen_ai.usage.input_tokens"), 12);
    let tool = attributes(span(&spans, "execute_tool issue_refund"));
    assert_eq!(text(&tool, "gen_ai.tool.name"), "issue_refund");
    assert_eq!(status_code(span(&spans, "support")), Some(StatusCode::Ok as i32));
}

#[test]
fn by_default_the_same_turn_sends_its_content() {
    let spans = otlp_spans(a_turn_with_content);
    let sent: Vec<&str> = spans
        .values()
        .flat_map(|span| span.attributes.iter().map(|kv| kv.key.as_str()))
        .collect();
    for key in CONTENT_KEYS {
        assert!(sent.contains(&key), "{key} not sent");
    }
}

fn double(attributes: &HashMap<&str, &AnyValue>, key: &str) -> f64 {
    match attributes.get(key) {
        Some(AnyValue::DoubleValue(value)) => *value,
        other => panic!("{key}: expected a double, got {other:?}"),
    }
}

fn strings(attributes: &HashMap<&str, &AnyValue>, key: &str) -> Vec<String> {
    match attributes.get(key) {
        Some(AnyValue::ArrayValue(array)) => array
            .values
            .iter()
            .map(|value| match &value.value {
                Some(AnyValue::StringValue(text)) => text.clone(),
                other => panic!("{key}: expected strings, got {other:?}"),
            })
            .collect(),
        other => panic!("{key}: expected an array, got {other:?}"),
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

#[test]
fn request_parameters_go_out_with_the_types_the_registry_gives_them() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("openai.chat").model("gpt-4.1-mini").run(|span| {
                let request = fixture("openai_chat_request.json");
                span.set_request_params(request_params_from_openai(&request).server_url("https://api.openai.com/v1"));
            });
        });
    });
    let attrs = attributes(span(&spans, "chat gpt-4.1-mini"));
    assert_eq!(double(&attrs, "gen_ai.request.temperature"), 0.2);
    assert_eq!(double(&attrs, "gen_ai.request.top_p"), 0.9);
    assert_eq!(double(&attrs, "gen_ai.request.frequency_penalty"), 0.1);
    // Written as `0` in the request: still a double.
    assert_eq!(double(&attrs, "gen_ai.request.presence_penalty"), 0.0);
    assert_eq!(int(&attrs, "gen_ai.request.max_tokens"), 512);
    assert_eq!(int(&attrs, "gen_ai.request.seed"), 4421);
    assert_eq!(strings(&attrs, "gen_ai.request.stop_sequences"), ["\n\nCustomer:"]);
    assert_eq!(text(&attrs, "server.address"), "api.openai.com");
    assert_eq!(int(&attrs, "server.port"), 443);
    assert!(!attrs.contains_key("gen_ai.request.top_k"), "not in the request");
    assert_eq!(
        json_text(&attrs, "llm.invocation_parameters"),
        json!({
            "temperature": 0.2, "max_tokens": 512, "top_p": 0.9, "stop_sequences": ["\n\nCustomer:"],
            "seed": 4421, "frequency_penalty": 0.1, "presence_penalty": 0.0
        })
    );
}

#[test]
fn a_server_alone_sends_no_invocation_parameters() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("local").model("llama3").run(|span| {
                span.set_request_params(RequestParams::default().server_url("http://localhost:11434/v1"));
            });
        });
    });
    let attrs = attributes(span(&spans, "chat llama3"));
    assert_eq!(text(&attrs, "server.address"), "localhost");
    assert_eq!(int(&attrs, "server.port"), 11434);
    assert!(!attrs.contains_key("llm.invocation_parameters"));
}

#[test]
fn response_fields_go_out_and_the_recorded_finish_reason_names_the_output_messages() {
    let spans = otlp_spans(|client| {
        client.trace("chat").run(|trace| {
            trace.llm("anthropic.messages").model("claude-sonnet-4-5").run(|span| {
                span.message(Role::User, "How long do refunds take?");
                span.message(Role::Assistant, "Up to 30 days, and");
                span.set_response_info(response_info_from_anthropic(&json!({
                    "id": "msg_1", "model": "claude-sonnet-4-5-20250929", "stop_reason": "max_tokens"
                })));
            });
            // Without a recorded reason the output message's reason is inferred.
            trace.llm("guess").model("gpt-4.1").run(|span| {
                span.message(Role::User, "Hi");
                span.message(Role::Assistant, ContentPart::tool_call("call_1", "greet", json!({})));
            });
            // One reason per choice, matched to the output messages in order.
            trace.llm("choices").model("gpt-4o").run(|span| {
                span.message(Role::User, "Two answers, please.");
                span.message(Role::Assistant, "First.");
                span.message(Role::Assistant, "Second, cut");
                span.set_response_info(ResponseInfo {
                    finish_reasons: vec!["stop".into(), "length".into()],
                    ..ResponseInfo::default()
                });
            });
        });
    });
    let attrs = attributes(span(&spans, "chat claude-sonnet-4-5"));
    assert_eq!(text(&attrs, "gen_ai.response.id"), "msg_1");
    assert_eq!(text(&attrs, "gen_ai.response.model"), "claude-sonnet-4-5-20250929");
    // As the provider reported it; in the output messages, in the schema's words.
    assert_eq!(strings(&attrs, "gen_ai.response.finish_reasons"), ["max_tokens"]);
    assert_eq!(
        json_text(&attrs, "gen_ai.output.messages")[0]["finish_reason"],
        json!("length")
    );
    let guessed = attributes(span(&spans, "chat gpt-4.1"));
    assert_eq!(
        json_text(&guessed, "gen_ai.output.messages")[0]["finish_reason"],
        json!("tool_call")
    );
    assert!(!guessed.contains_key("gen_ai.response.finish_reasons"));
    let choices = json_text(&attributes(span(&spans, "chat gpt-4o")), "gen_ai.output.messages");
    let reasons: Vec<&Value> = choices
        .as_array()
        .expect("list")
        .iter()
        .map(|m| &m["finish_reason"])
        .collect();
    assert_eq!(reasons, [&json!("stop"), &json!("length")]);
}

#[test]
fn retrieved_documents_go_out_as_openinference_documents_and_gen_ai_retrieval_documents() {
    let spans = otlp_spans(|client| {
        client.trace("rag").run(|trace| {
            trace.retrieval("search_docs").run(|span| {
                span.record_input(&"refund policy");
                span.record_documents(&[
                    Document::new("Orders can be refunded within 30 days.")
                        .id("kb-12")
                        .score(0.92)
                        .metadata("source", "refund-policy.md"),
                    Document::new("Refunds go back to the original card."),
                ]);
            });
        });
    });
    let attrs = attributes(span(&spans, "search_docs"));
    assert_eq!(text(&attrs, "openinference.span.kind"), "RETRIEVER");
    assert_eq!(text(&attrs, "retrieval.documents.0.document.id"), "kb-12");
    assert_eq!(
        text(&attrs, "retrieval.documents.0.document.content"),
        "Orders can be refunded within 30 days."
    );
    assert_eq!(double(&attrs, "retrieval.documents.0.document.score"), 0.92);
    assert_eq!(
        json_text(&attrs, "retrieval.documents.0.document.metadata"),
        json!({ "source": "refund-policy.md" })
    );
    assert_eq!(
        text(&attrs, "retrieval.documents.1.document.content"),
        "Refunds go back to the original card."
    );
    assert!(!attrs.contains_key("retrieval.documents.1.document.id"));
    assert!(!attrs.contains_key("retrieval.documents.1.document.score"));
    assert!(!attrs.contains_key("retrieval.documents.2.document.content"));
    assert_eq!(
        json_text(&attrs, "gen_ai.retrieval.documents"),
        json!([{ "id": "kb-12", "score": 0.92 }, {}])
    );
}
