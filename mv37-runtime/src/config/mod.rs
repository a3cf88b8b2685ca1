//! Configuration: the settings with their defaults and ranges, read from code and from
//! the `MV37_*` / `OTEL_*` environment, and validated once. Its errors are in `error`,
//! `key=value` lists in `entries`, the OTLP endpoint rule in `endpoint`.
//!
//! Over 500 lines: about 650 of code (one table of settings, the environment reader and
//! `validate`, which read best together, as every setting has its field, default,
//! variable and check) and about 290 of unit tests. A split, when one comes, would move
//! the network exporters' settings (OTLP, ingest, feedback) into a module of their own.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

pub(crate) mod endpoint;
pub(crate) mod entries;
pub(crate) mod error;

use crate::export::{ApiKey, FeedbackBackend, IngestConfig, OtlpConfig, OtlpProtocol};
use crate::pipeline::{MAX_QUEUE_BYTES, MAX_QUEUE_RECORDS};
use entries::{header_pair, parse_key_values, percent_decode, split_key_values, EntryError};
pub(crate) use error::{check_url, entry_error};
pub use error::{ConfigError, EntryProblem};

/// The default JSONL file, relative to the working directory.
pub const DEFAULT_JSONL_PATH: &str = "mv37-traces.jsonl";

/// Which built-in exporter to use when none is given in code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExporterKind {
    /// One JSON record per line in a file (the default).
    Jsonl,
    /// A readable tree per trace on standard error.
    Console,
    /// Records are counted and discarded.
    None,
    /// OTLP/HTTP to an OpenTelemetry collector or backend.
    Otlp,
    /// The mv37 ingest API.
    Mv37,
}

/// Everything the client reads from code or the environment.
///
/// Numbers are range-checked: when read from the environment (the error names the
/// variable) and by [`Config::validate`] at build (the error names the field, which is
/// also the builder method).
#[derive(Debug, Clone)]
pub struct Config {
    /// Built-in exporters, used when no exporter is given in code (`MV37_EXPORTER`,
    /// comma-separated: `jsonl`, `console`, `otlp`, `mv37`, `none`; when it is not set,
    /// `OTEL_TRACES_EXPORTER`, and when neither is, `otlp` if an OTLP endpoint variable
    /// is set).
    pub exporters: Vec<ExporterKind>,
    /// Path of the JSONL file (`MV37_JSONL_PATH`).
    pub jsonl_path: PathBuf,
    /// When true nothing is recorded (`MV37_DISABLED`).
    pub disabled: bool,
    /// Fraction of traces kept, 0.0 to 1.0 (`MV37_SAMPLE_RATE`).
    pub sample_rate: f64,
    /// Deployment environment (`MV37_ENVIRONMENT`).
    pub environment: Option<String>,
    /// Release or version (`MV37_RELEASE`).
    pub release: Option<String>,
    /// Service name (`OTEL_SERVICE_NAME`).
    pub service_name: Option<String>,
    /// Records per batch (`MV37_BATCH_SIZE`), 1 to 4194303; a batch holds at most half of
    /// `max_queue_records`.
    pub max_batch_records: usize,
    /// Bytes per batch, approximately (`MV37_BATCH_BYTES`), 1 to 512 GiB; at most half of
    /// `max_queue_bytes`.
    pub max_batch_bytes: usize,
    /// Longest time a record waits before its batch is exported (`MV37_BATCH_INTERVAL_MS`),
    /// from [`MIN_BATCH_INTERVAL`] (1 ms) to one day.
    pub batch_interval: Duration,
    /// How long the exporter waits after a trace ends before it exports, so that traces
    /// ending meanwhile share a request (`MV37_EXPORT_LINGER_MS`, default 20 ms).
    pub export_linger: Duration,
    /// Records the queue holds before dropping (`MV37_QUEUE_SIZE`), 1 to 4194303.
    pub max_queue_records: usize,
    /// Bytes the queue holds before dropping, approximately (`MV37_QUEUE_BYTES`), 1 to
    /// 512 GiB.
    pub max_queue_bytes: usize,
    /// Largest captured input or output, in bytes of JSON (`MV37_MAX_PAYLOAD_BYTES`), 1 to
    /// 512 GiB.
    pub max_payload_bytes: usize,
    /// Whether content is captured: inputs, outputs (tool arguments and results among
    /// them) and messages. When false, records keep their names, kinds, timings, status,
    /// errors, model, provider, usage, cost and attributes, and content is not even
    /// serialized (`MV37_CAPTURE_CONTENT`, else
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`; default true).
    pub capture_content: bool,
    /// How long `shutdown` may take (`MV37_SHUTDOWN_TIMEOUT_MS`), 1 ms to one day.
    pub shutdown_timeout: Duration,
    /// Block at the end of every trace until it is exported (`MV37_FLUSH_ON_END`), for
    /// serverless functions that may be frozen right after returning.
    pub flush_on_end: bool,
    /// The `otlp` exporter (`OTEL_EXPORTER_OTLP_*`, `OTEL_RESOURCE_ATTRIBUTES`).
    pub otlp: OtlpConfig,
    /// The `mv37` exporter (`MV37_ENDPOINT`, `MV37_API_KEY`).
    pub ingest: IngestConfig,
    /// Where undeliverable batches wait to be re-sent (`MV37_SPOOL_DIR`); none by default.
    pub spool_dir: Option<PathBuf>,
    /// Bound of the spool's total size in bytes (`MV37_SPOOL_MAX_BYTES`), at least 1.
    pub spool_max_bytes: u64,
    /// Also send feedback and signals to this backend's feedback API
    /// (`MV37_FEEDBACK_BACKEND`: `phoenix`, `mlflow` or `langfuse`); none by default.
    pub feedback_backend: Option<FeedbackBackend>,
    /// The root URL of that API (`MV37_FEEDBACK_ENDPOINT`); by default derived from the
    /// OTLP endpoint (see [`FeedbackBackend::base_from_otlp_endpoint`]). The OTLP headers
    /// go with every request.
    pub feedback_endpoint: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            exporters: vec![ExporterKind::Jsonl],
            jsonl_path: PathBuf::from(DEFAULT_JSONL_PATH),
            disabled: false,
            sample_rate: 1.0,
            environment: None,
            release: None,
            service_name: None,
            max_batch_records: 512,
            max_batch_bytes: 4 * 1024 * 1024,
            batch_interval: Duration::from_millis(1000),
            export_linger: crate::pipeline::DEFAULT_EXPORT_LINGER,
            max_queue_records: 262_144,
            max_queue_bytes: 64 * 1024 * 1024,
            max_payload_bytes: 32 * 1024,
            capture_content: true,
            shutdown_timeout: Duration::from_secs(5),
            flush_on_end: false,
            otlp: OtlpConfig::default(),
            ingest: IngestConfig::default(),
            spool_dir: None,
            spool_max_bytes: crate::export::DEFAULT_SPOOL_MAX_BYTES,
            feedback_backend: None,
            feedback_endpoint: None,
        }
    }
}

const KNOWN_EXPORTERS: &str = "jsonl, console, otlp, mv37, none";

/// The shortest batch interval: the idle exporter wakes once per interval, so at 0 it
/// would spin (~8–16% of a core); at 1 ms it costs ~1.6%, at the 1 s default nothing.
pub const MIN_BATCH_INTERVAL: Duration = Duration::from_millis(1);

/// The longest batch interval, shutdown timeout or request timeout accepted (one day):
/// the bound keeps deadline arithmetic far from overflow. The shortest is 1 ms: a zero
/// shutdown or request timeout would give up on every record.
pub const MAX_DURATION_SETTING: Duration = Duration::from_secs(24 * 60 * 60);

// The range texts below repeat the pipeline's limits as literals (messages are
// `&'static str`); these assertions keep them equal.
const _: () = assert!(MAX_QUEUE_RECORDS == 4_194_303);
const _: () = assert!(MAX_QUEUE_BYTES == 549_755_813_887);
const _: () = assert!(MIN_BATCH_INTERVAL.as_millis() == 1 && MAX_DURATION_SETTING.as_millis() == 86_400_000);

/// A whole-number setting: its environment variable, its builder method (and `Config`
/// field), and its allowed range, stated once so both sources report the same range.
struct WholeSetting<T> {
    env: &'static str,
    setter: &'static str,
    min: T,
    max: T,
    expected: &'static str,
}

impl<T: FromStr + PartialOrd + Copy + fmt::Display> WholeSetting<T> {
    fn parse(&self, text: &str) -> Result<T, ConfigError> {
        match text.trim().parse::<T>() {
            Ok(value) if self.min <= value && value <= self.max => Ok(value),
            _ => Err(ConfigError::Invalid {
                variable: self.env,
                value: text.to_owned(),
                expected: self.expected,
            }),
        }
    }

    fn check(&self, value: T) -> Result<(), ConfigError> {
        if self.min <= value && value <= self.max {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            variable: self.setter,
            value: value.to_string(),
            expected: self.expected,
        })
    }
}

const SAMPLE_RATE: &str = "a number from 0.0 to 1.0";
const RECORDS: &str = "a whole number from 1 to 4194303";
const BYTES: &str = "a whole number of bytes from 1 to 549755813887 (512 GiB)";

const BATCH_SIZE: WholeSetting<usize> = WholeSetting {
    env: "MV37_BATCH_SIZE",
    setter: "max_batch_records",
    min: 1,
    max: MAX_QUEUE_RECORDS,
    expected: RECORDS,
};
const BATCH_BYTES: WholeSetting<usize> = WholeSetting {
    env: "MV37_BATCH_BYTES",
    setter: "max_batch_bytes",
    min: 1,
    max: MAX_QUEUE_BYTES,
    expected: BYTES,
};
const QUEUE_SIZE: WholeSetting<usize> = WholeSetting {
    env: "MV37_QUEUE_SIZE",
    setter: "max_queue_records",
    min: 1,
    max: MAX_QUEUE_RECORDS,
    expected: RECORDS,
};
const QUEUE_BYTES: WholeSetting<usize> = WholeSetting {
    env: "MV37_QUEUE_BYTES",
    setter: "max_queue_bytes",
    min: 1,
    max: MAX_QUEUE_BYTES,
    expected: BYTES,
};
// A payload larger than the queue could never be queued.
const MAX_PAYLOAD: WholeSetting<usize> = WholeSetting {
    env: "MV37_MAX_PAYLOAD_BYTES",
    setter: "max_payload_bytes",
    min: 1,
    max: MAX_QUEUE_BYTES,
    expected: BYTES,
};
const SPOOL_MAX_BYTES: WholeSetting<u64> = WholeSetting {
    env: "MV37_SPOOL_MAX_BYTES",
    setter: "spool_max_bytes",
    min: 1,
    max: u64::MAX,
    expected: "a positive whole number of bytes",
};

/// A duration setting, given in milliseconds in the environment and as a `Duration` in
/// code.
struct DurationSetting {
    setter: &'static str,
    min: Duration,
    env_expected: &'static str,
    code_expected: &'static str,
}

impl DurationSetting {
    fn parse(&self, variable: &'static str, text: &str) -> Result<Duration, ConfigError> {
        let value = text.trim().parse::<u64>().map(Duration::from_millis);
        match value {
            Ok(value) if (self.min..=MAX_DURATION_SETTING).contains(&value) => Ok(value),
            _ => Err(ConfigError::Invalid {
                variable,
                value: text.to_owned(),
                expected: self.env_expected,
            }),
        }
    }

    fn check(&self, value: Duration) -> Result<(), ConfigError> {
        if (self.min..=MAX_DURATION_SETTING).contains(&value) {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            variable: self.setter,
            value: format!("{value:?}"),
            expected: self.code_expected,
        })
    }
}

const MILLIS: &str = "a whole number of milliseconds from 1 to 86400000 (one day)";
const DURATION: &str = "a duration from 1ms to 1 day";

const BATCH_INTERVAL: DurationSetting = DurationSetting {
    setter: "batch_interval",
    min: MIN_BATCH_INTERVAL,
    env_expected: MILLIS,
    code_expected: DURATION,
};
const EXPORT_LINGER: DurationSetting = DurationSetting {
    setter: "export_linger",
    min: Duration::ZERO,
    env_expected: "a whole number of milliseconds from 0 to 86400000 (one day)",
    code_expected: "a duration from 0 to 1 day",
};
const SHUTDOWN_TIMEOUT: DurationSetting = DurationSetting {
    setter: "shutdown_timeout",
    min: Duration::from_millis(1),
    env_expected: MILLIS,
    code_expected: DURATION,
};
const OTLP_TIMEOUT: DurationSetting = DurationSetting {
    setter: "otlp.retry.request_timeout",
    min: Duration::from_millis(1),
    env_expected: MILLIS,
    code_expected: DURATION,
};
const INGEST_TIMEOUT: DurationSetting = DurationSetting {
    setter: "ingest.retry.request_timeout",
    min: Duration::from_millis(1),
    env_expected: MILLIS,
    code_expected: DURATION,
};

impl Config {
    /// The root URL of the feedback backend's API, when one is set.
    pub fn feedback_base_url(&self) -> Option<String> {
        let backend = self.feedback_backend?;
        Some(match &self.feedback_endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => backend.base_from_otlp_endpoint(&self.otlp.endpoint),
        })
    }

    /// Where the built-in exporters send records, for a program to tell its user: the
    /// JSONL file's path, `stderr`, `none`, or the OTLP or ingest endpoint, joined by `, `.
    ///
    /// ```
    /// let config = mv37_runtime::Config::from_lookup(|name| {
    ///     (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:6006".to_owned())
    /// })
    /// .unwrap();
    /// assert_eq!(config.destination(), "http://127.0.0.1:6006/v1/traces");
    /// ```
    pub fn destination(&self) -> String {
        let names: Vec<String> = self
            .exporters
            .iter()
            .map(|kind| match kind {
                ExporterKind::Jsonl => self.jsonl_path.display().to_string(),
                ExporterKind::Console => "stderr".to_owned(),
                ExporterKind::None => "none".to_owned(),
                ExporterKind::Otlp => self.otlp.endpoint.clone(),
                ExporterKind::Mv37 => self.ingest.endpoint.clone(),
            })
            .collect();
        names.join(", ")
    }

    /// The service identity network exporters stamp on what they send.
    pub fn resource(&self) -> crate::export::ResourceInfo {
        crate::export::ResourceInfo {
            service_name: self.service_name.clone(),
            service_version: self.release.clone(),
            environment: self.environment.clone(),
            extra: self.otlp.resource_attributes.clone(),
        }
    }

    /// Checks every numeric setting against its allowed range; an error names the
    /// builder method (and `Config` field) of the value out of range, and the range.
    /// Values read from the environment were checked when read, and their errors name
    /// the variable. [`ClientBuilder::build`](crate::ClientBuilder::build) calls this.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut config = mv37_runtime::Config::default();
    /// config.batch_interval = Duration::ZERO;
    /// let error = config.validate().unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     r#"invalid batch_interval="0ns": expected a duration from 1ms to 1 day"#
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(ConfigError::Invalid {
                variable: "sample_rate",
                value: self.sample_rate.to_string(),
                expected: SAMPLE_RATE,
            });
        }
        BATCH_SIZE.check(self.max_batch_records)?;
        BATCH_BYTES.check(self.max_batch_bytes)?;
        BATCH_INTERVAL.check(self.batch_interval)?;
        EXPORT_LINGER.check(self.export_linger)?;
        QUEUE_SIZE.check(self.max_queue_records)?;
        QUEUE_BYTES.check(self.max_queue_bytes)?;
        MAX_PAYLOAD.check(self.max_payload_bytes)?;
        SHUTDOWN_TIMEOUT.check(self.shutdown_timeout)?;
        SPOOL_MAX_BYTES.check(self.spool_max_bytes)?;
        OTLP_TIMEOUT.check(self.otlp.retry.request_timeout)?;
        INGEST_TIMEOUT.check(self.ingest.retry.request_timeout)?;
        Ok(())
    }

    /// Reads the environment over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration from any lookup function (the environment, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_lookup(lookup)?;
        Ok(config)
    }

    /// Overrides the fields whose variables are set.
    pub fn apply_lookup(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // MV37_EXPORTER, else the OpenTelemetry SDKs' OTEL_TRACES_EXPORTER, else OTLP when
        // an OTLP endpoint is set (as the OpenTelemetry SDKs default to it).
        if let Some(value) = get("MV37_EXPORTER") {
            self.exporters = parse_exporters("MV37_EXPORTER", &value)?;
        } else if let Some(value) = get("OTEL_TRACES_EXPORTER") {
            self.exporters = parse_exporters("OTEL_TRACES_EXPORTER", &value)?;
        } else if get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some() || get("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
            self.exporters = vec![ExporterKind::Otlp];
        }
        if let Some(value) = get("MV37_JSONL_PATH") {
            self.jsonl_path = PathBuf::from(value);
        }
        if let Some(value) = get("MV37_DISABLED") {
            self.disabled = parse_bool("MV37_DISABLED", &value)?;
        }
        if let Some(value) = get("MV37_SAMPLE_RATE") {
            self.sample_rate = parse_rate("MV37_SAMPLE_RATE", &value)?;
        }
        if let Some(value) = get("MV37_ENVIRONMENT") {
            self.environment = Some(value);
        }
        if let Some(value) = get("MV37_RELEASE") {
            self.release = Some(value);
        }
        if let Some(value) = get("OTEL_SERVICE_NAME") {
            self.service_name = Some(value);
        }
        if let Some(value) = get("MV37_BATCH_SIZE") {
            self.max_batch_records = BATCH_SIZE.parse(&value)?;
        }
        if let Some(value) = get("MV37_BATCH_BYTES") {
            self.max_batch_bytes = BATCH_BYTES.parse(&value)?;
        }
        if let Some(value) = get("MV37_BATCH_INTERVAL_MS") {
            self.batch_interval = BATCH_INTERVAL.parse("MV37_BATCH_INTERVAL_MS", &value)?;
        }
        if let Some(value) = get("MV37_EXPORT_LINGER_MS") {
            self.export_linger = EXPORT_LINGER.parse("MV37_EXPORT_LINGER_MS", &value)?;
        }
        if let Some(value) = get("MV37_QUEUE_SIZE") {
            self.max_queue_records = QUEUE_SIZE.parse(&value)?;
        }
        if let Some(value) = get("MV37_QUEUE_BYTES") {
            self.max_queue_bytes = QUEUE_BYTES.parse(&value)?;
        }
        if let Some(value) = get("MV37_MAX_PAYLOAD_BYTES") {
            self.max_payload_bytes = MAX_PAYLOAD.parse(&value)?;
        }
        // mv37's own variable wins; the OpenTelemetry one is then not read at all, so a
        // value only another instrumentation understands cannot fail mv37.
        if let Some(value) = get(CAPTURE_CONTENT) {
            self.capture_content = parse_bool(CAPTURE_CONTENT, &value)?;
        } else if let Some(value) = get(OTEL_CAPTURE_CONTENT) {
            self.capture_content = parse_otel_capture_content(&value)?;
        }
        if let Some(value) = get("MV37_SHUTDOWN_TIMEOUT_MS") {
            self.shutdown_timeout = SHUTDOWN_TIMEOUT.parse("MV37_SHUTDOWN_TIMEOUT_MS", &value)?;
        }
        if let Some(value) = get("MV37_FLUSH_ON_END") {
            self.flush_on_end = parse_bool("MV37_FLUSH_ON_END", &value)?;
        }
        if let Some(value) = get("MV37_SPOOL_DIR") {
            self.spool_dir = Some(PathBuf::from(value));
        }
        if let Some(value) = get("MV37_SPOOL_MAX_BYTES") {
            self.spool_max_bytes = SPOOL_MAX_BYTES.parse(&value)?;
        }
        self.apply_otlp(&get)?;
        if let Some(value) = get("MV37_ENDPOINT") {
            check_url("MV37_ENDPOINT", &value)?;
            self.ingest.endpoint = value;
        }
        if let Some(value) = get("MV37_API_KEY") {
            self.ingest.api_key = Some(ApiKey::new(value.trim()));
        }
        if let Some(value) = get("MV37_FEEDBACK_BACKEND") {
            self.feedback_backend = match value.trim() {
                "none" => None,
                name => Some(FeedbackBackend::from_name(name).ok_or(ConfigError::Invalid {
                    variable: "MV37_FEEDBACK_BACKEND",
                    value,
                    expected: "phoenix, mlflow, langfuse or none",
                })?),
            };
        }
        if let Some(value) = get("MV37_FEEDBACK_ENDPOINT") {
            check_url("MV37_FEEDBACK_ENDPOINT", &value)?;
            self.feedback_endpoint = Some(value);
        }
        Ok(())
    }

    /// The standard OpenTelemetry exporter variables; the `TRACES_` forms win.
    fn apply_otlp(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let pick = |general: &'static str, traces: &'static str| {
            get(traces)
                .map(|v| (traces, v))
                .or_else(|| get(general).map(|v| (general, v)))
        };
        if let Some(value) = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            check_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &value)?;
            self.otlp.endpoint = value;
        } else if let Some(value) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            check_url("OTEL_EXPORTER_OTLP_ENDPOINT", &value)?;
            self.otlp.endpoint = endpoint::traces_url_from_base(&value);
        }
        for variable in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            if let Some(value) = get(variable) {
                for (key, value) in parse_headers(variable, &value)? {
                    self.otlp.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    self.otlp.headers.push((key, value));
                }
            }
        }
        if let Some((variable, value)) = pick("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            self.otlp.protocol = match value.trim() {
                "http/protobuf" => OtlpProtocol::Protobuf,
                "http/json" => OtlpProtocol::Json,
                _ => {
                    return Err(ConfigError::Invalid {
                        variable,
                        value,
                        expected: "http/protobuf or http/json (grpc is not supported)",
                    })
                }
            };
        }
        if let Some((variable, value)) = pick(
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        ) {
            self.otlp.gzip = match value.trim() {
                "gzip" => true,
                "none" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        variable,
                        value,
                        expected: "gzip or none",
                    })
                }
            };
        }
        if let Some((variable, value)) = pick("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
            self.otlp.retry.request_timeout = OTLP_TIMEOUT.parse(variable, &value)?;
        }
        if let Some(value) = get("OTEL_RESOURCE_ATTRIBUTES") {
            self.otlp.resource_attributes =
                parse_key_values(&value).map_err(|error| entry_error("OTEL_RESOURCE_ATTRIBUTES", error))?;
        }
        Ok(())
    }
}

pub(crate) fn parse_exporters(variable: &'static str, value: &str) -> Result<Vec<ExporterKind>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| match name.to_ascii_lowercase().as_str() {
            "jsonl" | "file" => Ok(ExporterKind::Jsonl),
            "console" | "stderr" => Ok(ExporterKind::Console),
            "none" | "noop" => Ok(ExporterKind::None),
            "otlp" => Ok(ExporterKind::Otlp),
            "mv37" | "http" => Ok(ExporterKind::Mv37),
            _ => Err(ConfigError::UnknownExporter {
                variable,
                name: name.to_owned(),
                known: KNOWN_EXPORTERS,
            }),
        })
        .collect()
}

pub(crate) fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            variable,
            value: value.to_owned(),
            expected: "true or false (1/0, yes/no, on/off)",
        }),
    }
}

const CAPTURE_CONTENT: &str = "MV37_CAPTURE_CONTENT";
const OTEL_CAPTURE_CONTENT: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`: a boolean as the GenAI
/// conventions document it, or one of the modes of OpenTelemetry's Python GenAI utilities
/// (`NO_CONTENT`, `SPAN_ONLY`, `EVENT_ONLY`, `SPAN_AND_EVENT`). mv37 writes content on
/// spans only, so `EVENT_ONLY` turns it off.
fn parse_otel_capture_content(value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "span_only" | "span_and_event" => Ok(true),
        "no_content" | "event_only" => Ok(false),
        _ => parse_bool(OTEL_CAPTURE_CONTENT, value).map_err(|_| ConfigError::Invalid {
            variable: OTEL_CAPTURE_CONTENT,
            value: value.to_owned(),
            expected: "true or false (1/0, yes/no, on/off), or NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT",
        }),
    }
}

pub(crate) fn parse_rate(variable: &'static str, value: &str) -> Result<f64, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(ConfigError::Invalid {
            variable,
            value: value.to_owned(),
            expected: SAMPLE_RATE,
        }),
    }
}

/// Parses a header list such as `OTEL_EXPORTER_OTLP_HEADERS`: percent-decoded values kept
/// as secrets, names and values checked as HTTP headers. Errors never carry a value, nor
/// a key that is not a valid header name (it may be a value typed without its key).
fn parse_headers(variable: &'static str, text: &str) -> Result<Vec<(String, SecretString)>, ConfigError> {
    split_key_values(text)
        .map(|entry| {
            let (position, key, raw) = entry.map_err(|error| entry_error(variable, error))?;
            let error = |problem| {
                let shown = HeaderName::from_bytes(key.as_bytes()).is_ok().then(|| key.to_owned());
                entry_error(
                    variable,
                    EntryError {
                        position,
                        key: shown,
                        problem,
                    },
                )
            };
            let value = percent_decode(raw).map_err(error)?;
            header_pair(key, &value).map_err(error)?;
            Ok((key.to_owned(), SecretString::from(value)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn environment_values_override_defaults() {
        let config = config(&[
            ("MV37_EXPORTER", "jsonl, console"),
            ("MV37_JSONL_PATH", "/tmp/x.jsonl"),
            ("MV37_SAMPLE_RATE", "0.25"),
            ("MV37_ENVIRONMENT", "staging"),
            ("MV37_QUEUE_SIZE", "100"),
            ("MV37_DISABLED", "no"),
        ])
        .expect("valid");
        assert_eq!(config.exporters, vec![ExporterKind::Jsonl, ExporterKind::Console]);
        assert_eq!(config.jsonl_path, PathBuf::from("/tmp/x.jsonl"));
        assert_eq!(config.sample_rate, 0.25);
        assert_eq!(config.environment.as_deref(), Some("staging"));
        assert_eq!(config.max_queue_records, 100);
        assert!(!config.disabled);
    }

    #[test]
    fn invalid_values_name_the_variable_and_the_value() {
        let error = config(&[("MV37_SAMPLE_RATE", "1.5")]).expect_err("out of range");
        assert_eq!(
            error.to_string(),
            r#"invalid MV37_SAMPLE_RATE="1.5": expected a number from 0.0 to 1.0"#
        );
        let error = config(&[("MV37_EXPORTER", "jsonl,kafka")]).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            r#"unknown exporter "kafka" in MV37_EXPORTER: expected one of jsonl, console, otlp, mv37, none"#
        );
        assert!(matches!(
            config(&[("MV37_QUEUE_SIZE", "0")]),
            Err(ConfigError::Invalid {
                variable: "MV37_QUEUE_SIZE",
                ..
            })
        ));
        assert!(matches!(
            config(&[("MV37_DISABLED", "maybe")]),
            Err(ConfigError::Invalid {
                variable: "MV37_DISABLED",
                ..
            })
        ));
    }
}

#[cfg(test)]
mod otlp_env_tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn exposed(headers: &[(String, SecretString)]) -> Vec<(&str, &str)> {
        headers.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect()
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn the_standard_otel_variables_configure_the_otlp_exporter() {
        let config = config(&[
            ("MV37_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%3D,x-team=agents"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=shop,k8s.pod.name=p-1"),
            ("OTEL_SERVICE_NAME", "support-bot"),
        ])
        .expect("valid");
        assert_eq!(config.exporters, vec![ExporterKind::Otlp]);
        assert_eq!(config.otlp.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(
            exposed(&config.otlp.headers),
            vec![("api-key", "abc="), ("x-team", "agents")]
        );
        assert_eq!(config.otlp.protocol, OtlpProtocol::Json);
        assert!(config.otlp.gzip);
        assert_eq!(config.otlp.retry.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.resource().service_name.as_deref(), Some("support-bot"));
        assert_eq!(config.resource().extra.len(), 2);
    }

    #[test]
    fn the_feedback_backend_is_named_and_its_api_found_from_the_otlp_endpoint() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:6006");
        let phoenix = config(&[endpoint, ("MV37_FEEDBACK_BACKEND", "Phoenix")]).expect("valid");
        assert_eq!(phoenix.feedback_backend, Some(FeedbackBackend::Phoenix));
        assert_eq!(phoenix.feedback_base_url().as_deref(), Some("http://127.0.0.1:6006"));
        let explicit = config(&[
            ("MV37_FEEDBACK_BACKEND", "mlflow"),
            ("MV37_FEEDBACK_ENDPOINT", "http://mlflow:5000/"),
        ])
        .expect("valid");
        assert_eq!(explicit.feedback_base_url().as_deref(), Some("http://mlflow:5000"));
        assert_eq!(config(&[]).expect("valid").feedback_base_url(), None);
        let error = config(&[("MV37_FEEDBACK_BACKEND", "datadog")]).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            r#"invalid MV37_FEEDBACK_BACKEND="datadog": expected phoenix, mlflow, langfuse or none"#
        );
        let error = config(&[
            ("MV37_FEEDBACK_BACKEND", "phoenix"),
            ("MV37_FEEDBACK_ENDPOINT", "phoenix:6006"),
        ])
        .expect_err("no scheme");
        assert!(error.to_string().contains("MV37_FEEDBACK_ENDPOINT"), "{error}");
    }

    #[test]
    fn an_otlp_endpoint_selects_the_otlp_exporter_unless_an_exporter_is_named() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318");
        assert_eq!(config(&[endpoint]).expect("valid").exporters, vec![ExporterKind::Otlp]);
        let traces_endpoint = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://a:4318/v1/traces");
        assert_eq!(
            config(&[traces_endpoint]).expect("valid").exporters,
            vec![ExporterKind::Otlp]
        );
        let named = config(&[endpoint, ("MV37_EXPORTER", "jsonl")]).expect("valid");
        assert_eq!(named.exporters, vec![ExporterKind::Jsonl]);
        let otel = config(&[endpoint, ("OTEL_TRACES_EXPORTER", "console")]).expect("valid");
        assert_eq!(otel.exporters, vec![ExporterKind::Console]);
        let both = config(&[("MV37_EXPORTER", "jsonl"), ("OTEL_TRACES_EXPORTER", "otlp")]).expect("valid");
        assert_eq!(both.exporters, vec![ExporterKind::Jsonl]);
        assert_eq!(config(&[]).expect("valid").exporters, vec![ExporterKind::Jsonl]);
        let error = config(&[("OTEL_TRACES_EXPORTER", "zipkin")]).expect_err("unknown");
        assert!(error.to_string().contains("OTEL_TRACES_EXPORTER"), "{error}");
    }

    #[test]
    fn the_traces_endpoint_is_used_as_given() {
        let config = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://b/custom/path"),
        ])
        .expect("valid");
        assert_eq!(config.otlp.endpoint, "https://b/custom/path");
    }

    #[test]
    fn bad_network_settings_name_the_variable() {
        let error = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).expect_err("no scheme");
        assert_eq!(
            error.to_string(),
            r#"invalid OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318": expected an http:// or https:// URL"#
        );
        let error = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).expect_err("grpc");
        assert!(error.to_string().contains("grpc is not supported"), "{error}");
        let error = config(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]).expect_err("zstd");
        assert!(matches!(
            error,
            ConfigError::Invalid {
                variable: "OTEL_EXPORTER_OTLP_COMPRESSION",
                ..
            }
        ));
        let error = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "justakey")]).expect_err("no =");
        assert!(matches!(
            error,
            ConfigError::InvalidEntry {
                variable: "OTEL_EXPORTER_OTLP_HEADERS",
                position: 1,
                problem: EntryProblem::MissingEquals,
                ..
            }
        ));
        let error = config(&[("MV37_ENDPOINT", "ftp://x")]).expect_err("scheme");
        assert!(matches!(
            error,
            ConfigError::Invalid {
                variable: "MV37_ENDPOINT",
                ..
            }
        ));
    }

    #[test]
    fn the_api_key_never_appears_in_debug_output() {
        let config = config(&[("MV37_EXPORTER", "mv37"), ("MV37_API_KEY", "sk-live-secret")]).expect("valid");
        assert!(!format!("{config:?}").contains("sk-live-secret"));
    }

    #[test]
    #[cfg(feature = "ingest")]
    fn the_ingest_exporter_without_an_api_key_names_the_variable() {
        let missing = crate::Client::builder()
            .exporter_kinds([ExporterKind::Mv37])
            .build()
            .expect_err("no key");
        assert_eq!(
            missing.to_string(),
            "MV37_API_KEY is not set, and the mv37 exporter needs it"
        );
    }
}

/// Every spelling the documentation accepts is accepted, not only the first of each list.
#[cfg(test)]
mod accepted_values_tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn every_exporter_name_and_alias_is_accepted_in_any_case() {
        let config = config(&[("MV37_EXPORTER", "jsonl,FILE,console,stderr,none,noop,otlp,mv37,Http")]).expect("valid");
        assert_eq!(
            config.exporters,
            vec![
                ExporterKind::Jsonl,
                ExporterKind::Jsonl,
                ExporterKind::Console,
                ExporterKind::Console,
                ExporterKind::None,
                ExporterKind::None,
                ExporterKind::Otlp,
                ExporterKind::Mv37,
                ExporterKind::Mv37,
            ]
        );
    }

    #[test]
    fn each_otlp_protocol_and_compression_value_is_accepted() {
        let protobuf = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ])
        .expect("valid");
        assert_eq!(protobuf.otlp.protocol, OtlpProtocol::Protobuf, "the TRACES_ form wins");
        assert!(!protobuf.otlp.gzip, "the TRACES_ form wins");
        let json = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", " http/json "),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ])
        .expect("valid");
        assert_eq!(json.otlp.protocol, OtlpProtocol::Json);
        assert!(json.otlp.gzip);
    }

    #[test]
    fn boolean_variables_accept_every_documented_spelling() {
        for text in ["1", "true", "yes", "on", "TRUE", " On "] {
            let config = config(&[("MV37_DISABLED", text), ("MV37_FLUSH_ON_END", text)]).expect(text);
            assert!(config.disabled && config.flush_on_end, "{text:?} is true");
        }
        for text in ["0", "false", "no", "off", "False"] {
            let config = config(&[("MV37_DISABLED", text), ("MV37_FLUSH_ON_END", text)]).expect(text);
            assert!(!config.disabled && !config.flush_on_end, "{text:?} is false");
        }
    }
}

#[cfg(all(test, feature = "transport"))]
mod header_map_tests {
    use crate::export::http::header_map;

    #[test]
    fn every_header_value_is_marked_sensitive() {
        let headers = header_map(&[
            ("authorization".into(), "Bearer sk-1".into()),
            ("x-api-key".into(), "sk-2".into()),
            ("x-team".into(), "agents".into()),
        ])
        .expect("valid");
        assert_eq!(headers.len(), 3);
        assert!(headers.values().all(http::HeaderValue::is_sensitive));
        let shown = format!("{headers:?}");
        assert!(!shown.contains("sk-") && !shown.contains("agents"), "{shown}");
    }
}
