//! Configuration from the environment and the builder: header values stay secret, bad
//! percent-encoding is a typed error, and every numeric setting is range-checked with an
//! error naming what the user set. The environment is given as a map (`Config::from_lookup`),
//! so these tests never touch the process environment and cannot race.

// Tests fail by panicking.
#![allow(clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use mv37::{Client, Config, ConfigError, EntryProblem, ExposeSecret};

fn from_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

/// Asserts that `text` shows no part of `secret` (any 5-character window).
fn assert_hides(text: &str, secret: &str) {
    let chars: Vec<char> = secret.chars().collect();
    for window in chars.windows(5) {
        let part: String = window.iter().collect();
        assert!(!text.contains(&part), "{part:?} of the secret shows in: {text}");
    }
}

// --- Header values are secrets (issue 11, item 11) ---

#[test]
fn debug_of_config_otlp_config_and_builder_hides_header_values() {
    let config = from_env(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20sk-live-4242,x-team=agents",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=tk-Zq81x-777"),
    ])
    .expect("valid");
    let values: Vec<&str> = config.otlp.headers.iter().map(|(_, v)| v.expose_secret()).collect();
    assert_eq!(values, ["Bearer sk-live-4242", "agents", "tk-Zq81x-777"]);

    let builder = Client::builder().config(config.clone());
    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{:?}", config.otlp),
        format!("{builder:?}"),
    ] {
        assert_hides(&shown, "Bearer sk-live-4242");
        assert_hides(&shown, "tk-Zq81x-777");
        assert!(!shown.contains("agents"), "{shown}");
        assert!(shown.contains("authorization") && shown.contains("REDACTED"), "{shown}");
    }
}

#[test]
fn a_header_entry_without_equals_is_named_by_position_never_by_its_text() {
    for (text, position) in [
        ("authorization", 1),
        ("Bearer-sk-secret", 1),
        ("x-team=agents,Bearer-sk-secret", 2),
        ("x-team=agents,,authorization:Bearer-sk-secret", 3),
    ] {
        let error = from_env(&[("OTEL_EXPORTER_OTLP_HEADERS", text)]).expect_err("no =");
        assert_eq!(
            error,
            ConfigError::InvalidEntry {
                variable: "OTEL_EXPORTER_OTLP_HEADERS",
                position,
                key: None,
                problem: EntryProblem::MissingEquals,
            }
        );
        for shown in [error.to_string(), format!("{error:?}")] {
            assert_hides(&shown, "Bearer-sk-secret");
            assert!(!shown.contains("authorization"), "{shown}");
        }
    }
    let error = from_env(&[("OTEL_EXPORTER_OTLP_HEADERS", "Bearer-sk-secret")]).expect_err("no =");
    assert_eq!(
        error.to_string(),
        "invalid OTEL_EXPORTER_OTLP_HEADERS: entry 1 has no `=`; expected comma-separated key=value pairs with \
         percent-encoded values"
    );
}

#[test]
fn a_bad_header_value_is_named_by_its_key_never_by_its_value() {
    for (text, problem) in [
        ("authorization=Bearer%zzsk-secret", EntryProblem::BadPercentEscape),
        ("authorization=Bearer%ffsk-secret", EntryProblem::NotUtf8),
        ("authorization=Bearer%0Ask-secret", EntryProblem::InvalidHeaderValue),
    ] {
        let error = from_env(&[("OTEL_EXPORTER_OTLP_TRACES_HEADERS", text)]).expect_err("bad value");
        assert_eq!(
            error,
            ConfigError::InvalidEntry {
                variable: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                position: 1,
                key: Some("authorization".into()),
                problem,
            }
        );
        assert_hides(&error.to_string(), "Bearer sk-secret");
        assert_hides(&format!("{error:?}"), "sk-secret");
    }
}

#[test]
fn a_key_that_is_not_a_header_name_is_not_shown_as_it_may_be_a_value() {
    // A token pasted in the key's place, `=` padding and all.
    let error = from_env(&[("OTEL_EXPORTER_OTLP_HEADERS", "Bearer sk+secret/42==")]).expect_err("bad name");
    assert_eq!(
        error,
        ConfigError::InvalidEntry {
            variable: "OTEL_EXPORTER_OTLP_HEADERS",
            position: 1,
            key: None,
            problem: EntryProblem::InvalidHeaderName,
        }
    );
    assert_hides(&error.to_string(), "sk+secret/42");
}

#[test]
#[cfg(feature = "otlp")]
fn headers_set_in_code_are_checked_without_quoting_their_values() {
    use mv37::{ExporterKind, OtlpConfig, OtlpExporter, ResourceInfo};
    let config = OtlpConfig {
        headers: vec![
            ("x-team".into(), "agents".into()),
            ("authorization".into(), "Bearer sk-secret\r\nx-evil: 1".into()),
        ],
        ..OtlpConfig::default()
    };
    let error = OtlpExporter::new(config.clone(), &ResourceInfo::default()).expect_err("bad value");
    assert_eq!(
        error,
        ConfigError::InvalidEntry {
            variable: "otlp.headers",
            position: 2,
            key: Some("authorization".into()),
            problem: EntryProblem::InvalidHeaderValue,
        }
    );
    assert_hides(&error.to_string(), "sk-secret");
    let error = Client::builder()
        .config(Config {
            otlp: config,
            ..Config::default()
        })
        .exporter_kinds([ExporterKind::Otlp])
        .build()
        .expect_err("bad value");
    assert_hides(&error.to_string(), "sk-secret");
}

// --- Percent-decoding never panics (item 12) ---

#[test]
fn bad_percent_encoding_is_a_typed_error_naming_the_variable_not_a_panic() {
    for variable in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_RESOURCE_ATTRIBUTES"] {
        for (text, problem) in [
            ("a=%aé", EntryProblem::BadPercentEscape),
            ("a=%é", EntryProblem::BadPercentEscape),
            ("a=%", EntryProblem::BadPercentEscape),
            ("a=x%4", EntryProblem::BadPercentEscape),
            ("a=%zz", EntryProblem::BadPercentEscape),
            ("a=%ff", EntryProblem::NotUtf8),
            ("a=%C3", EntryProblem::NotUtf8),
        ] {
            let outcome = std::panic::catch_unwind(|| from_env(&[(variable, text)]));
            let error = outcome.unwrap_or_else(|_| panic!("{variable}={text:?} panicked"));
            assert_eq!(
                error.expect_err(text),
                ConfigError::InvalidEntry {
                    variable,
                    position: 1,
                    key: Some("a".into()),
                    problem,
                },
                "{variable}={text:?}"
            );
        }
    }
}

#[test]
fn valid_percent_encoding_is_decoded() {
    let config = from_env(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "team=caf%C3%A9,path=a%2Cb%3Dc,plain=100"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-key=a%20b%25"),
    ])
    .expect("valid");
    assert_eq!(
        config.otlp.resource_attributes,
        [
            ("team".into(), "café".into()),
            ("path".into(), "a,b=c".into()),
            ("plain".into(), "100".into())
        ]
    );
    assert_eq!(config.otlp.headers[0].1.expose_secret(), "a b%");
}

#[test]
fn a_bad_resource_attribute_names_its_position_and_key() {
    let error = from_env(&[("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=shop,team=%zz")]).expect_err("bad");
    assert_eq!(
        error.to_string(),
        "invalid OTEL_RESOURCE_ATTRIBUTES: entry 2 (key \"team\") has a `%` not followed by two hex digits; \
         expected comma-separated key=value pairs with percent-encoded values"
    );
}

// --- Every numeric setting is range-checked, naming what the user set (item 18) ---

/// Checks an environment variable: `min` and `max` are accepted, everything in `bad` is
/// rejected with an error naming the variable and stating `range`.
fn assert_env_range(variable: &'static str, min: &str, max: &str, bad: &[&str], range: &str) {
    for good in [min, max] {
        if let Err(error) = from_env(&[(variable, good)]) {
            panic!("{variable}={good} rejected: {error}");
        }
    }
    for value in bad {
        let error = from_env(&[(variable, value)]).expect_err(value);
        assert!(
            matches!(&error, ConfigError::Invalid { variable: named, value: given, .. } if *named == variable && given == value),
            "{variable}={value}: {error:?}"
        );
        assert!(error.to_string().contains(range), "{error}");
    }
}

const RECORDS: &str = "from 1 to 4194303";
const BYTES: &str = "from 1 to 549755813887";
const MILLIS: &str = "milliseconds from 1 to 86400000";

#[test]
fn mv37_batch_interval_ms_of_zero_is_rejected_so_the_exporter_cannot_spin() {
    assert_env_range(
        "MV37_BATCH_INTERVAL_MS",
        "1",
        "86400000",
        &["0", "86400001", "-5", "1.5"],
        MILLIS,
    );
}

#[test]
fn mv37_queue_size_too_large_names_mv37_queue_size() {
    assert_env_range("MV37_QUEUE_SIZE", "1", "4194303", &["0", "4194304", "5000000"], RECORDS);
}

#[test]
fn mv37_queue_bytes_is_range_checked() {
    assert_env_range("MV37_QUEUE_BYTES", "1", "549755813887", &["0", "549755813888"], BYTES);
}

#[test]
fn mv37_batch_size_is_range_checked() {
    assert_env_range("MV37_BATCH_SIZE", "1", "4194303", &["0", "4194304", "ten"], RECORDS);
}

#[test]
fn mv37_batch_bytes_is_range_checked() {
    assert_env_range("MV37_BATCH_BYTES", "1", "549755813887", &["0", "549755813888"], BYTES);
}

#[test]
fn mv37_max_payload_bytes_is_range_checked() {
    assert_env_range(
        "MV37_MAX_PAYLOAD_BYTES",
        "1",
        "549755813887",
        &["0", "549755813888"],
        BYTES,
    );
}

#[test]
fn mv37_shutdown_timeout_ms_is_range_checked() {
    assert_env_range(
        "MV37_SHUTDOWN_TIMEOUT_MS",
        "1",
        "86400000",
        &["0", "86400001", "18446744073709551615"],
        MILLIS,
    );
}

#[test]
fn mv37_spool_max_bytes_is_range_checked() {
    assert_env_range(
        "MV37_SPOOL_MAX_BYTES",
        "1",
        "18446744073709551615",
        &["0", "18446744073709551616"],
        "a positive whole number of bytes",
    );
}

#[test]
fn otel_exporter_otlp_timeout_is_range_checked() {
    assert_env_range(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "1",
        "86400000",
        &["0", "86400001"],
        MILLIS,
    );
    assert_env_range(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "1",
        "86400000",
        &["0", "86400001"],
        MILLIS,
    );
}

#[test]
fn mv37_sample_rate_is_range_checked() {
    assert_env_range("MV37_SAMPLE_RATE", "0", "1", &["-0.1", "1.5", "NaN"], "from 0.0 to 1.0");
}

/// Builds with one builder setting and asserts the error names the setter and the range.
fn assert_setter_rejected(builder: mv37::ClientBuilder, setter: &str, value: &str, range: &str) {
    let error = builder.build().expect_err(setter);
    assert!(
        matches!(&error, ConfigError::Invalid { variable, value: given, .. } if *variable == setter && given == value),
        "{setter}: {error:?}"
    );
    assert!(error.to_string().contains(range), "{error}");
}

#[test]
fn builder_settings_out_of_range_name_the_builder_method() {
    let b = Client::builder;
    assert_setter_rejected(
        b().batch_interval(Duration::ZERO),
        "batch_interval",
        "0ns",
        "from 1ms to 1 day",
    );
    assert_setter_rejected(
        b().batch_interval(Duration::from_secs(86_401)),
        "batch_interval",
        "86401s",
        "from 1ms to 1 day",
    );
    assert_setter_rejected(b().shutdown_timeout(Duration::ZERO), "shutdown_timeout", "0ns", "1 day");
    assert_setter_rejected(
        b().shutdown_timeout(Duration::MAX),
        "shutdown_timeout",
        &format!("{:?}", Duration::MAX),
        "1 day",
    );
    assert_setter_rejected(b().max_queue_records(0), "max_queue_records", "0", RECORDS);
    assert_setter_rejected(
        b().max_queue_records(4_194_304),
        "max_queue_records",
        "4194304",
        RECORDS,
    );
    assert_setter_rejected(b().max_queue_bytes(0), "max_queue_bytes", "0", BYTES);
    assert_setter_rejected(b().max_queue_bytes(1 << 39), "max_queue_bytes", "549755813888", BYTES);
    assert_setter_rejected(b().max_batch_records(0), "max_batch_records", "0", RECORDS);
    assert_setter_rejected(
        b().max_batch_records(usize::MAX),
        "max_batch_records",
        &usize::MAX.to_string(),
        RECORDS,
    );
    assert_setter_rejected(b().max_batch_bytes(0), "max_batch_bytes", "0", BYTES);
    assert_setter_rejected(b().max_payload_bytes(0), "max_payload_bytes", "0", BYTES);
    assert_setter_rejected(b().spool_max_bytes(0), "spool_max_bytes", "0", "positive");
    assert_setter_rejected(b().sample_rate(f64::NAN), "sample_rate", "NaN", "from 0.0 to 1.0");
    let mut config = Config::default();
    config.otlp.retry.request_timeout = Duration::ZERO;
    assert_setter_rejected(b().config(config), "otlp.retry.request_timeout", "0ns", "1 day");
    let mut config = Config::default();
    config.ingest.retry.request_timeout = Duration::ZERO;
    assert_setter_rejected(b().config(config), "ingest.retry.request_timeout", "0ns", "1 day");
}

#[test]
fn the_defaults_and_the_bounds_themselves_are_accepted() {
    Config::default().validate().expect("defaults");
    let config = Config {
        batch_interval: mv37::MIN_BATCH_INTERVAL,
        shutdown_timeout: mv37::MAX_DURATION_SETTING,
        max_queue_records: 4_194_303,
        max_batch_records: 1,
        spool_max_bytes: u64::MAX,
        ..Config::default()
    };
    config.validate().expect("bounds");
}

/// A build without a transport feature still reads the whole configuration, and a client
/// configured for the exporter it left out fails to build, saying which feature brings it
/// (rather than silently exporting nowhere).
#[test]
#[cfg(not(feature = "otlp"))]
fn an_exporter_left_out_of_the_build_is_a_typed_error_naming_its_feature() {
    let config = from_env(&[("MV37_EXPORTER", "otlp")]).expect("the variable still parses");
    let error = Client::builder()
        .config(config)
        .build()
        .expect_err("no otlp in this build");
    assert_eq!(
        error,
        ConfigError::NotBuilt {
            exporter: "otlp",
            feature: "otlp"
        }
    );
    assert!(error.to_string().contains("enable the `otlp` feature"), "{error}");
}

#[test]
#[cfg(not(feature = "ingest"))]
fn the_ingest_exporter_left_out_of_the_build_is_a_typed_error_naming_its_feature() {
    let config = from_env(&[("MV37_EXPORTER", "mv37"), ("MV37_API_KEY", "k")]).expect("parses");
    let error = Client::builder()
        .config(config)
        .build()
        .expect_err("no ingest in this build");
    assert_eq!(
        error,
        ConfigError::NotBuilt {
            exporter: "mv37",
            feature: "ingest"
        }
    );
}

/// One endpoint rule for code, the environment and the CLI: a bare host gets the traces
/// path, a URL with a path is kept, and `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL.
#[test]
fn an_otlp_endpoint_is_resolved_by_one_rule_wherever_it_is_given() {
    let bare = format!("{:?}", Client::builder().otlp_endpoint("http://127.0.0.1:4318"));
    assert!(bare.contains("\"http://127.0.0.1:4318/v1/traces\""), "{bare}");
    let full = format!(
        "{:?}",
        Client::builder().otlp_endpoint("http://127.0.0.1:6006/v1/traces")
    );
    assert!(full.contains("\"http://127.0.0.1:6006/v1/traces\""), "{full}");
    let base = from_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).expect("valid");
    assert_eq!(base.otlp.endpoint, "http://collector:4318/v1/traces");
    let traces = from_env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/custom")]).expect("valid");
    assert_eq!(traces.otlp.endpoint, "http://collector:4318/custom");
    assert_eq!(
        mv37::otlp_traces_url("http://collector:4318"),
        "http://collector:4318/v1/traces"
    );
}

// --- The content-capture switch (issue 14, item 3) ---

const OTEL_CAPTURE: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

fn captures_content(vars: &[(&str, &str)]) -> bool {
    from_env(vars).expect("valid").capture_content
}

#[test]
fn content_is_captured_unless_a_variable_turns_it_off() {
    assert!(captures_content(&[]));
    for off in ["false", "FALSE", "0", "no", "Off", " false "] {
        assert!(!captures_content(&[(OTEL_CAPTURE, off)]), "{OTEL_CAPTURE}={off:?}");
        assert!(
            !captures_content(&[("MV37_CAPTURE_CONTENT", off)]),
            "MV37_CAPTURE_CONTENT={off:?}"
        );
    }
    for on in ["true", "True", "1", "yes", "on"] {
        assert!(captures_content(&[(OTEL_CAPTURE, on)]), "{OTEL_CAPTURE}={on:?}");
    }
}

#[test]
fn the_opentelemetry_variable_also_takes_the_genai_utilities_modes() {
    for (mode, captured) in [
        ("NO_CONTENT", false),
        ("EVENT_ONLY", false),
        ("SPAN_ONLY", true),
        ("span_and_event", true),
    ] {
        assert_eq!(captures_content(&[(OTEL_CAPTURE, mode)]), captured, "{mode}");
    }
}

#[test]
fn mv37_capture_content_wins_over_the_opentelemetry_variable() {
    assert!(captures_content(&[
        (OTEL_CAPTURE, "false"),
        ("MV37_CAPTURE_CONTENT", "true")
    ]));
    assert!(!captures_content(&[
        (OTEL_CAPTURE, "true"),
        ("MV37_CAPTURE_CONTENT", "false")
    ]));
    // The OpenTelemetry variable is then not read: a value mv37 does not know is no error.
    assert!(!captures_content(&[
        (OTEL_CAPTURE, "sometimes"),
        ("MV37_CAPTURE_CONTENT", "0")
    ]));
}

#[test]
fn an_unparsable_capture_value_is_a_typed_error_naming_its_variable() {
    for variable in [OTEL_CAPTURE, "MV37_CAPTURE_CONTENT"] {
        let error = from_env(&[(variable, "sometimes")]).expect_err("not a boolean");
        match &error {
            ConfigError::Invalid {
                variable: named, value, ..
            } => {
                assert_eq!(*named, variable);
                assert_eq!(value, "sometimes");
            }
            other => panic!("{variable}: expected Invalid, got {other:?}"),
        }
        let text = error.to_string();
        assert!(text.contains(variable) && text.contains("true or false"), "{text}");
    }
}
