//! Every command exits with the code its documentation gives (README, `--help`): 0 for
//! success, 1 for bad input (unreadable file, newer schema, skipped lines, invalid
//! configuration), 2 for a wrong command line.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn temp_file(name: &str, contents: &str) -> String {
    let dir = std::env::temp_dir().join(format!("mv37-cli-exit-codes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `mv37 ARGS` with `envs` and no other `MV37_`/`OTEL_` variables: (code, stderr).
fn run(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mv37"))
        .env_clear()
        .envs(envs.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Arguments, environment, expected exit code.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, i32);

#[test]
fn every_command_exits_with_the_documented_code() {
    let good = fixture("support_agent.jsonl");
    let malformed = fixture("mixed.jsonl");
    let newer = fixture("newer_schema.jsonl");
    let missing = "/nonexistent/traces.jsonl";
    let directory = env!("CARGO_MANIFEST_DIR");
    let long_line = temp_file(
        "long-line.jsonl",
        &format!(
            "{}\n{}\n",
            "x".repeat(100),
            std::fs::read_to_string(&good).unwrap().trim_end()
        ),
    );
    let empty = temp_file("empty.jsonl", "");
    // `send` to a port nothing answers on is not needed: an empty input sends nothing.
    let send = ["send", "--to", "otlp", "--endpoint", "http://127.0.0.1:9"];
    let tail = ["tail", "--interval", "1", "--exit-after-idle", "0"];
    let limit = ("MV37_MAX_LINE_BYTES", "64");
    let bad_limit = ("MV37_MAX_LINE_BYTES", "lots");

    let cases: Vec<Case<'_>> = vec![
        // Success.
        (vec!["view", &good], vec![], 0),
        (vec!["stats", &good], vec![], 0),
        ([&tail[..], &[&good]].concat(), vec![], 0),
        ([&send[..], &[&empty]].concat(), vec![], 0),
        (vec!["--help"], vec![], 0),
        (vec!["--version"], vec![], 0),
        // Bad input: malformed lines (the rest is still processed).
        (vec!["view", &malformed], vec![], 1),
        (vec!["stats", &malformed], vec![], 1),
        ([&tail[..], &[&malformed]].concat(), vec![], 1),
        // Bad input: a line longer than the limit is skipped.
        (vec!["view", &long_line], vec![limit], 1),
        (vec!["stats", "--max-line-bytes", "64", &long_line], vec![], 1),
        ([&tail[..], &[&long_line]].concat(), vec![limit], 1),
        // Bad input: a record of a newer schema version.
        (vec!["view", &newer], vec![], 1),
        (vec!["stats", &newer], vec![], 1),
        ([&tail[..], &[&newer]].concat(), vec![], 1),
        ([&send[..], &[&newer]].concat(), vec![], 1),
        // Bad input: a file that cannot be read.
        (vec!["view", missing], vec![], 1),
        (vec!["stats", missing], vec![], 1),
        ([&tail[..], &[missing]].concat(), vec![], 1),
        ([&send[..], &[missing]].concat(), vec![], 1),
        (vec!["view", directory], vec![], 1),
        ([&tail[..], &[directory]].concat(), vec![], 1),
        // Bad input: invalid configuration.
        (vec!["view", &good], vec![bad_limit], 1),
        (vec!["stats", &good], vec![bad_limit], 1),
        ([&tail[..], &[&good]].concat(), vec![bad_limit], 1),
        ([&send[..], &[&good]].concat(), vec![bad_limit], 1),
        (vec!["send", "--to", "mv37", &good], vec![], 1),
        // Usage.
        (vec![], vec![], 2),
        (vec!["frobnicate"], vec![], 2),
        (vec!["view"], vec![], 2),
        (vec!["view", "--since", "yesterday", &good], vec![], 2),
        (vec!["view", "--max-line-bytes", "0", &good], vec![], 2),
        (vec!["stats", "--by", "weather", &good], vec![], 2),
        (vec!["tail"], vec![], 2),
        (vec!["tail", "--interval", "soon", &good], vec![], 2),
        (vec!["tail", "--trace", "not-hex", &good], vec![], 2),
        (vec!["send", &good], vec![], 2),
        (vec!["send", "--to", "carrier-pigeon", &good], vec![], 2),
    ];
    let mut wrong = Vec::new();
    for (args, envs, expected) in &cases {
        let (code, errors) = run(args, envs);
        if code != Some(*expected) {
            wrong.push(format!(
                "mv37 {args:?} {envs:?}: expected {expected}, got {code:?}: {errors}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_invalid_line_limit_names_the_variable() {
    let (code, errors) = run(
        &["view", &fixture("support_agent.jsonl")],
        &[("MV37_MAX_LINE_BYTES", "16MiB")],
    );
    assert_eq!(code, Some(1));
    assert!(
        errors.contains("MV37_MAX_LINE_BYTES=\"16MiB\" is not valid: expected a number of bytes"),
        "{errors}"
    );
}

#[test]
fn a_closed_pipe_ends_view_without_hiding_malformed_lines() {
    // A malformed line, then far more output than any pipe or buffer holds.
    let generated = Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args(["generate", "--spans", "5000"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let path = temp_file(
        "malformed-then-many.jsonl",
        &format!("not a record\n{}", String::from_utf8(generated.stdout).unwrap()),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args(["view", &path])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reader goes away at once (`mv37 view … | head -0`).
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(1));
}
