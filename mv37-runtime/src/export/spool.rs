//! The disk spool: batches a network exporter could not deliver, and what is still queued
//! when the shutdown deadline passes, wait on disk as JSONL segments and are sent later,
//! by this process, the next one, or `mv37 send --spool DIR`.
//!
//! One file (about 850 lines; the unit tests are in `spool/tests.rs`) because it is one
//! protocol: every method of [`Spool`] and [`ClaimedSegment`] relies on the file names
//! and claim rules below.
//!
//! One directory, several kinds of files, told apart by name (all names of a segment start
//! with `segment-<unix nanos, 20 digits>-<writer>-<sequence>`, so the oldest sorts first;
//! the writer is `<pid>x<random>`):
//!
//! - `….open`: the segment a writer is appending to. Consecutive failed batches go to
//!   the same open segment, each append written whole and synced before it counts as
//!   spooled, so `kill -9` loses nothing that was counted. It is sealed when it reaches
//!   its byte target, when in-process redelivery has nothing else to send and it is a
//!   second old, at shutdown, and when its `Spool` is dropped.
//! - `…-n<records>.jsonl`: sealed, waiting to be sent. The name carries the record
//!   count, so eviction can count what it drops without reading the file.
//! - `<sealed name>.claimed-<writer>`: being sent by that process.
//! - `<sealed name>.bad`: set aside because some lines could not be read; never read
//!   again, removed first when the spool is over its bound.
//! - `.….tmp`: a temporary file of an older mv37 that wrote segments whole; removed once
//!   its writer is gone (its pid is not running, on Linux) or it is five minutes old.
//!
//! Taking a segment, to send it or to evict it, is a claim: open it, take its advisory
//! lock (`flock` on Unix), then rename it to a claimed name. The rename is the commit:
//! of several processes racing for one segment, only one rename succeeds, so each
//! segment is sent by one process. The claimer holds the lock until it has removed the
//! file; a claimed file whose lock is free belongs to a process that died, and is claimed
//! again. A writer takes the same lock for each append and checks that its file still has
//! its name, so an open segment can be claimed (by `mv37 send --spool`, or after its
//! writer died) without losing or splitting an append.
//!
//! Over 500 lines: writing, sealing, claiming, recovering and reading segments are one
//! concern (the layout of a spool directory, shared by every process using it) and lean
//! on the same name parsing. Its unit tests are in `spool/tests.rs`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::clock::unix_nanos_now;
use crate::record::{Record, RecordParseError};

/// The default bound of a spool directory's total size.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The default size at which an open segment is sealed and a new one begun.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1024 * 1024;

/// How long a segment stays open at least before in-process redelivery, with nothing
/// else to send, seals it to send its records.
pub(crate) const SEAL_AFTER: Duration = Duration::from_secs(1);

/// An open segment of another writer that has not changed for this long is taken by
/// in-process redelivery even if its writer may still be running (claiming is safe with
/// a live writer; waiting only spares it a split segment).
const STALE_OPEN: Duration = Duration::from_secs(30);

/// A temporary file this old is an orphan, whatever its name says.
const ORPHAN_TEMPORARY_AGE: Duration = Duration::from_secs(5 * 60);

/// Where file locks are not supported, a claimed segment unchanged for this long is
/// taken to belong to a process that died.
const UNLOCKED_CLAIM_STALE: Duration = Duration::from_secs(10 * 60);

/// One segment file of a spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How many records it holds (from its name; an open segment's complete lines).
    pub records: u64,
    /// Which spool writer (process and client) wrote it.
    pub origin: String,
}

/// What reading a segment found.
#[derive(Debug, Default)]
pub struct SegmentContents {
    /// The records that parsed.
    pub records: Vec<Record>,
    /// Lines that did not parse, by line number, with the reason (which never quotes the
    /// line: spooled records may hold private data).
    pub malformed: Vec<(usize, String)>,
}

/// A spool directory, and this process's writer in it.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    sequence: u64,
    origin: String,
    open: Option<OpenSegment>,
    /// Counts segments this writer sealed, so a reader knows when to list again.
    generation: u64,
    /// The directory's size at the last listing, plus what was appended since.
    approx_bytes: u64,
}

/// The segment this writer appends to.
#[derive(Debug)]
struct OpenSegment {
    file: File,
    path: PathBuf,
    /// `segment-<nanos>-<origin>-<sequence>`: the name without its ending.
    stem: String,
    opened: Instant,
    records: u64,
    bytes: u64,
}

/// Segments removed to keep the spool within its bound.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    /// Records in evicted segments this process wrote.
    pub own_records: u64,
    /// Records in evicted segments other processes wrote.
    pub other_records: u64,
}

/// What a file of the spool directory is, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Open {
        origin: String,
    },
    Sealed {
        origin: String,
        records: u64,
    },
    Claimed {
        origin: String,
        records: u64,
        claimer: String,
    },
    Bad,
    Temporary {
        pid: Option<u32>,
    },
}

/// One file of the spool directory.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) path: PathBuf,
    name: String,
    kind: Kind,
    bytes: u64,
    modified: Option<SystemTime>,
}

/// The outcome of trying a file's advisory lock.
#[derive(Debug, PartialEq, Eq)]
enum Lock {
    Held,
    Busy,
    /// This platform has no file locks.
    Unsupported,
}

fn try_lock(file: &File) -> io::Result<Lock> {
    lock_outcome(fs4::FileExt::try_lock(file))
}

/// What an attempt to take a lock says (apart from the call, so that the outcomes the
/// test platform never produces can be tested too).
fn lock_outcome(attempt: Result<(), fs4::TryLockError>) -> io::Result<Lock> {
    match attempt {
        Ok(()) => Ok(Lock::Held),
        Err(fs4::TryLockError::WouldBlock) => Ok(Lock::Busy),
        Err(fs4::TryLockError::Error(error)) if error.kind() == io::ErrorKind::Unsupported => Ok(Lock::Unsupported),
        Err(fs4::TryLockError::Error(error)) => Err(error),
    }
}

fn unlock(file: &File) {
    let _ = fs4::FileExt::unlock(file);
}

impl Spool {
    /// Opens (creating it if needed) a spool directory bounded to `max_bytes`.
    pub fn open(dir: impl AsRef<Path>, max_bytes: u64) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let max_bytes = max_bytes.max(1);
        let mut spool = Self {
            dir,
            max_bytes,
            segment_bytes: (max_bytes / 4).clamp(1, DEFAULT_SEGMENT_BYTES),
            sequence: 0,
            origin: format!("{}x{:08x}", std::process::id(), fastrand::u32(..)),
            open: None,
            generation: 0,
            approx_bytes: 0,
        };
        let entries = spool.list()?;
        spool.approx_bytes = entries.iter().map(|e| e.bytes).sum();
        Ok(spool)
    }

    /// Seals segments once they reach `bytes` (at most a quarter of the spool's bound;
    /// [`DEFAULT_SEGMENT_BYTES`] unless set).
    #[must_use]
    pub fn with_segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.clamp(1, (self.max_bytes / 4).max(1));
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This writer's name in segment names: `<pid>x<random>`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether this spool (not another process, nor an earlier one) wrote the segment.
    pub fn wrote(&self, segment: &Segment) -> bool {
        segment.origin == self.origin
    }

    /// The segments waiting, oldest first: sealed ones and open ones (whose writer may
    /// still be appending; `records` counts their complete lines). Segments being sent
    /// by a process and segments set aside as unreadable are not listed. Removes the
    /// temporary files of writers that are gone.
    pub fn segments(&self) -> io::Result<Vec<Segment>> {
        let mut segments = Vec::new();
        for entry in self.list()? {
            let (origin, records) = match &entry.kind {
                Kind::Sealed { origin, records } => (origin.clone(), *records),
                Kind::Open { origin } => match unless_gone(fs::read(&entry.path))? {
                    Some(bytes) => (origin.clone(), count_lines(&bytes, false)),
                    None => continue,
                },
                _ => continue,
            };
            segments.push(Segment {
                path: entry.path,
                bytes: entry.bytes,
                records,
                origin,
            });
        }
        Ok(segments)
    }

    /// Appends records to this writer's open segment (beginning one if needed), synced
    /// to disk before it returns; then evicts the oldest segments while the spool is over
    /// its bound (never the one just written).
    pub fn write(&mut self, records: &[Record]) -> io::Result<Evicted> {
        if records.is_empty() {
            return Ok(Evicted::default());
        }
        let mut lines = Vec::new();
        for record in records {
            lines.extend_from_slice(record.to_json_line().map_err(io::Error::other)?.as_bytes());
            lines.push(b'\n');
        }
        let bytes = lines.len() as u64;
        if let Some(open) = &self.open {
            if open.records > 0 && open.bytes + bytes > self.segment_bytes {
                // A seal that fails leaves the segment under its open name, where it is
                // still found and sent; the records go to a new segment.
                let _ = self.seal();
            }
        }
        let keep = self.append(&lines, records.len() as u64)?;
        self.approx_bytes += bytes;
        let keep = if self.open.as_ref().is_some_and(|open| open.bytes >= self.segment_bytes) {
            self.seal().ok().flatten().unwrap_or(keep)
        } else {
            keep
        };
        if self.approx_bytes > self.max_bytes {
            self.evict_beyond_bound(&keep)
        } else {
            Ok(Evicted::default())
        }
    }

    /// Writes `lines` to the open segment as one append; returns its path.
    fn append(&mut self, lines: &[u8], records: u64) -> io::Result<PathBuf> {
        // The open segment can be claimed by another process between two appends; then
        // the next one begins a new segment. Three in a row means something is wrong.
        for _ in 0..3 {
            if self.open.is_none() {
                self.open = Some(self.begin_segment()?);
            }
            let Some(open) = self.open.as_mut() else { continue };
            let locked = match try_lock(&open.file)? {
                Lock::Busy => {
                    self.open = None;
                    continue;
                }
                Lock::Held => true,
                Lock::Unsupported => false,
            };
            if !open.path.exists() {
                if locked {
                    unlock(&open.file);
                }
                self.open = None;
                continue;
            }
            let written = (&open.file).write_all(lines).and_then(|()| open.file.sync_data());
            let outcome = match written {
                Ok(()) => {
                    open.records += records;
                    open.bytes += lines.len() as u64;
                    Ok(open.path.clone())
                }
                // Take back a partial append, so the segment holds exactly what was
                // counted; if that fails too, seal the segment as it was counted.
                Err(error) => Err((error, open.file.set_len(open.bytes).is_err())),
            };
            if locked {
                unlock(&open.file);
            }
            return match outcome {
                Ok(path) => Ok(path),
                Err((error, damaged)) => {
                    if damaged {
                        let _ = self.seal();
                    }
                    Err(error)
                }
            };
        }
        Err(io::Error::other(format!(
            "the open spool segment in {} was taken by another process three times in a row",
            self.dir.display()
        )))
    }

    fn begin_segment(&mut self) -> io::Result<OpenSegment> {
        self.sequence += 1;
        let stem = format!("segment-{:020}-{}-{}", unix_nanos_now(), self.origin, self.sequence);
        let path = self.dir.join(format!("{stem}.open"));
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .append(true)
            .open(&path)?;
        Ok(OpenSegment {
            file,
            path,
            stem,
            opened: Instant::now(),
            records: 0,
            bytes: 0,
        })
    }

    /// Seals the open segment, if there is one: it gets its final name, with its record
    /// count, and can be sent. Returns the sealed segment's path (none if there was no
    /// open segment, or another process had claimed it).
    pub fn seal(&mut self) -> io::Result<Option<PathBuf>> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let locked = match try_lock(&open.file)? {
            // Another process is claiming it; the claim names it.
            Lock::Busy => return Ok(None),
            Lock::Held => true,
            Lock::Unsupported => false,
        };
        let outcome = if !open.path.exists() {
            Ok(None)
        } else if open.records == 0 {
            fs::remove_file(&open.path).map(|()| None)
        } else {
            let sealed = self.dir.join(format!("{}-n{}.jsonl", open.stem, open.records));
            fs::rename(&open.path, &sealed).map(|()| Some(sealed))
        };
        if locked {
            unlock(&open.file);
        }
        if matches!(outcome, Ok(Some(_))) {
            self.generation += 1;
        }
        outcome
    }

    /// Seals the open segment if it has been open for [`SEAL_AFTER`].
    pub(crate) fn seal_if_due(&mut self) -> io::Result<()> {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.opened.elapsed() >= SEAL_AFTER)
        {
            self.seal()?;
        }
        Ok(())
    }

    /// Changes whenever this writer seals a segment.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Every file of the directory that belongs to the spool, sorted by name (so
    /// segments oldest first). Removes orphaned temporary files on the way.
    fn list(&self) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for item in fs::read_dir(&self.dir)? {
            let item = item?;
            let Ok(name) = item.file_name().into_string() else {
                continue;
            };
            let Some(kind) = classify(&name) else { continue };
            let Some(metadata) = unless_gone(item.metadata())? else {
                continue;
            };
            let entry = Entry {
                path: item.path(),
                name,
                kind,
                bytes: metadata.len(),
                modified: metadata.modified().ok(),
            };
            if let Kind::Temporary { pid } = entry.kind {
                let orphan = pid.is_some_and(process_is_gone) || age(entry.modified) >= ORPHAN_TEMPORARY_AGE;
                if orphan && fs::remove_file(&entry.path).is_ok() {
                    continue;
                }
            }
            entries.push(entry);
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The segments in-process redelivery may take, oldest first: sealed ones, claims of
    /// other processes (taken only if their claimer is gone), and open segments that are
    /// not this writer's current one and whose writer is gone or idle.
    pub(crate) fn scan(&mut self) -> io::Result<Vec<Entry>> {
        let entries = self.list()?;
        self.approx_bytes = entries.iter().map(|e| e.bytes).sum();
        let current = self.open.as_ref().map(|open| open.path.clone());
        Ok(entries
            .into_iter()
            .filter(|entry| match &entry.kind {
                Kind::Sealed { .. } => true,
                Kind::Claimed { claimer, .. } => *claimer != self.origin,
                Kind::Open { origin } => {
                    Some(&entry.path) != current.as_ref()
                        && (*origin == self.origin || writer_is_gone(origin) || age(entry.modified) >= STALE_OPEN)
                }
                Kind::Bad | Kind::Temporary { .. } => false,
            })
            .collect())
    }

    /// Claims a segment listed by [`Spool::segments`] (or found again after a claimer
    /// died), so that no other process sends it: `None` if another process has it.
    ///
    /// ```no_run
    /// # fn send(_: &[mv37_runtime::Record]) -> bool { true }
    /// use mv37_runtime::Spool;
    ///
    /// let spool = Spool::open("/var/spool/mv37", u64::MAX)?;
    /// for segment in spool.segments()? {
    ///     let Some(mut claimed) = spool.claim(&segment)? else { continue };
    ///     let contents = claimed.read()?;
    ///     if send(&contents.records) {
    ///         claimed.finish()?; // removed (or set aside as `.bad` if lines were malformed)
    ///     } // else dropped: released, to be sent later
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn claim(&self, segment: &Segment) -> io::Result<Option<ClaimedSegment>> {
        let Some(name) = segment.path.file_name().and_then(|n| n.to_str()) else {
            return Ok(None);
        };
        let Some(kind) = classify(name) else { return Ok(None) };
        let entry = Entry {
            path: segment.path.clone(),
            name: name.to_owned(),
            kind,
            bytes: segment.bytes,
            modified: None,
        };
        self.take(&entry)
    }

    /// Takes a segment: lock, then rename to this writer's claimed name.
    pub(crate) fn take(&self, entry: &Entry) -> io::Result<Option<ClaimedSegment>> {
        if matches!(entry.kind, Kind::Bad | Kind::Temporary { .. }) {
            return Ok(None);
        }
        if self.open.as_ref().is_some_and(|open| open.path == entry.path) {
            return Ok(None);
        }
        let Some(file) = unless_gone(OpenOptions::new().read(true).write(true).open(&entry.path))? else {
            return Ok(None);
        };
        match try_lock(&file)? {
            Lock::Busy => return Ok(None),
            Lock::Held => {}
            Lock::Unsupported => {
                let modified = file.metadata().and_then(|m| m.modified()).ok();
                if claim_may_be_alive(&entry.kind, modified) {
                    return Ok(None);
                }
            }
        }
        let mut prefetched = None;
        let (base, origin, records) = match &entry.kind {
            Kind::Sealed { origin, records } => (entry.name.clone(), origin.clone(), *records),
            Kind::Claimed { origin, records, .. } => {
                let base = entry.name.split(".claimed-").next().unwrap_or(&entry.name).to_owned();
                (base, origin.clone(), *records)
            }
            Kind::Open { origin } => {
                // Under the lock no append is under way, and after the rename none
                // begins: what is read now is the whole segment.
                let mut bytes = Vec::new();
                (&file).read_to_end(&mut bytes)?;
                let records = count_lines(&bytes, true);
                let stem = entry.name.strip_suffix(".open").unwrap_or(&entry.name);
                prefetched = Some(bytes);
                (format!("{stem}-n{records}.jsonl"), origin.clone(), records)
            }
            Kind::Bad | Kind::Temporary { .. } => return Ok(None),
        };
        let claimed = self.dir.join(format!("{base}.claimed-{}", self.origin));
        // Gone: another process claimed it between our listing and our lock.
        if unless_gone(fs::rename(&entry.path, &claimed))?.is_none() {
            return Ok(None);
        }
        let bytes = prefetched
            .as_ref()
            .map_or_else(|| file.metadata().map_or(entry.bytes, |m| m.len()), |b| b.len() as u64);
        Ok(Some(ClaimedSegment {
            file: Some(file),
            base: self.dir.join(base),
            segment: Segment {
                path: claimed,
                bytes,
                records,
                origin,
            },
            prefetched,
            malformed: false,
        }))
    }

    /// Removes segments, oldest first, while the spool is over its bound: first those
    /// set aside as unreadable, then waiting ones. Never `keep`, this writer's open
    /// segment, or a segment another process is sending.
    fn evict_beyond_bound(&mut self, keep: &Path) -> io::Result<Evicted> {
        let mut evicted = Evicted::default();
        let entries = self.list()?;
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let (bad, rest): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.kind == Kind::Bad);
        for entry in bad.into_iter().chain(rest) {
            if total <= self.max_bytes {
                break;
            }
            if entry.path == keep {
                continue;
            }
            match &entry.kind {
                Kind::Bad => {
                    if fs::remove_file(&entry.path).is_ok() {
                        total = total.saturating_sub(entry.bytes);
                    }
                }
                Kind::Temporary { .. } => {}
                Kind::Open { .. } | Kind::Sealed { .. } | Kind::Claimed { .. } => {
                    let Ok(Some(claimed)) = self.take(&entry) else { continue };
                    let (records, own) = (claimed.segment.records, self.wrote(&claimed.segment));
                    if claimed.discard().is_ok() {
                        total = total.saturating_sub(entry.bytes);
                        if own {
                            evicted.own_records += records;
                        } else {
                            evicted.other_records += records;
                        }
                    }
                }
            }
        }
        self.approx_bytes = total;
        Ok(evicted)
    }

    /// Reads a segment by its path; malformed lines are reported, not fatal. (To send a
    /// segment, [`Spool::claim`] it and read the claim.)
    pub fn read(segment: &Segment) -> io::Result<SegmentContents> {
        Ok(parse_segment(&fs::read(&segment.path)?))
    }

    /// Removes a segment by its path.
    pub fn remove(segment: &Segment) -> io::Result<()> {
        fs::remove_file(&segment.path)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = self.seal();
    }
}

/// A segment this process has claimed: no other process sends it while the claim is
/// held. [`ClaimedSegment::finish`] removes it once sent; dropped without that, it is
/// released under its waiting name, to be sent later.
#[derive(Debug)]
pub struct ClaimedSegment {
    /// Open and locked while the claim is held.
    file: Option<File>,
    /// The waiting name to release it under.
    base: PathBuf,
    segment: Segment,
    /// An open segment's contents, read when it was claimed.
    prefetched: Option<Vec<u8>>,
    malformed: bool,
}

impl ClaimedSegment {
    /// The segment, under its claimed name.
    pub fn segment(&self) -> &Segment {
        &self.segment
    }

    /// The name it waits under when it is not claimed.
    pub(crate) fn waiting_path(&self) -> &Path {
        &self.base
    }

    /// Reads the segment; malformed lines (invalid UTF-8, not JSON, not a record, cut
    /// short by a crash) are reported, not fatal.
    pub fn read(&mut self) -> io::Result<SegmentContents> {
        let bytes = match self.prefetched.take() {
            Some(bytes) => bytes,
            None => {
                let Some(mut file) = self.file.as_ref() else {
                    return Err(io::Error::other("the claim was already given up"));
                };
                let mut bytes = Vec::new();
                file.rewind()?;
                file.read_to_end(&mut bytes)?;
                bytes
            }
        };
        let contents = parse_segment(&bytes);
        self.malformed = !contents.malformed.is_empty();
        Ok(contents)
    }

    /// Marks the segment as damaged (fewer records than its name says): `finish` sets it
    /// aside rather than removing it.
    pub(crate) fn set_damaged(&mut self) {
        self.malformed = true;
    }

    /// The segment was sent: removes it, or, if reading it found malformed lines, sets it
    /// aside as `<name>.bad` (returned) so that it is never read again.
    pub fn finish(self) -> io::Result<Option<PathBuf>> {
        if self.malformed {
            self.set_aside().map(Some)
        } else {
            self.discard().map(|()| None)
        }
    }

    /// Renames the segment to `<name>.bad`: it is never read again, and is the first to
    /// go when the spool is over its bound.
    pub fn set_aside(mut self) -> io::Result<PathBuf> {
        let bad = self.base.with_file_name(format!("{}.bad", file_name(&self.base)));
        let outcome = fs::rename(&self.segment.path, &bad);
        self.file = None;
        outcome.map(|()| bad)
    }

    /// Removes the segment without sending it.
    pub(crate) fn discard(mut self) -> io::Result<()> {
        let outcome = fs::remove_file(&self.segment.path);
        self.file = None;
        outcome
    }

    /// Gives the segment back under its waiting name, to be sent later.
    pub fn release(mut self) -> io::Result<()> {
        self.give_back()
    }

    fn give_back(&mut self) -> io::Result<()> {
        if self.file.take().is_none() {
            return Ok(());
        }
        fs::rename(&self.segment.path, &self.base)
    }
}

impl Drop for ClaimedSegment {
    fn drop(&mut self) {
        let _ = self.give_back();
    }
}

/// A file operation's outcome, with `None` for a file that is gone: claimed, sealed or
/// removed by another process since this one listed the directory. Other errors stay
/// errors.
fn unless_gone<T>(outcome: io::Result<T>) -> io::Result<Option<T>> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

fn age(modified: Option<SystemTime>) -> Duration {
    modified
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

/// Where files cannot be locked: whether a file is another process's claim recent enough
/// that its claimer may still be sending it.
fn claim_may_be_alive(kind: &Kind, modified: Option<SystemTime>) -> bool {
    matches!(kind, Kind::Claimed { .. }) && age(modified) < UNLOCKED_CLAIM_STALE
}

/// The pid in a writer name `<pid>x<random>`.
fn writer_pid(origin: &str) -> Option<u32> {
    origin.split('x').next()?.parse().ok()
}

/// Whether the process that wrote as `origin` is known to be gone.
fn writer_is_gone(origin: &str) -> bool {
    writer_pid(origin).is_some_and(process_is_gone)
}

/// Whether no process with this pid is running (known on Linux only; elsewhere, and if
/// `/proc` is not mounted, false). A pid reused by another process reads as running,
/// which only delays the clean-up until the file is old enough.
fn process_is_gone(pid: u32) -> bool {
    cfg!(target_os = "linux")
        && pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Non-blank lines; with `partial_tail`, a last line without its newline counts too.
fn count_lines(bytes: &[u8], partial_tail: bool) -> u64 {
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    let mut count = 0;
    while let Some(line) = lines.next() {
        let complete = lines.peek().is_some();
        if (complete || partial_tail) && !line.iter().all(u8::is_ascii_whitespace) {
            count += 1;
        }
    }
    count
}

fn parse_segment(bytes: &[u8]) -> SegmentContents {
    let mut contents = SegmentContents::default();
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = index + 1;
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(error) => {
                contents
                    .malformed
                    .push((number, format!("invalid UTF-8 at byte {}", error.valid_up_to() + 1)));
                continue;
            }
        };
        match Record::from_json_line(text) {
            Ok(record) => contents.records.push(record),
            Err(error) => contents.malformed.push((number, describe(&error))),
        }
    }
    contents
}

/// Why a line did not parse, without quoting it (serde's messages may quote values).
fn describe(error: &RecordParseError) -> String {
    match error {
        RecordParseError::Json(error) => match error.classify() {
            serde_json::error::Category::Eof => "cut short: the line ends inside a JSON value".to_owned(),
            serde_json::error::Category::Syntax => format!("not valid JSON (column {})", error.column()),
            serde_json::error::Category::Data => "valid JSON, but not an mv37 record".to_owned(),
            serde_json::error::Category::Io => "unreadable".to_owned(),
        },
        RecordParseError::NewerSchema { .. } => error.to_string(),
    }
}

/// What a spool file is, from its name; `None` for files that are not the spool's.
fn classify(name: &str) -> Option<Kind> {
    if let Some(temporary) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) {
        let pid = split_stem(temporary).and_then(|(origin, _)| writer_pid(origin));
        return Some(Kind::Temporary { pid });
    }
    if !name.starts_with("segment-") {
        return None;
    }
    if name.ends_with(".bad") {
        return Some(Kind::Bad);
    }
    if let Some((sealed, claimer)) = name.split_once(".claimed-") {
        let (origin, records) = parse_sealed(sealed)?;
        return Some(Kind::Claimed {
            origin: origin.to_owned(),
            records,
            claimer: claimer.to_owned(),
        });
    }
    if let Some(stem) = name.strip_suffix(".open") {
        let (origin, _) = split_stem(stem)?;
        return Some(Kind::Open {
            origin: origin.to_owned(),
        });
    }
    let (origin, records) = parse_sealed(name)?;
    Some(Kind::Sealed {
        origin: origin.to_owned(),
        records,
    })
}

/// `segment-<nanos>-<origin>-<rest>` → (origin, rest).
fn split_stem(stem: &str) -> Option<(&str, &str)> {
    let mut parts = stem.strip_prefix("segment-")?.splitn(3, '-');
    let _nanos = parts.next()?;
    Some((parts.next()?, parts.next()?))
}

/// `segment-<nanos>-<origin>-<seq>-n<records>.jsonl` → (origin, records).
fn parse_sealed(name: &str) -> Option<(&str, u64)> {
    let (origin, rest) = split_stem(name.strip_suffix(".jsonl")?)?;
    let (_sequence, records) = rest.split_once('-')?;
    Some((origin, records.strip_prefix('n')?.parse().ok()?))
}

#[cfg(test)]
mod tests;
