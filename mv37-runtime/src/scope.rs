//! Scopes: a trace or span whose end this crate drives, and the three ways to run one:
//! a closure ([`run_scope`]), a future ([`ScopeFuture`]) or a guard ([`ScopeGuard`]).
//! Every one of them enters the scope on this thread's context stack, ends it with the
//! outcome of the code it ran (an `Err` for the `try_` forms, a panic, a cancellation),
//! and leaves it.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::progress::{error_info, panic_info, Outcome};
use crate::record::ErrorInfo;
use crate::state::local::{enter, exit, Frame};
use crate::state::open::{SharedSpan, SharedTrace};

/// A trace or span whose end this crate drives.
pub(crate) enum Scope {
    Trace(Arc<SharedTrace>),
    Span(Arc<SharedSpan>),
}

impl Scope {
    fn frame(&self) -> Frame {
        match self {
            Scope::Trace(trace) => Frame::Trace(Arc::clone(trace)),
            Scope::Span(span) => Frame::Span(Arc::clone(span)),
        }
    }

    pub(crate) fn finish(self, outcome: Outcome) {
        match self {
            Scope::Trace(trace) => trace.end(outcome),
            Scope::Span(span) => span.end(outcome),
        }
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
