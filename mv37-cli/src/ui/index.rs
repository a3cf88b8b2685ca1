//! The index behind every page: a compact summary of each trace, where each of its
//! records lies in the files (file, byte offset, length), interned names, per-span-name
//! latency sketches, and the search text (kept on disk, see `search.rs`).
//!
//! Memory grows with the number of records, never with their size: 16 bytes per record,
//! and per trace a 96-byte summary plus its entry in the id map (33 to 66 bytes), plus
//! the distinct names, users and sessions. Payloads stay in the files and are read again
//! when a trace is opened.

use std::io;
use std::sync::Arc;

use mv37_runtime::Status;

use super::hash::FastMap;
use super::scan::{parse_trace_id, LineView};
use super::search::SearchText;
use crate::sketch::Sketch;

/// "No value" for an interned string.
pub const NONE: u32 = u32::MAX;

/// The span kinds, each with its bit in [`TraceSummary::kinds`].
pub const KINDS: [&str; 7] = ["llm", "tool", "task", "retrieval", "agent", "span", "custom"];

/// The bit of a span kind in [`TraceSummary::kinds`].
pub fn kind_bit(kind: &str) -> u8 {
    let position = KINDS[..6].iter().position(|k| *k == kind).unwrap_or(6);
    1 << position
}

/// Most distinct span names given their own latency sketch; later names share one row.
const MAX_SPAN_NAMES: usize = 2_000;
/// The name under which span names past [`MAX_SPAN_NAMES`] are counted.
pub const OTHER_SPAN_NAMES: &str = "(other names)";

/// Strings held once, named by number.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FastMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    /// The number of `text`, adding it when new.
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(NONE - 1);
        let text: Arc<str> = Arc::from(text);
        self.names.push(Arc::clone(&text));
        self.ids.insert(text, id);
        id
    }

    /// The number of `text`, when it was interned.
    pub fn get(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The text of `id` (empty for [`NONE`]).
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |name| name)
    }

    /// The text of `id`, `None` for [`NONE`].
    pub fn optional(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|name| &**name)
    }
}

/// Where one record is: file, byte offset and length, and the next record of its trace.
#[derive(Debug, Clone, Copy)]
struct RecordLocation {
    /// The file number in the top 16 bits, the offset in the low 48.
    file_and_offset: u64,
    length: u32,
    next: u32,
}

const OFFSET_BITS: u32 = 48;

/// Flags of a [`TraceSummary`].
pub mod flags {
    /// The trace record arrived: the trace ended.
    pub const ENDED: u8 = 1;
    /// The name came from the trace record (not from a span while it was open).
    pub const NAMED_BY_TRACE: u8 = 2;
    /// Feedback was given.
    pub const FEEDBACK: u8 = 4;
    /// The name came from a root span (while the trace is open).
    pub const NAMED_BY_ROOT: u8 = 8;
}

/// What the list shows of one trace.
#[derive(Debug, Clone)]
pub struct TraceSummary {
    /// The trace id.
    pub id: u128,
    /// Start, Unix nanoseconds.
    pub start: u64,
    /// End, Unix nanoseconds.
    pub end: u64,
    /// Tokens of its model calls.
    pub tokens: u64,
    /// Cost of its model calls, US dollars.
    pub cost: f64,
    /// The trace's name (interned).
    pub name: u32,
    /// The user (interned), or [`NONE`].
    pub user: u32,
    /// The session (interned), or [`NONE`].
    pub session: u32,
    /// The conversation (interned), or [`NONE`].
    pub conversation: u32,
    /// Spans recorded.
    pub spans: u32,
    /// Spans that failed.
    pub failed_spans: u32,
    /// Records of all types.
    pub records: u32,
    first_record: u32,
    last_record: u32,
    /// The trace record's status (`Ok` while the trace is open).
    pub status: Status,
    /// The span kinds present, one bit each (see [`KINDS`]).
    pub kinds: u8,
    /// See [`flags`].
    pub flags: u8,
}

impl TraceSummary {
    /// Whether the trace record arrived.
    pub fn ended(&self) -> bool {
        self.flags & flags::ENDED != 0
    }

    /// Whether the trace or one of its spans failed.
    pub fn failed(&self) -> bool {
        self.status == Status::Error || self.failed_spans > 0
    }

    /// How long it took, nanoseconds.
    pub fn latency(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Calls, failures and latencies of the spans of one name.
#[derive(Debug, Clone, Default)]
pub struct SpanNameStats {
    /// The kinds seen under this name, one bit each.
    pub kinds: u8,
    /// Spans.
    pub count: u64,
    /// Failed spans.
    pub errors: u64,
    /// Their latencies.
    pub latency: Sketch,
}

/// Lines read and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LineCounts {
    /// Records indexed.
    pub records: u64,
    /// Lines that are not records.
    pub malformed: u64,
    /// Records of a newer schema version, left out.
    pub newer_schema: u64,
    /// Lines longer than the line limit, left out.
    pub too_long: u64,
}

/// The index of every trace read so far.
#[derive(Debug)]
pub struct Index {
    files: Vec<String>,
    traces: Vec<TraceSummary>,
    by_id: FastMap<u128, u32>,
    locations: Vec<RecordLocation>,
    /// Names, users, sessions and conversations.
    pub strings: Interner,
    span_names: FastMap<u32, SpanNameStats>,
    /// The searchable text of the records.
    pub text: SearchText,
    /// Lines read so far.
    pub lines: LineCounts,
    /// Tells this index from one built before it (after a file was replaced).
    pub epoch: u64,
}

impl Index {
    /// An empty index.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            files: Vec::new(),
            traces: Vec::new(),
            by_id: FastMap::default(),
            locations: Vec::new(),
            strings: Interner::default(),
            span_names: FastMap::default(),
            text: SearchText::new()?,
            lines: LineCounts::default(),
            epoch: fastrand::u64(..),
        })
    }

    /// Registers a file; its records are then added with its number. `None` past 65,535
    /// files.
    pub fn add_file(&mut self, path: &str) -> Option<u16> {
        let number = u16::try_from(self.files.len()).ok()?;
        self.files.push(path.to_owned());
        Some(number)
    }

    /// The path of file `number`.
    pub fn file(&self, number: u16) -> Option<&str> {
        self.files.get(usize::from(number)).map(String::as_str)
    }

    /// Every trace, in the order first seen.
    pub fn traces(&self) -> &[TraceSummary] {
        &self.traces
    }

    /// The number of the trace with this id.
    pub fn find(&self, id: u128) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    /// The span names with their stats.
    pub fn span_names(&self) -> impl Iterator<Item = (&str, &SpanNameStats)> {
        self.span_names.iter().map(|(name, stats)| {
            (
                if *name == NONE {
                    OTHER_SPAN_NAMES
                } else {
                    self.strings.name(*name)
                },
                stats,
            )
        })
    }

    /// Where the records of trace `trace` are: (file, offset, length), in the order added.
    pub fn locations(&self, trace: u32) -> Vec<(u16, u64, u32)> {
        let mut found = Vec::new();
        let Some(summary) = self.traces.get(trace as usize) else {
            return found;
        };
        let mut at = summary.first_record;
        while let Some(location) = self.locations.get(at as usize) {
            let file = (location.file_and_offset >> OFFSET_BITS) as u16;
            let offset = location.file_and_offset & ((1 << OFFSET_BITS) - 1);
            found.push((file, offset, location.length));
            at = location.next;
        }
        found
    }

    /// Adds one record read from `file` at `offset` (`length` bytes), with its searchable
    /// text. A record whose trace id is not 32 hex digits is counted as malformed.
    pub fn add(&mut self, file: u16, offset: u64, length: u32, view: &LineView<'_>, text: &[u8]) -> io::Result<()> {
        let Some(trace_id) = parse_trace_id(&view.trace_id) else {
            self.lines.malformed += 1;
            return Ok(());
        };
        let location = u32::try_from(self.locations.len()).unwrap_or(NONE);
        if location == NONE || offset >= 1 << OFFSET_BITS {
            // Past 4 billion records or 256 TiB of file: not indexed.
            self.lines.too_long += 1;
            return Ok(());
        }
        self.lines.records += 1;
        self.locations.push(RecordLocation {
            file_and_offset: (u64::from(file) << OFFSET_BITS) | offset,
            length,
            next: NONE,
        });
        let trace = self.trace_for(trace_id, location);
        let strings = &mut self.strings;
        let summary = &mut self.traces[trace as usize];
        summary.records += 1;
        match &*view.record_type {
            "trace" => {
                summary.flags |= flags::ENDED | flags::NAMED_BY_TRACE;
                summary.name = view.name.as_deref().map_or(NONE, |name| strings.intern(name));
                summary.user = view.user_id.as_deref().map_or(NONE, |user| strings.intern(user));
                summary.session = view
                    .session_id
                    .as_deref()
                    .map_or(NONE, |session| strings.intern(session));
                summary.conversation = view
                    .conversation_id
                    .as_deref()
                    .map_or(NONE, |conversation| strings.intern(conversation));
                summary.status = parse_status(view.status.as_deref());
                if let Some(start) = view.start_time_unix_nano {
                    summary.start = start;
                    summary.end = view
                        .end_time_unix_nano
                        .or_else(|| view.latency_ns.map(|latency| start.saturating_add(latency)))
                        .unwrap_or(start);
                }
            }
            "span" => {
                let kind = kind_bit(view.kind.as_deref().unwrap_or("span"));
                let failed = parse_status(view.status.as_deref()) == Status::Error;
                summary.spans += 1;
                summary.kinds |= kind;
                summary.failed_spans += u32::from(failed);
                if let Some(usage) = &view.usage {
                    summary.tokens += usage.tokens();
                    summary.cost += usage.cost_usd.filter(|cost| cost.is_finite()).unwrap_or(0.0);
                }
                let name = view.name.as_deref().unwrap_or("");
                if summary.flags & flags::NAMED_BY_TRACE == 0 {
                    // An open trace is named after its root span, else its earliest span,
                    // whatever order its records come in.
                    let root = view.parent_span_id.is_none();
                    let named_by_root = summary.flags & flags::NAMED_BY_ROOT != 0;
                    let start = view.start_time_unix_nano.unwrap_or(u64::MAX);
                    let earlier =
                        start < summary.start || (start == summary.start && name < strings.name(summary.name));
                    if summary.name == NONE || (root && !named_by_root) || (root == named_by_root && earlier) {
                        summary.name = strings.intern(name);
                        if root {
                            summary.flags |= flags::NAMED_BY_ROOT;
                        }
                    }
                }
                if summary.flags & flags::ENDED == 0 {
                    if let Some(start) = view.start_time_unix_nano {
                        let end = view.end_time_unix_nano.unwrap_or(start).max(start);
                        if summary.spans == 1 {
                            (summary.start, summary.end) = (start, end);
                        } else {
                            summary.start = summary.start.min(start);
                            summary.end = summary.end.max(end);
                        }
                    }
                }
                let latency = view.latency_ns.unwrap_or_else(|| {
                    view.end_time_unix_nano
                        .unwrap_or(0)
                        .saturating_sub(view.start_time_unix_nano.unwrap_or(0))
                });
                let name_id = match strings.get(name) {
                    Some(id) if self.span_names.contains_key(&id) => id,
                    _ if self.span_names.len() >= MAX_SPAN_NAMES => NONE,
                    _ => strings.intern(name),
                };
                let stats = self.span_names.entry(name_id).or_default();
                stats.kinds |= kind;
                stats.count += 1;
                stats.errors += u64::from(failed);
                stats.latency.add(latency);
            }
            "feedback" => summary.flags |= flags::FEEDBACK,
            _ => {}
        }
        self.text.append(trace, text)
    }

    /// The trace numbered for `id`, made when new, with `location` linked as its last
    /// record.
    fn trace_for(&mut self, id: u128, location: u32) -> u32 {
        if let Some(&trace) = self.by_id.get(&id) {
            let summary = &mut self.traces[trace as usize];
            let previous = summary.last_record;
            summary.last_record = location;
            if let Some(previous) = self.locations.get_mut(previous as usize) {
                previous.next = location;
            }
            return trace;
        }
        let trace = self.traces.len() as u32;
        self.by_id.insert(id, trace);
        self.traces.push(TraceSummary {
            id,
            start: 0,
            end: 0,
            tokens: 0,
            cost: 0.0,
            name: NONE,
            user: NONE,
            session: NONE,
            conversation: NONE,
            spans: 0,
            failed_spans: 0,
            records: 0,
            first_record: location,
            last_record: location,
            status: Status::Ok,
            kinds: 0,
            flags: 0,
        });
        trace
    }
}

fn parse_status(status: Option<&str>) -> Status {
    match status {
        Some("error") => Status::Error,
        Some("cancelled") => Status::Cancelled,
        _ => Status::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

    fn add(index: &mut Index, offset: u64, line: &str) {
        let mut text = String::new();
        let view = LineView::parse(line, &mut text).expect("a record");
        index
            .add(0, offset, line.len() as u32, &view, text.as_bytes())
            .expect("added");
    }

    #[test]
    fn a_trace_gathers_its_spans_and_takes_its_fields_from_the_trace_record() {
        let mut index = Index::new().expect("index");
        index.add_file("a.jsonl");
        add(
            &mut index,
            0,
            &format!(
                r#"{{"type":"span","trace_id":"{TRACE}","kind":"llm","name":"chat","parent_span_id":"b7ad6b7169203331","status":"error","start_time_unix_nano":20,"end_time_unix_nano":50,"latency_ns":30,"usage":{{"input_tokens":10,"output_tokens":5,"cost_usd":0.5}}}}"#
            ),
        );
        let summary = &index.traces()[0];
        assert!(!summary.ended());
        assert_eq!((summary.start, summary.end), (20, 50));
        assert_eq!(index.strings.name(summary.name), "chat");
        add(
            &mut index,
            100,
            &format!(
                r#"{{"type":"trace","trace_id":"{TRACE}","name":"agent","user_id":"u1","status":"ok","start_time_unix_nano":10,"end_time_unix_nano":60}}"#
            ),
        );
        assert_eq!(index.traces().len(), 1);
        let summary = &index.traces()[0];
        assert!(summary.ended() && summary.failed());
        assert_eq!(index.strings.name(summary.name), "agent");
        assert_eq!(index.strings.optional(summary.user), Some("u1"));
        assert_eq!((summary.latency(), summary.tokens, summary.cost), (50, 15, 0.5));
        assert_eq!(summary.kinds, kind_bit("llm"));
        let located: Vec<_> = index.locations(0).iter().map(|l| l.1).collect();
        assert_eq!(located, [0, 100]);
        let (name, stats) = index.span_names().next().expect("a span name");
        assert_eq!((name, stats.count, stats.errors), ("chat", 1, 1));
    }

    #[test]
    fn a_record_costs_16_bytes_and_a_trace_summary_96() {
        // The sizes docs/UI.md states.
        assert_eq!(std::mem::size_of::<RecordLocation>(), 16);
        assert_eq!(std::mem::size_of::<TraceSummary>(), 96);
    }

    #[test]
    fn a_record_with_a_bad_trace_id_is_counted_as_malformed() {
        let mut index = Index::new().expect("index");
        add(&mut index, 0, r#"{"type":"span","trace_id":"nope"}"#);
        assert_eq!((index.traces().len(), index.lines.malformed), (0, 1));
    }
}
