//! The disk spool: batches a network exporter could not deliver, and what is still queued
//! when the shutdown deadline passes, wait on disk as JSONL segments and are sent later,
//! by the next process or by `mv37 send --spool DIR`.
//!
//! A segment is written whole to a temporary name and then renamed, so a reader never
//! sees half a segment. Its name carries the time, the writing process and the number of
//! records: `segment-<unix nanos, 20 digits>-<pid>x<writer>-<sequence>-n<records>.jsonl`, so the
//! oldest sorts first and eviction can count what it drops without reading the file.

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use crate::clock::unix_nanos_now;
use crate::record::Record;

/// The default bound of a spool directory's total size.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// One segment file of a spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How many records it holds (from its name).
    pub records: u64,
    /// Which spool writer (process and client) wrote it.
    pub origin: String,
}

/// What reading a segment found.
#[derive(Debug, Default)]
pub struct SegmentContents {
    /// The records that parsed.
    pub records: Vec<Record>,
    /// Lines that did not parse (reported by line number).
    pub malformed: Vec<(usize, String)>,
}

/// A spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    sequence: u64,
    origin: String,
}

/// Segments removed to keep the spool within its bound.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    /// Records in evicted segments this process wrote.
    pub own_records: u64,
    /// Records in evicted segments other processes wrote.
    pub other_records: u64,
}

impl Spool {
    /// Opens (creating it if needed) a spool directory bounded to `max_bytes`.
    pub fn open(dir: impl AsRef<Path>, max_bytes: u64) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            max_bytes: max_bytes.max(1),
            sequence: 0,
            origin: format!("{}x{:08x}", std::process::id(), fastrand::u32(..)),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this spool (not an earlier process) wrote the segment.
    pub fn wrote(&self, segment: &Segment) -> bool {
        segment.origin == self.origin
    }

    /// The segments waiting, oldest first.
    pub fn segments(&self) -> io::Result<Vec<Segment>> {
        let mut segments = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((origin, records)) = parse_name(name) else {
                continue;
            };
            segments.push(Segment {
                path: entry.path(),
                bytes: entry.metadata().map(|m| m.len()).unwrap_or(0),
                records,
                origin: origin.to_owned(),
            });
        }
        segments.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(segments)
    }

    /// Writes records as a new segment, then evicts the oldest segments while the spool
    /// is over its bound (never the one just written).
    pub fn write(&mut self, records: &[Record]) -> io::Result<Evicted> {
        self.sequence += 1;
        let name = format!(
            "segment-{:020}-{}-{}-n{}.jsonl",
            unix_nanos_now(),
            self.origin,
            self.sequence,
            records.len()
        );
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let mut file = io::BufWriter::new(fs::File::create(&temporary)?);
        for record in records {
            let line = record.to_json_line().map_err(io::Error::other)?;
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
        }
        file.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
        let path = self.dir.join(&name);
        fs::rename(&temporary, &path)?;
        self.evict_beyond_bound(&path)
    }

    fn evict_beyond_bound(&self, keep: &Path) -> io::Result<Evicted> {
        let mut evicted = Evicted::default();
        let segments = self.segments()?;
        let mut total: u64 = segments.iter().map(|s| s.bytes).sum();
        for segment in segments {
            if total <= self.max_bytes {
                break;
            }
            if segment.path == keep {
                continue;
            }
            fs::remove_file(&segment.path)?;
            total = total.saturating_sub(segment.bytes);
            if self.wrote(&segment) {
                evicted.own_records += segment.records;
            } else {
                evicted.other_records += segment.records;
            }
        }
        Ok(evicted)
    }

    /// Reads a segment; malformed lines are reported, not fatal.
    pub fn read(segment: &Segment) -> io::Result<SegmentContents> {
        let file = io::BufReader::new(fs::File::open(&segment.path)?);
        let mut contents = SegmentContents::default();
        for (index, line) in file.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match Record::from_json_line(&line) {
                Ok(record) => contents.records.push(record),
                Err(error) => contents.malformed.push((index + 1, error.to_string())),
            }
        }
        Ok(contents)
    }

    /// Removes a delivered segment.
    pub fn remove(segment: &Segment) -> io::Result<()> {
        fs::remove_file(&segment.path)
    }
}

/// `segment-<nanos>-<origin>-<seq>-n<records>.jsonl` → (origin, records).
fn parse_name(name: &str) -> Option<(&str, u64)> {
    let stem = name.strip_prefix("segment-")?.strip_suffix(".jsonl")?;
    let mut parts = stem.split('-');
    let _nanos = parts.next()?;
    let origin = parts.next()?;
    let _sequence = parts.next()?;
    let records = parts.next()?.strip_prefix('n')?.parse().ok()?;
    Some((origin, records))
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

    #[test]
    fn segments_round_trip_and_the_oldest_is_evicted_past_the_bound() {
        let dir = std::env::temp_dir().join(format!("mv37-spool-unit-{}-{}", std::process::id(), unix_nanos_now()));
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
}
