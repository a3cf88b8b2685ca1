//! The `memory` exporter: keeps records in memory so tests can assert on them.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{ExportError, Exporter};
use crate::ids::TraceId;
use crate::record::{FeedbackRecord, MessageRecord, Record, SignalRecord, SpanRecord, TraceRecord};

/// Captures every exported record. Clone it, give one clone to the client, and read
/// the other after `client.flush()`.
///
/// ```
/// use mv37_runtime::{Client, MemoryExporter};
///
/// let memory = MemoryExporter::new();
/// let client = Client::builder().exporter(memory.clone()).build().unwrap();
/// client.trace("checkout").run(|trace| {
///     trace.task("charge_card").run(|span| span.record_output(&"ok"));
/// });
/// client.flush().unwrap();
/// assert_eq!(memory.spans()[0].name, "charge_card");
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryExporter {
    records: Arc<Mutex<Vec<Record>>>,
}

impl MemoryExporter {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Record>> {
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every record so far, in export order.
    pub fn records(&self) -> Vec<Record> {
        self.lock().clone()
    }

    /// Removes and returns every record so far.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.lock())
    }

    /// The span records so far.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.filter(|r| match r {
            Record::Span(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// The trace records so far.
    pub fn traces(&self) -> Vec<TraceRecord> {
        self.filter(|r| match r {
            Record::Trace(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// Every message so far, in the order recorded: those carried by span and trace
    /// records and those sent as records of their own.
    pub fn messages(&self) -> Vec<MessageRecord> {
        let mut messages: Vec<MessageRecord> = self
            .filter(|r| match r {
                Record::Message(m) => Some(vec![m.clone()]),
                Record::Span(s) => Some(s.messages.clone()),
                Record::Trace(t) => Some(t.messages.clone()),
                _ => None,
            })
            .into_iter()
            .flatten()
            .collect();
        messages.sort_by_key(|m| m.time_unix_nano);
        messages
    }

    /// The feedback records so far.
    pub fn feedback(&self) -> Vec<FeedbackRecord> {
        self.filter(|r| match r {
            Record::Feedback(f) => Some(f.clone()),
            _ => None,
        })
    }

    /// The signal records so far.
    pub fn signals(&self) -> Vec<SignalRecord> {
        self.filter(|r| match r {
            Record::Signal(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// The span with this name (the first, if several); `None` if there is none.
    pub fn span(&self, name: &str) -> Option<SpanRecord> {
        self.spans().into_iter().find(|s| s.name == name)
    }

    /// The trace with this name (the first, if several); `None` if there is none.
    pub fn trace(&self, name: &str) -> Option<TraceRecord> {
        self.traces().into_iter().find(|t| t.name == name)
    }

    /// Every record of one trace.
    pub fn trace_records(&self, trace_id: TraceId) -> Vec<Record> {
        self.filter(|r| (r.trace_id() == trace_id).then(|| r.clone()))
    }

    fn filter<T>(&self, pick: impl FnMut(&Record) -> Option<T>) -> Vec<T> {
        self.lock().iter().filter_map(pick).collect()
    }
}

impl Exporter for MemoryExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
}
