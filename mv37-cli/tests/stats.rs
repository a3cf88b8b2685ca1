//! `mv37 stats` on fixture files: tables, JSON, grouping.

#![allow(clippy::panic, clippy::unwrap_used)]

use assert_cmd::Command;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], code: i32) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone();
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_support_agent_stats_per_model_tool_and_kind() {
    insta::assert_snapshot!(
        "stats_support_agent",
        run(&["stats", &fixture("support_agent.jsonl")], 0)
    );
}

#[test]
fn stats_by_user_count_failures_missing_usage_and_skip_malformed_lines() {
    let text = run(&["stats", "--by", "user", &fixture("mixed.jsonl")], 1);
    insta::assert_snapshot!("stats_mixed_by_user", text);
}

#[test]
fn stats_as_json_for_scripts() {
    let text = run(&["stats", "--json", "--by", "session", &fixture("mixed.jsonl")], 1);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["traces"]["count"], 2);
    assert_eq!(value["malformed_lines"], 2);
    insta::assert_snapshot!("stats_mixed_json", text);
}
