//! Spans run by `run` and by sync instrumented fns: their state lives in this thread's
//! context stack while they are open, so that a span nobody shares costs no allocation,
//! no lock and no reference count. The handle the closure gets, [`ScopedSpan`], writes
//! into that state directly; when a handle is needed elsewhere (a clone, a captured
//! [`crate::Context`], a message attached from nested code), the state moves once into a
//! shared record and every handle writes there from then on.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use fastant::Instant;
use pin_project_lite::pin_project;

use crate::ids::{SpanId, TraceId};
use crate::payload::CapturePolicy;
use crate::progress::{panic_info, Extras, KindCode, Outcome, Progress};
use crate::record::SpanKind;
use crate::scope::{run_scope, Inspect, Scope};
use crate::span::{recording_methods, Span};
use crate::state::local as context;
use crate::state::open::{LocalSpan, SharedTrace};

/// The span as the closure of [`crate::SpanBuilder::run`] (or a sync instrumented fn)
/// sees it: record input, output, usage and failure on it directly.
///
/// It is not `Send`: it stays on the thread that runs the span. It dereferences to a
/// [`Span`], the shareable handle, for everything else (`message`, `end`, a helper that
/// takes `&Span`), and [`ScopedSpan::to_span`] gives one to keep or move to another
/// thread; the first such use moves the span's state into a shared record, which costs
/// one allocation. Code nested in the span that needs it (a captured
/// [`crate::Context`], [`crate::current_span`], a message) does the same.
///
/// ```
/// use mv37_runtime::{Client, MemoryExporter, Span};
///
/// fn note(span: &Span) {
///     span.set_attribute("noted", true);
/// }
///
/// let memory = MemoryExporter::new();
/// let client = Client::builder().exporter(memory.clone()).build().unwrap();
/// client.trace("turn").run(|trace| {
///     trace.tool("lookup").run(|span| {
///         span.record_input(&"order 42"); // straight into the open span
///         note(span); // a `&Span`: the span becomes shareable here
///         span.record_output(&"shipped");
///     });
/// });
/// client.flush().unwrap();
/// let lookup = memory.span("lookup").unwrap();
/// assert_eq!(lookup.attributes["noted"], true);
/// assert_eq!(lookup.output.unwrap().as_json(), r#""shipped""#);
/// ```
pub struct ScopedSpan {
    local: Option<LocalHandle>,
    shared: OnceCell<Span>,
    _not_send: PhantomData<*const ()>,
}

#[derive(Clone, Copy)]
struct LocalHandle {
    depth: usize,
    span_id: SpanId,
    trace_id: TraceId,
    capture: CapturePolicy,
}

impl LocalHandle {
    /// The handle of span `span_id` of `trace`, before it has a depth.
    fn new(trace: &SharedTrace, span_id: SpanId) -> Self {
        Self {
            depth: 0,
            span_id,
            trace_id: trace.trace_id,
            capture: trace.recorder.capture,
        }
    }

    fn of(span: &LocalSpan) -> Self {
        Self::new(&span.trace, span.span_id())
    }

    fn at(self, depth: usize) -> ScopedSpan {
        ScopedSpan {
            local: Some(Self { depth, ..self }),
            shared: OnceCell::new(),
            _not_send: PhantomData,
        }
    }
}

impl std::fmt::Debug for ScopedSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.local {
            Some(local) => write!(f, "ScopedSpan({}/{})", local.trace_id, local.span_id),
            None => self.span().fmt(f),
        }
    }
}

impl ScopedSpan {
    /// A handle that records nothing.
    pub(crate) fn disabled() -> Self {
        Self::of_span(Span::disabled())
    }

    fn of_span(span: Span) -> Self {
        Self {
            local: None,
            shared: OnceCell::from(span),
            _not_send: PhantomData,
        }
    }

    /// The shareable handle to this span (the first call moves its state out of the
    /// thread's context stack).
    pub fn span(&self) -> &Span {
        self.shared.get_or_init(|| {
            let inner = self
                .local
                .and_then(|local| context::with_local(local.depth, local.span_id, LocalSpan::share))
                .flatten();
            Span::from_inner(inner)
        })
    }

    /// A shareable, `Send` handle to this span, to keep or move to another thread or
    /// task (`Span::clone` through the dereference does the same).
    pub fn to_span(&self) -> Span {
        self.span().clone()
    }

    /// Whether this span records anything.
    pub fn is_recording(&self) -> bool {
        self.capture_policy().is_some()
    }

    /// The span's id (`None` for a disabled span).
    pub fn id(&self) -> Option<SpanId> {
        match &self.local {
            Some(local) => Some(local.span_id),
            None => self.span().id(),
        }
    }

    /// The id of the span's trace (`None` for a disabled span).
    pub fn trace_id(&self) -> Option<TraceId> {
        match &self.local {
            Some(local) => Some(local.trace_id),
            None => self.span().trace_id(),
        }
    }

    fn capture_policy(&self) -> Option<CapturePolicy> {
        match &self.local {
            Some(local) => Some(local.capture),
            None => self.span().capture_policy(),
        }
    }

    fn change(&self, change: impl FnOnce(&mut Progress)) {
        match &self.local {
            // On the stack (or already shared, which the entry knows); if the entry is
            // gone the span has ended and writes are ignored, as for any ended span.
            Some(local) => {
                let _ = context::with_local(local.depth, local.span_id, |span| span.change(change));
            }
            None => self.span().change(change),
        }
    }

    recording_methods!();
}

/// A clone is a handle to the same span, on this thread; use [`ScopedSpan::to_span`]
/// for one to move elsewhere.
impl Clone for ScopedSpan {
    fn clone(&self) -> Self {
        Self::of_span(self.to_span())
    }
}

impl std::ops::Deref for ScopedSpan {
    type Target = Span;

    fn deref(&self) -> &Span {
        self.span()
    }
}

/// Runs `f` in a span of `trace` starting now, open and current on this thread (made in
/// place on its context stack), then ends it with `f`'s outcome (a panic marks it failed
/// and is resumed).
#[inline(always)]
pub(crate) fn run_new<R>(
    trace: Arc<SharedTrace>,
    parent: SpanId,
    kind: SpanKind,
    name: Cow<'static, str>,
    extras: Option<Box<Extras>>,
    f: impl FnOnce(&ScopedSpan) -> R,
    inspect: Inspect<R>,
) -> R {
    let (kind, extras) = KindCode::split_into(kind, extras);
    let span_id = SpanId::random();
    let handle = LocalHandle::new(&trace, span_id);
    let mut make = Some(move || LocalSpan::starting_coded(Instant::ZERO, trace, span_id, parent, kind, name, extras));
    if let Some(depth) = context::enter_made(&mut make) {
        // Taken by the push: nothing is left to drop (a call to its drop glue, which
        // cannot know that, saved).
        std::mem::forget(make);
        return run_entered(handle, depth, f, inspect);
    }
    match make.take() {
        Some(make) => {
            let mut span = make();
            span.stamp_start();
            run_unentered(span, f, inspect)
        }
        // Not reached: the span is made only when the stack takes it.
        None => f(&ScopedSpan::disabled()),
    }
}

/// [`run_new`] for a span with a static name and no extras (a plain builder's, a
/// macro's): its parts go to the push in registers ([`context::enter_static`]).
#[inline(always)]
pub(crate) fn run_static<R>(
    trace: Arc<SharedTrace>,
    parent: Option<SpanId>,
    kind: KindCode,
    name: &'static str,
    f: impl FnOnce(&ScopedSpan) -> R,
    inspect: Inspect<R>,
) -> R {
    let span_id = SpanId::random();
    let handle = LocalHandle::new(&trace, span_id);
    match context::enter_static(trace, span_id, parent, kind, name) {
        Ok(depth) => run_entered(handle, depth, f, inspect),
        Err(Some(trace)) => {
            let parent = parent.unwrap_or(trace.root_span_id);
            let mut span =
                LocalSpan::starting_coded(Instant::ZERO, trace, span_id, parent, kind, Cow::Borrowed(name), None);
            span.stamp_start();
            run_unentered(span, f, inspect)
        }
        // Not reached: the trace is taken only when the stack takes the span.
        Err(None) => f(&ScopedSpan::disabled()),
    }
}

/// The body of a span run at `depth` of this thread's stack, and the span's end.
#[inline(always)]
fn run_entered<R>(handle: LocalHandle, depth: usize, f: impl FnOnce(&ScopedSpan) -> R, inspect: Inspect<R>) -> R {
    let scoped = handle.at(depth);
    let result = catch_unwind(AssertUnwindSafe(|| f(&scoped)));
    let outcome = match &result {
        Ok(value) => inspect(value).map_or(Outcome::Ok, Outcome::Failed),
        Err(panic) => Outcome::Failed(panic_info(panic.as_ref())),
    };
    // The span ends as it leaves the stack, before the thread's records are handed over,
    // so that its record leaves together with those of its children.
    context::leave_local(depth, handle.span_id, outcome);
    drop(scoped);
    match result {
        Ok(value) => value,
        Err(panic) => resume_unwind(panic),
    }
}

/// No context stack here (the thread is exiting): the span is shared, and run as one.
#[cold]
fn run_unentered<R>(span: LocalSpan, f: impl FnOnce(&ScopedSpan) -> R, inspect: Inspect<R>) -> R {
    let inner = span.into_shared();
    let scoped = ScopedSpan::of_span(Span::from_inner(inner.clone()));
    run_scope(inner.map(Scope::Span), &scoped, f, inspect)
}

pin_project! {
    /// The future of an instrumented `async fn` span, which holds the span's state
    /// itself: at each poll the span goes onto the polling thread's context stack (it is
    /// current there, whichever thread polls) and comes back after. The output is
    /// recorded when the body completes; the span is marked cancelled if the future is
    /// dropped first.
    #[must_use = "futures do nothing unless polled"]
    pub struct ScopedFuture<F: Future, O> {
        #[pin]
        inner: F,
        span: Option<LocalSpan>,
        output: O,
        inspect: Inspect<F::Output>,
    }

    impl<F: Future, O> PinnedDrop for ScopedFuture<F, O> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(span) = this.project().span.take() {
                span.finish(Outcome::Cancelled);
            }
        }
    }
}

impl<F: Future, O> ScopedFuture<F, O> {
    pub(crate) fn new(inner: F, span: Option<LocalSpan>, output: O, inspect: Inspect<F::Output>) -> Self {
        Self {
            inner,
            span,
            output,
            inspect,
        }
    }
}

impl<F: Future, O: RecordOutput<ScopedSpan, F::Output>> Future for ScopedFuture<F, O> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(handle) = this.span.as_ref().map(LocalHandle::of) else {
            return this.inner.poll(cx);
        };
        let depth = match context::enter_from(this.span) {
            Some(depth) => depth,
            None => {
                let Some(mut span) = this.span.take() else {
                    return this.inner.poll(cx);
                };
                // No context stack here (the thread is exiting): polled as a shared span.
                let scoped = ScopedSpan::of_span(Span::from_inner(span.share()));
                return match this.inner.poll(cx) {
                    Poll::Pending => {
                        *this.span = Some(span);
                        Poll::Pending
                    }
                    Poll::Ready(value) => {
                        this.output.record(&scoped, &value);
                        span.finish((this.inspect)(&value).map_or(Outcome::Ok, Outcome::Failed));
                        Poll::Ready(value)
                    }
                };
            }
        };
        let (inner, output) = (this.inner, &*this.output);
        let scoped = handle.at(depth);
        // The output is recorded while the span is still current, under the same guard
        // as the poll: a panicking `Serialize` impl cannot leave the span on the stack.
        let result = catch_unwind(AssertUnwindSafe(|| {
            let poll = inner.poll(cx);
            if let Poll::Ready(value) = &poll {
                output.record(&scoped, value);
            }
            poll
        }));
        drop(scoped);
        match result {
            Ok(Poll::Pending) => {
                *this.span = context::take_local(depth, handle.span_id);
                Poll::Pending
            }
            Ok(Poll::Ready(value)) => {
                let outcome = (this.inspect)(&value).map_or(Outcome::Ok, Outcome::Failed);
                context::leave_local(depth, handle.span_id, outcome);
                Poll::Ready(value)
            }
            Err(panic) => {
                context::leave_local(depth, handle.span_id, Outcome::Failed(panic_info(panic.as_ref())));
                resume_unwind(panic)
            }
        }
    }
}

/// Records an output (or the usage read from it) on a span or trace handle.
pub type OutputFn<H, T> = fn(&H, &T);

/// Records the output of a future when it completes.
pub trait RecordOutput<H, O> {
    /// Records `value` on `handle`.
    fn record(&self, handle: &H, value: &O);
}

impl<H, O> RecordOutput<H, O> for OutputFn<H, O> {
    #[inline]
    fn record(&self, handle: &H, value: &O) {
        self(handle, value);
    }
}

/// Records only the `Ok` value of a `Result`.
pub struct OkOnly<H, T>(pub(crate) OutputFn<H, T>);

impl<H, T> std::fmt::Debug for OkOnly<H, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OkOnly")
    }
}

impl<H, T, E> RecordOutput<H, Result<T, E>> for OkOnly<H, T> {
    #[inline]
    fn record(&self, handle: &H, value: &Result<T, E>) {
        if let Ok(ok) = value {
            (self.0)(handle, ok);
        }
    }
}
