//! Configuration: defaults, the `MV37_*` / `OTEL_*` environment, and typed errors.

use std::path::PathBuf;
use std::time::Duration;

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
}

/// Everything the client reads from code or the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Built-in exporters, used when no exporter is given in code (`MV37_EXPORTER`,
    /// comma-separated: `jsonl`, `console`, `none`).
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
            max_queue_records: 65_536,
            max_queue_bytes: 64 * 1024 * 1024,
            max_payload_bytes: 32 * 1024,
            shutdown_timeout: Duration::from_secs(5),
            flush_on_end: false,
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
    /// The exporter thread could not be started.
    #[error("cannot start the exporter thread: {0}")]
    Thread(String),
    /// A global client is already installed.
    #[error("a global mv37 client is already installed")]
    AlreadyInstalled,
}

const KNOWN_EXPORTERS: &str = "jsonl, console, none";

impl Config {
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
            r#"unknown exporter "kafka" in MV37_EXPORTER: expected one of jsonl, console, none"#
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
