//! `Config::from_env` reads the process environment (the other configuration tests give
//! the environment as a map). This binary holds one test, so that setting variables
//! cannot race with another test reading them.

use std::time::Duration;

use mv37::{Config, ConfigError, ExporterKind};

const VARIABLES: [&str; 5] = [
    "MV37_EXPORTER",
    "MV37_SAMPLE_RATE",
    "MV37_SHUTDOWN_TIMEOUT_MS",
    "OTEL_SERVICE_NAME",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
];

#[test]
fn from_env_reads_the_process_environment_and_names_a_bad_variable() {
    std::env::set_var("MV37_EXPORTER", "console");
    std::env::set_var("MV37_SAMPLE_RATE", "0.5");
    std::env::set_var("MV37_SHUTDOWN_TIMEOUT_MS", "1500");
    std::env::set_var("OTEL_SERVICE_NAME", "from-the-environment");
    std::env::set_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "False");
    let config = Config::from_env().expect("valid");
    assert!(!config.capture_content);
    assert_eq!(config.exporters, vec![ExporterKind::Console]);
    assert_eq!(config.sample_rate, 0.5);
    assert_eq!(config.shutdown_timeout, Duration::from_millis(1500));
    assert_eq!(config.service_name.as_deref(), Some("from-the-environment"));

    std::env::set_var("MV37_SAMPLE_RATE", "often");
    let error = Config::from_env().expect_err("not a number");
    assert!(
        matches!(
            error,
            ConfigError::Invalid {
                variable: "MV37_SAMPLE_RATE",
                ..
            }
        ),
        "{error}"
    );
    for variable in VARIABLES {
        std::env::remove_var(variable);
    }
}
