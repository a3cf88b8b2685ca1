//! The client: configuration, the exporter pipeline it owns, and the global and
//! per-thread default clients that macros and free functions use.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use crate::builder::SpanBuilder;
use crate::config::{Config, ConfigError, ExporterKind};
use crate::context::Context;
use crate::export::spool::Spool;
use crate::export::{ConsoleExporter, Exporter, FanOut, JsonlExporter, NoopExporter, ResourceInfo};
use crate::ids::TraceId;
use crate::messages::FeedbackBuilder;
use crate::pipeline::{FlushError, Limits, ShutdownError};
use crate::progress::TraceResource;
use crate::record::SpanKind;
use crate::redact::RedactHook;
use crate::span::Span;
use crate::state::open::{any_client_live, Recorder};
use crate::stats::Stats;
use crate::trace::{Trace, TraceBuilder};

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
    /// the statement; chain `.comment(..)` first).
    pub fn feedback(
        &self,
        trace_id: TraceId,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> FeedbackBuilder {
        match &self.inner {
            Some(inner) => FeedbackBuilder::new(Arc::clone(inner), trace_id, name.into(), value.into(), None),
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
        OffThread::spawn(move || client.flush())
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
        OffThread::spawn(move || client.shutdown())
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

/// Builds a [`Client`] from code settings and, with [`ClientBuilder::with_env`], the
/// environment.
///
/// ```
/// use std::time::Duration;
/// use mv37_runtime::{Client, MemoryExporter};
///
/// let client = Client::builder()
///     .exporter(MemoryExporter::new())
///     .sample_rate(0.5)
///     .batch_interval(Duration::from_millis(200))
///     .build()
///     .unwrap();
/// # drop(client);
/// ```
#[must_use = "call `build` or `install`"]
#[derive(Default)]
pub struct ClientBuilder {
    config: Config,
    exporters: Vec<Box<dyn Exporter>>,
    redact: Option<RedactHook>,
    error: Option<ConfigError>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("custom_exporters", &self.exporters.len())
            .finish()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    };
}

impl ClientBuilder {
    /// Applies the `MV37_*` and `OTEL_SERVICE_NAME` environment variables over what is set
    /// so far; settings made after this call override them. A bad value is reported by
    /// `build`.
    pub fn with_env(mut self) -> Self {
        if let Err(error) = self.config.apply_lookup(|name| std::env::var(name).ok()) {
            self.error.get_or_insert(error);
        }
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sends records to this exporter. Called several times, every exporter gets every
    /// batch. When none is given, the configured built-in exporters are used.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// A hook that rewrites every input, output, message content and feedback comment
    /// (as JSON) on the exporter thread before it is exported: mask emails, drop keys.
    /// If the hook panics, the value is replaced by a `mv37.redaction_error` marker
    /// rather than sent unredacted.
    ///
    /// ```
    /// let client = mv37_runtime::Client::builder()
    ///     .exporter(mv37_runtime::MemoryExporter::new())
    ///     .redact(|value| {
    ///         if let Some(card) = value.get_mut("card_number") {
    ///             *card = "[redacted]".into();
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(client);
    /// ```
    pub fn redact(mut self, hook: impl Fn(&mut serde_json::Value) + Send + Sync + 'static) -> Self {
        self.redact = Some(Arc::new(hook));
        self
    }

    /// Sends to an OTLP/HTTP endpoint (a collector, Phoenix, Langfuse, Jaeger…), with the
    /// other settings of the `otlp` configuration (from `with_env`, or defaults).
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config.otlp.endpoint = endpoint.into();
        if !self.config.exporters.contains(&ExporterKind::Otlp) {
            self.config.exporters = vec![ExporterKind::Otlp];
        }
        self
    }

    /// Uses the built-in exporters named here (when no custom exporter is given).
    pub fn exporter_kinds(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.config.exporters = kinds.into_iter().collect();
        self
    }

    /// Path of the JSONL file of the built-in `jsonl` exporter.
    pub fn jsonl_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.jsonl_path = path.into();
        self
    }

    /// Keep batches that could not be delivered (and what is queued when the shutdown
    /// deadline passes) as JSONL segments in this directory, re-sent later.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.spool_dir = Some(dir.into());
        self
    }

    /// The bound of the spool directory's total size; past it the oldest segment goes.
    pub fn spool_max_bytes(mut self, bytes: u64) -> Self {
        self.config.spool_max_bytes = bytes;
        self
    }

    /// The deployment environment.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.config.environment = Some(environment.into());
        self
    }

    /// The release or version of the program.
    pub fn release(mut self, release: impl Into<String>) -> Self {
        self.config.release = Some(release.into());
        self
    }

    /// The service name.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.config.service_name = Some(name.into());
        self
    }

    setter!(
        /// Fraction of traces to keep, from 0.0 to 1.0.
        sample_rate: f64
    );
    setter!(
        /// When true the client records nothing.
        disabled: bool
    );
    setter!(
        /// Records per batch.
        max_batch_records: usize
    );
    setter!(
        /// Approximate bytes per batch.
        max_batch_bytes: usize
    );
    setter!(
        /// Longest time a record waits before its batch is exported.
        batch_interval: Duration
    );
    setter!(
        /// How long the exporter waits after a trace ends before exporting, so that
        /// traces ending meanwhile share one request (20 ms by default; zero exports each
        /// trace at once). Capped by the batch interval.
        export_linger: Duration
    );
    setter!(
        /// Records the queue holds; past it records are dropped and counted.
        max_queue_records: usize
    );
    setter!(
        /// Approximate bytes the queue holds; past it records are dropped and counted.
        max_queue_bytes: usize
    );
    setter!(
        /// Largest captured input or output, in bytes of JSON; larger ones are truncated
        /// with a marker.
        max_payload_bytes: usize
    );
    setter!(
        /// How long `shutdown` (and `flush`) may take.
        shutdown_timeout: Duration
    );
    setter!(
        /// Block at the end of every trace until it is exported (serverless).
        flush_on_end: bool
    );

    /// Builds the client and starts its exporter thread.
    pub fn build(mut self) -> Result<Client, ConfigError> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.config.validate()?;
        let config = self.config;
        if config.disabled {
            return Ok(Client::disabled());
        }
        let mut exporters = self.exporters;
        if exporters.is_empty() {
            let resource = config.resource();
            for kind in &config.exporters {
                exporters.push(match kind {
                    ExporterKind::Jsonl => Box::new(JsonlExporter::open(&config.jsonl_path)?),
                    ExporterKind::Console => Box::new(ConsoleExporter::stderr()),
                    ExporterKind::None => Box::new(NoopExporter),
                    ExporterKind::Otlp => otlp_exporter(&config, &resource)?,
                    ExporterKind::Mv37 => ingest_exporter(&config, &resource)?,
                });
            }
        }
        let exporter: Box<dyn Exporter> = match exporters.len() {
            0 => Box::new(NoopExporter),
            1 => exporters.remove(0),
            _ => Box::new(FanOut(exporters)),
        };
        let spool = match &config.spool_dir {
            Some(dir) => Some(
                Spool::open(dir, config.spool_max_bytes).map_err(|e| ConfigError::Spool {
                    path: dir.clone(),
                    message: e.to_string(),
                })?,
            ),
            None => None,
        };
        crate::clock::init();
        let limits = Limits {
            max_queue_records: config.max_queue_records,
            max_queue_bytes: config.max_queue_bytes,
            max_batch_records: config.max_batch_records,
            max_batch_bytes: config.max_batch_bytes,
            batch_interval: config.batch_interval,
            linger: config.export_linger,
        };
        let resource = TraceResource {
            environment: config.environment.as_deref().map(Arc::from),
            release: config.release.as_deref().map(Arc::from),
            service_name: config.service_name.as_deref().map(Arc::from),
        };
        let pipeline = crate::pipeline::start(limits, resource, exporter, self.redact, spool)
            .map_err(|error| ConfigError::Thread(error.to_string()))?;
        let recorder = Recorder::new(
            pipeline,
            config.max_payload_bytes,
            config.sample_rate,
            config.flush_on_end,
            config.shutdown_timeout,
        );
        Ok(Client {
            inner: Some(Arc::new(recorder)),
        })
    }

    /// Builds the client and installs it globally; see [`Client::install`].
    pub fn install(self) -> Result<InstallGuard, ConfigError> {
        self.build()?.install()
    }
}

/// The built-in OTLP exporter, when this build has it (feature `otlp`).
fn otlp_exporter(config: &Config, resource: &ResourceInfo) -> Result<Box<dyn Exporter>, ConfigError> {
    #[cfg(feature = "otlp")]
    return Ok(Box::new(crate::export::OtlpExporter::new(
        config.otlp.clone(),
        resource,
    )?));
    #[cfg(not(feature = "otlp"))]
    {
        let _ = (config, resource);
        Err(ConfigError::NotBuilt {
            exporter: "otlp",
            feature: "otlp",
        })
    }
}

/// The built-in ingest API exporter, when this build has it (feature `ingest`).
fn ingest_exporter(config: &Config, resource: &ResourceInfo) -> Result<Box<dyn Exporter>, ConfigError> {
    #[cfg(feature = "ingest")]
    return Ok(Box::new(crate::export::IngestExporter::new(
        config.ingest.clone(),
        resource,
    )?));
    #[cfg(not(feature = "ingest"))]
    {
        let _ = (config, resource);
        Err(ConfigError::NotBuilt {
            exporter: "mv37",
            feature: "ingest",
        })
    }
}

/// A blocking call run on its own thread, awaited without blocking the executor (and
/// without depending on any particular async runtime).
struct OffThread<T> {
    state: Arc<Mutex<(Option<T>, Option<Waker>)>>,
}

impl<T: Send + 'static> OffThread<T> {
    fn spawn(call: impl FnOnce() -> T + Send + 'static) -> Self {
        let state = Arc::new(Mutex::new((None, None::<Waker>)));
        let shared = Arc::clone(&state);
        let finish = move |value: T| {
            let mut state = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.0 = Some(value);
            if let Some(waker) = state.1.take() {
                waker.wake();
            }
        };
        // The closure is shared so that if the thread cannot start we can still run it.
        let call = Arc::new(Mutex::new(Some((call, finish))));
        let on_thread = Arc::clone(&call);
        let spawned = std::thread::Builder::new().name("mv37-shutdown".into()).spawn(move || {
            let taken = on_thread
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some((call, finish)) = taken {
                finish(call());
            }
        });
        if spawned.is_err() {
            let taken = call.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some((call, finish)) = taken {
                finish(call());
            }
        }
        Self { state }
    }
}

impl<T> Future for OffThread<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.0.take() {
            Some(value) => Poll::Ready(value),
            None => {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
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
