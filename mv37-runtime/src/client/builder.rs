//! [`ClientBuilder`]: from code settings and the environment to a running [`Client`]
//! with its exporters, spool and pipeline thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Client, InstallGuard};
use crate::config::{Config, ConfigError, ExporterKind};
use crate::export::spool::Spool;
use crate::export::{ConsoleExporter, Exporter, FanOut, JsonlExporter, NoopExporter, ResourceInfo};
use crate::payload::CapturePolicy;
use crate::pipeline::Limits;
use crate::progress::TraceResource;
use crate::redact::RedactHook;
use crate::state::open::Recorder;

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
    extra_exporters: Vec<Box<dyn Exporter>>,
    redact: Option<RedactHook>,
    error: Option<ConfigError>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("custom_exporters", &self.exporters.len())
            .field("extra_exporters", &self.extra_exporters.len())
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

    /// Sends records to this exporter as well as to the built-in exporters the
    /// configuration names (`MV37_EXPORTER`, an OTLP endpoint, [`Self::exporter_kinds`]),
    /// where [`Self::exporter`] replaces them: for a console tree beside whatever the
    /// environment chose.
    ///
    /// ```
    /// let client = mv37_runtime::Client::builder()
    ///     .with_env()
    ///     .extra_exporter(mv37_runtime::ConsoleExporter::stderr())
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn extra_exporter(mut self, exporter: impl Exporter) -> Self {
        self.extra_exporters.push(Box::new(exporter));
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
    /// other settings of the `otlp` configuration (from `with_env`, or defaults). A URL
    /// with a path is the traces URL itself; a bare host (`http://localhost:4318`) gets
    /// `/v1/traces` (see [`crate::otlp_traces_url`]).
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config.otlp.endpoint = crate::config::endpoint::otlp_traces_url(&endpoint.into());
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

    /// Also send feedback and signals to this backend's own feedback API (Phoenix
    /// annotations, MLflow assessments, Langfuse scores), at the root URL derived from the
    /// OTLP endpoint unless [`Self::feedback_endpoint`] names it.
    pub fn feedback_backend(mut self, backend: crate::export::FeedbackBackend) -> Self {
        self.config.feedback_backend = Some(backend);
        self
    }

    /// The root URL of the feedback backend's API, such as `http://localhost:6006`.
    pub fn feedback_endpoint(mut self, url: impl Into<String>) -> Self {
        self.config.feedback_endpoint = Some(url.into());
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
        /// Whether content is captured: inputs, outputs (tool arguments and results among
        /// them) and messages (default true). With `false`, records keep their structure,
        /// names, kinds, timings, status and errors, model, provider, usage, cost and
        /// attributes, and content is never serialized. The environment's
        /// `MV37_CAPTURE_CONTENT` or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`
        /// (read by `with_env`) sets the same.
        ///
        /// ```
        /// use mv37_runtime::{Client, MemoryExporter};
        ///
        /// let memory = MemoryExporter::new();
        /// let client = Client::builder().exporter(memory.clone()).capture_content(false).build().unwrap();
        /// client.trace("turn").run(|trace| {
        ///     trace.tool("lookup").arguments(&"order 42").run(|span| span.record_output(&"shipped"));
        /// });
        /// client.flush().unwrap();
        /// let lookup = memory.span("lookup").unwrap();
        /// assert!(lookup.input.is_none() && lookup.output.is_none());
        /// ```
        capture_content: bool
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
        exporters.append(&mut self.extra_exporters);
        if let (Some(backend), Some(base_url)) = (config.feedback_backend, config.feedback_base_url()) {
            exporters.push(feedback_exporter(backend, &base_url, &config)?);
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
        let capture = CapturePolicy {
            max_bytes: config.max_payload_bytes,
            content: config.capture_content,
        };
        let recorder = Recorder::new(
            pipeline,
            capture,
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

/// The feedback API exporter, when this build has a network transport (feature `otlp`
/// or `ingest`). It comes last, after the exporters that send the spans.
fn feedback_exporter(
    backend: crate::export::FeedbackBackend,
    base_url: &str,
    config: &Config,
) -> Result<Box<dyn Exporter>, ConfigError> {
    #[cfg(feature = "transport")]
    return Ok(Box::new(crate::export::FeedbackExporter::new(
        backend,
        base_url,
        &config.otlp.headers,
        config.otlp.retry,
    )?));
    #[cfg(not(feature = "transport"))]
    {
        let _ = (backend, base_url, config);
        Err(ConfigError::NotBuilt {
            exporter: "feedback",
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
