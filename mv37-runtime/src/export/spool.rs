//! The disk spool: batches a network exporter could not deliver, and what is still queued
//! when the shutdown deadline passes, wait on disk as JSONL segments and are sent later,
//! by this process, the next one, or `mv37 send --spool DIR`.
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
//! on the same name parsing; its unit tests (the last 170 lines) need those helpers.

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
                Kind::Open { origin } => match fs::read(&entry.path) {
                    Ok(bytes) => (origin.clone(), count_lines(&bytes, false)),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
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
            let metadata = match item.metadata() {
                Ok(metadata) => metadata,
                // Claimed or removed since the directory was read.
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
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
        let file = match OpenOptions::new().read(true).write(true).open(&entry.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
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
        match fs::rename(&entry.path, &claimed) {
            Ok(()) => {}
            // Another process claimed it between our listing and our lock.
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
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
mod tests {
    use super::*;
    use crate::ids::TraceId;
    use crate::record::SignalRecord;

    fn signal() -> Record {
        Record::Signal(SignalRecord {
            trace_id: TraceId::random(),
            span_id: None,
            time_unix_nano: 1,
            name: "s".into(),
            value: serde_json::json!(1),
            scope: None,
        })
    }

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "mv37-spool-unit-{name}-{}-{}",
            std::process::id(),
            unix_nanos_now()
        ))
    }

    #[test]
    fn segments_round_trip_and_the_oldest_is_evicted_past_the_bound() {
        let dir = temp_dir("evict");
        let mut spool = Spool::open(&dir, 350).expect("open");
        assert_eq!(spool.write(&[signal(), signal()]).expect("write"), Evicted::default());
        let first = spool.segments().expect("list");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].records, 2);
        assert_eq!(Spool::read(&first[0]).expect("read").records.len(), 2);
        let evicted = spool.write(&[signal(), signal(), signal()]).expect("write");
        assert_eq!(evicted.own_records, 2, "the older segment went");
        let left = spool.segments().expect("list");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].records, 3);
        Spool::remove(&left[0]).expect("remove");
        assert!(spool.segments().expect("list").is_empty());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn consecutive_writes_share_one_segment_until_it_reaches_its_size() {
        let dir = temp_dir("append");
        let mut spool = Spool::open(&dir, u64::MAX).expect("open").with_segment_bytes(2000);
        for _ in 0..10 {
            spool.write(&[signal(), signal()]).expect("write");
        }
        let segments = spool.segments().expect("list");
        assert!(segments.len() < 5, "{segments:?}");
        assert_eq!(segments.iter().map(|s| s.records).sum::<u64>(), 20);
        assert!(segments.iter().all(|s| s.bytes <= 2000 + 300), "{segments:?}");
        drop(spool);
        let names: Vec<_> = fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        assert!(
            names.iter().all(|n| n.ends_with(".jsonl")),
            "dropping the spool seals its open segment: {names:?}"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_segment_is_claimed_once_and_a_claim_of_a_gone_process_is_taken_again() {
        let dir = temp_dir("claim");
        let mut writer = Spool::open(&dir, u64::MAX).expect("open");
        writer.write(&[signal(), signal(), signal()]).expect("write");
        writer.seal().expect("seal");
        let first = Spool::open(&dir, u64::MAX).expect("open");
        let second = Spool::open(&dir, u64::MAX).expect("open");
        let segment = first.segments().expect("list").remove(0);
        let mut claimed = first.claim(&segment).expect("claim").expect("free");
        assert!(second.claim(&segment).expect("claim").is_none(), "renamed away");
        assert!(
            second.segments().expect("list").is_empty(),
            "a claimed segment is not waiting"
        );
        // A process that lists the claimed file still cannot take it while it is held.
        let mut third = Spool::open(&dir, u64::MAX).expect("open");
        let claims = third.scan().expect("scan");
        assert_eq!(claims.len(), 1);
        assert!(third.take(&claims[0]).expect("take").is_none(), "the claim is held");
        assert_eq!(claimed.read().expect("read").records.len(), 3);
        // The claimer goes away without finishing: its lock goes with it (here: the
        // file is closed without the release that a drop would do).
        claimed.file = None;
        drop(claimed);
        let claims = third.scan().expect("scan");
        let mut again = third.take(&claims[0]).expect("take").expect("a released lock");
        assert_eq!(again.read().expect("read").records.len(), 3);
        assert_eq!(again.finish().expect("finish"), None);
        assert!(third.scan().expect("scan").is_empty());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn an_open_segment_claimed_by_another_process_loses_no_append() {
        let dir = temp_dir("open-claim");
        let mut writer = Spool::open(&dir, u64::MAX).expect("open");
        writer.write(&[signal(), signal()]).expect("write");
        let reader = Spool::open(&dir, u64::MAX).expect("open");
        let open = reader.segments().expect("list").remove(0);
        let mut claimed = reader.claim(&open).expect("claim").expect("free");
        assert_eq!(claimed.segment().records, 2);
        writer.write(&[signal()]).expect("write goes to a new segment");
        assert_eq!(claimed.read().expect("read").records.len(), 2);
        claimed.finish().expect("finish");
        writer.seal().expect("seal");
        let left = reader.segments().expect("list");
        assert_eq!(left.iter().map(|s| s.records).collect::<Vec<_>>(), vec![1]);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn malformed_lines_are_described_without_quoting_them() {
        let mut bytes = signal().to_json_line().expect("json").into_bytes();
        bytes.extend_from_slice(b"\n{\"type\":\"signal\",\"secret\":\"4111 1111 1111 1111\"}\n");
        bytes.extend_from_slice(b"{\"note\":\"4111\xff\"}\n{\"v\":1,\"type\":\"sig");
        let contents = parse_segment(&bytes);
        assert_eq!(contents.records.len(), 1);
        let lines: Vec<_> = contents.malformed.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        for (_, reason) in &contents.malformed {
            assert!(!reason.contains("4111"), "{reason}");
        }
        assert!(contents.malformed[1].1.contains("UTF-8"), "{:?}", contents.malformed);
        assert!(
            contents.malformed[2].1.contains("cut short"),
            "{:?}",
            contents.malformed
        );
    }

    #[test]
    fn names_are_classified() {
        assert_eq!(
            classify("segment-00000000000000000001-12x0000abcd-3-n7.jsonl"),
            Some(Kind::Sealed {
                origin: "12x0000abcd".into(),
                records: 7
            })
        );
        assert_eq!(
            classify("segment-00000000000000000001-12x0000abcd-3.open"),
            Some(Kind::Open {
                origin: "12x0000abcd".into()
            })
        );
        assert_eq!(
            classify("segment-00000000000000000001-12x0000abcd-3-n7.jsonl.claimed-9x00000001"),
            Some(Kind::Claimed {
                origin: "12x0000abcd".into(),
                records: 7,
                claimer: "9x00000001".into()
            })
        );
        assert_eq!(
            classify(".segment-00000000000000000001-12x0000abcd-3-n7.jsonl.tmp"),
            Some(Kind::Temporary { pid: Some(12) })
        );
        assert_eq!(classify("segment-1-2x3-4-n5.jsonl.bad"), Some(Kind::Bad));
        assert_eq!(classify("notes.txt"), None);
    }

    /// The length of one `signal()` line, newline included (its fields have fixed widths).
    fn line_len() -> u64 {
        signal().to_json_line().expect("json").len() as u64 + 1
    }

    fn records_per_segment(spool: &Spool) -> Vec<u64> {
        spool.segments().expect("list").iter().map(|s| s.records).collect()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        names
    }

    fn backdate(path: &Path, by: Duration) {
        let file = OpenOptions::new().write(true).open(path).expect("open");
        file.set_modified(SystemTime::now() - by).expect("set mtime");
    }

    /// A sealed segment of another writer, with `n` records.
    fn sealed_segment_of_another_writer(dir: &Path, n: usize) -> Segment {
        let mut other = Spool::open(dir, u64::MAX).expect("open");
        other.write(&vec![signal(); n]).expect("write");
        let path = other.seal().expect("seal").expect("sealed");
        other
            .segments()
            .expect("list")
            .into_iter()
            .find(|s| s.path == path)
            .expect("listed")
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        assert_eq!(DEFAULT_SPOOL_MAX_BYTES, 256 << 20, "docs/SPOOL.md: 256 MiB");
        assert_eq!(DEFAULT_SEGMENT_BYTES, 1 << 20, "docs/SPOOL.md: 1 MiB");
        let dir = temp_dir("defaults");
        let spool = Spool::open(&dir, DEFAULT_SPOOL_MAX_BYTES).expect("open");
        assert_eq!(spool.segment_bytes, DEFAULT_SEGMENT_BYTES);
        assert_eq!(spool.dir(), dir.as_path());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn segments_are_a_quarter_of_the_bound_at_most() {
        let dir = temp_dir("quarter");
        assert_eq!(Spool::open(&dir, 4000).expect("open").segment_bytes, 1000);
        assert_eq!(
            Spool::open(&dir, u64::MAX).expect("open").segment_bytes,
            DEFAULT_SEGMENT_BYTES
        );
        let bounded = Spool::open(&dir, 4000).expect("open");
        assert_eq!(bounded.with_segment_bytes(10_000).segment_bytes, 1000);
        let bounded = Spool::open(&dir, 4000).expect("open");
        assert_eq!(bounded.with_segment_bytes(600).segment_bytes, 600);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_spool_knows_the_segments_it_wrote() {
        let dir = temp_dir("wrote");
        let mut mine = Spool::open(&dir, u64::MAX).expect("open");
        assert!(
            mine.origin().starts_with(&format!("{}x", std::process::id())),
            "{}",
            mine.origin()
        );
        mine.write(&[signal()]).expect("write");
        mine.seal().expect("seal");
        let theirs = sealed_segment_of_another_writer(&dir, 1);
        let segments = mine.segments().expect("list");
        assert_eq!(segments.len(), 2);
        for segment in &segments {
            assert_eq!(mine.wrote(segment), segment.path != theirs.path, "{segment:?}");
            assert!(file_name(&segment.path).contains(&segment.origin), "{segment:?}");
        }
        assert_eq!(segments.iter().filter(|s| s.origin == mine.origin()).count(), 1);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_segment_is_sealed_before_an_append_would_take_it_past_its_size() {
        let line = line_len();
        // 2.5 lines: the third line would not fit, so it begins the next segment.
        let dir = temp_dir("seal-before");
        let mut spool = Spool::open(&dir, u64::MAX)
            .expect("open")
            .with_segment_bytes(line * 5 / 2);
        for _ in 0..5 {
            spool.write(&[signal()]).expect("write");
        }
        assert_eq!(records_per_segment(&spool), vec![2, 2, 1]);
        drop(spool);
        let _ = fs::remove_dir_all(dir);
        // Exactly two lines: the second fills the segment, which is sealed at once.
        let dir = temp_dir("seal-at");
        let mut spool = Spool::open(&dir, u64::MAX).expect("open").with_segment_bytes(line * 2);
        for _ in 0..5 {
            spool.write(&[signal()]).expect("write");
        }
        let segments = spool.segments().expect("list");
        assert_eq!(segments.iter().map(|s| s.records).collect::<Vec<_>>(), vec![2, 2, 1]);
        assert_eq!(
            segments.iter().map(|s| s.bytes).collect::<Vec<_>>(),
            vec![2 * line, 2 * line, line]
        );
        assert!(file_name(&segments[0].path).ends_with("-n2.jsonl"), "{segments:?}");
        assert!(file_name(&segments[2].path).ends_with(".open"), "{segments:?}");
        drop(spool);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn segment_names_carry_the_writer_and_a_sequence() {
        let dir = temp_dir("sequence");
        let mut spool = Spool::open(&dir, u64::MAX).expect("open");
        assert_eq!(spool.generation(), 0);
        for expected in 1..=3 {
            spool.write(&[signal()]).expect("write");
            spool.seal().expect("seal").expect("sealed");
            assert_eq!(spool.generation(), expected);
        }
        assert_eq!(spool.seal().expect("seal"), None, "nothing open");
        assert_eq!(spool.generation(), 3);
        let rests: Vec<_> = names_in(&dir)
            .iter()
            .map(|name| {
                let (origin, rest) = split_stem(name).expect("a segment name");
                assert_eq!(origin, spool.origin());
                rest.to_owned()
            })
            .collect();
        assert_eq!(rests, vec!["1-n1.jsonl", "2-n1.jsonl", "3-n1.jsonl"]);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn an_open_segment_is_sealed_once_it_is_due() {
        let dir = temp_dir("due");
        let mut spool = Spool::open(&dir, u64::MAX).expect("open");
        spool.seal_if_due().expect("nothing open");
        spool.write(&[signal()]).expect("write");
        spool.seal_if_due().expect("seal");
        assert_eq!(spool.generation(), 0, "a fresh segment stays open");
        let open = spool.open.as_mut().expect("open segment");
        open.opened = Instant::now().checked_sub(SEAL_AFTER).expect("uptime");
        spool.seal_if_due().expect("seal");
        assert_eq!(spool.generation(), 1);
        assert!(spool.open.is_none());
        assert!(names_in(&dir)[0].ends_with("-n1.jsonl"));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn temporary_files_are_removed_once_their_writer_is_gone_or_they_are_old() {
        let dir = temp_dir("temporary");
        fs::create_dir_all(&dir).expect("dir");
        let me = std::process::id();
        let temporary = |pid: u32, n: u32| {
            let path = dir.join(format!(".segment-0000000000000000000{n}-{pid}x00000001-1-n1.jsonl.tmp"));
            fs::write(&path, b"{}\n").expect("write");
            path
        };
        let fresh = temporary(me, 1);
        let four_minutes = temporary(me, 2);
        backdate(&four_minutes, Duration::from_secs(4 * 60));
        let six_minutes = temporary(me, 3);
        backdate(&six_minutes, Duration::from_secs(6 * 60));
        let running = temporary(1, 4);
        let gone = temporary(999_999_999, 5);
        let spool = Spool::open(&dir, u64::MAX).expect("open");
        assert!(spool.segments().expect("list").is_empty());
        assert!(fresh.exists() && four_minutes.exists(), "a live writer's are kept");
        assert!(!six_minutes.exists(), "over five minutes old");
        if cfg!(target_os = "linux") {
            assert!(running.exists(), "pid 1 is running");
            assert!(!gone.exists(), "no process 999999999");
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn redelivery_takes_open_segments_that_are_not_being_written() {
        let dir = temp_dir("scan");
        let mut spool = Spool::open(&dir, u64::MAX).expect("open");
        spool.write(&[signal()]).expect("write");
        let current = spool.open.as_ref().expect("open").path.clone();
        let line = signal().to_json_line().expect("json") + "\n";
        let open_segment = |origin: &str, n: u32| {
            let path = dir.join(format!("segment-0000000000000000000{n}-{origin}-1.open"));
            fs::write(&path, &line).expect("write");
            path
        };
        let mine_earlier = open_segment(&spool.origin.clone(), 1);
        let live = Spool::open(&dir, u64::MAX).expect("open");
        let live_fresh = open_segment(&live.origin, 2);
        let live_idle = open_segment(&live.origin, 3);
        backdate(&live_idle, STALE_OPEN + Duration::from_secs(1));
        let gone = open_segment("999999999x00000001", 4);
        let taken: Vec<_> = spool.scan().expect("scan").into_iter().map(|e| e.path).collect();
        let mut expected = vec![mine_earlier, live_idle];
        if cfg!(target_os = "linux") {
            expected.push(gone);
        }
        assert_eq!(taken, expected, "not {current:?}, not {live_fresh:?}");
        assert_eq!(spool.approx_bytes, 5 * line.len() as u64);
        drop(live);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_writer_claims_others_segments_but_not_its_open_one() {
        let dir = temp_dir("own-open");
        let mut writer = Spool::open(&dir, u64::MAX).expect("open");
        writer.write(&[signal()]).expect("write");
        let theirs = sealed_segment_of_another_writer(&dir, 2);
        let own = writer
            .segments()
            .expect("list")
            .into_iter()
            .find(|s| writer.wrote(s))
            .expect("listed");
        assert!(writer.claim(&own).expect("claim").is_none(), "still being written");
        let claimed = writer.claim(&theirs).expect("claim").expect("free");
        assert_eq!(claimed.waiting_path(), theirs.path.as_path());
        assert_eq!(claimed.segment().records, 2);
        claimed.finish().expect("finish");
        assert!(!theirs.path.exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_claim_of_a_vanished_segment_is_none_and_other_failures_are_errors() {
        let dir = temp_dir("claim-errors");
        let spool = Spool::open(&dir, u64::MAX).expect("open");
        let gone = sealed_segment_of_another_writer(&dir, 1);
        Spool::remove(&gone).expect("remove");
        assert!(spool.claim(&gone).expect("not an error").is_none());
        // A directory where a segment should be cannot be opened for writing.
        let odd = sealed_segment_of_another_writer(&dir, 1);
        Spool::remove(&odd).expect("remove");
        fs::create_dir(&odd.path).expect("dir");
        assert!(spool.claim(&odd).is_err());
        fs::remove_dir(&odd.path).expect("remove dir");
        // The claimed name is taken by a directory: the rename fails.
        let blocked = sealed_segment_of_another_writer(&dir, 1);
        let claimed_name = format!("{}.claimed-{}", file_name(&blocked.path), spool.origin());
        fs::create_dir(dir.join(claimed_name)).expect("dir");
        assert!(spool.claim(&blocked).is_err());
        assert!(blocked.path.exists(), "left waiting");
        let _ = fs::remove_dir_all(&dir);
        // The spool's own directory is gone: the rename finds nothing, as when another
        // process renamed the segment first.
        let elsewhere = temp_dir("claim-elsewhere");
        let segment = sealed_segment_of_another_writer(&elsewhere, 1);
        let spool = Spool::open(&dir, u64::MAX).expect("open");
        fs::remove_dir_all(&dir).expect("remove");
        assert!(spool.claim(&segment).expect("not an error").is_none());
        let _ = fs::remove_dir_all(elsewhere);
    }

    #[test]
    fn unreadable_open_segments_are_errors_and_vanished_ones_are_skipped() {
        let dir = temp_dir("open-errors");
        let spool = Spool::open(&dir, u64::MAX).expect("open");
        let name = "segment-00000000000000000001-1x00000001-1.open";
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("nowhere"), dir.join(name)).expect("symlink");
            assert!(spool.segments().expect("a dangling name is skipped").is_empty());
            fs::remove_file(dir.join(name)).expect("remove");
        }
        fs::create_dir(dir.join(name)).expect("dir");
        assert!(spool.segments().is_err(), "a directory cannot be read");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn eviction_removes_unreadable_segments_first_and_counts_other_writers_records() {
        let dir = temp_dir("evict-order");
        let line = line_len();
        let theirs = sealed_segment_of_another_writer(&dir, 2);
        let bad = dir.join("segment-99999999999999999999-1x00000001-1-n2.jsonl.bad");
        fs::write(&bad, vec![b' '; 2 * line as usize]).expect("write");
        let mut spool = Spool::open(&dir, 5 * line - 1).expect("open");
        assert_eq!(spool.write(&[signal()]).expect("write"), Evicted::default());
        assert!(!bad.exists(), "set-aside files go first");
        assert!(theirs.path.exists(), "removing the bad file was enough");
        drop(spool);
        let mut spool = Spool::open(&dir, 3 * line).expect("open");
        let evicted = spool.write(&[signal()]).expect("write");
        assert_eq!(
            evicted,
            Evicted {
                own_records: 0,
                other_records: 2
            }
        );
        assert!(!theirs.path.exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_claim_given_up_waits_again_and_a_damaged_one_is_set_aside() {
        let dir = temp_dir("give-back");
        let spool = Spool::open(&dir, u64::MAX).expect("open");
        let segment = sealed_segment_of_another_writer(&dir, 1);
        let claimed = spool.claim(&segment).expect("claim").expect("free");
        assert!(!segment.path.exists());
        drop(claimed);
        assert_eq!(spool.segments().expect("list"), vec![segment.clone()], "dropped");
        let claimed = spool.claim(&segment).expect("claim").expect("free");
        claimed.release().expect("release");
        assert_eq!(spool.segments().expect("list"), vec![segment.clone()], "released");
        // Its waiting name is taken meanwhile: releasing it says so.
        let claimed = spool.claim(&segment).expect("claim").expect("free");
        fs::create_dir_all(segment.path.join("in-the-way")).expect("dir");
        assert!(claimed.release().is_err());
        fs::remove_dir_all(&segment.path).expect("remove dir");
        let _ = fs::remove_dir_all(&dir);

        let dir = temp_dir("damaged");
        let spool = Spool::open(&dir, u64::MAX).expect("open");
        let segment = sealed_segment_of_another_writer(&dir, 1);
        let mut claimed = spool.claim(&segment).expect("claim").expect("free");
        assert_eq!(claimed.read().expect("read").records.len(), 1);
        claimed.set_damaged();
        let bad = claimed.finish().expect("finish").expect("set aside");
        assert_eq!(file_name(&bad), format!("{}.bad", file_name(&segment.path)));
        assert!(bad.exists());
        assert!(spool.segments().expect("list").is_empty());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn lines_are_counted_whole_and_non_blank() {
        assert_eq!(count_lines(b"a\n\n  \nb\n", false), 2);
        assert_eq!(count_lines(b"a\nb\nxy", false), 2, "a line still being written");
        assert_eq!(count_lines(b"a\nb\nxy", true), 3);
        assert_eq!(count_lines(b"a\nb\n", true), 2);
        assert_eq!(count_lines(b"", true), 0);
    }

    #[test]
    fn lock_outcomes_are_told_apart() {
        assert_eq!(lock_outcome(Ok(())).expect("held"), Lock::Held);
        assert_eq!(
            lock_outcome(Err(fs4::TryLockError::WouldBlock)).expect("busy"),
            Lock::Busy
        );
        let unsupported = io::Error::from(io::ErrorKind::Unsupported);
        assert_eq!(
            lock_outcome(Err(fs4::TryLockError::Error(unsupported))).expect("unsupported"),
            Lock::Unsupported
        );
        let failed = io::Error::from(io::ErrorKind::PermissionDenied);
        let error = lock_outcome(Err(fs4::TryLockError::Error(failed))).expect_err("an error");
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn without_locks_a_claim_is_taken_again_after_ten_minutes() {
        let claimed = Kind::Claimed {
            origin: "1x00000001".into(),
            records: 1,
            claimer: "2x00000002".into(),
        };
        let minutes_ago = |m: u64| Some(SystemTime::now() - Duration::from_secs(m * 60));
        assert!(claim_may_be_alive(&claimed, minutes_ago(0)));
        assert!(claim_may_be_alive(&claimed, minutes_ago(9)));
        assert!(!claim_may_be_alive(&claimed, minutes_ago(11)));
        let sealed = Kind::Sealed {
            origin: "1x00000001".into(),
            records: 1,
        };
        assert!(!claim_may_be_alive(&sealed, minutes_ago(0)), "not a claim");
    }

    #[test]
    fn invalid_utf8_is_located_by_byte() {
        let contents = parse_segment(b"{\"note\":\"4111\xff\"}\n");
        assert_eq!(contents.malformed, vec![(1, "invalid UTF-8 at byte 14".to_owned())]);
    }
}
