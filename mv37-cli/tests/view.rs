//! `mv37 view` on fixture files: the trees, the filters, and bad input.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;

use assert_cmd::Command;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn mv37() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mv37"));
    command.env_remove("NO_COLOR");
    command
}

fn stdout(args: &[&str]) -> String {
    let output = mv37().args(args).output().unwrap();
    String::from_utf8(output.stdout).unwrap()
}

fn stderr(args: &[&str], code: i32) -> String {
    let output = mv37().args(args).assert().code(code).get_output().clone();
    String::from_utf8(output.stderr).unwrap()
}

fn headers(text: &str) -> Vec<&str> {
    text.lines().filter(|line| line.starts_with("trace ")).collect()
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mv37-cli-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn the_support_agent_trace_is_printed_as_a_tree() {
    let output = mv37()
        .args(["view", &fixture("support_agent.jsonl")])
        .assert()
        .success();
    let text = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    insta::assert_snapshot!("view_support_agent", text);
}

#[test]
fn failed_spans_multimodal_messages_and_missing_usage_are_shown_and_malformed_lines_skipped() {
    let output = mv37()
        .args(["view", &fixture("mixed.jsonl")])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let text = String::from_utf8(output.stdout).unwrap();
    insta::assert_snapshot!("view_mixed", text);
    let errors = String::from_utf8(output.stderr).unwrap();
    assert!(errors.contains("mixed.jsonl:3: skipped malformed line"), "{errors}");
    assert!(errors.contains("mixed.jsonl:6: skipped malformed line"), "{errors}");
    assert!(errors.contains("skipped 2 malformed lines"), "{errors}");
}

#[test]
fn failed_selects_traces_with_a_failed_span() {
    let text = stdout(&["view", "--failed", &fixture("mixed.jsonl")]);
    assert_eq!(headers(&text).len(), 1, "{text}");
    assert!(text.starts_with("trace photo_agent ERROR"), "{text}");
}

#[test]
fn user_session_conversation_and_name_filters_match_trace_fields() {
    let mixed = fixture("mixed.jsonl");
    let text = stdout(&["view", "--user", "u_2", &mixed]);
    assert_eq!(
        headers(&text),
        ["trace greeter ok 2.10s 2026-05-28T20:26:49.999Z user=u_2 session=s_1 [bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb02]"]
    );
    assert_eq!(headers(&stdout(&["view", "--session", "s_1", &mixed])).len(), 2);
    assert_eq!(headers(&stdout(&["view", "--conversation", "c_1", &mixed])).len(), 1);
    let by_span_name = stdout(&["view", "--name", "send_email", &mixed]);
    assert!(
        by_span_name.starts_with("trace (incomplete: no trace record) [ccc"),
        "{by_span_name}"
    );
    assert_eq!(headers(&stdout(&["view", "--name", "greet", &mixed])).len(), 1);
}

#[test]
fn trace_accepts_an_id_prefix() {
    let text = stdout(&["view", "--trace", "BBBB", &fixture("mixed.jsonl")]);
    assert_eq!(headers(&text).len(), 1);
    assert!(text.contains("[bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb02]"));
    mv37()
        .args(["view", "--trace", "xyz", &fixture("mixed.jsonl")])
        .assert()
        .code(2);
}

#[test]
fn since_and_until_take_rfc3339_or_unix_seconds() {
    let mixed = fixture("mixed.jsonl");
    // photo_agent starts at 1780000000 s, greeter at +9.999 s, the incomplete one at +20 s.
    let late = stdout(&["view", "--since", "2026-05-28T20:26:45Z", &mixed]);
    assert_eq!(headers(&late).len(), 2, "{late}");
    let early = stdout(&["view", "--until", "1780000005", &mixed]);
    assert_eq!(headers(&early).len(), 1, "{early}");
    assert!(early.starts_with("trace photo_agent"));
    let errors = stderr(&["view", "--since", "last tuesday", &mixed], 2);
    assert!(errors.contains("invalid time \"last tuesday\""), "{errors}");
}

#[test]
fn limit_stops_after_n_traces() {
    let text = stdout(&["view", "--limit", "1", &fixture("mixed.jsonl")]);
    assert_eq!(headers(&text).len(), 1);
}

#[test]
fn json_prints_the_selected_records_unchanged() {
    let mixed = std::fs::read_to_string(fixture("mixed.jsonl")).unwrap();
    let expected: Vec<&str> = mixed
        .lines()
        .filter(|l| l.contains("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb02"))
        .collect();
    let text = stdout(&["view", "--json", "--user", "u_2", &fixture("mixed.jsonl")]);
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn standard_input_and_gzip_files_are_read() {
    let plain = std::fs::read(fixture("support_agent.jsonl")).unwrap();
    let from_file = stdout(&["view", &fixture("support_agent.jsonl")]);
    let output = mv37().args(["view", "-"]).write_stdin(plain.clone()).assert().success();
    assert_eq!(
        String::from_utf8(output.get_output().stdout.clone()).unwrap(),
        from_file
    );

    let gz = temp_path("support_agent.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&plain).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    assert_eq!(stdout(&["view", gz.to_str().unwrap()]), from_file);
}

#[test]
fn a_newer_schema_version_is_an_error_naming_both_versions() {
    let errors = stderr(&["view", &fixture("newer_schema.jsonl")], 1);
    assert!(
        errors.contains("newer_schema.jsonl:2: record has schema version 2, but this mv37 reads up to version 1"),
        "{errors}"
    );
}

#[test]
fn missing_files_and_directories_are_clear_errors() {
    let errors = stderr(&["view", "/nonexistent/traces.jsonl"], 1);
    assert!(
        errors.contains("cannot read /nonexistent/traces.jsonl: No such file"),
        "{errors}"
    );
    let errors = stderr(&["view", env!("CARGO_MANIFEST_DIR")], 1);
    assert!(errors.contains("it is a directory"), "{errors}");
}

#[test]
fn colour_is_used_only_when_asked_or_on_a_terminal() {
    let piped = stdout(&["view", &fixture("mixed.jsonl")]);
    assert!(!piped.contains('\x1b'));
    let forced = stdout(&["view", "--color", "always", &fixture("mixed.jsonl")]);
    assert!(forced.contains("\x1b[1;31mERROR\x1b[0m"), "{forced}");
}

#[test]
fn help_documents_every_command_and_the_exit_codes() {
    let help = stdout(&["--help"]);
    for command in ["view", "tail", "stats", "send", "Exit codes:"] {
        assert!(help.contains(command), "{help}");
    }
    assert!(!help.contains("generate"), "hidden: {help}");
    for command in ["view", "tail", "stats", "send"] {
        let help = stdout(&[command, "--help"]);
        assert!(help.contains("Exit codes:") && help.contains("Usage: mv37"), "{help}");
    }
    mv37().arg("frobnicate").assert().code(2);
    mv37().arg("view").assert().code(2);
}

#[test]
fn a_line_longer_than_the_limit_is_skipped_and_the_lines_around_it_are_read() {
    let mixed = std::fs::read_to_string(fixture("mixed.jsonl")).unwrap();
    let greeter: String = mixed
        .lines()
        .filter(|l| l.contains("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb02"))
        .map(|l| format!("{l}\n"))
        .collect();
    let support = std::fs::read_to_string(fixture("support_agent.jsonl")).unwrap();
    // 8 MiB on one line between two whole traces, against a limit of 64 KiB.
    let long = format!("{{\"v\":1,\"type\":\"span\",\"name\":\"{}\"}}\n", "x".repeat(8 << 20));
    let path = temp_path("long-line.jsonl");
    std::fs::write(&path, format!("{greeter}{long}{support}")).unwrap();
    let long_line = greeter.lines().count() + 1;
    let expected = format!(
        "long-line.jsonl:{long_line}: skipped malformed line: the line is {} bytes long, more than the limit of \
         65536 bytes (raise it with --max-line-bytes or MV37_MAX_LINE_BYTES)",
        long.len() - 1
    );
    for (args, envs) in [
        (vec!["view", "--max-line-bytes", "65536"], vec![]),
        (vec!["view"], vec![("MV37_MAX_LINE_BYTES", "65536")]),
        (vec!["stats", "--json", "--max-line-bytes", "65536"], vec![]),
    ] {
        let output = mv37()
            .args(&args)
            .arg(&path)
            .envs(envs)
            .assert()
            .code(1)
            .get_output()
            .clone();
        let text = String::from_utf8(output.stdout).unwrap();
        let errors = String::from_utf8(output.stderr).unwrap();
        assert!(errors.contains(&expected), "{args:?}: {errors}");
        assert!(errors.contains("skipped 1 malformed line"), "{args:?}: {errors}");
        if args[0] == "view" {
            let names: Vec<&str> = headers(&text).iter().map(|h| h.split(' ').nth(1).unwrap()).collect();
            assert_eq!(names, ["greeter", "support_agent"], "{args:?}: {text}");
        } else {
            let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(summary["traces"]["count"], 2, "{text}");
            assert_eq!(summary["malformed_lines"], 1, "{text}");
        }
    }
}
