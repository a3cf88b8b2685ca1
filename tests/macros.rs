//! Behaviour of the attribute macros and `traced!`, observed through the in-memory
//! exporter. Each test installs its own client as the thread's default, so tests run
//! side by side in one process.

use std::fmt;

use mv37::{Client, DefaultGuard, MemoryExporter, SpanKind, SpanRecord, Status, TraceRecord, Usage};
use serde::Serialize;
use serde_json::{json, Value};

struct Recorder {
    client: Client,
    memory: MemoryExporter,
    _default: DefaultGuard,
}

fn recorder() -> Recorder {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .build()
        .expect("a client with a memory exporter builds");
    let default = client.set_default();
    Recorder {
        client,
        memory,
        _default: default,
    }
}

impl Recorder {
    fn flushed(&self) -> &MemoryExporter {
        self.client.flush().expect("flush completes");
        &self.memory
    }

    fn span(&self, name: &str) -> SpanRecord {
        self.flushed().span(name).expect("a span of this name was recorded")
    }

    fn trace(&self, name: &str) -> TraceRecord {
        self.flushed()
            .traces()
            .into_iter()
            .find(|trace| trace.name == name)
            .expect("a trace of this name was recorded")
    }
}

fn input(span: &SpanRecord) -> Option<Value> {
    span.input.as_ref().map(|payload| payload.to_value())
}

fn output(span: &SpanRecord) -> Option<Value> {
    span.output.as_ref().map(|payload| payload.to_value())
}

// ---------------------------------------------------------------- free fns, kinds

#[mv37::task]
fn resolve_ticket(ticket_id: &str, priority: u8) -> String {
    format!("{ticket_id}:{priority}")
}

#[test]
fn a_task_fn_records_its_arguments_and_return_value() {
    let rec = recorder();
    let value = mv37::traced!("agent", |_trace| resolve_ticket("T-42", 2));
    assert_eq!(value, "T-42:2");
    let root = rec.trace("agent").span_id;
    let span = rec.span("resolve_ticket");
    assert_eq!(span.kind, SpanKind::Task);
    assert_eq!(span.parent_span_id, Some(root));
    assert_eq!(input(&span), Some(json!({"ticket_id": "T-42", "priority": 2})));
    assert_eq!(output(&span), Some(json!("T-42:2")));
    assert_eq!(span.status, Status::Ok);
}

#[test]
fn a_span_fn_called_outside_a_trace_opens_an_implicit_trace_named_after_it() {
    let rec = recorder();
    resolve_ticket("T-1", 1);
    let trace = rec.trace("resolve_ticket");
    let span = rec.span("resolve_ticket");
    assert_eq!(span.trace_id, trace.trace_id);
    assert_eq!(span.parent_span_id, Some(trace.span_id));
    assert_eq!(trace.status, Status::Ok);
}

/// Nothing recorded but the span itself: it is looked up when it runs.
#[mv37::task(skip_all, output = false)]
fn bare_step() -> u32 {
    7
}

#[test]
fn a_bare_span_fn_runs_in_the_trace_open_here_or_opens_an_implicit_one() {
    let rec = recorder();
    assert_eq!(bare_step(), 7);
    let implicit = rec.trace("bare_step");
    let alone = rec.span("bare_step");
    assert_eq!(alone.trace_id, implicit.trace_id);
    assert_eq!(alone.parent_span_id, Some(implicit.span_id));
    let inside = mv37::traced!("agent", |_trace| bare_step());
    assert_eq!(inside, 7);
    let root = rec.trace("agent");
    let spans = rec.flushed().spans();
    let under_root = spans
        .iter()
        .filter(|span| span.name == "bare_step" && span.parent_span_id == Some(root.span_id))
        .count();
    assert_eq!(under_root, 1, "{spans:?}");
}

#[mv37::tool]
fn issue_refund(order: u32) -> f64 {
    f64::from(order) / 100.0
}

#[mv37::span("retrieval")]
fn search_docs(query: &str) -> Vec<&'static str> {
    if query.contains("refund") {
        vec!["kb-12"]
    } else {
        vec![]
    }
}

#[mv37::span("guardrail", name = "pii_check")]
fn check_pii(text: &str) -> bool {
    text.contains('@')
}

#[test]
fn tool_and_typed_span_fns_record_their_kind() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| {
        issue_refund(4250);
        search_docs("refund policy");
        check_pii("me@example.com");
    });
    let tool = rec.span("issue_refund");
    assert_eq!(tool.kind, SpanKind::Tool);
    assert_eq!(input(&tool), Some(json!({"order": 4250})));
    assert_eq!(output(&tool), Some(json!(42.5)));
    let retrieval = rec.span("search_docs");
    assert_eq!(retrieval.kind, SpanKind::Retrieval);
    assert_eq!(output(&retrieval), Some(json!(["kb-12"])));
    let custom = rec.span("pii_check");
    assert_eq!(custom.kind.as_str(), "guardrail");
    assert_eq!(output(&custom), Some(json!(true)));
}

#[mv37::agent(model = "gpt-4.1", provider = "openai", fields(agent_id = "asst_42"))]
fn refund_agent(order: u32) -> f64 {
    issue_refund(order)
}

#[test]
fn an_agent_fn_records_an_agent_span_with_its_model_and_its_steps_inside() {
    let rec = recorder();
    mv37::traced!("support", |_trace| refund_agent(4250));
    let agent = rec.span("refund_agent");
    assert_eq!(agent.kind, SpanKind::Agent);
    assert_eq!(agent.kind.as_str(), "agent");
    assert_eq!(agent.model.as_deref(), Some("gpt-4.1"));
    assert_eq!(agent.provider.as_deref(), Some("openai"));
    assert_eq!(agent.attributes["agent_id"], json!("asst_42"));
    assert_eq!(input(&agent), Some(json!({"order": 4250})));
    assert_eq!(output(&agent), Some(json!(42.5)));
    assert_eq!(rec.span("issue_refund").parent_span_id, Some(agent.span_id));
}

#[mv37::task]
fn outer_step(n: u32) -> u32 {
    inner_step(n) + 1
}

#[mv37::task]
fn inner_step(n: u32) -> u32 {
    n * 2
}

#[test]
fn nested_fns_record_their_parent() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| outer_step(3));
    let outer = rec.span("outer_step");
    let inner = rec.span("inner_step");
    assert_eq!(inner.parent_span_id, Some(outer.span_id));
    assert_eq!(output(&outer), Some(json!(7)));
}

#[mv37::task]
fn no_arguments_no_return() {}

#[test]
fn a_fn_without_arguments_or_return_value_records_neither() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| no_arguments_no_return());
    let span = rec.span("no_arguments_no_return");
    assert_eq!(span.input, None);
    assert_eq!(span.output, None);
}

// ---------------------------------------------------------------- #[trace]

#[mv37::trace(
    user_id = customer,
    session_id = format!("s-{turn}"),
    conversation_id = "thread_123",
    external_trace_id = 77,
)]
fn support_agent(customer: &str, turn: u32) -> String {
    format!("answered {customer} on turn {turn}")
}

#[test]
fn a_trace_fn_opens_a_root_trace_with_its_fields_from_the_arguments() {
    let rec = recorder();
    support_agent("cus_123", 2);
    let trace = rec.trace("support_agent");
    assert_eq!(trace.parent_span_id, None);
    assert_eq!(trace.user_id.as_deref(), Some("cus_123"));
    assert_eq!(trace.session_id.as_deref(), Some("s-2"));
    assert_eq!(trace.conversation_id.as_deref(), Some("thread_123"));
    assert_eq!(trace.external_trace_id.as_deref(), Some("77"));
    assert_eq!(
        trace.input.as_ref().map(|p| p.to_value()),
        Some(json!({"customer": "cus_123", "turn": 2}))
    );
    assert_eq!(
        trace.output.as_ref().map(|p| p.to_value()),
        Some(json!("answered cus_123 on turn 2"))
    );
    assert_eq!(trace.status, Status::Ok);
}

#[mv37::trace(name = "eval_case")]
fn eval_case(case: u32) -> u32 {
    resolve_ticket("T-9", 1);
    case
}

#[test]
fn a_trace_fn_inside_an_open_trace_starts_a_new_root_trace_linked_by_attribute() {
    let rec = recorder();
    let outer_id = mv37::traced!("eval_run", |trace| {
        eval_case(1);
        trace.id()
    })
    .expect("recording");
    let case = rec.trace("eval_case");
    assert_ne!(case.trace_id, outer_id);
    assert_eq!(case.parent_span_id, None);
    assert_eq!(
        case.attributes.get("mv37.enclosing_trace_id"),
        Some(&json!(outer_id.to_string()))
    );
    // Spans inside belong to the new trace.
    assert_eq!(rec.span("resolve_ticket").trace_id, case.trace_id);
}

#[mv37::trace]
fn failing_agent(fail: bool) -> Result<u32, String> {
    if fail {
        Err("model timed out".to_owned())
    } else {
        Ok(1)
    }
}

#[test]
fn a_trace_fn_returning_err_marks_the_trace_failed() {
    let rec = recorder();
    assert!(failing_agent(true).is_err());
    let trace = rec.trace("failing_agent");
    assert_eq!(trace.status, Status::Error);
    assert_eq!(
        trace.error.as_ref().map(|e| e.message.as_str()),
        Some("model timed out")
    );
    assert_eq!(trace.output, None);
}

// ---------------------------------------------------------------- Result, ?, return, panic

#[derive(Debug)]
struct LookupError(String);

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lookup failed: {}", self.0)
    }
}

impl From<std::num::ParseIntError> for LookupError {
    fn from(error: std::num::ParseIntError) -> Self {
        Self(error.to_string())
    }
}

#[mv37::tool]
fn lookup_order(id: &str) -> Result<u32, LookupError> {
    if id.is_empty() {
        return Err(LookupError("empty id".to_owned()));
    }
    let number: u32 = id.parse()?;
    Ok(number)
}

#[test]
fn ok_is_the_output_of_a_result_fn() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| lookup_order("4421")).expect("ok");
    let span = rec.span("lookup_order");
    assert_eq!(span.status, Status::Ok);
    assert_eq!(output(&span), Some(json!(4421)));
}

#[test]
fn err_from_the_question_mark_marks_the_span_failed_with_its_display() {
    let rec = recorder();
    assert!(mv37::traced!("agent", |_trace| lookup_order("abc")).is_err());
    let span = rec.span("lookup_order");
    assert_eq!(span.status, Status::Error);
    assert_eq!(
        span.error.as_ref().map(|e| e.message.as_str()),
        Some("lookup failed: invalid digit found in string")
    );
    assert_eq!(span.output, None);
}

#[test]
fn an_early_return_of_err_marks_the_span_failed() {
    let rec = recorder();
    assert!(mv37::traced!("agent", |_trace| lookup_order("")).is_err());
    let span = rec.span("lookup_order");
    assert_eq!(span.status, Status::Error);
    assert_eq!(
        span.error.as_ref().map(|e| e.message.as_str()),
        Some("lookup failed: empty id")
    );
}

#[mv37::task]
fn first_even(numbers: &[i64]) -> Option<i64> {
    for n in numbers {
        if n % 2 == 0 {
            return Some(*n);
        }
    }
    None
}

#[test]
fn an_early_return_is_the_output() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| first_even(&[1, 4, 6]));
    let span = rec.span("first_even");
    assert_eq!(input(&span), Some(json!({"numbers": [1, 4, 6]})));
    assert_eq!(output(&span), Some(json!(4)));
}

#[mv37::task]
fn explode(reason: &str) -> u32 {
    panic!("exploded: {reason}")
}

#[test]
fn a_panic_marks_the_span_failed_and_keeps_unwinding() {
    let rec = recorder();
    let result = std::panic::catch_unwind(|| mv37::traced!("agent", |_trace| explode("boom")));
    assert!(result.is_err());
    let span = rec.span("explode");
    assert_eq!(span.status, Status::Error);
    assert_eq!(span.error.as_ref().map(|e| e.message.as_str()), Some("exploded: boom"));
    assert_eq!(rec.trace("agent").status, Status::Error);
}

// ---------------------------------------------------------------- methods

#[derive(Serialize, Clone)]
struct Agent {
    name: String,
    turns: u32,
}

impl Agent {
    #[mv37::task]
    fn greet(&self, user: &str) -> String {
        format!("{} greets {user}", self.name)
    }

    #[mv37::task]
    fn next_turn(&mut self) -> u32 {
        self.turns += 1;
        self.turns
    }

    #[mv37::task]
    fn into_name(self, suffix: &str) -> String {
        self.name + suffix
    }

    #[mv37::task]
    fn name_ref(&self) -> &str {
        &self.name
    }

    #[mv37::task]
    fn turns_mut(&mut self) -> &mut u32 {
        &mut self.turns
    }
}

#[test]
fn methods_with_every_receiver_are_recorded_without_capturing_self() {
    let rec = recorder();
    let mut agent = Agent {
        name: "ada".to_owned(),
        turns: 0,
    };
    mv37::traced!("agent", |_trace| {
        assert_eq!(agent.greet("bob"), "ada greets bob");
        assert_eq!(agent.next_turn(), 1);
        *agent.turns_mut() += 10;
        assert_eq!(agent.name_ref(), "ada");
        assert_eq!(agent.clone().into_name("!"), "ada!");
    });
    let greet = rec.span("greet");
    assert_eq!(input(&greet), Some(json!({"user": "bob"})));
    assert_eq!(output(&greet), Some(json!("ada greets bob")));
    let next = rec.span("next_turn");
    assert_eq!(next.input, None);
    assert_eq!(output(&next), Some(json!(1)));
    assert_eq!(output(&rec.span("into_name")), Some(json!("ada!")));
    assert_eq!(output(&rec.span("name_ref")), Some(json!("ada")));
    assert_eq!(output(&rec.span("turns_mut")), Some(json!(1)));
    assert_eq!(agent.turns, 11);
}

trait Tool {
    fn call(&self, argument: &str) -> String;
}

struct Echo;

impl Tool for Echo {
    #[mv37::tool(name = "echo")]
    fn call(&self, argument: &str) -> String {
        argument.to_uppercase()
    }
}

#[test]
fn trait_impl_methods_are_recorded() {
    let rec = recorder();
    let tool: &dyn Tool = &Echo;
    mv37::traced!("agent", |_trace| tool.call("hi"));
    let span = rec.span("echo");
    assert_eq!(span.kind, SpanKind::Tool);
    assert_eq!(input(&span), Some(json!({"argument": "hi"})));
    assert_eq!(output(&span), Some(json!("HI")));
}

// ---------------------------------------------------------------- generics, lifetimes, impl Trait, patterns

#[mv37::task]
fn largest<T: PartialOrd + Serialize + Copy>(items: &[T]) -> Option<T> {
    items.iter().copied().fold(None, |best, item| match best {
        Some(b) if b >= item => Some(b),
        _ => Some(item),
    })
}

#[mv37::task]
fn describe<K, V>(key: K, value: V) -> String
where
    K: fmt::Display + Serialize,
    V: fmt::Debug + Serialize,
{
    format!("{key}={value:?}")
}

#[test]
fn generic_fns_with_bounds_and_where_clauses_are_recorded() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| {
        assert_eq!(largest(&[3, 9, 2]), Some(9));
        assert_eq!(describe("k", 1.5), "k=1.5");
    });
    let span = rec.span("largest");
    assert_eq!(input(&span), Some(json!({"items": [3, 9, 2]})));
    assert_eq!(output(&span), Some(json!(9)));
    assert_eq!(input(&rec.span("describe")), Some(json!({"key": "k", "value": 1.5})));
}

#[mv37::task]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() {
        a
    } else {
        b
    }
}

#[mv37::task]
fn push_twice(log: &mut Vec<String>, entry: &str) -> usize {
    log.push(entry.to_owned());
    log.push(entry.to_owned());
    log.len()
}

#[test]
fn borrowed_and_mutably_borrowed_arguments_are_captured_before_the_body_runs() {
    let rec = recorder();
    let mut log = vec!["start".to_owned()];
    mv37::traced!("agent", |_trace| {
        assert_eq!(longest("hello", "hi"), "hello");
        assert_eq!(push_twice(&mut log, "x"), 3);
    });
    assert_eq!(output(&rec.span("longest")), Some(json!("hello")));
    let push = rec.span("push_twice");
    assert_eq!(input(&push), Some(json!({"log": ["start"], "entry": "x"})));
    assert_eq!(output(&push), Some(json!(3)));
}

#[mv37::task(output = false)]
fn evens(limit: impl Into<u32> + Serialize) -> impl Iterator<Item = u32> {
    (0..limit.into()).filter(|n| n % 2 == 0)
}

#[mv37::task]
fn summary(parts: impl IntoIterator<Item = u32> + Serialize + Clone) -> impl Serialize {
    parts.into_iter().sum::<u32>()
}

#[test]
fn impl_trait_arguments_and_returns_are_supported() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| {
        assert_eq!(evens(7u8).count(), 4);
        summary(vec![1, 2, 3]);
    });
    let evens = rec.span("evens");
    assert_eq!(input(&evens), Some(json!({"limit": 7})));
    assert_eq!(evens.output, None);
    assert_eq!(output(&rec.span("summary")), Some(json!(6)));
}

#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
}

#[mv37::task]
fn manhattan((a, b): (i32, i32), Point { x, y }: Point) -> i32 {
    (a - x).abs() + (b - y).abs()
}

#[test]
fn destructured_parameters_capture_their_bound_names() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| manhattan((1, 2), Point { x: 4, y: 6 }));
    let span = rec.span("manhattan");
    assert_eq!(input(&span), Some(json!({"a": 1, "b": 2, "x": 4, "y": 6})));
    assert_eq!(output(&span), Some(json!(7)));
}

#[mv37::task]
fn factorial(n: u64) -> u64 {
    if n <= 1 {
        1
    } else {
        n * factorial(n - 1)
    }
}

#[test]
fn each_recursive_call_is_a_child_span_of_the_previous() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| assert_eq!(factorial(3), 6));
    let spans = rec.flushed().spans();
    let by_input = |n: u64| {
        spans
            .iter()
            .find(|s| input(s) == Some(json!({ "n": n })))
            .cloned()
            .expect("a span per call")
    };
    let (three, two, one) = (by_input(3), by_input(2), by_input(1));
    assert_eq!(two.parent_span_id, Some(three.span_id));
    assert_eq!(one.parent_span_id, Some(two.span_id));
    assert_eq!(output(&three), Some(json!(6)));
}

// `unsafe fn` is covered by ui-tests/pass/unsafe-fn.rs: this package forbids unsafe code.

// ---------------------------------------------------------------- options

#[derive(Debug)]
struct Connection;

#[mv37::task(name = "load_profile", skip(db))]
fn load(db: &Connection, user: &str) -> String {
    let _ = db;
    format!("profile:{user}")
}

#[mv37::task(skip_all)]
fn load_all(db: &Connection, user: &str) -> usize {
    let _ = db;
    user.len()
}

#[mv37::task(input = json!({ "user": user.to_uppercase() }), output = false)]
fn load_custom(db: &Connection, user: &str) -> String {
    let _ = db;
    user.to_owned()
}

#[mv37::task(skip_output, fields(tenant = "acme", user_len = user.len(), "gen_ai.system" = "openai"))]
fn load_with_fields(user: &str) -> Connection {
    let _ = user;
    Connection
}

#[test]
fn name_and_skip_rename_and_leave_out_arguments() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| load(&Connection, "ada"));
    let span = rec.span("load_profile");
    assert_eq!(input(&span), Some(json!({"user": "ada"})));
    assert_eq!(output(&span), Some(json!("profile:ada")));
}

impl Agent {
    #[mv37::task(skip(self, db))]
    fn lookup(&self, db: &Connection, user: &str, limit: u8) -> String {
        let _ = db;
        format!("{}:{user}:{limit}", self.name)
    }
}

#[test]
fn skip_self_and_an_argument_on_a_method_records_the_other_arguments() {
    let rec = recorder();
    let agent = Agent {
        name: "ada".to_owned(),
        turns: 0,
    };
    mv37::traced!("agent", |_trace| agent.lookup(&Connection, "bob", 3));
    let span = rec.span("lookup");
    assert_eq!(input(&span), Some(json!({"user": "bob", "limit": 3})));
    assert_eq!(output(&span), Some(json!("ada:bob:3")));
}

#[test]
fn skip_all_records_no_input() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| load_all(&Connection, "ada"));
    let span = rec.span("load_all");
    assert_eq!(span.input, None);
    assert_eq!(output(&span), Some(json!(3)));
}

#[test]
fn input_replaces_the_captured_arguments_and_output_false_records_no_output() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| load_custom(&Connection, "ada"));
    let span = rec.span("load_custom");
    assert_eq!(input(&span), Some(json!({"user": "ADA"})));
    assert_eq!(span.output, None);
}

#[test]
fn fields_become_attributes_and_skip_output_records_no_output() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| load_with_fields("ada"));
    let span = rec.span("load_with_fields");
    assert_eq!(span.attributes.get("tenant"), Some(&json!("acme")));
    assert_eq!(span.attributes.get("user_len"), Some(&json!(3)));
    assert_eq!(span.attributes.get("gen_ai.system"), Some(&json!("openai")));
    assert_eq!(span.output, None);
}

mod reexported {
    pub use mv37 as observability;
}

#[mv37::task(crate = reexported::observability)]
fn through_a_reexport(n: u8) -> u8 {
    n
}

#[test]
fn crate_points_the_expansion_at_a_reexport() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| through_a_reexport(5));
    assert_eq!(output(&rec.span("through_a_reexport")), Some(json!(5)));
}

// ---------------------------------------------------------------- #[llm]

#[derive(Serialize)]
struct Completion {
    text: String,
    input_tokens: u64,
    output_tokens: u64,
}

fn completion_usage(completion: &Completion) -> Usage {
    Usage {
        input_tokens: Some(completion.input_tokens),
        output_tokens: Some(completion.output_tokens),
        ..Usage::default()
    }
}

#[mv37::llm(name = "openai.responses", model = "gpt-4.1-mini", provider = "openai", usage = completion_usage)]
fn complete(prompt: &str) -> Completion {
    Completion {
        text: format!("re: {prompt}"),
        input_tokens: 12,
        output_tokens: 3,
    }
}

#[mv37::llm(model = model, provider = provider.to_uppercase(), usage = completion_usage)]
fn complete_with(model: &str, provider: &str) -> Result<Completion, String> {
    if model.is_empty() {
        return Err("no model".to_owned());
    }
    Ok(Completion {
        text: String::new(),
        input_tokens: 5,
        output_tokens: 1,
    })
}

#[test]
fn llm_fns_record_model_provider_and_usage() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| complete("hi"));
    let span = rec.span("openai.responses");
    assert_eq!(span.kind, SpanKind::Llm);
    assert_eq!(span.model.as_deref(), Some("gpt-4.1-mini"));
    assert_eq!(span.provider.as_deref(), Some("openai"));
    let usage = span.usage.expect("usage recorded");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(12), Some(3), Some(15))
    );
    assert_eq!(input(&span), Some(json!({"prompt": "hi"})));
    assert_eq!(
        output(&span).and_then(|o| o.get("text").cloned()),
        Some(json!("re: hi"))
    );
}

#[test]
fn llm_model_and_provider_may_be_expressions_and_usage_reads_the_ok_value() {
    let rec = recorder();
    mv37::traced!("agent", |_trace| complete_with("claude-sonnet", "anthropic")).expect("ok");
    let span = rec.span("complete_with");
    assert_eq!(span.model.as_deref(), Some("claude-sonnet"));
    assert_eq!(span.provider.as_deref(), Some("ANTHROPIC"));
    assert_eq!(span.usage.and_then(|u| u.total_tokens), Some(6));
}

#[test]
fn an_llm_fn_returning_err_records_no_usage() {
    let rec = recorder();
    assert!(mv37::traced!("agent", |_trace| complete_with("", "x")).is_err());
    let span = rec.span("complete_with");
    assert_eq!(span.status, Status::Error);
    assert_eq!(span.usage, None);
}

// ---------------------------------------------------------------- async

#[mv37::task]
async fn fetch_answer(question: String) -> String {
    tokio::task::yield_now().await;
    let context = rank(&question).await;
    tokio::task::yield_now().await;
    format!("{question} ({context})")
}

#[mv37::span("retrieval")]
async fn rank(question: &str) -> usize {
    tokio::task::yield_now().await;
    question.len()
}

#[mv37::tool]
async fn flaky(attempt: u32) -> Result<u32, LookupError> {
    tokio::task::yield_now().await;
    if attempt == 0 {
        return Err(LookupError("first attempt".to_owned()));
    }
    let parsed: u32 = "x".parse().map(|n: u32| n + attempt)?;
    Ok(parsed)
}

#[mv37::trace(user_id = user)]
async fn async_agent(user: &str) -> String {
    fetch_answer("where is my order".to_owned()).await
}

#[tokio::test]
async fn an_async_fn_span_covers_the_whole_future_and_context_survives_await() {
    let rec = recorder();
    let answer = async_agent("cus_1").await;
    assert_eq!(answer, "where is my order (17)");
    let trace = rec.trace("async_agent");
    assert_eq!(trace.user_id.as_deref(), Some("cus_1"));
    assert_eq!(trace.output.as_ref().map(|p| p.to_value()), Some(json!(answer)));
    let fetch = rec.span("fetch_answer");
    let rank = rec.span("rank");
    assert_eq!(fetch.parent_span_id, Some(trace.span_id));
    assert_eq!(rank.parent_span_id, Some(fetch.span_id));
    assert_eq!(rank.kind, SpanKind::Retrieval);
    assert_eq!(input(&fetch), Some(json!({"question": "where is my order"})));
    assert!(fetch.start_time_unix_nano <= rank.start_time_unix_nano);
    assert!(rank.end_time_unix_nano <= fetch.end_time_unix_nano);
}

#[tokio::test]
async fn an_async_fn_returning_err_is_marked_failed() {
    let rec = recorder();
    assert!(flaky(0).await.is_err());
    assert!(flaky(1).await.is_err());
    let spans = rec.flushed().spans();
    assert_eq!(spans.len(), 2);
    assert!(spans
        .iter()
        .all(|s| s.status == Status::Error && s.kind == SpanKind::Tool));
    let messages: Vec<_> = spans
        .iter()
        .filter_map(|s| s.error.as_ref())
        .map(|e| e.message.clone())
        .collect();
    assert!(messages.contains(&"lookup failed: first attempt".to_owned()));
    assert!(messages.contains(&"lookup failed: invalid digit found in string".to_owned()));
}

#[mv37::agent(name = "triage")]
async fn triage_agent(question: String) -> Result<String, LookupError> {
    tokio::task::yield_now().await;
    let answer = fetch_answer(question).await;
    if answer.is_empty() {
        return Err(LookupError("no answer".to_owned()));
    }
    Ok(answer)
}

#[tokio::test]
async fn an_async_agent_fn_spans_its_whole_future_with_its_steps_inside() {
    let rec = recorder();
    let answer = mv37::traced!("support", async move |_trace| {
        triage_agent("refund".to_owned()).await
    })
    .await;
    assert_eq!(answer.expect("answers"), "refund (6)");
    let agent = rec.span("triage");
    assert_eq!(agent.kind, SpanKind::Agent);
    assert_eq!(agent.status, Status::Ok);
    assert_eq!(input(&agent), Some(json!({"question": "refund"})));
    assert_eq!(output(&agent), Some(json!("refund (6)")));
    let fetch = rec.span("fetch_answer");
    assert_eq!(fetch.parent_span_id, Some(agent.span_id));
    assert!(agent.start_time_unix_nano <= fetch.start_time_unix_nano);
    assert!(fetch.end_time_unix_nano <= agent.end_time_unix_nano);
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_future_stays_send_and_joins_its_parent_in_a_spawned_task() {
    use mv37::FutureExt;
    let rec = recorder();
    let (task_span, handle) = mv37::traced!("agent", async move |trace| {
        let handle = tokio::spawn(assert_send(fetch_answer("spawned".to_owned())).in_current_span());
        let answer = handle.await.expect("task completes");
        (trace.root_span_id(), answer)
    })
    .await;
    assert_eq!(handle, "spawned (7)");
    assert_eq!(rec.span("fetch_answer").parent_span_id, task_span);
}

#[mv37::task]
async fn branch(label: &'static str, turns: usize) -> usize {
    let mut done = 0;
    for _ in 0..turns {
        tokio::task::yield_now().await;
        done += leaf(label).await;
    }
    done
}

#[mv37::tool]
async fn leaf(label: &'static str) -> usize {
    tokio::task::yield_now().await;
    label.len()
}

#[tokio::test]
async fn interleaved_async_spans_on_one_thread_keep_their_own_children() {
    let rec = recorder();
    let (a, b) = mv37::traced!("agent", async move |_trace| {
        tokio::join!(branch("a", 3), branch("bb", 2))
    })
    .await;
    assert_eq!((a, b), (3, 4));
    let spans = rec.flushed().spans();
    let branch_of = |label: &str| {
        spans
            .iter()
            .find(|s| s.name == "branch" && input(s).is_some_and(|i| i["label"] == label))
            .map(|s| s.span_id)
    };
    let (span_a, span_b) = (branch_of("a"), branch_of("bb"));
    assert!(span_a.is_some() && span_b.is_some() && span_a != span_b);
    let leaves_under = |parent| {
        spans
            .iter()
            .filter(|s| s.name == "leaf" && s.parent_span_id == parent)
            .map(input)
            .collect::<Vec<_>>()
    };
    assert_eq!(leaves_under(span_a), vec![Some(json!({"label": "a"})); 3]);
    assert_eq!(leaves_under(span_b), vec![Some(json!({"label": "bb"})); 2]);
    assert!(spans
        .iter()
        .filter(|s| s.name == "branch")
        .all(|s| s.output.is_some() && s.status == Status::Ok));
}

#[tokio::test]
async fn a_dropped_async_span_is_marked_cancelled() {
    let rec = recorder();
    let future = fetch_answer("never".to_owned());
    let mut future = Box::pin(future);
    // Poll once so the span opens, then drop it.
    let waker = std::task::Waker::noop();
    let _ = std::future::Future::poll(future.as_mut(), &mut std::task::Context::from_waker(waker));
    drop(future);
    let span = rec.span("fetch_answer");
    assert_eq!(span.status, Status::Cancelled);
}

#[async_trait::async_trait]
trait Retriever {
    async fn retrieve(&self, query: &str, top_k: usize) -> Result<Vec<String>, LookupError>;
}

struct Docs;

#[async_trait::async_trait]
impl Retriever for Docs {
    #[mv37::span("retrieval")]
    async fn retrieve(&self, query: &str, top_k: usize) -> Result<Vec<String>, LookupError> {
        tokio::task::yield_now().await;
        if top_k == 0 {
            return Err(LookupError("top_k is 0".to_owned()));
        }
        Ok(vec![format!("{query}#1")])
    }
}

#[tokio::test]
async fn async_trait_methods_are_recorded() {
    let rec = recorder();
    let docs: Box<dyn Retriever + Send + Sync> = Box::new(Docs);
    mv37::traced!("agent", async move |_trace| {
        docs.retrieve("refund", 3).await.expect("ok");
        assert!(docs.retrieve("refund", 0).await.is_err());
    })
    .await;
    let spans = rec.flushed().spans();
    let ok = spans.iter().find(|s| s.status == Status::Ok).expect("ok span");
    assert_eq!(ok.kind, SpanKind::Retrieval);
    assert_eq!(ok.name, "retrieve");
    assert_eq!(input(ok), Some(json!({"query": "refund", "top_k": 3})));
    assert_eq!(output(ok), Some(json!(["refund#1"])));
    let failed = spans.iter().find(|s| s.status == Status::Error).expect("failed span");
    assert_eq!(
        failed.error.as_ref().map(|e| e.message.as_str()),
        Some("lookup failed: top_k is 0")
    );
    assert_eq!(ok.parent_span_id, Some(rec.trace("agent").span_id));
}

// ---------------------------------------------------------------- traced!

#[test]
fn traced_declares_a_trace_with_the_builders_fields() {
    let rec = recorder();
    let user = "cus_123".to_owned();
    let value = mv37::traced!(
        "support_agent",
        user_id = user.clone(),
        session_id = "s1",
        conversation_id = "thread_1",
        external_trace_id = "ext-1",
        input = json!({"question": "where?"}),
        attributes(channel = "chat", "gen_ai.system" = "openai"),
        context(tenant = "acme"),
        |trace| {
            trace.message(mv37::Role::User, "where?");
            42
        }
    );
    assert_eq!(value, 42);
    let trace = rec.trace("support_agent");
    assert_eq!(trace.user_id.as_deref(), Some("cus_123"));
    assert_eq!(trace.session_id.as_deref(), Some("s1"));
    assert_eq!(trace.conversation_id.as_deref(), Some("thread_1"));
    assert_eq!(trace.external_trace_id.as_deref(), Some("ext-1"));
    assert_eq!(
        trace.input.as_ref().map(|p| p.to_value()),
        Some(json!({"question": "where?"}))
    );
    assert_eq!(trace.attributes.get("channel"), Some(&json!("chat")));
    assert_eq!(trace.attributes.get("gen_ai.system"), Some(&json!("openai")));
    assert_eq!(
        trace.context.as_ref().and_then(|c| c.get("tenant")),
        Some(&json!("acme"))
    );
}

#[test]
fn traced_with_a_result_closure_marks_the_trace_failed_on_err() {
    let rec = recorder();
    let result = mv37::traced!("agent", |_trace| -> Result<(), String> { Err("nope".to_owned()) });
    assert!(result.is_err());
    assert_eq!(rec.trace("agent").status, Status::Error);
}

#[test]
fn traced_uses_the_client_it_is_given() {
    let memory = MemoryExporter::new();
    let client = Client::builder().exporter(memory.clone()).build().expect("client");
    mv37::traced!("explicit", client = &client, |_trace| resolve_ticket("T-5", 5));
    client.flush().expect("flush");
    assert_eq!(memory.traces()[0].name, "explicit");
    assert_eq!(
        memory.span("resolve_ticket").map(|s| s.trace_id),
        Some(memory.traces()[0].trace_id)
    );
}

#[tokio::test]
async fn traced_async_gives_the_block_the_trace_handle() {
    let rec = recorder();
    let id = mv37::traced!("async_block", user_id = "u", async move |trace| {
        let answer = fetch_answer("q".to_owned()).await;
        trace.signal("answered", true);
        (trace.id(), answer)
    })
    .await;
    let trace = rec.trace("async_block");
    assert_eq!(id.0, Some(trace.trace_id));
    assert_eq!(rec.span("fetch_answer").parent_span_id, Some(trace.span_id));
}

#[tokio::test]
async fn traced_async_with_a_result_closure_marks_the_trace_failed_on_err() {
    let rec = recorder();
    let result = mv37::traced!("async_err", async move |_trace| -> Result<u32, LookupError> {
        let n = flaky(0).await?;
        Ok(n)
    })
    .await;
    assert!(result.is_err());
    assert_eq!(rec.trace("async_err").status, Status::Error);
}

// ---------------------------------------------------------------- no client

#[test]
fn without_a_client_instrumented_fns_behave_as_written() {
    // A fresh thread has no default client, and no global one is installed here.
    std::thread::spawn(|| {
        assert!(mv37::client().is_none());
        assert_eq!(resolve_ticket("T-1", 1), "T-1:1");
        assert_eq!(support_agent("u", 1), "answered u on turn 1");
        assert!(lookup_order("x").is_err());
        assert_eq!(factorial(4), 24);
        assert!(!mv37::traced!("nothing", |trace| trace.is_recording()));
    })
    .join()
    .expect("no panic");
}

// ------------------------------------------------- a panicking output serializer

struct Explodes;

#[allow(clippy::panic)] // The point of the type.
impl Serialize for Explodes {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("serialize exploded")
    }
}

#[mv37::task]
fn explode_sync() -> Explodes {
    Explodes
}

#[mv37::task]
async fn explode_async() -> Explodes {
    tokio::task::yield_now().await;
    Explodes
}

#[mv37::task]
fn after_the_explosion() {}

#[test]
fn a_panicking_output_serializer_fails_the_span_and_leaves_the_context_clean() {
    let rec = recorder();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime builds");
    let root = mv37::traced!("agent", |trace| {
        let sync = std::panic::catch_unwind(explode_sync);
        let future = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(explode_async())));
        assert!(sync.is_err() && future.is_err());
        after_the_explosion();
        trace.root_span_id()
    });
    for name in ["explode_sync", "explode_async"] {
        let span = rec.span(name);
        assert_eq!(span.status, Status::Error, "{name}");
        assert_eq!(span.error.map(|e| e.message), Some("serialize exploded".to_owned()));
    }
    assert_eq!(rec.span("after_the_explosion").parent_span_id, root);
}
