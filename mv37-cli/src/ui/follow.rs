//! The indexer thread: reads the files (and the `*.jsonl` files of the directories) in
//! large chunks, parses each chunk's lines on every core, adds them to the index under
//! a short write lock, and then keeps polling for appended lines and new files.
//!
//! A file that shrinks or is replaced by another file at the same path is not appended
//! to any more: the whole index is rebuilt from the files as they now are, since byte
//! offsets into the old content mean nothing.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::Duration;

use mv37_runtime::SCHEMA_VERSION;
use serde::Serialize;
use tokio::sync::watch;

use super::chunks::{chunk_bounds, parse_lines, split_at_lines, Parsed, CHUNK_BYTES, PARALLEL_MIN_BYTES};
use super::index::{Index, LineCounts};
use super::scan::LineView;
use crate::escape::escape;

/// How far indexing has come, sent to the pages as a server-sent event.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Progress {
    /// Grows by one every time the index changes.
    pub generation: u64,
    /// Traces indexed.
    pub traces: usize,
    /// Bytes of the files indexed.
    pub bytes_indexed: u64,
    /// Bytes of the files when the first pass began (grows as files grow).
    pub bytes_total: u64,
    /// The first pass over every file is done.
    pub ready: bool,
    /// Files followed.
    pub files: usize,
    /// Lines read and what became of them.
    pub lines: LineCounts,
}

/// The index and its progress, shared by the indexer and the server.
#[derive(Debug)]
pub struct Shared {
    /// The index.
    pub index: RwLock<Index>,
    /// The latest progress.
    pub progress: watch::Sender<Progress>,
}

impl Shared {
    /// The index, for writing (a poisoned lock is taken over: the index stays usable).
    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A path given on the command line.
#[derive(Debug, Clone)]
pub enum Source {
    /// A JSONL file.
    File(PathBuf),
    /// A directory whose `*.jsonl` files are read, including files created later.
    Directory(PathBuf),
}

/// One file being followed.
#[derive(Debug)]
struct Followed {
    path: PathBuf,
    /// Its number in the index.
    number: u16,
    /// The next byte to read: just after the last complete line indexed.
    offset: u64,
    /// Which file the path named when it was first read (device and inode on Unix).
    identity: Option<(u64, u64)>,
    /// It could not be read; reported once.
    failed: bool,
    /// The offset is inside a line longer than the limit, being skipped.
    skipping: bool,
}

/// Why a file cannot be appended to.
enum ReadError {
    /// It shrank or was replaced: the index must be rebuilt.
    Replaced,
    /// It cannot be read.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        ReadError::Io(error)
    }
}

/// Reads the sources into `shared` and follows them until `stop` is set.
pub struct Follower {
    sources: Vec<Source>,
    files: Vec<Followed>,
    shared: Arc<Shared>,
    max_line_bytes: usize,
    interval: Duration,
    workers: usize,
    /// Bytes read and parsed at once ([`CHUNK_BYTES`]; smaller in tests).
    chunk_bytes: usize,
    /// Below this many bytes a chunk is parsed on this thread alone
    /// ([`PARALLEL_MIN_BYTES`]; other sizes in tests).
    parallel_min_bytes: usize,
    buffer: Vec<u8>,
    progress: Progress,
}

impl Follower {
    /// A follower of `sources`.
    pub fn new(sources: Vec<Source>, shared: Arc<Shared>, max_line_bytes: usize, interval: Duration) -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        Self {
            sources,
            files: Vec::new(),
            shared,
            max_line_bytes,
            interval,
            workers,
            chunk_bytes: CHUNK_BYTES,
            parallel_min_bytes: PARALLEL_MIN_BYTES,
            buffer: Vec::new(),
            progress: Progress::default(),
        }
    }

    /// Indexes everything, then polls for more every interval until `stop` is set.
    pub fn run(mut self, stop: &AtomicBool) {
        self.discover();
        self.progress.bytes_total = self.files.iter().map(|f| file_len(&f.path)).sum();
        while !stop.load(Ordering::Relaxed) {
            let before = self.progress.bytes_indexed;
            if self.poll().is_err() {
                self.rebuild();
                continue;
            }
            if !self.progress.ready {
                self.progress.ready = true;
                self.publish();
            }
            if self.progress.bytes_indexed == before {
                std::thread::sleep(self.interval);
                self.discover();
            }
        }
    }

    /// Adds the files of the sources not followed yet.
    fn discover(&mut self) {
        let mut found = Vec::new();
        for source in &self.sources {
            match source {
                Source::File(path) => found.push(path.clone()),
                Source::Directory(dir) => {
                    let Ok(entries) = fs::read_dir(dir) else { continue };
                    let mut paths: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|entry| entry.path())
                        .filter(|path| path.extension().is_some_and(|e| e == "jsonl") && path.is_file())
                        .collect();
                    paths.sort();
                    found.extend(paths);
                }
            }
        }
        for path in found {
            if self.files.iter().any(|f| f.path == path) {
                continue;
            }
            let number = self.shared.write().add_file(&path.to_string_lossy());
            let Some(number) = number else {
                eprintln!(
                    "mv37 ui: too many files, {} is not read",
                    escape(&path.to_string_lossy())
                );
                continue;
            };
            self.progress.bytes_total += file_len(&path);
            self.files.push(Followed {
                identity: identity(&path),
                path,
                number,
                offset: 0,
                failed: false,
                skipping: false,
            });
        }
        self.progress.files = self.files.len();
    }

    /// Reads what was appended to every file; `Err` when one was replaced.
    fn poll(&mut self) -> Result<(), ()> {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        if !self.progress.ready {
            // The first pass reads the most recently written file first (and each file
            // newest chunk first): the list's first page, the newest traces, is right early.
            order.sort_by_cached_key(|&at| {
                let path = &self.files[at].path;
                let modified = fs::metadata(path).and_then(|m| m.modified()).ok();
                std::cmp::Reverse((modified, path.clone()))
            });
        }
        for at in order {
            match self.catch_up(at) {
                Ok(()) => self.files[at].failed = false,
                Err(ReadError::Replaced) => return Err(()),
                Err(ReadError::Io(error)) => {
                    let file = &mut self.files[at];
                    if !file.failed {
                        eprintln!(
                            "mv37 ui: cannot read {}: {}",
                            escape(&file.path.to_string_lossy()),
                            escape(&error.to_string())
                        );
                        file.failed = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts over with an empty index: a file shrank or was replaced.
    fn rebuild(&mut self) {
        eprintln!("mv37 ui: a file was truncated or replaced; reading every file again");
        match Index::new() {
            Ok(index) => *self.shared.write() = index,
            Err(error) => {
                eprintln!("mv37 ui: cannot start a new index: {}", escape(&error.to_string()));
                std::thread::sleep(self.interval);
                return;
            }
        }
        self.files.clear();
        self.progress = Progress {
            generation: self.progress.generation + 1,
            ..Progress::default()
        };
        self.discover();
        self.publish();
    }

    /// Indexes the complete lines of file `at` after its offset.
    fn catch_up(&mut self, at: usize) -> Result<(), ReadError> {
        let path = self.files[at].path.clone();
        let metadata = fs::metadata(&path)?;
        let offset = self.files[at].offset;
        let len = metadata.len();
        if len < offset || identity(&path) != self.files[at].identity {
            return Err(ReadError::Replaced);
        }
        if len == offset {
            return Ok(());
        }
        let mut file = File::open(&path)?;
        let (position, skipping) = if offset == 0 && len > self.chunk_bytes as u64 {
            // The first reading of a large file goes newest chunk first: the list's first
            // page (the newest traces) is right as soon as that chunk is in.
            let bounds = chunk_bounds(&mut file, len, self.chunk_bytes as u64)?;
            let mut reached = (len, false);
            for (number, pair) in bounds.windows(2).enumerate().rev() {
                let read = self.read_range(at, &mut file, pair[0], pair[1], false)?;
                if number + 2 == bounds.len() {
                    reached = read;
                }
            }
            reached
        } else {
            self.read_range(at, &mut file, offset, len, self.files[at].skipping)?
        };
        self.files[at].offset = position;
        self.files[at].skipping = skipping;
        Ok(())
    }

    /// Indexes the complete lines of `file` (file `at`) in `from..to`, starting inside a
    /// line too long to index when `skipping`. Returns the offset after the last line
    /// read, and whether it stopped inside a line too long to index.
    fn read_range(
        &mut self,
        at: usize,
        file: &mut File,
        from: u64,
        to: u64,
        mut skipping: bool,
    ) -> Result<(u64, bool), ReadError> {
        let mut position = from;
        file.seek(SeekFrom::Start(position))?;
        while position < to {
            self.buffer.clear();
            let want = (to - position).min(self.chunk_bytes as u64);
            let read = (&mut *file).take(want).read_to_end(&mut self.buffer)?;
            if read == 0 {
                break;
            }
            let mut start = 0usize;
            if skipping {
                // The rest of a line longer than the limit.
                match memchr::memchr(b'\n', &self.buffer) {
                    Some(newline) => {
                        start = newline + 1;
                        skipping = false;
                    }
                    None => {
                        position += read as u64;
                        continue;
                    }
                }
            }
            let complete = match memchr::memrchr(b'\n', &self.buffer[start..]) {
                Some(newline) => start + newline + 1,
                None if self.buffer.len() - start >= self.max_line_bytes => {
                    self.shared.write().lines.too_long += 1;
                    skipping = true;
                    position += read as u64;
                    continue;
                }
                None if position + read as u64 >= to => {
                    // The last line has no newline yet. A complete record is indexed (its
                    // newline, when it comes, is a blank line); a partial one waits.
                    let tail = &self.buffer[start..];
                    let record = std::str::from_utf8(tail)
                        .ok()
                        .and_then(|tail| LineView::parse(tail, &mut String::new()));
                    if record.is_some() {
                        self.index_lines(at, position + start as u64, start, self.buffer.len());
                        position += read as u64;
                    } else {
                        position += start as u64;
                    }
                    break;
                }
                None => {
                    // A line longer than a chunk but within the limit: read it whole.
                    position += start as u64;
                    file.seek(SeekFrom::Start(position))?;
                    self.buffer.clear();
                    let want = (to - position).min(self.max_line_bytes as u64);
                    (&mut *file).take(want).read_to_end(&mut self.buffer)?;
                    match memchr::memchr(b'\n', &self.buffer) {
                        Some(newline) => {
                            self.index_lines(at, position, 0, newline + 1);
                            position += newline as u64 + 1;
                        }
                        None if self.buffer.len() >= self.max_line_bytes => {
                            self.shared.write().lines.too_long += 1;
                            skipping = true;
                            position += self.buffer.len() as u64;
                        }
                        None => break,
                    }
                    file.seek(SeekFrom::Start(position))?;
                    continue;
                }
            };
            self.index_lines(at, position + start as u64, start, complete);
            position += complete as u64;
            file.seek(SeekFrom::Start(position))?;
        }
        Ok((position, skipping))
    }

    /// Parses the lines in `self.buffer[from..to]` (which starts at byte `offset` of file
    /// `at`) and adds them to the index.
    fn index_lines(&mut self, at: usize, offset: u64, from: usize, to: usize) {
        let bytes = &self.buffer[from..to];
        let max_line_bytes = self.max_line_bytes;
        let parts = if bytes.len() < self.parallel_min_bytes {
            1
        } else {
            self.workers
        };
        let pieces = split_at_lines(bytes, parts);
        let parsed: Vec<(Vec<Parsed<'_>>, String)> = if pieces.len() == 1 {
            vec![parse_lines(bytes, 0, max_line_bytes)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = pieces
                    .iter()
                    .map(|&(start, end)| scope.spawn(move || parse_lines(&bytes[start..end], start, max_line_bytes)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().unwrap_or_default())
                    .collect()
            })
        };
        let number = self.files[at].number;
        let mut index = self.shared.write();
        let mut failure = None;
        for (lines, text) in &parsed {
            for line in lines {
                let Some(view) = &line.view else {
                    if line.too_long {
                        index.lines.too_long += 1;
                    } else {
                        index.lines.malformed += 1;
                    }
                    continue;
                };
                if view.v > u64::from(SCHEMA_VERSION) {
                    index.lines.newer_schema += 1;
                    continue;
                }
                let text = text.as_bytes().get(line.text.0..line.text.1).unwrap_or_default();
                if let Err(error) = index.add(number, offset + line.offset as u64, line.length, view, text) {
                    failure.get_or_insert(error);
                }
            }
        }
        if let Err(error) = index.text.flush() {
            failure.get_or_insert(error);
        }
        if let Some(error) = failure {
            eprintln!("mv37 ui: search text not written: {}", escape(&error.to_string()));
        }
        self.progress.bytes_indexed += (to - from) as u64;
        self.progress.bytes_total = self.progress.bytes_total.max(self.progress.bytes_indexed);
        self.progress.traces = index.traces().len();
        self.progress.lines = index.lines;
        drop(index);
        self.publish();
    }

    fn publish(&mut self) {
        self.progress.generation += 1;
        self.shared.progress.send_replace(self.progress.clone());
    }
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_path: &Path) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests;
