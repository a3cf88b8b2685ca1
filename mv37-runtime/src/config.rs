//! Configuration: defaults, the `MV37_*` / `OTEL_*` environment, and typed errors.

use std::path::PathBuf;
use std::time::Duration;

use crate::export::http::parse_key_values;
use crate::export::{ApiKey, IngestConfig, OtlpConfig, OtlpProtocol};

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
#[derive(Debug, Clone)]
pub struct Config {
    /// Built-in exporters, used when no exporter is given in code (`MV37_EXPORTER`,
    /// comma-separated: `jsonl`, `console`, `otlp`, `mv37`, `none`).
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
    /// Records per batch (`MV37_BATCH_SIZE`).
    pub max_batch_records: usize,
    /// Bytes per batch, approximately (`MV37_BATCH_BYTES`).
    pub max_batch_bytes: usize,
    /// Longest time a record waits before its batch is exported (`MV37_BATCH_INTERVAL_MS`).
    pub batch_interval: Duration,
    /// How long the exporter waits after a trace ends before it exports, so that traces
    /// ending meanwhile share a request (`MV37_EXPORT_LINGER_MS`, default 20 ms).
    pub export_linger: Duration,
    /// Records the queue holds before dropping (`MV37_QUEUE_SIZE`).
    pub max_queue_records: usize,
    /// Bytes the queue holds before dropping, approximately (`MV37_QUEUE_BYTES`).
    pub max_queue_bytes: usize,
    /// Largest captured input or output, in bytes of JSON (`MV37_MAX_PAYLOAD_BYTES`).
    pub max_payload_bytes: usize,
    /// How long `shutdown` may take (`MV37_SHUTDOWN_TIMEOUT_MS`).
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
    /// Bound of the spool's total size in bytes (`MV37_SPOOL_MAX_BYTES`).
    pub spool_max_bytes: u64,
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
            export_linger: crate::export::pipeline::DEFAULT_EXPORT_LINGER,
            max_queue_records: 65_536,
            max_queue_bytes: 64 * 1024 * 1024,
            max_payload_bytes: 32 * 1024,
            shutdown_timeout: Duration::from_secs(5),
            flush_on_end: false,
            otlp: OtlpConfig::default(),
            ingest: IngestConfig::default(),
            spool_dir: None,
            spool_max_bytes: crate::export::DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

/// A configuration value that cannot be used, naming where it came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// An environment variable (or builder setting) has a value that does not parse.
    #[error("invalid {variable}={value:?}: expected {expected}")]
    Invalid {
        /// The variable or setting name.
        variable: &'static str,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// `MV37_EXPORTER` names an exporter this build does not have.
    #[error("unknown exporter {name:?} in {variable}: expected one of {known}")]
    UnknownExporter {
        /// The variable it came from.
        variable: &'static str,
        /// The unknown name.
        name: String,
        /// The names that exist.
        known: &'static str,
    },
    /// The JSONL file cannot be opened for appending.
    #[error("cannot open JSONL file {path:?}: {message}")]
    JsonlPath {
        /// The path.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// The spool directory cannot be created or opened.
    #[error("cannot use spool directory {path:?}: {message}")]
    Spool {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// The exporter thread could not be started.
    #[error("cannot start the exporter thread: {0}")]
    Thread(String),
    /// A setting the chosen exporter needs is not set.
    #[error("{variable} is not set, and {needed_by} needs it")]
    Missing {
        /// The variable that is missing.
        variable: &'static str,
        /// What needs it.
        needed_by: &'static str,
    },
    /// A global client is already installed.
    #[error("a global mv37 client is already installed")]
    AlreadyInstalled,
}

const KNOWN_EXPORTERS: &str = "jsonl, console, otlp, mv37, none";

impl Config {
    /// The service identity network exporters stamp on what they send.
    pub fn resource(&self) -> crate::export::ResourceInfo {
        crate::export::ResourceInfo {
            service_name: self.service_name.clone(),
            service_version: self.release.clone(),
            environment: self.environment.clone(),
            extra: self.otlp.resource_attributes.clone(),
        }
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
        if let Some(value) = get("MV37_EXPORTER") {
            self.exporters = parse_exporters("MV37_EXPORTER", &value)?;
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
            self.max_batch_records = parse_count("MV37_BATCH_SIZE", &value)?;
        }
        if let Some(value) = get("MV37_BATCH_BYTES") {
            self.max_batch_bytes = parse_count("MV37_BATCH_BYTES", &value)?;
        }
        if let Some(value) = get("MV37_BATCH_INTERVAL_MS") {
            self.batch_interval = parse_millis("MV37_BATCH_INTERVAL_MS", &value)?;
        }
        if let Some(value) = get("MV37_EXPORT_LINGER_MS") {
            self.export_linger = parse_millis("MV37_EXPORT_LINGER_MS", &value)?;
        }
        if let Some(value) = get("MV37_QUEUE_SIZE") {
            self.max_queue_records = parse_count("MV37_QUEUE_SIZE", &value)?;
        }
        if let Some(value) = get("MV37_QUEUE_BYTES") {
            self.max_queue_bytes = parse_count("MV37_QUEUE_BYTES", &value)?;
        }
        if let Some(value) = get("MV37_MAX_PAYLOAD_BYTES") {
            self.max_payload_bytes = parse_count("MV37_MAX_PAYLOAD_BYTES", &value)?;
        }
        if let Some(value) = get("MV37_SHUTDOWN_TIMEOUT_MS") {
            self.shutdown_timeout = parse_millis("MV37_SHUTDOWN_TIMEOUT_MS", &value)?;
        }
        if let Some(value) = get("MV37_FLUSH_ON_END") {
            self.flush_on_end = parse_bool("MV37_FLUSH_ON_END", &value)?;
        }
        if let Some(value) = get("MV37_SPOOL_DIR") {
            self.spool_dir = Some(PathBuf::from(value));
        }
        if let Some(value) = get("MV37_SPOOL_MAX_BYTES") {
            self.spool_max_bytes = parse_count("MV37_SPOOL_MAX_BYTES", &value)? as u64;
        }
        self.apply_otlp(&get)?;
        if let Some(value) = get("MV37_ENDPOINT") {
            check_url("MV37_ENDPOINT", &value)?;
            self.ingest.endpoint = value;
        }
        if let Some(value) = get("MV37_API_KEY") {
            self.ingest.api_key = Some(ApiKey::new(value.trim()));
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
            self.otlp.endpoint = format!("{}/v1/traces", value.trim_end_matches('/'));
        }
        for variable in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            if let Some(value) = get(variable) {
                let pairs = parse_key_values(&value).map_err(|problem| ConfigError::Invalid {
                    variable,
                    value: problem,
                    expected: "comma-separated key=value pairs",
                })?;
                for (key, value) in pairs {
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
            self.otlp.retry.request_timeout = parse_millis(variable, &value)?;
        }
        if let Some(value) = get("OTEL_RESOURCE_ATTRIBUTES") {
            self.otlp.resource_attributes = parse_key_values(&value).map_err(|problem| ConfigError::Invalid {
                variable: "OTEL_RESOURCE_ATTRIBUTES",
                value: problem,
                expected: "comma-separated key=value pairs",
            })?;
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

/// Checks that `value` is an absolute `http://` or `https://` URL with a host.
pub(crate) fn check_url(variable: &'static str, value: &str) -> Result<(), ConfigError> {
    let invalid = || ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        expected: "an http:// or https:// URL",
    };
    let url = reqwest::Url::parse(value.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(())
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

pub(crate) fn parse_rate(variable: &'static str, value: &str) -> Result<f64, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(ConfigError::Invalid {
            variable,
            value: value.to_owned(),
            expected: "a number from 0.0 to 1.0",
        }),
    }
}

pub(crate) fn parse_count(variable: &'static str, value: &str) -> Result<usize, ConfigError> {
    match value.trim().parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(ConfigError::Invalid {
            variable,
            value: value.to_owned(),
            expected: "a positive whole number",
        }),
    }
}

pub(crate) fn parse_millis(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::Invalid {
            variable,
            value: value.to_owned(),
            expected: "a whole number of milliseconds",
        })
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
    use std::collections::HashMap;

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
            config.otlp.headers,
            vec![("api-key".into(), "abc=".into()), ("x-team".into(), "agents".into())]
        );
        assert_eq!(config.otlp.protocol, OtlpProtocol::Json);
        assert!(config.otlp.gzip);
        assert_eq!(config.otlp.retry.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.resource().service_name.as_deref(), Some("support-bot"));
        assert_eq!(config.resource().extra.len(), 2);
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
            ConfigError::Invalid {
                variable: "OTEL_EXPORTER_OTLP_HEADERS",
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
