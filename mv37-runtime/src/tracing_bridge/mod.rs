//! The `tracing` bridge (feature `tracing`): a `tracing-subscriber` layer that records the
//! `tracing` spans other crates emit (rig's `invoke_agent` / `chat` / `execute_tool`, the
//! `genai` crate, your own `#[tracing::instrument]`) as mv37 spans, nested with the spans
//! mv37's own API and macros open, both ways.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let memory = mv37_runtime::MemoryExporter::new();
//! let client = mv37_runtime::Client::builder().exporter(memory.clone()).build().unwrap();
//! let subscriber = tracing_subscriber::registry().with(mv37_runtime::tracing_bridge::layer().client(client.clone()));
//! tracing::subscriber::with_default(subscriber, || {
//!     client.trace("answer").run(|_| {
//!         let chat = tracing::info_span!("chat", gen_ai.operation.name = "chat", gen_ai.request.model = "gpt-4.1",
//!             gen_ai.usage.input_tokens = 12, gen_ai.usage.output_tokens = 3);
//!         let _entered = chat.enter();
//!     });
//! });
//! client.flush().unwrap();
//! let chat = memory.span("chat").unwrap();
//! assert_eq!(chat.model.as_deref(), Some("gpt-4.1"));
//! assert_eq!(chat.usage.unwrap().input_tokens, Some(12));
//! ```
//!
//! Rules:
//! - **Which spans**: those that declare a `gen_ai.*` field, and those whose target starts
//!   with a prefix given to [`Mv37Layer::with_target`] (or every span, with
//!   [`Mv37Layer::record_all_spans`]); other spans are transparent: what they contain
//!   nests under the nearest recorded span. Per-layer filters of `tracing-subscriber`
//!   (`layer.with_filter(..)`) compose with this.
//! - **Where**: a recorded span becomes a child of the mv37 context current where it is
//!   created (an mv37 span, a bridged span that is entered, or an explicit `parent:` that
//!   is bridged). With no mv37 trace there, it starts an implicit trace named after it
//!   (off with [`Mv37Layer::implicit_traces`]). Entering a bridged span makes it the
//!   current mv37 context on that thread, so mv37 spans opened inside it, in sync code
//!   and in futures instrumented with it, are its children.
//! - **What**: `gen_ai.operation.name` picks the kind (`chat`, `text_completion`,
//!   `generate_content` → llm; `execute_tool` → tool, named by `gen_ai.tool.name`;
//!   `invoke_agent` → agent, named by `gen_ai.agent.name`; `embeddings`; `retrieval`);
//!   the other GenAI fields fill model, provider (`gen_ai.provider.name`, or the older
//!   `gen_ai.system`), usage, messages (`gen_ai.input.messages`, `gen_ai.output.messages`,
//!   `gen_ai.system_instructions`), input and output (`gen_ai.prompt`, `gen_ai.completion`,
//!   tool call arguments and result), request parameters and response fields, also when
//!   recorded later with `span.record(..)`. Any other field is an attribute.
//! - **Messages**: a tool call response is its own tool message, answering its call
//!   (whatever role carried it); a system message the span already has (rig records its
//!   instructions at the start, again on the model call, and as the first input message)
//!   and a message field recorded again with the same value add nothing.
//! - **Usage on an agent span** is its run's total over the model calls under it (rig's
//!   `invoke_agent`), already on their llm spans: it stays in `gen_ai.usage.*` attributes,
//!   so that totals over a trace count it once.
//! - **Events**: a `tracing` event (at [`Mv37Layer::event_level`] or more severe, `INFO`
//!   by default) inside a recorded span, or inside an mv37 span, becomes a span event with
//!   its message, level, target and fields. An `ERROR` event does not fail the span: a
//!   logged error may have been handled. A span fails when it records
//!   `otel.status_code = "ERROR"` (the `tracing-opentelemetry` convention; the message
//!   from `otel.status_description`), and a tool call when it records
//!   `gen_ai.tool.call.outcome = "error"` (rig's; the message from
//!   `gen_ai.tool.error.type`).

mod fields;

use std::cell::RefCell;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use self::fields::{apply, event_parts, kind_and_name, Failure, Fields, Gathered};
use crate::builder::DetachedSpan;
use crate::client::Client;
use crate::context::{Context, ContextGuard};
use crate::progress::{error_info, Outcome};
use crate::scope::Scope;
use crate::trace::Trace;

/// The layer that records `tracing` spans as mv37 spans; see the [module](self) for the
/// rules. Made by [`layer`].
#[derive(Debug, Clone)]
pub struct Mv37Layer {
    targets: Vec<String>,
    all_spans: bool,
    implicit_traces: bool,
    event_level: Level,
    client: Option<Client>,
}

/// The layer with the defaults: GenAI spans only, implicit traces on, `INFO` events,
/// the client in effect where a span starts (the thread's default or the installed one).
pub fn layer() -> Mv37Layer {
    Mv37Layer {
        targets: Vec::new(),
        all_spans: false,
        implicit_traces: true,
        event_level: Level::INFO,
        client: None,
    }
}

impl Mv37Layer {
    /// Also records the spans whose target (usually the module path) starts with
    /// `prefix`, GenAI fields or not: `layer().with_target("my_app")`.
    pub fn with_target(mut self, prefix: impl Into<String>) -> Self {
        self.targets.push(prefix.into());
        self
    }

    /// Records every span, not only GenAI spans and the targets given.
    pub fn record_all_spans(mut self, all: bool) -> Self {
        self.all_spans = all;
        self
    }

    /// Whether a recorded span with no mv37 trace around it starts one (on by default);
    /// when off, such spans are not recorded.
    pub fn implicit_traces(mut self, on: bool) -> Self {
        self.implicit_traces = on;
        self
    }

    /// The least severe level of the events recorded (`INFO` by default).
    pub fn event_level(mut self, level: Level) -> Self {
        self.event_level = level;
        self
    }

    /// The client implicit traces go to (by default the one in effect where the span
    /// starts: the thread's default, else the installed client).
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    fn wants(&self, attrs: &Attributes<'_>) -> bool {
        let metadata = attrs.metadata();
        self.all_spans
            || metadata
                .fields()
                .iter()
                .any(|field| field.name().starts_with("gen_ai."))
            || self
                .targets
                .iter()
                .any(|prefix| metadata.target().starts_with(prefix.as_str()))
    }
}

/// A recorded `tracing` span: its mv37 span (and the implicit trace around it), the
/// context entered with it, what its fields gathered, and whether it failed.
struct Bridged {
    span: Option<DetachedSpan>,
    implicit: Option<(Trace, Scope)>,
    context: Context,
    gathered: Gathered,
    failure: Failure,
}

thread_local! {
    /// The bridged spans entered on this thread, innermost last, with the guards that
    /// keep their mv37 context current.
    static ENTERED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

impl<S> Layer<S> for Mv37Layer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        if !self.wants(attrs) {
            return;
        }
        let Some(span_ref) = ctx.span(id) else { return };
        // An explicit parent that is bridged; else the mv37 context current here.
        let explicit = attrs.parent().and_then(|parent| {
            let parent = ctx.span(parent)?;
            let extensions = parent.extensions();
            extensions.get::<Bridged>().map(|bridged| bridged.context.clone())
        });
        let mut parent = explicit.unwrap_or_else(Context::current);
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let (kind, name) = kind_and_name(attrs.metadata().name(), &fields);
        let mut implicit = None;
        if parent.is_empty() {
            let client = self.client.clone().or_else(crate::client::client);
            let Some(client) = client.filter(|_| self.implicit_traces) else {
                return;
            };
            let (trace, scope) = client.trace(name.clone()).open();
            let Some(scope) = scope else { return };
            parent = Context::of_trace(&trace);
            implicit = Some((trace, scope));
        }
        let trace = parent.trace();
        let parent_id = parent.span().id().or_else(|| trace.root_span_id());
        let mut gathered = Gathered::new(&kind);
        let mut builder = trace.span(kind).name(name);
        if let Some(parent_id) = parent_id {
            builder = builder.parent(parent_id);
        }
        let span = builder.start_detached();
        let mut failure = Failure::default();
        failure.update(&fields);
        apply(&span, &mut gathered, fields, false);
        let bridged = Bridged {
            context: span.context(),
            failure,
            span: Some(span),
            implicit,
            gathered,
        };
        span_ref.extensions_mut().insert(bridged);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let mut extensions = span_ref.extensions_mut();
        let Some(bridged) = extensions.get_mut::<Bridged>() else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        bridged.failure.update(&fields);
        if let Some(span) = &bridged.span {
            apply(span, &mut bridged.gathered, fields, true);
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let extensions = span_ref.extensions();
        let Some(bridged) = extensions.get::<Bridged>() else {
            return;
        };
        let guard = bridged.context.enter();
        let _ = ENTERED.try_with(|entered| entered.borrow_mut().push((id.clone(), guard)));
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let _ = ENTERED.try_with(|entered| {
            let mut entered = entered.borrow_mut();
            // Exits come innermost first; a guard dropped out of order would unwind the
            // mv37 context stack too far, so only the innermost matching entry goes, and
            // everything entered after it (not exited: a misuse) goes with it.
            if let Some(position) = entered.iter().rposition(|(entered_id, _)| entered_id == id) {
                while entered.len() > position {
                    drop(entered.pop());
                }
            }
        });
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(&id) else { return };
        let Some(mut bridged) = span_ref.extensions_mut().remove::<Bridged>() else {
            return;
        };
        let failure = bridged.failure.message();
        if let Some(span) = bridged.span.take() {
            match failure {
                Some(message) => span.fail_and_end(message),
                None => span.end(),
            }
        }
        if let Some((_trace, scope)) = bridged.implicit.take() {
            scope.finish(match failure {
                Some(message) => Outcome::Failed(error_info(message)),
                None => Outcome::Ok,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() > self.event_level {
            return;
        }
        // The event's span when it is bridged (or its nearest bridged ancestor), else the
        // mv37 context current here.
        let bridged_context = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<Bridged>().map(|b| b.context.clone()))
        });
        let context = bridged_context.unwrap_or_else(Context::current);
        if context.is_empty() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let (name, attributes) = event_parts(fields, metadata.level(), metadata.target());
        let span = context.span();
        if span.is_recording() {
            span.add_event(name, attributes);
        } else {
            context.trace().add_event(name, attributes);
        }
    }
}
