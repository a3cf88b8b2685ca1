//! The client: the handle that owns the exporter pipeline, the global and per-thread
//! default clients that macros and free functions use, and those free functions.
//! [`ClientBuilder`] (configuration to a running client) is in `builder.rs`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_channel::oneshot;

use crate::builder::SpanBuilder;
use crate::config::ConfigError;
use crate::context::Context;
use crate::ids::TraceId;
use crate::messages::FeedbackBuilder;
use crate::pipeline::{FlushError, ShutdownError};
use crate::record::SpanKind;
use crate::span::Span;
use crate::state::open::{any_client_live, Recorder};
use crate::stats::Stats;
use crate::trace::{Trace, TraceBuilder};

mod builder;

pub use builder::ClientBuilder;

/// The mv37 client: opens traces and owns the background exporter.
///
/// Cheap to clone. Build one with [`Client::builder`], then either use it directly
/// (`client.trace(..)`), make it the thread's default ([`Client::set_default`]), or
/// install it globally ([`Client::install`], [`crate::init`]) for the macros and free
/// functions.
#[derive(Clone, Default)]
pub struct Client {
    inner: Option<Arc<Recorder>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("enabled", &self.inner.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Client {
    /// A builder with the defaults (the environment is read only with
    /// [`ClientBuilder::with_env`]).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client that records nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether this client records anything.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Describes a new trace.
    pub fn trace(&self, name: impl Into<Cow<'static, str>>) -> TraceBuilder {
        match &self.inner {
            Some(inner) => TraceBuilder::new(Some(Arc::clone(inner)), name.into()),
            None => TraceBuilder::disabled(),
        }
    }

    /// Feedback on a trace by id, for example after the trace ended (sent at the end of
    /// the statement; chain `.comment(..)` first). If this client exported the trace
    /// recently (its last 4096 traces), the feedback carries the trace's name, user and
    /// session, and is attached under its root span.
    pub fn feedback(
        &self,
        trace_id: TraceId,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> FeedbackBuilder {
        match &self.inner {
            Some(inner) => FeedbackBuilder::new(Arc::clone(inner), trace_id, None, name.into(), value.into(), None),
            None => FeedbackBuilder::disabled(),
        }
    }

    /// The delivery accounting so far.
    pub fn stats(&self) -> Stats {
        self.inner
            .as_ref()
            .map(|inner| inner.pipeline.stats())
            .unwrap_or_default()
    }

    /// Waits until everything recorded before the call is exported, up to the shutdown
    /// timeout: what this thread finished, and what other threads handed over. A thread
    /// hands its finished records over in chunks: when 32 have gathered, when it leaves
    /// its last open trace or span, and when it exits; so spans still inside a scope that
    /// is open on another thread may wait for that scope.
    pub fn flush(&self) -> Result<(), FlushError> {
        match &self.inner {
            Some(inner) => inner.flush(inner.shutdown_timeout),
            None => Ok(()),
        }
    }

    /// Like [`Client::flush`] with an explicit timeout.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        match &self.inner {
            Some(inner) => inner.flush(timeout),
            None => Ok(()),
        }
    }

    /// [`Client::flush`] for async code: waits without blocking the executor.
    pub fn flush_async(&self) -> impl Future<Output = Result<(), FlushError>> + Send + 'static {
        let client = self.clone();
        off_thread(move || client.flush())
    }

    /// Stops recording, exports what is queued within the shutdown timeout (5 s by
    /// default), and stops the exporter. Safe to call more than once, from any thread.
    pub fn shutdown(&self) -> Result<(), ShutdownError> {
        match &self.inner {
            Some(inner) => inner.shutdown(inner.shutdown_timeout),
            None => Ok(()),
        }
    }

    /// Like [`Client::shutdown`] with an explicit deadline.
    pub fn shutdown_timeout(&self, timeout: Duration) -> Result<(), ShutdownError> {
        match &self.inner {
            Some(inner) => inner.shutdown(timeout),
            None => Ok(()),
        }
    }

    /// [`Client::shutdown`] for async code, including a current-thread runtime: waits
    /// without blocking the executor.
    pub fn shutdown_async(&self) -> impl Future<Output = Result<(), ShutdownError>> + Send + 'static {
        let client = self.clone();
        off_thread(move || client.shutdown())
    }

    /// Whether `shutdown` has begun.
    pub fn is_shut_down(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.pipeline.is_closed())
    }

    /// Makes this client the default of the current thread until the guard is dropped
    /// (tests use this to run side by side in one process).
    pub fn set_default(&self) -> DefaultGuard {
        let previous = THREAD_DEFAULT.with(|slot| slot.borrow_mut().replace(self.clone()));
        DefaultGuard {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Installs this client for the whole process. The guard shuts it down (flushing)
    /// when dropped: keep it alive in `main`.
    pub fn install(self) -> Result<InstallGuard, ConfigError> {
        GLOBAL.set(self.clone()).map_err(|_| ConfigError::AlreadyInstalled)?;
        Ok(InstallGuard { client: self })
    }
}

static GLOBAL: OnceLock<Client> = OnceLock::new();

thread_local! {
    static THREAD_DEFAULT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// The client in effect here: the thread's default, else the global one.
pub fn client() -> Option<Client> {
    if !any_client_live() {
        return None;
    }
    THREAD_DEFAULT
        .try_with(|slot| slot.borrow().clone())
        .ok()
        .flatten()
        .or_else(|| GLOBAL.get().cloned())
}

/// Restores the previous thread default when dropped.
#[must_use = "the default is reset as soon as the guard is dropped"]
pub struct DefaultGuard {
    previous: Option<Client>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::fmt::Debug for DefaultGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DefaultGuard")
    }
}

impl Drop for DefaultGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = THREAD_DEFAULT.try_with(|slot| *slot.borrow_mut() = previous);
    }
}

/// Keeps the global client; shuts it down (exporting what is queued, within the
/// deadline) when dropped.
#[must_use = "dropping the guard shuts the client down at once"]
#[derive(Debug)]
pub struct InstallGuard {
    client: Client,
}

impl InstallGuard {
    /// The installed client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Drop for InstallGuard {
    fn drop(&mut self) {
        if let Err(error) = self.client.shutdown() {
            eprintln!("mv37: {error}");
        }
    }
}

/// Runs a blocking call on its own thread and awaits its result without blocking the
/// executor, whichever async runtime polls it (or none: a oneshot channel wakes the
/// task). If the thread cannot be started, the call runs here, at once.
fn off_thread<T, F>(call: F) -> impl Future<Output = T> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce() -> T + Clone + Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let on_thread = call.clone();
    let spawned = std::thread::Builder::new().name("mv37-shutdown".into()).spawn(move || {
        let _ = sender.send(on_thread());
    });
    let inline = match spawned {
        Ok(_) => None,
        Err(_) => Some(call.clone()()),
    };
    async move {
        match inline {
            Some(value) => value,
            // The sender was dropped unsent only if the call panicked on its thread: run it
            // again here, so that the panic reaches the caller (instead of a future that
            // never completes).
            None => receiver.await.unwrap_or_else(|oneshot::Canceled| call()),
        }
    }
}

/// Configures a client from the environment (`MV37_*`, `OTEL_SERVICE_NAME`) and installs
/// it for the whole process. Keep the guard alive in `main`: dropping it flushes and
/// shuts down.
///
/// ```no_run
/// fn main() -> Result<(), mv37_runtime::ConfigError> {
///     let _mv37 = mv37_runtime::init()?;
///     // ... the program ...
///     Ok(())
/// }
/// ```
pub fn init() -> Result<InstallGuard, ConfigError> {
    Client::builder().with_env().install()
}

/// Describes a new trace on the client in effect (the thread's default, else the global
/// one); a no-op builder when none is installed.
pub fn trace(name: impl Into<Cow<'static, str>>) -> TraceBuilder {
    match client() {
        Some(client) => client.trace(name),
        None => TraceBuilder::disabled(),
    }
}

/// The trace open in the current context (a no-op handle when none is).
pub fn current_trace() -> Trace {
    Trace::from_inner(crate::state::local::current_trace())
}

/// Whether a span made now would record anything: a trace is open here, or a client is
/// installed to open one.
pub(crate) fn anything_records() -> bool {
    current_trace().is_recording() || client().is_some_and(|client| client.is_enabled())
}

/// The innermost span open in the current context (a no-op handle when none is).
pub fn current_span() -> Span {
    Context::current().span()
}

/// A span of `kind` in the trace open in the current context; a no-op builder when no
/// trace is open.
pub fn span(kind: impl Into<SpanKind>) -> SpanBuilder {
    current_trace().span(kind)
}

/// Flushes the client in effect; see [`Client::flush`].
pub fn flush() -> Result<(), FlushError> {
    client().map_or(Ok(()), |client| client.flush())
}
