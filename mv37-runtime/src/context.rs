//! The current context: which trace and span are open on this thread, carried across
//! `.await` by the futures this crate returns and into other tasks and threads by
//! [`Context`] and [`FutureExt::in_current_span`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::builder::DetachedSpan;
use crate::span::Span;
use crate::state::local::{current_frame, enter, exit, Frame};
use crate::trace::Trace;

/// The trace and span open at the point of capture, to be entered elsewhere: in a
/// spawned thread, a task, a callback.
///
/// ```
/// use mv37_runtime::{Client, Context, MemoryExporter};
///
/// let memory = MemoryExporter::new();
/// let client = Client::builder().exporter(memory.clone()).build().unwrap();
/// client.trace("fan_out").run(|trace| {
///     trace.task("parent").run(|_| {
///         let context = Context::current();
///         std::thread::spawn(move || {
///             let _entered = context.enter();
///             mv37_runtime::current_trace().tool("lookup").run(|_| ());
///         })
///         .join()
///         .unwrap();
///     });
/// });
/// client.flush().unwrap();
/// let parent = memory.span("parent").unwrap();
/// assert_eq!(memory.span("lookup").unwrap().parent_span_id, Some(parent.span_id));
/// ```
#[derive(Clone, Default)]
pub struct Context {
    frame: Option<Frame>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.frame {
            Some(frame) => write!(f, "Context({}/{})", frame.trace().trace_id, frame.span_id()),
            None => f.write_str("Context(empty)"),
        }
    }
}

impl Context {
    /// The context open on this thread (empty when nothing is open).
    pub fn current() -> Self {
        Self { frame: current_frame() }
    }

    /// The context in which `span` is the innermost open span.
    pub fn of_span(span: &Span) -> Self {
        Self {
            frame: span.inner().map(|inner| Frame::Span(Arc::clone(inner))),
        }
    }

    /// The context in which `trace` is open and none of its spans.
    pub fn of_trace(trace: &Trace) -> Self {
        Self {
            frame: trace.inner().map(|inner| Frame::Trace(Arc::clone(inner))),
        }
    }

    /// Whether no trace is open in this context.
    pub fn is_empty(&self) -> bool {
        self.frame.is_none()
    }

    /// Makes this context current on this thread until the guard is dropped.
    pub fn enter(&self) -> ContextGuard {
        ContextGuard {
            depth: self.frame.clone().map(enter),
            _not_send: PhantomData,
        }
    }

    /// Runs `f` with this context current.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Wraps a closure so that it runs in this context wherever it is called.
    pub fn wrap<R>(self, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        move || self.run(f)
    }

    /// W3C propagation headers for an outgoing call made in this context: `traceparent`
    /// naming its innermost span and, when `with_scope` is true, `baggage` with the
    /// trace's user and session (`user.id`, `session.id`, percent-encoded). Empty when no
    /// trace is open. The user's id is personal data: send it only to services you trust.
    ///
    /// ```
    /// let client = mv37_runtime::Client::builder().exporter(mv37_runtime::MemoryExporter::new()).build().unwrap();
    /// client.trace("checkout").user_id("cus 7").run(|_| {
    ///     let headers = mv37_runtime::Context::current().w3c_headers(true);
    ///     assert_eq!(headers[0].0, "traceparent");
    ///     assert_eq!(headers[1], ("baggage", "user.id=cus%207".to_owned()));
    /// });
    /// ```
    pub fn w3c_headers(&self, with_scope: bool) -> Vec<(&'static str, String)> {
        let Some(frame) = &self.frame else { return Vec::new() };
        let trace = frame.trace();
        let parent = crate::ids::TraceParent {
            trace_id: trace.trace_id,
            parent_span_id: frame.span_id(),
            sampled: true,
        };
        let mut headers = vec![("traceparent", parent.to_string())];
        if with_scope {
            let encode = |value: &str| percent_encoding::utf8_percent_encode(value, BAGGAGE_VALUE).to_string();
            let members: Vec<String> = [
                ("user.id", &trace.scope.user_id),
                ("session.id", &trace.scope.session_id),
            ]
            .into_iter()
            .filter_map(|(key, value)| value.as_deref().map(|value| format!("{key}={}", encode(value))))
            .collect();
            if !members.is_empty() {
                headers.push(("baggage", members.join(",")));
            }
        }
        headers
    }

    /// This context as an OpenTelemetry context: the current one, with this context's
    /// innermost span as its (remote) span, so that OpenTelemetry-instrumented clients
    /// called here propagate it (feature `opentelemetry`).
    #[cfg(feature = "opentelemetry")]
    pub fn to_otel(&self) -> opentelemetry::Context {
        let current = opentelemetry::Context::current();
        match &self.frame {
            Some(frame) => crate::otel::with_span(current, frame.trace().trace_id, frame.span_id()),
            None => current,
        }
    }

    /// The trace of this context (a no-op handle when empty).
    pub fn trace(&self) -> Trace {
        Trace::from_inner(self.frame.as_ref().map(|frame| Arc::clone(frame.trace())))
    }

    /// The innermost span of this context (a no-op handle when no span is open).
    pub fn span(&self) -> Span {
        Span::from_inner(self.frame.as_ref().and_then(|frame| frame.span().cloned()))
    }
}

/// What a W3C baggage value may not hold unencoded: controls, space, `"`, `,`, `;`, `\`,
/// `%` and non-ASCII (the spec's `baggage-octet` range, with `=` and `/` left as they are).
const BAGGAGE_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// Keeps a [`Context`] current on this thread; not `Send`, because the context stack
/// is per thread.
#[must_use = "the context is left as soon as the guard is dropped"]
pub struct ContextGuard {
    depth: Option<usize>,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextGuard")
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(depth) = self.depth {
            exit(depth);
        }
    }
}

pin_project! {
    /// A future that runs every poll inside a captured [`Context`].
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        context: Context,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.context.enter();
        this.inner.poll(cx)
    }
}

/// Carries the current trace and span into a future that runs elsewhere, such as a
/// `tokio::spawn`ed task.
///
/// ```
/// # async fn doc() {
/// use mv37_runtime::FutureExt;
/// let task = tokio::spawn(async { /* spans opened here join the caller's span */ }.in_current_span());
/// task.await.unwrap();
/// # }
/// ```
pub trait FutureExt: Future + Sized {
    /// Runs this future inside the context that is current now.
    fn in_current_span(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }

    /// Runs this future inside `context`.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext { inner: self, context }
    }
}

impl<F: Future> FutureExt for F {}

impl DetachedSpan {
    /// The context with this span open, to enter where its children are made.
    pub fn context(&self) -> Context {
        Context::of_span(self)
    }
}
