//! `mv37 tail`: follows a JSONL file that a running program appends to, and prints each
//! trace when it completes.
//!
//! The file is polled: new bytes are read up to the last complete line (a partial last
//! line waits for its end). When the path names a different file than the one open (the
//! log was rotated), the rest of the old file is read and the new one is followed from
//! its start; when the file shrinks (it was truncated), it is read again from its start.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use clap::Args;

use crate::assemble::{Assembler, Limits, TraceGroup};
use crate::error::{output_result, CliError, EXIT_OK};
use crate::filter::{Filter, FilterArgs};
use crate::input::{parse_line, Diagnostics};
use crate::view::{ColorChoice, Printer};

/// Options of `mv37 tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The JSONL file a program is writing (MV37_JSONL_PATH).
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Print the last N traces already in the file before following it.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
    pub lines: usize,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Print the selected traces' records as the original JSON lines instead of trees.
    #[arg(long)]
    pub json: bool,
    /// Colour the trees.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// How often to look for new lines, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub interval: u64,
    /// Stop after this many milliseconds without new data, printing still-open traces
    /// (for tests and scripts).
    #[arg(long, value_name = "MS", hide = true)]
    pub exit_after_idle: Option<u64>,
}

/// An open file and how far it has been read.
struct Followed {
    file: File,
    identity: Option<(u64, u64)>,
    position: u64,
}

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity(_metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Reads the complete lines a followed file gains.
struct Follower {
    path: String,
    current: Option<Followed>,
    partial: Vec<u8>,
    line: u64,
    chunk: Vec<u8>,
}

impl Follower {
    fn open(path: &str) -> io::Result<Followed> {
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        if metadata.is_dir() {
            return Err(io::Error::other("it is a directory, expected a JSONL file"));
        }
        Ok(Followed {
            identity: identity(&metadata),
            file,
            position: 0,
        })
    }

    /// Reads what is new; `on_line` gets each complete line. Returns whether any byte was read.
    fn poll(&mut self, on_line: &mut impl FnMut(&[u8], u64) -> Result<(), CliError>) -> Result<bool, CliError> {
        let mut progressed = false;
        if self.current.is_none() {
            match Self::open(&self.path) {
                Ok(followed) => self.current = Some(followed),
                Err(_) => return Ok(false),
            }
        }
        let replaced = match (&self.current, std::fs::metadata(&self.path)) {
            (Some(current), Ok(metadata)) => current.identity.is_some() && identity(&metadata) != current.identity,
            (Some(_), Err(_)) => true,
            (None, _) => false,
        };
        if let Some(current) = &mut self.current {
            let length = current.file.metadata().map(|m| m.len()).unwrap_or(current.position);
            if length < current.position {
                // Truncated in place: start over.
                let path = &self.path;
                current
                    .file
                    .seek(SeekFrom::Start(0))
                    .map_err(|source| CliError::Unreadable {
                        path: path.clone(),
                        source,
                    })?;
                current.position = 0;
                self.partial.clear();
                self.line = 0;
            }
        }
        progressed |= self.read_available(on_line)?;
        if replaced {
            // Rotated: the old file has been read to its end; a partial line there is final.
            if !self.partial.is_empty() {
                self.line += 1;
                let last = std::mem::take(&mut self.partial);
                on_line(&last, self.line)?;
            }
            self.current = None;
            self.line = 0;
            if let Ok(followed) = Self::open(&self.path) {
                self.current = Some(followed);
                progressed |= self.read_available(on_line)?;
            }
        }
        Ok(progressed)
    }

    fn read_available(
        &mut self,
        on_line: &mut impl FnMut(&[u8], u64) -> Result<(), CliError>,
    ) -> Result<bool, CliError> {
        let Some(current) = &mut self.current else {
            return Ok(false);
        };
        let mut progressed = false;
        self.chunk.resize(256 * 1024, 0);
        loop {
            let read = match current.file.read(&mut self.chunk) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CliError::Unreadable {
                        path: self.path.clone(),
                        source,
                    })
                }
            };
            progressed = true;
            current.position += read as u64;
            let mut bytes = &self.chunk[..read];
            while let Some(newline) = bytes.iter().position(|b| *b == b'\n') {
                self.line += 1;
                if self.partial.is_empty() {
                    on_line(&bytes[..newline], self.line)?;
                } else {
                    self.partial.extend_from_slice(&bytes[..newline]);
                    let line = std::mem::take(&mut self.partial);
                    on_line(&line, self.line)?;
                }
                bytes = &bytes[newline + 1..];
            }
            self.partial.extend_from_slice(bytes);
        }
        Ok(progressed)
    }
}

/// Runs `mv37 tail` until interrupted (or idle for `--exit-after-idle`).
pub fn run(args: TailArgs) -> Result<u8, CliError> {
    let filter = Filter::new(args.filter)?;
    let initial = Follower::open(&args.file).map_err(|source| CliError::Unreadable {
        path: args.file.clone(),
        source,
    })?;
    let mut follower = Follower {
        path: args.file.clone(),
        current: Some(initial),
        partial: Vec::new(),
        line: 0,
        chunk: Vec::new(),
    };
    let mut assembler = Assembler::new(Limits::default());
    let mut diagnostics = Diagnostics::default();
    let mut printer = Printer::new(args.color.style(), args.json);
    let mut out = io::stdout().lock();
    let path = args.file.clone();
    let json = args.json;
    // What the file already holds: keep only the last N selected traces.
    let mut backlog: VecDeque<TraceGroup> = VecDeque::new();
    let mut keep = |assembler: &mut Assembler| {
        while let Some(group) = assembler.pop_ready() {
            if args.lines > 0 && filter.matches(&group) {
                backlog.push_back(group);
                if backlog.len() > args.lines {
                    backlog.pop_front();
                }
            }
        }
    };
    {
        let mut on_line = |bytes: &[u8], line: u64| -> Result<(), CliError> {
            if let Some(entry) = parse_line(bytes, &path, line, json, &mut diagnostics)? {
                assembler.push(entry.record, entry.raw);
                keep(&mut assembler);
            }
            Ok(())
        };
        follower.poll(&mut on_line)?;
    }
    assembler.flush_settling();
    keep(&mut assembler);
    for group in &backlog {
        if !printer.print(group, &mut out)? {
            return Ok(EXIT_OK);
        }
    }
    drop(backlog);
    if !output_result(out.flush())? {
        return Ok(EXIT_OK);
    }

    let interval = Duration::from_millis(args.interval.max(1));
    let mut idle_since = Instant::now();
    loop {
        std::thread::sleep(interval);
        let mut on_line = |bytes: &[u8], line: u64| -> Result<(), CliError> {
            if let Some(entry) = parse_line(bytes, &path, line, json, &mut diagnostics)? {
                assembler.push(entry.record, entry.raw);
            }
            Ok(())
        };
        let progressed = follower.poll(&mut on_line)?;
        let stop = match args.exit_after_idle {
            Some(idle) if !progressed => idle_since.elapsed() >= Duration::from_millis(idle),
            _ => false,
        };
        if progressed {
            idle_since = Instant::now();
        } else if stop {
            assembler.finish();
        } else {
            assembler.flush_settling();
        }
        while let Some(group) = assembler.pop_ready() {
            if filter.matches(&group) && !printer.print(&group, &mut out)? {
                return Ok(EXIT_OK);
            }
        }
        if !output_result(out.flush())? || stop {
            diagnostics.report();
            return Ok(EXIT_OK);
        }
    }
}
