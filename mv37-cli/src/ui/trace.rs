//! Opening one trace: its records are read again from the files at the offsets the index
//! holds, parsed as full records, and grouped as `mv37 view` groups them
//! (`render::TraceGroup`), for the trace page to draw.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use mv37_runtime::render::TraceGroup;
use mv37_runtime::{FeedbackRecord, MessageRecord, Record, SignalRecord, SpanRecord, TraceId, TraceRecord};
use serde::Serialize;

use super::index::Index;
use super::query::{status_name, TraceRow};

/// Most records of one trace read for its page; a larger trace is shown in part.
pub const MAX_TRACE_RECORDS: usize = 20_000;

/// Everything the trace page shows.
#[derive(Debug, Serialize)]
pub struct TraceDetail<'a> {
    /// The list's row of the trace.
    pub summary: TraceRow<'a>,
    /// The trace record, once the trace ended.
    pub trace: Option<TraceRecord>,
    /// Its spans, in the order written.
    pub spans: Vec<SpanRecord>,
    /// Messages recorded on their own (late messages).
    pub messages: Vec<MessageRecord>,
    /// Feedback.
    pub feedback: Vec<FeedbackRecord>,
    /// Signals.
    pub signals: Vec<SignalRecord>,
    /// Records that could not be read back (the file changed or the line is not a record).
    pub unreadable: usize,
    /// Records left out past [`MAX_TRACE_RECORDS`].
    pub omitted: usize,
}

/// The page of trace `id` (32 hex digits); `None` when the index has no such trace.
pub fn load<'a>(index: &'a Index, id: &str) -> Option<TraceDetail<'a>> {
    let trace_id: TraceId = id.parse().ok()?;
    let number = index.find(trace_id.to_u128())?;
    let summary = index.traces().get(number as usize)?;
    let mut locations = index.locations(number);
    let omitted = locations.len().saturating_sub(MAX_TRACE_RECORDS);
    locations.truncate(MAX_TRACE_RECORDS);
    let mut group = TraceGroup::new(trace_id);
    let mut unreadable = 0usize;
    let mut files: HashMap<u16, Option<File>> = HashMap::new();
    let mut line = Vec::new();
    for (file, offset, length) in locations {
        let handle = files
            .entry(file)
            .or_insert_with(|| index.file(file).and_then(|path| File::open(path).ok()));
        let record = handle
            .as_mut()
            .and_then(|handle| read_at(handle, offset, length, &mut line).ok())
            .and_then(|()| std::str::from_utf8(&line).ok())
            .and_then(|text| Record::from_json_line(text).ok())
            .filter(|record| record.trace_id() == trace_id);
        match record {
            Some(record) => group.push(record),
            None => unreadable += 1,
        }
    }
    let mut row = super::query::row(index, summary);
    row.status = status_name(summary);
    Some(TraceDetail {
        summary: row,
        trace: group.trace,
        spans: group.spans,
        messages: group.messages,
        feedback: group.feedback,
        signals: group.signals,
        unreadable,
        omitted,
    })
}

fn read_at(file: &mut File, offset: u64, length: u32, into: &mut Vec<u8>) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    into.clear();
    into.resize(length as usize, 0);
    file.read_exact(into)
}
