//! `mv37 tail` following a file while it is appended to, truncated and rotated.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn fixture_lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn append(path: &std::path::Path, text: &str) {
    let mut file = OpenOptions::new().append(true).create(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn pause() {
    std::thread::sleep(Duration::from_millis(250));
}

#[test]
fn tail_prints_traces_as_they_complete_across_truncation_and_rotation() {
    let dir = std::env::temp_dir().join(format!("mv37-cli-tail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("traces.jsonl");
    let mixed = fixture_lines("mixed.jsonl");
    let of = |id: char| -> String {
        let needle = format!("\"trace_id\":\"{}", id.to_string().repeat(30));
        mixed
            .iter()
            .filter(|l| l.contains(&needle))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    // Already in the file: the greeter trace (printed as the backlog, -n 1).
    std::fs::write(&path, of('b')).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args([
            "tail",
            "--interval",
            "20",
            "--exit-after-idle",
            "1500",
            "--color",
            "never",
            "-n",
            "1",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pause();

    // Appended, the first line in two writes: printed once the trace record arrives.
    let photo = of('a');
    let (head, rest) = photo.split_at(40);
    append(&path, head);
    pause();
    append(&path, rest);
    pause();

    // Truncated in place, then written again from the start.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    pause();
    append(&path, &of('c'));
    pause();

    // Rotated: the path now names a new file.
    std::fs::rename(&path, dir.join("traces.jsonl.1")).unwrap();
    let support: String = fixture_lines("support_agent.jsonl")
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, support).unwrap();

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("trace "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    // The incomplete trace (no trace record) is printed when tail stops.
    assert_eq!(
        headers,
        ["greeter", "photo_agent", "support_agent", "(incomplete:"],
        "{text}"
    );
    assert!(
        text.contains("└─ feedback thumbs = false"),
        "late feedback joins its trace: {text}"
    );
    assert!(text.contains("└─ feedback csat = 5"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
