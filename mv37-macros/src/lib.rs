//! Attribute macros of [mv37](https://docs.rs/mv37): `#[trace]`, `#[task]`, `#[llm]`,
//! `#[tool]`, `#[agent]`, `#[span("…")]`, and the block macro `traced!`. Use them through
//! the `mv37` crate (`#[mv37::task]`); they expand to paths under `::mv37::__private`.
//!
//! # What an instrumented fn records
//!
//! - **Input**: the arguments, as one JSON object keyed by argument name, through
//!   `serde::Serialize` (`self` is never captured; destructured parameters contribute
//!   the names they bind). Fns without captured arguments record no input.
//! - **Output**: the return value; for a `Result`, the `Ok` value, and an `Err` marks the
//!   span failed with the error's `Display` text. A panic marks the span failed and keeps
//!   unwinding. Fns returning `()` (or `Result<(), E>`) record no output.
//! - **Where**: a span fn (`#[task]`, `#[llm]`, `#[tool]`, `#[agent]`, `#[span]`) opens
//!   its span in the trace open in the current context, as a child of the innermost open
//!   span. Called with no trace open, it opens an implicit trace named after the span
//!   around it, so that calls from `main` or a test are recorded too.
//! - **`#[trace]`** always opens a new root trace, also when called inside another trace
//!   (a `#[trace]` fn is an entry point: an agent run, an eval case); it then records the
//!   enclosing trace's id as the attribute `mv37.enclosing_trace_id`.
//! - With no client installed, the fn runs as written after one relaxed atomic load.
//!
//! # Options
//!
//! | option | on | effect |
//! |---|---|---|
//! | `name = "…"` | all | the span's (trace's) name; default: the fn's name |
//! | `skip(a, b)` | all | leave these arguments out of the input (`skip(self)` is accepted, as `tracing` writes it; `self` is never captured) |
//! | `skip_all` | all | record no input |
//! | `input = expr` | all | record `expr` (any `Serialize`, may use the arguments) instead |
//! | `output = false`, `skip_output` | all | record no output (for non-`Serialize` returns) |
//! | `fields(key = expr, "dotted.key" = expr)` | all | attributes, evaluated before the body |
//! | `crate = path` | all | where `mv37` is, when it is re-exported |
//! | `user_id`, `session_id`, `conversation_id`, `external_trace_id` `= expr` | `#[trace]` | trace fields (any `Display`, may use the arguments) |
//! | `model = expr`, `provider = expr` | `#[llm]`, `#[agent]` | literal or expression (any `Display`) |
//! | `usage = path` | `#[llm]` | `fn(&Output) -> Usage` (for `Result`, the `Ok` type) |
//!
//! # Supported fns
//!
//! Free fns and methods (`self`, `&self`, `&mut self`, inherent and trait impls), generic
//! fns with bounds and `where` clauses, lifetimes and borrowed arguments, `impl Trait`
//! arguments and returns, destructured parameters, `?` and early `return` (the body runs
//! in a closure, so `return` leaves the body and the output is still recorded),
//! recursion, `unsafe fn`, `async fn` (the span covers the whole future, is current at
//! every poll on whichever thread, and the future is `Send` when the body is), and
//! `#[async_trait]` methods (put the attribute on the method inside the
//! `#[async_trait]` impl; the macro recognises the `Box::pin(async move { … })` shape
//! that async-trait leaves and instruments that future). Not `const fn`: a span cannot
//! be recorded in const evaluation. Not `main` (any fn named `main` without arguments):
//! the span would begin before the body runs `mv37::init()`, so nothing would be
//! recorded and every span inside would open a trace of its own; this is a compile
//! error whose message gives the fix, which is to trace a fn that `main` calls:
//!
//! ```ignore
//! #[tokio::main]
//! async fn main() {
//!     let _mv37 = mv37::init();
//!     agent().await;
//! }
//!
//! #[mv37::trace]
//! async fn agent() { /* … */ }
//! ```
//!
//! `Result` is recognised by name (`Result<T, E>`,
//! `io::Result<T>`, `anyhow::Result<T>`); behind another alias the whole value is the
//! output and an `Err` does not fail the span.
//!
//! # Diagnostics
//!
//! Mistakes in the arguments are reported at the offending token, all at once, and the
//! fn is still emitted unchanged so that the rest of the crate type-checks. An argument
//! that is not `Serialize` is reported at the argument, once (no second, generic serde
//! error), a return value that is not `Serialize` at the return type, an error type
//! without `Display` at the error type.

mod args;
mod block;
mod errors;
mod expand;
mod model;

use proc_macro::TokenStream;

use args::Kind;

/// Opens a new root trace around a fn: its arguments are the trace's input, its return
/// value the output.
///
/// ```
/// #[mv37::trace(user_id = customer, conversation_id = format!("thread_{ticket}"))]
/// fn support_agent(customer: &str, ticket: u32) -> Result<String, std::io::Error> {
///     let docs = search_docs("refund policy");
///     Ok(format!("{} docs for {customer}", docs.len()))
/// }
///
/// #[mv37::span("retrieval")]
/// fn search_docs(query: &str) -> Vec<String> {
///     vec![query.to_owned()]
/// }
/// # support_agent("cus_123", 42).unwrap();
/// ```
///
/// expands to, roughly:
///
/// ```ignore
/// fn support_agent(customer: &str, ticket: u32) -> Result<String, std::io::Error> {
///     let setup = ::mv37::__private::begin_trace("support_agent")
///         .user_id(&(customer))
///         .conversation_id(&(format!("thread_{ticket}")))
///         .input(&::mv37::__private::input()
///             .field("customer", ::mv37::__private::probe(&*customer).capture())
///             .field("ticket", ::mv37::__private::probe(&ticket).capture()));
///     setup.run_result(
///         move || { /* the body */ },
///         |trace, ok| ::mv37::__private::record_output(trace, ok),
///     )
/// }
/// ```
///
/// Inside an open trace it still starts a new root trace (recording the enclosing
/// trace's id as the attribute `mv37.enclosing_trace_id`). For a trace as a block, see
/// [`traced!`].
///
/// Not on `main` (a compile error, for every attribute of this crate): the trace would
/// begin before `main` runs `mv37::init()`. Install the client in `main` and put
/// `#[trace]` on a fn that `main` calls.
#[proc_macro_attribute]
pub fn trace(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::instrument(Kind::Trace, args.into(), item.into()).into()
}

/// Records a fn as a `task` span: a multi-step unit of work.
///
/// ```
/// #[mv37::task(skip(db), fields(priority = priority))]
/// fn resolve_ticket(db: &Db, ticket_id: &str, priority: u8) -> Result<bool, String> {
///     if ticket_id.is_empty() {
///         return Err("no ticket".to_owned()); // fails the span with this text
///     }
///     Ok(db.open)
/// }
/// # struct Db { open: bool }
/// # resolve_ticket(&Db { open: true }, "T-42", 1).unwrap();
/// ```
///
/// expands to, roughly:
///
/// ```ignore
/// fn resolve_ticket(db: &Db, ticket_id: &str, priority: u8) -> Result<bool, String> {
///     let setup = ::mv37::__private::begin_span(SpanKind::Task, "resolve_ticket")
///         .input(&::mv37::__private::input()
///             .field("ticket_id", ::mv37::__private::probe(&*ticket_id).capture())
///             .field("priority", ::mv37::__private::probe(&priority).capture()))
///         .attribute("priority", &(priority));
///     setup.run_result(
///         move || { /* the body: `return` and `?` leave this closure */ },
///         |span, ok| ::mv37::__private::record_output(span, ok),
///     )
/// }
/// ```
///
/// An `async fn` keeps its signature and awaits the instrumented body:
///
/// ```ignore
/// async fn f(x: u32) -> u32 {
///     let setup = ::mv37::__private::begin_span_async(SpanKind::Task, "f").input(/* … */);
///     setup.run_async(async move { /* the body */ }, |span, out| /* … */).await
/// }
/// ```
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::instrument(Kind::Task, args.into(), item.into()).into()
}

/// Records a fn as an `llm` span: a model call, with its model, provider and usage.
///
/// ```
/// use mv37::Usage;
///
/// #[derive(serde::Serialize)]
/// struct Response {
///     text: String,
///     input_tokens: u64,
///     output_tokens: u64,
/// }
///
/// fn usage_of(response: &Response) -> Usage {
///     Usage {
///         input_tokens: Some(response.input_tokens),
///         output_tokens: Some(response.output_tokens),
///         ..Usage::default()
///     }
/// }
///
/// #[mv37::llm(name = "openai.responses", model = model, provider = "openai", usage = usage_of)]
/// fn complete(model: &str, prompt: &str) -> Result<Response, String> {
///     Ok(Response { text: format!("re: {prompt}"), input_tokens: 12, output_tokens: 3 })
/// }
/// # complete("gpt-4.1-mini", "hi").unwrap();
/// ```
///
/// expands like [`macro@task`], with `.model(&(model)).provider(&("openai"))` on the
/// span and `span.set_usage(usage_of(ok))` next to the output.
#[proc_macro_attribute]
pub fn llm(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::instrument(Kind::Llm, args.into(), item.into()).into()
}

/// Records a fn as a `tool` span: its arguments are the tool call's arguments.
///
/// ```
/// #[mv37::tool]
/// fn issue_refund(order: &str, amount_usd: f64) -> String {
///     format!("refunded {amount_usd} on {order}")
/// }
/// # issue_refund("4421", 42.5);
/// ```
///
/// expands like [`macro@task`], with `SpanKind::Tool`.
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::instrument(Kind::Tool, args.into(), item.into()).into()
}

/// Records a fn as an `agent` span: an agent run, under which its model and tool calls
/// nest. Exported to OTLP as `invoke_agent {name}` with `gen_ai.agent.name`; takes
/// `model` and `provider` like [`macro@llm`] when the agent runs on one model.
///
/// ```
/// #[mv37::agent(model = "gpt-4.1", provider = "openai", fields(agent_id = "asst_42"))]
/// async fn support_agent(question: String) -> Result<String, String> {
///     Ok(lookup_order(&question))
/// }
///
/// #[mv37::tool]
/// fn lookup_order(question: &str) -> String {
///     format!("order for {question:?} shipped")
/// }
/// # let _ = support_agent("Where is my order?".to_owned());
/// ```
///
/// expands like [`macro@task`], with `SpanKind::Agent` and `.model(..)`/`.provider(..)`
/// on the span.
#[proc_macro_attribute]
pub fn agent(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::instrument(Kind::Agent, args.into(), item.into()).into()
}

/// Records a fn as a span of the type given first: `"retrieval"`, `"llm"`, … or any
/// free-form type such as `"guardrail"`.
///
/// ```
/// #[mv37::span("retrieval", name = "search_docs")]
/// async fn search(query: String, top_k: usize) -> Vec<String> {
///     vec![query; top_k]
/// }
///
/// #[mv37::span("guardrail")]
/// fn pii_check(text: &str) -> bool {
///     text.contains('@')
/// }
/// # pii_check("x");
/// ```
///
/// expands like [`macro@task`], with `::mv37::__private::custom_kind("retrieval")`.
#[proc_macro_attribute]
pub fn span(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::instrument(Kind::Span, args.into(), item.into()).into()
}

/// Declares a trace as a block, with the builder's fields, and gives the block the
/// trace handle. Sync (`|trace| …`) or async (`async move |trace| …`, then `.await`);
/// a closure with an explicit `-> Result<…>` marks the trace failed on `Err`.
///
/// It is not called `trace!`: `#[trace]` is a macro too, and attribute and
/// function-like macros share one namespace, so `mv37::trace` can name only one of them.
///
/// ```
/// use mv37::Role;
///
/// let customer = "cus_123";
/// let answer = mv37::traced!(
///     "support_agent",
///     user_id = customer,
///     conversation_id = "thread_123",
///     input = serde_json::json!({ "question": "Where is my order?" }),
///     attributes(channel = "chat"),
///     context(tenant = "acme"),
///     |trace| {
///         trace.message(Role::User, "Where is my order?");
///         "It has shipped."
///     }
/// );
///
/// # async fn demo() -> Result<u32, String> {
/// let value = mv37::traced!("async_agent", async move |trace| -> Result<u32, String> {
///     trace.signal("started", true);
///     Ok(1)
/// })
/// .await?;
/// # Ok(value) }
/// ```
///
/// Fields: `user_id`, `session_id`, `conversation_id`, `external_trace_id` (anything
/// `Into<String>`), `input = expr` (any `Serialize`), `parent = TraceParent`,
/// `attributes(key = value, …)`, `context(key = value, …)`, `client = expr` (a
/// [`Client`](https://docs.rs/mv37/latest/mv37/struct.Client.html) to use instead of the
/// default one) and `crate = path`.
///
/// expands to, roughly:
///
/// ```ignore
/// ::mv37::__private::new_trace("support_agent")
///     .user_id(customer)
///     .conversation_id("thread_123")
///     .input(&(serde_json::json!({ "question": "Where is my order?" })))
///     .attribute("channel", "chat")
///     .context("tenant", "acme")
///     .run(|trace| { /* … */ })
/// // async: `.run_async(move |trace| async move { … })`; with `-> Result`: `try_run(_async)`
/// ```
#[proc_macro]
pub fn traced(input: TokenStream) -> TokenStream {
    block::traced(input.into()).into()
}
