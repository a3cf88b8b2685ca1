//! Recording the value an instrumented fn returns: the [`Handle`] both spans and traces
//! offer, and [`Recorded`], the future that records the output of an `async fn`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;
use serde::Serialize;

use crate::scoped::{RecordOutput, ScopedSpan};
use crate::span::Span;
use crate::trace::Trace;

/// The value an instrumented fn records as its output.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Serialize`, so the return value cannot be captured as the output",
    label = "not `Serialize`",
    note = "add `output = false` to the attribute to not record the output, or derive `serde::Serialize` for `{Self}`"
)]
pub trait OutputValue: Serialize {}
impl<T: Serialize + ?Sized> OutputValue for T {}

/// Records `value` as the output of `handle`; the one place that asks for `Serialize`,
/// where the macro points it (the return type).
#[inline]
pub fn record_output<H: Handle, T: OutputValue + ?Sized>(handle: &H, value: &T) {
    handle.record_output(value);
}

/// What both handles can do for the macros.
pub trait Handle {
    /// Whether the handle records anything.
    fn is_recording(&self) -> bool;
    /// Records the output.
    fn record_output<T: Serialize + ?Sized>(&self, output: &T);
}

impl Handle for Span {
    #[inline]
    fn is_recording(&self) -> bool {
        Span::is_recording(self)
    }

    #[inline]
    fn record_output<T: Serialize + ?Sized>(&self, output: &T) {
        Span::record_output(self, output);
    }
}

impl Handle for ScopedSpan {
    #[inline]
    fn is_recording(&self) -> bool {
        ScopedSpan::is_recording(self)
    }

    #[inline]
    fn record_output<T: Serialize + ?Sized>(&self, output: &T) {
        ScopedSpan::record_output(self, output);
    }
}

impl Handle for Trace {
    #[inline]
    fn is_recording(&self) -> bool {
        Trace::is_recording(self)
    }

    #[inline]
    fn record_output<T: Serialize + ?Sized>(&self, output: &T) {
        Trace::record_output(self, output);
    }
}

#[inline]
pub(super) fn recorded<H: Handle, R>(handle: &H, value: R, output: fn(&H, &R)) -> R {
    if handle.is_recording() {
        output(handle, &value);
    }
    value
}

#[inline]
pub(super) fn recorded_ok<H: Handle, T, E>(handle: &H, value: Result<T, E>, output: fn(&H, &T)) -> Result<T, E> {
    if let (true, Ok(ok)) = (handle.is_recording(), &value) {
        output(handle, ok);
    }
    value
}

pin_project! {
    /// The body future of an instrumented `async fn`, recording its output on completion.
    #[must_use = "futures do nothing unless polled"]
    pub struct Recorded<F, H, O> {
        #[pin]
        inner: F,
        handle: H,
        output: O,
    }
}

impl<F, H, O> Recorded<F, H, O> {
    pub(super) fn new(inner: F, handle: H, output: O) -> Self {
        Self { inner, handle, output }
    }
}

impl<F: Future, H: Handle, O: RecordOutput<H, F::Output>> Future for Recorded<F, H, O> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let value = std::task::ready!(this.inner.poll(cx));
        if this.handle.is_recording() {
            this.output.record(this.handle, &value);
        }
        Poll::Ready(value)
    }
}
