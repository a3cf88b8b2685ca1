//! The `agent` case's receiver ([`Sink`]) in a process of its own, as a collector is: the
//! benchmark process starts `peers` again with [`SERVE_ARG`], and the two talk over the
//! child's standard input and output.
//!
//! In the measured process the receiver's decoding code, its threads' stacks and malloc
//! arenas and the decompressed request bodies counted in that process's peak RSS (about
//! 3 MiB of the agent case's 21.9 MiB for mv37), and its CPU time had to be measured per
//! thread and taken out. A child's memory and CPU are its own: `getrusage(RUSAGE_SELF)`
//! and `ru_maxrss` of the benchmark process then hold the stack under test only.
//!
//! The protocol, one line each way: the child first writes `listening <traces URL>`;
//! to `totals` it answers `totals ` and [`Wire::to_fields`]; at the end of its input it
//! stops.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use crate::sink::Sink;
use crate::Wire;

/// The argument that makes `peers` serve as the receiver instead of running a case.
pub const SERVE_ARG: &str = "--serve-otlp-sink";

/// A receiver running in a child process; dropping it stops the child and waits for it.
#[derive(Debug)]
pub struct RemoteSink {
    child: Child,
    traces_url: String,
    pipes: Mutex<Option<Pipes>>,
}

#[derive(Debug)]
struct Pipes {
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

fn broken(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl RemoteSink {
    /// Starts `program SERVE_ARG` (normally this very executable) and waits for the
    /// URL it listens on.
    pub fn spawn(program: &std::path::Path) -> io::Result<Self> {
        let mut child = Command::new(program)
            .arg(SERVE_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(broken("the receiver's pipes were not set up"));
        };
        let mut pipes = Pipes {
            input,
            output: BufReader::new(output),
        };
        let first = read_answer(&mut pipes.output);
        let traces_url = match first.as_deref().map(|line| line.strip_prefix("listening ")) {
            Ok(Some(url)) => url.to_owned(),
            Ok(None) | Err(_) => {
                drop(pipes);
                let _ = child.kill();
                let _ = child.wait();
                return Err(broken(format!("the receiver did not start: {first:?}")));
            }
        };
        Ok(Self {
            child,
            traces_url,
            pipes: Mutex::new(Some(pipes)),
        })
    }

    /// The OTLP/HTTP traces URL to export to.
    pub fn traces_url(&self) -> &str {
        &self.traces_url
    }

    /// What the receiver has decoded and answered so far.
    pub fn totals(&self) -> io::Result<Wire> {
        let mut pipes = self.pipes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pipes = pipes.as_mut().ok_or_else(|| broken("the receiver was stopped"))?;
        pipes.input.write_all(b"totals\n")?;
        pipes.input.flush()?;
        parse_totals(&read_answer(&mut pipes.output)?)
    }

    /// The spans the receiver decoded so far; 0, with the error on stderr, if it cannot
    /// tell (the run then shows them as lost).
    pub fn spans_received(&self) -> u64 {
        self.totals().map_or_else(
            |error| {
                eprintln!("error: the OTLP receiver's totals: {error}");
                0
            },
            |wire| wire.spans,
        )
    }
}

impl Drop for RemoteSink {
    fn drop(&mut self) {
        // The end of its input stops the child.
        drop(
            self.pipes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}

fn read_answer(output: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if output.read_line(&mut line)? == 0 {
        return Err(broken("the receiver exited"));
    }
    Ok(line.trim_end().to_owned())
}

/// The child's side: starts a [`Sink`], writes its URL, answers `totals` until `input`
/// ends.
pub fn serve(input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    let sink = Sink::start()?;
    writeln!(output, "listening {}", sink.traces_url())?;
    output.flush()?;
    for line in input.lines() {
        match line?.trim() {
            "totals" => writeln!(output, "{}", format_totals(sink.totals()))?,
            other => return Err(broken(format!("unknown request {other:?}"))),
        }
        output.flush()?;
    }
    Ok(())
}

fn format_totals(wire: Wire) -> String {
    format!("totals {}", wire.to_fields())
}

fn parse_totals(line: &str) -> io::Result<Wire> {
    let fields = line
        .strip_prefix("totals ")
        .ok_or_else(|| broken(format!("not a totals line: {line:?}")))?;
    Wire::from_fields(|name| {
        fields
            .split_ascii_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| broken(format!("no number for `{name}` in {line:?}")))
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn totals_read_back_as_they_were_written() {
        let wire = Wire {
            requests: 3,
            bytes: 40_961,
            body_bytes: 812_004,
            spans: 1_536,
            attributes: 24_576,
            rejected: 1,
        };
        assert_eq!(
            parse_totals(&format_totals(wire)).expect("a written line reads back"),
            wire
        );
    }

    #[test]
    fn a_damaged_totals_line_is_an_error_naming_the_field() {
        let error =
            parse_totals("totals requests=1 wire_bytes=2 body_bytes=3 sink_spans=x sink_attributes=5 rejected=0")
                .expect_err("`spans` is not a number");
        assert!(error.to_string().contains("`sink_spans`"), "{error}");
        assert!(parse_totals("listening http://127.0.0.1:1/v1/traces").is_err());
    }

    #[test]
    fn the_served_receiver_listens_and_answers_totals_until_its_input_ends() {
        let mut output = Vec::new();
        serve(Cursor::new("totals\ntotals\n"), &mut output).expect("served");
        let output = String::from_utf8(output).expect("text");
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 3, "{output}");
        let url = lines[0]
            .strip_prefix("listening http://127.0.0.1:")
            .expect("a loopback URL first");
        assert!(url.ends_with("/v1/traces"), "{url}");
        assert_eq!(parse_totals(lines[1]).expect("totals"), Wire::default());
        assert_eq!(lines[1], lines[2]);
    }

    #[test]
    fn an_unknown_request_stops_the_receiver_with_an_error() {
        let error = serve(Cursor::new("flush\n"), io::sink()).expect_err("an unknown request");
        assert!(error.to_string().contains("flush"), "{error}");
    }
}
