//! The current context: which trace and span are open on this thread, carried across
//! `.await` by the futures this crate returns and into other tasks and threads by
//! [`Context`] and [`FutureExt::in_current_span`].

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::client::any_client_live;
use crate::ids::SpanId;
use crate::record::{ErrorInfo, Status};
use crate::scoped::LocalSpan;
use crate::span::{Span, SpanInner};
use crate::trace::{Trace, TraceInner};

/// One entry of the context stack: an open span (which knows its trace), or a trace
/// with no span open. One reference count per entry, not two.
#[derive(Clone)]
pub(crate) enum Frame {
    Trace(Arc<TraceInner>),
    Span(Arc<SpanInner>),
}

impl Frame {
    pub(crate) fn trace(&self) -> &Arc<TraceInner> {
        match self {
            Frame::Trace(trace) => trace,
            Frame::Span(span) => &span.trace,
        }
    }

    pub(crate) fn span(&self) -> Option<&Arc<SpanInner>> {
        match self {
            Frame::Trace(_) => None,
            Frame::Span(span) => Some(span),
        }
    }

    pub(crate) fn span_id(&self) -> SpanId {
        match self {
            Frame::Trace(trace) => trace.root_span_id,
            Frame::Span(span) => span.span_id,
        }
    }
}

/// One entry of the stack: a frame (a trace or a shared span, entered by a guard, a
/// future or a captured [`Context`]), or a span run here whose state the stack holds.
enum Entry {
    Frame(Frame),
    Local(LocalSpan),
}

impl Entry {
    fn trace(&self) -> &Arc<TraceInner> {
        match self {
            Entry::Frame(frame) => frame.trace(),
            Entry::Local(span) => span.trace(),
        }
    }

    fn span_id(&self) -> SpanId {
        match self {
            Entry::Frame(frame) => frame.span_id(),
            Entry::Local(span) => span.span_id(),
        }
    }

    /// The entry as a frame to hand out; a local span becomes shared.
    fn frame(&mut self) -> Option<Frame> {
        match self {
            Entry::Frame(frame) => Some(frame.clone()),
            Entry::Local(span) => span.share().map(Frame::Span),
        }
    }
}

thread_local! {
    static STACK: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// Whether nothing is open on this thread (records finished now leave with no delay).
pub(crate) fn is_idle() -> bool {
    STACK
        .try_with(|stack| stack.try_borrow().is_ok_and(|stack| stack.is_empty()))
        .unwrap_or(true)
}

/// Pushes `value` as an entry; gives it back if there is no stack to hold it (the
/// thread is exiting, or the stack is in use further up this call).
fn push<T>(value: T, entry: impl FnOnce(T) -> Entry) -> Result<usize, T> {
    if STACK.try_with(|_| ()).is_err() {
        return Err(value);
    }
    STACK.with(|stack| match stack.try_borrow_mut() {
        Ok(mut stack) => {
            stack.push(entry(value));
            Ok(stack.len() - 1)
        }
        Err(_) => Err(value),
    })
}

/// Pushes a frame; returns the depth to give back to [`exit`].
pub(crate) fn enter(frame: Frame) -> usize {
    push(frame, Entry::Frame).unwrap_or(usize::MAX)
}

/// Pushes a span run on this thread; gives it back if there is no stack to hold it.
pub(crate) fn enter_local(span: LocalSpan) -> Result<usize, LocalSpan> {
    push(span, Entry::Local)
}

/// Pops back to `depth` and returns the entry that was there, and whether the stack is
/// now empty. Entries above it (leaked guards) go too, so that a mistake in one scope
/// cannot corrupt the parent links of the next; spans held by them are ended, not lost.
fn pop_to(depth: usize) -> (Option<Entry>, bool) {
    let mut cut_off = Vec::new();
    let popped = STACK.try_with(|stack| {
        let mut stack = stack.try_borrow_mut().ok()?;
        if stack.len() == depth + 1 {
            // The usual case: the scope is the innermost one.
            let entry = stack.pop();
            return Some((entry, stack.is_empty()));
        }
        let mut entry = None;
        while stack.len() > depth {
            match stack.pop() {
                Some(popped) if stack.len() == depth => entry = Some(popped),
                Some(Entry::Local(span)) => cut_off.push(span),
                _ => {}
            }
        }
        Some((entry, stack.is_empty()))
    });
    for span in cut_off {
        span.finish(Outcome::Ok);
    }
    popped.ok().flatten().unwrap_or((None, false))
}

/// Hands over the thread's records if it left its last open scope.
fn settle(idle: bool) {
    if idle {
        crate::export::pipeline::hand_over_this_thread();
    }
}

/// Pops back to `depth`, dropping the frame there.
pub(crate) fn exit(depth: usize) {
    let (entry, idle) = pop_to(depth);
    if let Some(Entry::Local(span)) = entry {
        // A span run here was left from a guard's depth (guards dropped out of order):
        // it ends rather than being lost.
        span.finish(Outcome::Ok);
    }
    settle(idle);
}

/// Ends the span run at `depth` with `outcome` and leaves it.
pub(crate) fn leave_local(depth: usize, span_id: SpanId, outcome: Outcome) {
    let (entry, idle) = pop_to(depth);
    match entry {
        Some(Entry::Local(span)) if span.span_id() == span_id => span.finish(outcome),
        // Ours was ended already (cut off); whatever took its place ends too.
        Some(Entry::Local(span)) => span.finish(Outcome::Ok),
        _ => {}
    }
    settle(idle);
}

/// Takes the span run at `depth` off the stack, still open (a future's span between
/// polls); `None` if it was ended meanwhile.
pub(crate) fn take_local(depth: usize, span_id: SpanId) -> Option<LocalSpan> {
    let (entry, idle) = pop_to(depth);
    let span = match entry {
        Some(Entry::Local(span)) if span.span_id() == span_id => Some(span),
        Some(Entry::Local(span)) => {
            span.finish(Outcome::Ok);
            None
        }
        _ => None,
    };
    settle(idle);
    span
}

/// Runs `f` on the span run at `depth` (`None` if it is not there any more).
pub(crate) fn with_local<R>(depth: usize, span_id: SpanId, f: impl FnOnce(&mut LocalSpan) -> R) -> Option<R> {
    STACK
        .try_with(|stack| {
            let mut stack = stack.try_borrow_mut().ok()?;
            match stack.get_mut(depth) {
                Some(Entry::Local(span)) if span.span_id() == span_id => Some(f(span)),
                _ => None,
            }
        })
        .ok()
        .flatten()
}

/// The innermost span of `trace` open here, or the trace's root span.
pub(crate) fn parent_in(trace: &Arc<TraceInner>) -> SpanId {
    STACK
        .try_with(|stack| {
            let stack = stack.try_borrow().ok()?;
            stack
                .iter()
                .rev()
                .find(|entry| Arc::ptr_eq(entry.trace(), trace))
                .map(Entry::span_id)
        })
        .ok()
        .flatten()
        .unwrap_or(trace.root_span_id)
}

/// The innermost frame of `trace` open here.
pub(crate) fn frame_in(trace: &Arc<TraceInner>) -> Option<Frame> {
    STACK
        .try_with(|stack| {
            let mut stack = stack.try_borrow_mut().ok()?;
            stack
                .iter_mut()
                .rev()
                .find(|entry| Arc::ptr_eq(entry.trace(), trace))
                .and_then(Entry::frame)
        })
        .ok()
        .flatten()
}

/// The trace open here, without making a span run here shareable.
pub(crate) fn current_trace() -> Option<Arc<TraceInner>> {
    if !any_client_live() {
        return None;
    }
    STACK
        .try_with(|stack| {
            let stack = stack.try_borrow().ok()?;
            stack.last().map(|entry| Arc::clone(entry.trace()))
        })
        .ok()
        .flatten()
}

pub(crate) fn current_frame() -> Option<Frame> {
    if !any_client_live() {
        return None;
    }
    STACK
        .try_with(|stack| {
            stack
                .try_borrow_mut()
                .ok()
                .and_then(|mut stack| stack.last_mut()?.frame())
        })
        .ok()
        .flatten()
}

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

    /// The trace of this context (a no-op handle when empty).
    pub fn trace(&self) -> Trace {
        Trace::from_inner(self.frame.as_ref().map(|frame| Arc::clone(frame.trace())))
    }

    /// The innermost span of this context (a no-op handle when no span is open).
    pub fn span(&self) -> Span {
        Span::from_inner(self.frame.as_ref().and_then(|frame| frame.span().cloned()))
    }
}

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

/// How a scope (a trace or a span run by this crate) ended.
pub(crate) enum Outcome {
    Ok,
    Failed(ErrorInfo),
    Cancelled,
}

impl Outcome {
    pub(crate) fn into_status(self) -> (Status, Option<ErrorInfo>) {
        match self {
            Outcome::Ok => (Status::Ok, None),
            Outcome::Failed(error) => (Status::Error, Some(error)),
            Outcome::Cancelled => (Status::Cancelled, None),
        }
    }
}

/// A trace or span whose end this crate drives.
pub(crate) enum Scope {
    Trace(Arc<TraceInner>),
    Span(Arc<SpanInner>),
}

impl Scope {
    fn frame(&self) -> Frame {
        match self {
            Scope::Trace(trace) => Frame::Trace(Arc::clone(trace)),
            Scope::Span(span) => Frame::Span(Arc::clone(span)),
        }
    }

    pub(crate) fn finish(self, outcome: Outcome) {
        let (status, error) = outcome.into_status();
        match self {
            Scope::Trace(trace) => trace.end(status, error),
            Scope::Span(span) => span.end(status, error),
        }
    }
}

pub(crate) fn panic_info(payload: &(dyn std::any::Any + Send)) -> ErrorInfo {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    ErrorInfo {
        message,
        error_type: Some("panic".to_owned()),
    }
}

pub(crate) fn error_info<E: std::fmt::Display + ?Sized>(error: &E) -> ErrorInfo {
    ErrorInfo {
        message: error.to_string(),
        error_type: Some(std::any::type_name::<E>().to_owned()),
    }
}

/// Inspects a result to decide whether the scope failed.
pub(crate) type Inspect<T> = fn(&T) -> Option<ErrorInfo>;

pub(crate) fn never_failed<T>(_: &T) -> Option<ErrorInfo> {
    None
}

pub(crate) fn failed_on_err<T, E: std::fmt::Display>(result: &Result<T, E>) -> Option<ErrorInfo> {
    result.as_ref().err().map(error_info)
}

/// Runs `f` with the scope current; ends the scope with `f`'s outcome, including a panic
/// (which is then resumed).
pub(crate) fn run_scope<H, R>(scope: Option<Scope>, handle: &H, f: impl FnOnce(&H) -> R, inspect: Inspect<R>) -> R {
    // The scope ends before it is left, so that its record leaves this thread together
    // with those of its children.
    let entered = Entered(scope.as_ref().map(|scope| enter(scope.frame())));
    let result = catch_unwind(AssertUnwindSafe(|| f(handle)));
    match result {
        Ok(value) => {
            if let Some(scope) = scope {
                scope.finish(inspect(&value).map_or(Outcome::Ok, Outcome::Failed));
            }
            drop(entered);
            value
        }
        Err(panic) => {
            if let Some(scope) = scope {
                scope.finish(Outcome::Failed(panic_info(panic.as_ref())));
            }
            drop(entered);
            resume_unwind(panic)
        }
    }
}

/// Leaves a scope's frame when dropped.
struct Entered(Option<usize>);

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(depth) = self.0 {
            exit(depth);
        }
    }
}

pin_project! {
    /// The future of an async trace or span: every poll runs inside it, and it ends
    /// when the future completes (failed on `Err` for the `try_` forms, or on panic), or
    /// is marked cancelled if the future is dropped first.
    #[must_use = "futures do nothing unless polled"]
    pub struct ScopeFuture<F: Future> {
        #[pin]
        inner: F,
        scope: Option<Scope>,
        inspect: Inspect<F::Output>,
    }

    impl<F: Future> PinnedDrop for ScopeFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(scope) = this.project().scope.take() {
                scope.finish(Outcome::Cancelled);
            }
        }
    }
}

impl<F: Future> ScopeFuture<F> {
    pub(crate) fn new(inner: F, scope: Option<Scope>, inspect: Inspect<F::Output>) -> Self {
        Self { inner, scope, inspect }
    }
}

impl<F: Future> Future for ScopeFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        if this.scope.is_none() {
            // Ended, or nothing to record (an instrumented fn inside a trace).
            return this.inner.poll(cx);
        }
        let entered = Entered(this.scope.as_ref().map(|scope| enter(scope.frame())));
        let inner = this.inner;
        let result = catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        match result {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                if let Some(scope) = this.scope.take() {
                    scope.finish((this.inspect)(&value).map_or(Outcome::Ok, Outcome::Failed));
                }
                drop(entered);
                Poll::Ready(value)
            }
            Err(panic) => {
                if let Some(scope) = this.scope.take() {
                    scope.finish(Outcome::Failed(panic_info(panic.as_ref())));
                }
                drop(entered);
                resume_unwind(panic)
            }
        }
    }
}

/// Keeps a trace or span open and current on this thread until dropped; a panic
/// unwinding through it marks it failed. Not `Send`: in async code use the `run_async`
/// forms, which carry the context across `.await`.
#[must_use = "the scope ends as soon as the guard is dropped"]
pub struct ScopeGuard<H> {
    handle: H,
    scope: Option<Scope>,
    depth: Option<usize>,
    _not_send: PhantomData<*const ()>,
}

impl<H> ScopeGuard<H> {
    pub(crate) fn new(handle: H, scope: Option<Scope>) -> Self {
        let depth = scope.as_ref().map(|scope| enter(scope.frame()));
        Self {
            handle,
            scope,
            depth,
            _not_send: PhantomData,
        }
    }
}

impl<H> std::ops::Deref for ScopeGuard<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handle
    }
}

impl<H: std::fmt::Debug> std::fmt::Debug for ScopeGuard<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl<H> Drop for ScopeGuard<H> {
    fn drop(&mut self) {
        let entered = Entered(self.depth.take());
        if let Some(scope) = self.scope.take() {
            let outcome = if std::thread::panicking() {
                Outcome::Failed(ErrorInfo {
                    message: "panicked while the scope was open".to_owned(),
                    error_type: Some("panic".to_owned()),
                })
            } else {
                Outcome::Ok
            };
            scope.finish(outcome);
        }
        drop(entered);
    }
}
