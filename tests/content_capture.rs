//! The content-capture switch (`capture_content(false)`, `MV37_CAPTURE_CONTENT`,
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`): with it off, an instrumented
//! agent's records keep their structure, model, usage, status and errors, but carry no
//! input, output or message; by default they carry all of them.

use mv37::{Client, Config, DefaultGuard, MemoryExporter, Role, SpanKind, Status, Usage};
use serde_json::json;

struct Recorded {
    client: Client,
    memory: MemoryExporter,
    _default: DefaultGuard,
}

fn recorded(capture_content: bool) -> Recorded {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .capture_content(capture_content)
        .build()
        .expect("a client with a memory exporter builds");
    let default = client.set_default();
    Recorded {
        client,
        memory,
        _default: default,
    }
}

#[derive(Debug)]
struct RefundRefused;

impl std::fmt::Display for RefundRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refund refused: order too old")
    }
}

#[mv37::trace(user_id = customer)]
fn support_turn(customer: &str, question: &str) -> String {
    mv37::current_trace().message(Role::User, question.to_owned());
    let answer = call_model(question);
    let _ = issue_refund("4421");
    answer
}

fn usage_of(_answer: &String) -> Usage {
    Usage {
        input_tokens: Some(812),
        output_tokens: Some(64),
        cost_usd: Some(0.0021),
        ..Usage::default()
    }
}

#[mv37::llm(model = "gpt-4.1-mini", provider = "openai", usage = usage_of)]
fn call_model(prompt: &str) -> String {
    let span = mv37::current_span();
    span.message(Role::System, "Be brief.");
    span.message(Role::Assistant, "Refund issued.");
    format!("answer to {prompt}")
}

#[mv37::tool]
fn issue_refund(order: &str) -> Result<f64, RefundRefused> {
    let _ = order;
    Err(RefundRefused)
}

/// Runs the agent turn on a client with content capture on or off.
fn run_turn(capture_content: bool) -> MemoryExporter {
    let rec = recorded(capture_content);
    let answer = support_turn("cus_123", "Refund order 4421");
    assert_eq!(
        answer, "answer to Refund order 4421",
        "the program's own result is untouched"
    );
    rec.client.flush().expect("flush completes");
    rec.memory.clone()
}

#[test]
fn by_default_inputs_outputs_and_messages_are_captured() {
    let memory = run_turn(true);
    let trace = &memory.traces()[0];
    assert_eq!(
        trace.input.as_ref().map(|p| p.to_value()),
        Some(json!({"customer": "cus_123", "question": "Refund order 4421"}))
    );
    assert!(trace.output.is_some());
    let llm = memory.span("call_model").expect("llm span");
    assert_eq!(
        llm.input.map(|p| p.to_value()),
        Some(json!({"prompt": "Refund order 4421"}))
    );
    assert!(llm.output.is_some());
    let tool = memory.span("issue_refund").expect("tool span");
    assert_eq!(tool.input.map(|p| p.to_value()), Some(json!({"order": "4421"})));
    let roles: Vec<Role> = memory.messages().into_iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::System, Role::Assistant]);
}

#[test]
fn with_content_capture_off_no_input_output_or_message_is_recorded() {
    let memory = run_turn(false);
    for trace in memory.traces() {
        assert_eq!((&trace.input, &trace.output), (&None, &None), "trace {}", trace.name);
        assert!(trace.messages.is_empty(), "trace {}", trace.name);
    }
    for span in memory.spans() {
        assert_eq!((&span.input, &span.output), (&None, &None), "span {}", span.name);
        assert!(span.messages.is_empty(), "span {}", span.name);
    }
    assert!(memory.messages().is_empty(), "{:?}", memory.messages());
}

#[test]
fn with_content_capture_off_structure_usage_and_errors_remain() {
    let memory = run_turn(false);
    let trace = &memory.traces()[0];
    assert_eq!(trace.name, "support_turn");
    assert_eq!(trace.user_id.as_deref(), Some("cus_123"));
    let llm = memory.span("call_model").expect("llm span");
    assert_eq!(llm.kind, SpanKind::Llm);
    assert_eq!(llm.parent_span_id, Some(trace.span_id));
    assert_eq!(llm.model.as_deref(), Some("gpt-4.1-mini"));
    assert_eq!(llm.provider.as_deref(), Some("openai"));
    let usage = llm.usage.expect("usage kept");
    assert_eq!((usage.input_tokens, usage.output_tokens), (Some(812), Some(64)));
    assert_eq!(usage.cost_usd, Some(0.0021));
    assert!(llm.end_time_unix_nano >= llm.start_time_unix_nano);
    let tool = memory.span("issue_refund").expect("tool span");
    assert_eq!(tool.kind, SpanKind::Tool);
    assert_eq!(tool.status, Status::Error);
    let error = tool.error.expect("error kept");
    assert_eq!(error.message, "refund refused: order too old");
    assert!(error.error_type.is_some_and(|t| t.ends_with("RefundRefused")));
}

#[test]
fn handles_say_whether_content_is_captured() {
    for capture_content in [true, false] {
        let rec = recorded(capture_content);
        rec.client.trace("turn").run(|trace| {
            assert_eq!(trace.captures_content(), capture_content);
            trace.task("step").run(|span| {
                assert_eq!(span.captures_content(), capture_content);
                assert_eq!(span.to_span().captures_content(), capture_content);
            });
        });
    }
    assert!(
        !mv37::Trace::disabled().captures_content(),
        "a disabled trace records nothing"
    );
}

#[test]
fn the_environment_turns_capture_off_for_a_client_built_with_it() {
    let config = Config::from_lookup(|name| {
        (name == "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT").then(|| "false".to_owned())
    })
    .expect("valid");
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .config(config)
        .exporter(memory.clone())
        .build()
        .expect("builds");
    client.trace("turn").input(&"secret question").run(|trace| {
        trace.message(Role::User, "secret question");
    });
    client.flush().expect("flush completes");
    let trace = &memory.traces()[0];
    assert_eq!(trace.input, None);
    assert!(memory.messages().is_empty());
}
