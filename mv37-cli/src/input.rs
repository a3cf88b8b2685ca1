//! Reading records: files, `-` for standard input, gzip by magic bytes, one record per
//! line, with malformed and over-long lines reported as `file:line` and skipped.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use mv37_runtime::{Record, RecordParseError};

use crate::error::{CliError, EXIT_BAD_INPUT, EXIT_OK};
use crate::escape::escape;
use crate::lines::{LineSplitter, Piece, MAX_LINE_BYTES_VAR};

/// How many malformed lines are reported one by one before only counting the rest.
const REPORTED_MALFORMED_LINES: u64 = 20;

/// Counts malformed lines and reports the first few on standard error.
#[derive(Debug, Default)]
pub struct Diagnostics {
    /// Lines skipped because they were not records (or were longer than the cap).
    pub malformed: u64,
}

impl Diagnostics {
    /// Reports one malformed line (the first [`REPORTED_MALFORMED_LINES`] of them).
    pub fn malformed(&mut self, path: &str, line: u64, problem: &str) {
        self.malformed += 1;
        if self.malformed <= REPORTED_MALFORMED_LINES {
            eprintln!(
                "mv37: {}:{line}: skipped malformed line: {}",
                escape(path),
                escape(problem)
            );
        } else if self.malformed == REPORTED_MALFORMED_LINES + 1 {
            eprintln!("mv37: more malformed lines; only their count is shown at the end");
        }
    }

    /// Reports one line longer than the cap, counted with the malformed lines.
    pub fn too_long(&mut self, path: &str, line: u64, length: u64, max: usize) {
        self.malformed(
            path,
            line,
            &format!(
                "the line is {length} bytes long, more than the limit of {max} bytes \
                 (raise it with --max-line-bytes or {MAX_LINE_BYTES_VAR})"
            ),
        );
    }

    /// The closing count, when any line was skipped.
    pub fn report(&self) {
        if self.malformed > 0 {
            let plural = if self.malformed == 1 { "" } else { "s" };
            eprintln!("mv37: skipped {} malformed line{plural}", self.malformed);
        }
    }

    /// The exit code the input deserves: bad input when a line was skipped.
    pub fn exit_code(&self) -> u8 {
        if self.malformed > 0 {
            EXIT_BAD_INPUT
        } else {
            EXIT_OK
        }
    }
}

/// One line of input that is a record, with its text when the caller keeps it.
#[derive(Debug)]
pub struct Entry {
    /// The parsed record.
    pub record: Record,
    /// The line exactly as read (without its line ending), for `--json`.
    pub raw: Option<String>,
}

/// Parses what the line splitter found at line `line` of `path`: a line, the unfinished
/// last line, or a line past the cap (`max`), which is reported and skipped.
pub fn parse_piece(
    piece: Piece<'_>,
    path: &str,
    line: u64,
    keep_raw: bool,
    max: usize,
    diagnostics: &mut Diagnostics,
) -> Result<Option<Entry>, CliError> {
    match piece {
        Piece::Line(bytes) => parse_line(bytes, path, line, keep_raw, "", diagnostics),
        Piece::Unfinished(bytes) => parse_line(
            bytes,
            path,
            line,
            keep_raw,
            "unfinished last line (no newline at its end): ",
            diagnostics,
        ),
        Piece::TooLong(length) => {
            diagnostics.too_long(path, line, length, max);
            Ok(None)
        }
    }
}

/// Parses one line. Blank lines are `Ok(None)`, malformed lines are reported (after
/// `context`) and `Ok(None)`, and a record of a newer schema is an error naming both
/// versions.
fn parse_line(
    bytes: &[u8],
    path: &str,
    line: u64,
    keep_raw: bool,
    context: &str,
    diagnostics: &mut Diagnostics,
) -> Result<Option<Entry>, CliError> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            diagnostics.malformed(path, line, &format!("{context}not UTF-8 ({error})"));
            return Ok(None);
        }
    };
    match Record::from_json_line(text) {
        Ok(record) => Ok(Some(Entry {
            record,
            raw: keep_raw.then(|| text.to_owned()),
        })),
        Err(RecordParseError::NewerSchema { found, supported }) => Err(CliError::NewerSchema {
            path: path.to_owned(),
            line,
            found,
            supported,
        }),
        Err(error) => {
            diagnostics.malformed(path, line, &format!("{context}{error}"));
            Ok(None)
        }
    }
}

/// A reader that counts the bytes read through it (for the progress bar).
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count.set(self.count.get() + read as u64);
        Ok(read)
    }
}

/// Opens a file (or `-`, standard input) for reading lines, gunzipping when it starts
/// with the gzip magic bytes.
pub fn open(path: &str, counter: Rc<Cell<u64>>) -> Result<Box<dyn BufRead>, CliError> {
    let unreadable = |source: io::Error| CliError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let source: Box<dyn Read> = if path == "-" {
        Box::new(io::stdin())
    } else {
        let metadata = std::fs::metadata(path).map_err(unreadable)?;
        if metadata.is_dir() {
            return Err(CliError::IsDirectory { path: path.to_owned() });
        }
        Box::new(File::open(path).map_err(unreadable)?)
    };
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: source,
            count: counter,
        },
    );
    let head = reader.fill_buf().map_err(unreadable)?;
    if head.starts_with(&[0x1f, 0x8b]) || Path::new(path).extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// A file being read: its name, its reader, and the number of the last line read.
struct Current {
    path: String,
    reader: Box<dyn BufRead>,
    line: u64,
}

/// The records of several files in order, one line at a time, each line at most
/// `max_line_bytes` long (longer ones are skipped without being held in memory).
pub struct RecordReader {
    paths: Vec<String>,
    next_path: usize,
    current: Option<Current>,
    keep_raw: bool,
    max_line_bytes: usize,
    splitter: LineSplitter,
    bytes_read: Rc<Cell<u64>>,
    /// Malformed lines seen so far.
    pub diagnostics: Diagnostics,
}

impl RecordReader {
    /// A reader of `paths` (`-` is standard input); `keep_raw` keeps each line's text.
    pub fn new(paths: Vec<String>, keep_raw: bool, max_line_bytes: usize) -> Self {
        Self {
            paths,
            next_path: 0,
            current: None,
            keep_raw,
            max_line_bytes,
            splitter: LineSplitter::new(max_line_bytes),
            bytes_read: Rc::new(Cell::new(0)),
            diagnostics: Diagnostics::default(),
        }
    }

    /// Bytes read from the files so far (before gunzipping).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.get()
    }

    /// The next record, `None` after the last file; unreadable files and newer schema
    /// versions are errors.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, CliError> {
        loop {
            let Some(current) = &mut self.current else {
                let Some(path) = self.paths.get(self.next_path) else {
                    return Ok(None);
                };
                self.next_path += 1;
                let reader = open(path, Rc::clone(&self.bytes_read))?;
                self.current = Some(Current {
                    path: path.clone(),
                    reader,
                    line: 0,
                });
                continue;
            };
            let available = current.reader.fill_buf().map_err(|source| CliError::Unreadable {
                path: format!("{}:{}", current.path, current.line + 1),
                source,
            })?;
            if available.is_empty() {
                // The end of the file: a last line without its newline is still a line.
                let parsed = match self.splitter.finish() {
                    Some(piece) => {
                        current.line += 1;
                        parse_piece(
                            piece,
                            &current.path,
                            current.line,
                            self.keep_raw,
                            self.max_line_bytes,
                            &mut self.diagnostics,
                        )?
                    }
                    None => None,
                };
                self.current = None;
                if parsed.is_some() {
                    return Ok(parsed);
                }
                continue;
            }
            let (taken, piece) = self.splitter.push(available);
            let parsed = match piece {
                Some(piece) => {
                    current.line += 1;
                    parse_piece(
                        piece,
                        &current.path,
                        current.line,
                        self.keep_raw,
                        self.max_line_bytes,
                        &mut self.diagnostics,
                    )
                }
                None => Ok(None),
            };
            current.reader.consume(taken);
            if let Some(entry) = parsed? {
                return Ok(Some(entry));
            }
        }
    }
}
