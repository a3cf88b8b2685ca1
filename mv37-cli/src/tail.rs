//! `mv37 tail`: follows a JSONL file that a running program appends to, and prints each
//! trace when it completes.
//!
//! The file is polled: new bytes are read up to the last complete line (a partial last
//! line waits for its end). When the path names a different file than the one open (the
//! log was rotated), the rest of the old file is read and the new one is followed from
//! its start; when the file shrinks (it was truncated), it is read again from its start.
//! A last line still without its newline when the old file is left, or when `tail` stops
//! (Ctrl-C, SIGTERM), is read as it is, and reported if it is not a record: never
//! dropped silently. Lines longer than `--max-line-bytes` are skipped as they are read.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::assemble::{Assembler, Limits, TraceGroup};
use crate::error::{output_result, CliError};
use crate::escape::escape;
use crate::filter::{Filter, FilterArgs};
use crate::input::{parse_piece, Diagnostics, Entry};
use crate::lines::{LineLimitArgs, LineSplitter, Piece};
use crate::view::{ColorChoice, Printer};

/// The exit code after a second Ctrl-C (or SIGTERM) while the first one is being handled:
/// 128 + SIGINT, as shells report a process stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

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
    /// Print the selected traces' records as the original JSON lines instead of trees;
    /// control and bidi characters are written as JSON `\uNNNN` escapes.
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
    /// Say on standard error how far the file has been read after each poll that read
    /// something (for tests, which wait for it instead of sleeping).
    #[arg(long, hide = true)]
    pub report_reads: bool,
    #[command(flatten)]
    pub line_limit: LineLimitArgs,
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

/// What the follower hands out: a piece of input at a line number.
type OnPiece<'f> = dyn FnMut(Piece<'_>, u64) -> Result<(), CliError> + 'f;

/// Reads the lines a followed file gains.
struct Follower {
    path: String,
    current: Option<Followed>,
    splitter: LineSplitter,
    line: u64,
    chunk: Vec<u8>,
    report_reads: bool,
}

impl Follower {
    fn new(path: &str, max_line_bytes: usize, report_reads: bool) -> Result<Self, CliError> {
        let initial = Self::open(path).map_err(|source| CliError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            current: Some(initial),
            splitter: LineSplitter::new(max_line_bytes),
            line: 0,
            chunk: Vec::new(),
            report_reads,
        })
    }

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

    /// Reads what is new; `on_piece` gets each line. Returns whether any byte was read.
    fn poll(&mut self, on_piece: &mut OnPiece<'_>) -> Result<bool, CliError> {
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
        let truncated = self
            .current
            .as_ref()
            .is_some_and(|current| current.file.metadata().is_ok_and(|m| m.len() < current.position));
        if truncated {
            // Truncated in place: what was held of an unfinished line is all there will
            // be of it; then start over.
            self.finish(on_piece)?;
            eprintln!(
                "mv37: {}: file truncated, reading it from the start",
                escape(&self.path)
            );
            if let Some(current) = &mut self.current {
                current
                    .file
                    .seek(SeekFrom::Start(0))
                    .map_err(|source| CliError::Unreadable {
                        path: self.path.clone(),
                        source,
                    })?;
                current.position = 0;
            }
            self.line = 0;
        }
        progressed |= self.read_available(on_piece)?;
        if replaced {
            // Rotated: the old file has been read to its end; an unfinished line there is final.
            self.finish(on_piece)?;
            self.current = None;
            self.line = 0;
            eprintln!(
                "mv37: {}: replaced (rotated or removed), reading the new file from its start",
                escape(&self.path)
            );
            if let Ok(followed) = Self::open(&self.path) {
                self.current = Some(followed);
                progressed |= self.read_available(on_piece)?;
            }
        }
        if self.report_reads && (progressed || truncated || replaced) {
            let position = self.current.as_ref().map_or(0, |current| current.position);
            eprintln!("mv37: tail: read {} up to byte {position}", escape(&self.path));
        }
        Ok(progressed)
    }

    /// Hands out the unfinished last line, if any: the file will not complete it.
    fn finish(&mut self, on_piece: &mut OnPiece<'_>) -> Result<(), CliError> {
        if let Some(piece) = self.splitter.finish() {
            self.line += 1;
            on_piece(piece, self.line)?;
        }
        Ok(())
    }

    fn read_available(&mut self, on_piece: &mut OnPiece<'_>) -> Result<bool, CliError> {
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
            while !bytes.is_empty() {
                let (taken, piece) = self.splitter.push(bytes);
                if let Some(piece) = piece {
                    self.line += 1;
                    on_piece(piece, self.line)?;
                }
                bytes = &bytes[taken..];
            }
        }
        Ok(progressed)
    }
}

/// Sets a flag on the first Ctrl-C (SIGINT) or SIGTERM, so that `tail` stops cleanly;
/// a second one while it stops exits at once with [`EXIT_INTERRUPTED`].
fn stop_on_signals() -> Result<Arc<AtomicBool>, CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The order matters: the exit is armed by the flag the first signal sets.
        signal_hook::flag::register_conditional_shutdown(signal, EXIT_INTERRUPTED, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|error| CliError::Config(format!("cannot watch for Ctrl-C: {error}")))?;
    }
    Ok(stop)
}

/// Runs `mv37 tail` until interrupted (or idle for `--exit-after-idle`). The exit code is
/// that of bad input when a line was skipped, as for the other commands.
pub fn run(args: TailArgs) -> Result<u8, CliError> {
    let filter = Filter::new(args.filter)?;
    let max_line_bytes = args.line_limit.max_line_bytes()?;
    let mut follower = Follower::new(&args.file, max_line_bytes, args.report_reads)?;
    let stop = stop_on_signals()?;
    let mut assembler = Assembler::new(Limits::default());
    let mut diagnostics = Diagnostics::default();
    let mut printer = Printer::new(args.color.style(), args.json);
    let mut out = io::stdout().lock();
    let path = args.file.clone();
    let json = args.json;
    let parse = |piece: Piece<'_>, line: u64, diagnostics: &mut Diagnostics| -> Result<Option<Entry>, CliError> {
        parse_piece(piece, &path, line, json, max_line_bytes, diagnostics)
    };
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
    follower.poll(&mut |piece, line| {
        if let Some(entry) = parse(piece, line, &mut diagnostics)? {
            assembler.push(entry.record, entry.raw);
            keep(&mut assembler);
        }
        Ok(())
    })?;
    assembler.flush_settling();
    keep(&mut assembler);
    for group in &backlog {
        if !printer.print(group, &mut out)? {
            return Ok(closed(&diagnostics));
        }
    }
    drop(backlog);
    if !output_result(out.flush())? {
        return Ok(closed(&diagnostics));
    }

    let interval = Duration::from_millis(args.interval.max(1));
    let mut idle_since = Instant::now();
    loop {
        std::thread::sleep(interval);
        let interrupted = stop.load(Ordering::Relaxed);
        let mut on_piece = |piece: Piece<'_>, line: u64| -> Result<(), CliError> {
            if let Some(entry) = parse(piece, line, &mut diagnostics)? {
                assembler.push(entry.record, entry.raw);
            }
            Ok(())
        };
        let progressed = follower.poll(&mut on_piece)?;
        let idle = match args.exit_after_idle {
            Some(idle) if !progressed => idle_since.elapsed() >= Duration::from_millis(idle),
            _ => false,
        };
        let stopping = interrupted || idle;
        if stopping {
            // The file is as complete as it will be for us: read its unfinished last
            // line, and print the traces still open.
            follower.finish(&mut on_piece)?;
            assembler.finish();
        } else if progressed {
            idle_since = Instant::now();
        } else {
            assembler.flush_settling();
        }
        while let Some(group) = assembler.pop_ready() {
            if filter.matches(&group) && !printer.print(&group, &mut out)? {
                return Ok(closed(&diagnostics));
            }
        }
        if !output_result(out.flush())? {
            return Ok(closed(&diagnostics));
        }
        if stopping {
            diagnostics.report();
            return Ok(diagnostics.exit_code());
        }
    }
}

/// Standard output was closed (`mv37 tail … | head`): stop, with the exit code the input
/// read so far deserves.
fn closed(diagnostics: &Diagnostics) -> u8 {
    diagnostics.report();
    diagnostics.exit_code()
}
