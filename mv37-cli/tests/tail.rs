//! `mv37 tail` following a file while it is appended to, truncated and rotated, and how
//! it stops: malformed lines, an unfinished last line, Ctrl-C.
//!
//! The tests never sleep to let `tail` catch up: they wait (with a deadline) for what it
//! prints, and `--report-reads` makes it say how far it has read after each poll.

// Rotation is recognised by device and inode, and the tests stop `tail` with `kill`.
#![cfg(unix)]
#![allow(clippy::panic, clippy::unwrap_used)]

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any one expected event may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

fn fixture_lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The lines of `mixed.jsonl` of the trace whose id is made of `id`, each with its newline.
fn trace_lines(id: char) -> String {
    let needle = format!("\"trace_id\":\"{}", id.to_string().repeat(30));
    fixture_lines("mixed.jsonl")
        .iter()
        .filter(|l| l.contains(&needle))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new().append(true).create(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mv37-cli-tail-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sends each line `read` yields to a channel, from a thread; the channel closes at the
/// end of the stream (when the process exits).
fn lines_of(read: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// One output stream of the child, the lines seen on it so far, and how many of them
/// earlier waits have passed.
struct Stream {
    lines: Receiver<String>,
    seen: Vec<String>,
    checked: usize,
    closed: bool,
}

impl Stream {
    /// Waits for the next line (after those earlier waits matched) that contains `needle`.
    fn wait_for(&mut self, needle: &str, what: &str) {
        self.wait_until(|line| line.contains(needle), needle, what);
    }

    fn wait_until(&mut self, matches: impl Fn(&str) -> bool, needle: &str, what: &str) {
        if let Some(at) = self.seen[self.checked..].iter().position(|l| matches(l)) {
            self.checked += at + 1;
            return;
        }
        self.checked = self.seen.len();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = matches(&line);
                    self.seen.push(line);
                    self.checked = self.seen.len();
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} line with {needle:?} within {DEADLINE:?}: {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    panic!("{what} closed before a line with {needle:?}: {:#?}", self.seen)
                }
            }
        }
    }

    /// Reads the rest, up to the end of the stream.
    fn drain(&mut self, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => panic!("{what} still open after {DEADLINE:?}: {:#?}", self.seen),
            }
        }
    }

    fn text(&self) -> String {
        self.seen.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// A running `mv37 tail`, killed if the test fails before it exits.
struct Tail {
    child: Child,
    stdout: Stream,
    stderr: Stream,
}

impl Tail {
    fn start(path: &Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mv37"))
            .args(["tail", "--interval", "10", "--color", "never", "--report-reads"])
            .args(args)
            .arg(path)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stream = |lines| Stream {
            lines,
            seen: Vec::new(),
            checked: 0,
            closed: false,
        };
        let stdout = stream(lines_of(child.stdout.take().unwrap()));
        let stderr = stream(lines_of(child.stderr.take().unwrap()));
        Self { child, stdout, stderr }
    }

    /// Waits until `tail` has read `path` up to its current length.
    fn wait_read_to_end(&mut self, path: &Path) {
        let length = std::fs::metadata(path).unwrap().len();
        let report = format!(" up to byte {length}");
        self.stderr
            .wait_until(|line| line.ends_with(&report), &report, "stderr");
    }

    /// Sends `signal` (`INT` is Ctrl-C) and waits for the exit: (code, stdout, stderr).
    fn stop_with(self, signal: &str) -> (Option<i32>, String, String) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.exit()
    }

    /// Waits for the exit: (code, stdout, stderr).
    fn exit(mut self) -> (Option<i32>, String, String) {
        self.stdout.drain("stdout");
        self.stderr.drain("stderr");
        // Both streams are closed: the process has exited, so this does not block.
        let status = self.child.wait().unwrap();
        (status.code(), self.stdout.text(), self.stderr.text())
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn headers(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("trace "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect()
}

#[test]
fn tail_prints_traces_as_they_complete_across_truncation_and_rotation() {
    let dir = temp_dir("follow");
    let path = dir.join("traces.jsonl");
    // Already in the file: the greeter trace (printed as the backlog, -n 1).
    std::fs::write(&path, trace_lines('b')).unwrap();
    let mut tail = Tail::start(&path, &["-n", "1"], &[]);
    tail.wait_read_to_end(&path);
    tail.stdout.wait_for("trace greeter", "stdout");

    // Appended, the first line in two writes: printed once the trace record arrives.
    let photo = trace_lines('a');
    let (head, rest) = photo.split_at(40);
    append(&path, head);
    tail.wait_read_to_end(&path);
    append(&path, rest);
    tail.wait_read_to_end(&path);
    tail.stdout.wait_for("trace photo_agent", "stdout");

    // Truncated in place, then written again from the start.
    OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    tail.stderr
        .wait_for("file truncated, reading it from the start", "stderr");
    append(&path, &trace_lines('c'));
    tail.wait_read_to_end(&path);

    // Rotated: the path now names a new file.
    std::fs::rename(&path, dir.join("traces.jsonl.1")).unwrap();
    let support: String = fixture_lines("support_agent.jsonl")
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, support).unwrap();
    tail.stderr.wait_for("replaced (rotated or removed)", "stderr");
    tail.stdout.wait_for("trace support_agent", "stdout");

    // Ctrl-C: the incomplete trace (no trace record) is printed as tail stops, and the
    // malformed line of the photo trace makes the exit code that of bad input.
    let (code, text, errors) = tail.stop_with("INT");
    assert_eq!(
        headers(&text),
        ["greeter", "photo_agent", "support_agent", "(incomplete:"],
        "{text}"
    );
    assert!(
        text.contains("└─ feedback thumbs = false"),
        "late feedback joins its trace: {text}"
    );
    assert!(text.contains("└─ feedback csat = 5"), "{text}");
    let broken = trace_lines('b').lines().count() + photo.lines().position(|l| l.ends_with(" broken")).unwrap() + 1;
    assert!(
        errors.contains(&format!("traces.jsonl:{broken}: skipped malformed line")),
        "{errors}"
    );
    assert!(errors.contains("mv37: skipped 1 malformed line"), "{errors}");
    assert_eq!(code, Some(1), "{errors}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tail_reports_malformed_lines_and_exits_with_the_bad_input_code() {
    let dir = temp_dir("malformed");
    let clean = dir.join("clean.jsonl");
    std::fs::write(&clean, trace_lines('b')).unwrap();
    let (code, text, errors) = Tail::start(&clean, &["--exit-after-idle", "0"], &[]).exit();
    assert_eq!((code, headers(&text)), (Some(0), vec!["greeter"]), "{errors}");

    let broken = dir.join("broken.jsonl");
    let greeter = trace_lines('b');
    let (first, others) = greeter.split_once('\n').unwrap();
    std::fs::write(&broken, format!("{first}\nnot a record\n{others}")).unwrap();
    let (code, text, errors) = Tail::start(&broken, &["--exit-after-idle", "0"], &[]).exit();
    assert_eq!(headers(&text), ["greeter"], "the rest is still printed");
    assert!(
        errors.contains("broken.jsonl:2: skipped malformed line: not a valid mv37 record"),
        "{errors}"
    );
    assert!(errors.contains("mv37: skipped 1 malformed line"), "{errors}");
    assert_eq!(code, Some(1), "{errors}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unfinished_last_line_is_read_when_tail_is_stopped() {
    let dir = temp_dir("unfinished");
    let path = dir.join("traces.jsonl");
    // The trace record, last, has no newline yet: the trace waits for it.
    let greeter = trace_lines('b');
    std::fs::write(&path, greeter.trim_end()).unwrap();
    let mut tail = Tail::start(&path, &["-n", "0"], &[]);
    tail.wait_read_to_end(&path);
    // SIGTERM: the line is complete as far as the file goes, so the trace is whole.
    let (code, text, errors) = tail.stop_with("TERM");
    assert_eq!(headers(&text), ["greeter"], "{text}\n{errors}");
    assert_eq!(code, Some(0), "{errors}");

    // An unfinished line that is not a record is reported, never dropped silently.
    std::fs::write(&path, format!("{greeter}{{\"v\":1,\"type\":\"span\",\"trace_id\":")).unwrap();
    let (code, text, errors) = Tail::start(&path, &["--exit-after-idle", "0"], &[]).exit();
    assert_eq!(headers(&text), ["greeter"], "{text}");
    let last = greeter.lines().count() + 1;
    assert!(
        errors.contains(&format!(
            "traces.jsonl:{last}: skipped malformed line: unfinished last line (no newline at its end): "
        )),
        "{errors}"
    );
    assert_eq!(code, Some(1), "{errors}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unfinished_last_line_is_read_when_the_file_is_truncated_or_rotated() {
    let dir = temp_dir("unfinished-truncated");
    let path = dir.join("traces.jsonl");
    let greeter = trace_lines('b');
    std::fs::write(&path, greeter.trim_end()).unwrap();
    let mut tail = Tail::start(&path, &["-n", "0"], &[]);
    tail.wait_read_to_end(&path);
    // Truncated: the old content will not get its newline, so its last line is final.
    OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
    tail.stderr.wait_for("file truncated", "stderr");
    tail.stdout.wait_for("trace greeter", "stdout");

    // Rotated the same way.
    std::fs::write(&path, greeter.trim_end()).unwrap();
    tail.wait_read_to_end(&path);
    std::fs::rename(&path, dir.join("traces.jsonl.1")).unwrap();
    std::fs::write(&path, "").unwrap();
    tail.stderr.wait_for("replaced (rotated or removed)", "stderr");
    tail.stdout.wait_for("trace greeter", "stdout");

    let (code, text, errors) = tail.stop_with("INT");
    assert_eq!(headers(&text), ["greeter", "greeter"], "{text}\n{errors}");
    assert_eq!(code, Some(0), "{errors}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_line_longer_than_the_limit_is_skipped_and_the_following_lines_are_read() {
    let dir = temp_dir("long-line");
    let path = dir.join("traces.jsonl");
    let before = trace_lines('b');
    let after: String = fixture_lines("support_agent.jsonl")
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    // 1 MiB on one line, against a limit of 4 KiB, between two whole traces.
    let long = format!("{{\"v\":1,\"type\":\"span\",\"name\":\"{}\"}}\n", "x".repeat(1 << 20));
    std::fs::write(&path, format!("{before}{long}{after}")).unwrap();
    let long_line = before.lines().count() + 1;
    let (code, text, errors) =
        Tail::start(&path, &["--exit-after-idle", "0"], &[("MV37_MAX_LINE_BYTES", "4096")]).exit();
    assert_eq!(headers(&text), ["greeter", "support_agent"], "{errors}");
    assert!(
        errors.contains(&format!(
            "traces.jsonl:{long_line}: skipped malformed line: the line is {} bytes long, more than the limit of \
             4096 bytes (raise it with --max-line-bytes or MV37_MAX_LINE_BYTES)",
            long.len() - 1
        )),
        "{errors}"
    );
    assert_eq!(code, Some(1), "{errors}");
    std::fs::remove_dir_all(&dir).unwrap();
}
