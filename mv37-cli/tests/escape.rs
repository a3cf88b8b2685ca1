//! Text from records (LLM output, user input, names, error messages, a collector's
//! answer) never reaches the terminal with its control or bidi characters raw: every
//! command shows them as escapes such as `\x1b` and `\u{202e}`.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A terminal title change, a colour, a clear screen, a bell, NUL, a C1 CSI, a carriage
/// return, DEL, NEL, and bidi overrides and isolates.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[31m\u{1b}[2J\0\u{9b}1m\r\u{7f}\u{85}\u{202e}\u{202d}\u{2066}\u{200f}";

/// Keys whose values must stay as they are for the record to parse.
const STRUCTURAL: [&str; 6] = ["v", "type", "trace_id", "span_id", "parent_span_id", "status"];

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mv37-cli-escape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Appends [`HOSTILE`] to every string in `value` (and to every key of free-form maps).
fn poison(value: &mut Value, free_keys: bool) {
    match value {
        Value::String(text) => text.push_str(HOSTILE),
        Value::Array(items) => items.iter_mut().for_each(|item| poison(item, free_keys)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                if STRUCTURAL.contains(&key.as_str()) && !free_keys {
                    map.insert(key, item);
                    continue;
                }
                let free = free_keys || matches!(key.as_str(), "input" | "output" | "arguments" | "context");
                poison(&mut item, free);
                let key = if free_keys { format!("{key}{HOSTILE}") } else { key };
                map.insert(key, item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The fixtures with every string poisoned, plus a line whose parse error quotes hostile
/// text: (path, the poisoned records).
fn hostile_file() -> (String, Vec<Value>) {
    let mut records = Vec::new();
    for name in ["support_agent.jsonl", "mixed.jsonl"] {
        for line in std::fs::read_to_string(fixture(name)).unwrap().lines() {
            let Ok(mut record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            poison(&mut record, false);
            records.push(record);
        }
    }
    let mut text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let unknown = serde_json::json!({ "v": 1, "type": format!("span{HOSTILE}") });
    text.push_str(&format!("{unknown}\n"));
    let path = temp_dir().join("hostile.jsonl");
    std::fs::write(&path, text).unwrap();
    (path.to_str().unwrap().to_owned(), records)
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Fails at the first unsafe character of `text`, showing where it is.
fn assert_safe(text: &str, what: &str) {
    if let Some((at, c)) = text.char_indices().find(|(_, c)| is_unsafe(*c)) {
        let before: Vec<char> = text[..at].chars().rev().take(80).collect();
        let before: String = before.into_iter().rev().collect();
        panic!("{what}: raw {c:?} at byte {at}, after {before:?}");
    }
}

/// Removes the colour sequences the CLI writes itself (`ESC [ digits ; m`).
fn without_own_colours(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\u{1b}[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[end..].starts_with('m') {
            rest = &after[end + 1..];
        } else {
            // Not one of ours: keep it, so that `assert_safe` finds it.
            out.push_str("\u{1b}[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn mv37(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mv37"))
        .env_remove("NO_COLOR")
        .env_remove("MV37_MAX_LINE_BYTES")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn checked(args: &[&str]) -> (String, String) {
    let output = mv37(args);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let what = format!("mv37 {}", args.join(" "));
    assert_eq!(output.status.code(), Some(1), "{what}: the malformed line: {stderr}");
    assert!(
        stderr.contains("mv37: skipped 1 malformed line\n"),
        "{what}: every poisoned record is still a record: {stderr}"
    );
    assert_safe(&stderr, &format!("{what} (stderr)"));
    (stdout, stderr)
}

#[test]
fn trees_tables_and_messages_show_control_and_bidi_characters_as_escapes() {
    let (path, _) = hostile_file();
    let tail = ["tail", "--interval", "1", "--exit-after-idle", "0"];
    for args in [
        vec!["view", "--color", "never", &path],
        [&tail[..], &["--color", "never", &path]].concat(),
        vec!["stats", &path],
        vec!["stats", "--by", "user", &path],
        vec!["stats", "--by", "session", &path],
    ] {
        let (stdout, stderr) = checked(&args);
        assert_safe(&stdout, &format!("mv37 {}", args.join(" ")));
        // Shown, not dropped.
        assert!(stdout.contains("\\x1b]0;pwned\\x07\\x1b[31m"), "{args:?}: {stdout}");
        assert!(stdout.contains("\\u{202e}"), "{args:?}: {stdout}");
        assert!(
            stderr.contains("skipped malformed line: not a valid mv37 record: ") && stderr.contains("\\x1b[2J"),
            "the parse error quotes the line's text, escaped: {stderr}"
        );
    }
    let (stdout, _) = checked(&["view", "--color", "always", &path]);
    assert!(
        stdout.contains("\u{1b}[1;31mERROR\u{1b}[0m"),
        "our own colours are kept"
    );
    assert_safe(&without_own_colours(&stdout), "mv37 view --color always");
}

#[test]
fn json_output_escapes_them_as_json_and_keeps_every_value() {
    let (path, records) = hostile_file();
    for args in [
        vec!["view", "--json", &path],
        vec!["tail", "--json", "--interval", "1", "--exit-after-idle", "0", &path],
    ] {
        let (stdout, _) = checked(&args);
        assert_safe(&stdout, &format!("mv37 {}", args.join(" ")));
        let mut shown: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let mut expected = records.clone();
        let key = |v: &Value| v.to_string();
        shown.sort_by_key(key);
        expected.sort_by_key(key);
        assert_eq!(shown, expected, "{args:?}: the same JSON values");
    }
    let (stdout, _) = checked(&["stats", "--json", "--by", "user", &path]);
    assert_safe(&stdout, "mv37 stats --json");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    let user = summary["groups"][0]["user"].as_str().unwrap();
    assert!(user.ends_with(HOSTILE), "{user:?}");
}

#[test]
fn a_file_name_and_a_collector_answer_are_escaped_too() {
    // A file name cannot hold NUL; everything else can.
    let missing = temp_dir().join(format!("missing{}.jsonl", HOSTILE.replace('\0', "")));
    let output = mv37(&["view", missing.to_str().unwrap()]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("cannot read ") && stderr.contains("missing\\x1b]0;pwned"),
        "{stderr}"
    );
    assert_safe(&stderr, "cannot read");

    // A collector that rejects the batch with a hostile explanation.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = format!("rejected{HOSTILE}");
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    let output = mv37(&[
        "send",
        "--to",
        "otlp",
        "--endpoint",
        &url,
        &fixture("support_agent.jsonl"),
    ]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "records not delivered: {stderr}");
    assert!(
        stderr.contains("was not delivered: ") && stderr.contains("rejected\\x1b]0;pwned"),
        "{stderr}"
    );
    assert_safe(&stderr, "mv37 send (stderr)");
    assert_safe(&String::from_utf8(output.stdout).unwrap(), "mv37 send (stdout)");
}
