//! The one error type of configuration, [`ConfigError`]: every variant names the
//! variable or setting it is about and what would have been accepted.

use std::path::PathBuf;

use super::entries::EntryError;
pub use super::entries::EntryProblem;

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
    /// An entry of a `key=value,…` list (`OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_RESOURCE_ATTRIBUTES`) is malformed. Header values are secrets, so this error
    /// names the entry by position (and key, when it has a valid one) and never holds a
    /// value.
    #[error(
        "invalid {variable}: entry {position}{} {problem}; expected comma-separated key=value pairs with percent-encoded values",
        key_label(.key)
    )]
    InvalidEntry {
        /// The variable or setting name.
        variable: &'static str,
        /// 1-based position of the entry among the comma-separated items.
        position: usize,
        /// The entry's key, when it has one that can be shown.
        key: Option<String>,
        /// What is wrong with it.
        problem: EntryProblem,
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
    /// The configuration names a built-in exporter that this build leaves out (mv37
    /// was compiled without the Cargo feature that brings it).
    #[error("the {exporter} exporter is not in this build: enable the `{feature}` feature of mv37")]
    NotBuilt {
        /// The exporter's name, as `MV37_EXPORTER` spells it.
        exporter: &'static str,
        /// The Cargo feature of `mv37` that brings it.
        feature: &'static str,
    },
    /// A global client is already installed.
    #[error("a global mv37 client is already installed")]
    AlreadyInstalled,
}

fn key_label(key: &Option<String>) -> String {
    key.as_ref().map(|key| format!(" (key {key:?})")).unwrap_or_default()
}

/// Checks that `value` is an absolute `http://` or `https://` URL with a host.
pub(crate) fn check_url(variable: &'static str, value: &str) -> Result<(), ConfigError> {
    let invalid = || ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        expected: "an http:// or https:// URL",
    };
    let url = url::Url::parse(value.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(())
}

/// The error for a malformed `key=value` entry.
pub(crate) fn entry_error(variable: &'static str, error: EntryError) -> ConfigError {
    ConfigError::InvalidEntry {
        variable,
        position: error.position,
        key: error.key,
        problem: error.problem,
    }
}
