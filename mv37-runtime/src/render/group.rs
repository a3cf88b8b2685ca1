//! The records of one trace, and traces held (bounded, oldest first) until they end.

use std::collections::{HashMap, VecDeque};

use crate::ids::TraceId;
use crate::record::{FeedbackRecord, MessageRecord, Record, SignalRecord, SpanRecord, TraceRecord};

/// The records of one trace, by type, in the order they were added.
#[derive(Debug, Clone)]
pub struct TraceGroup {
    /// The trace's id.
    pub trace_id: TraceId,
    /// The trace record, once it arrived.
    pub trace: Option<TraceRecord>,
    /// Its spans.
    pub spans: Vec<SpanRecord>,
    /// Stand-alone (late) messages.
    pub messages: Vec<MessageRecord>,
    /// Feedback.
    pub feedback: Vec<FeedbackRecord>,
    /// Signals.
    pub signals: Vec<SignalRecord>,
}

impl TraceGroup {
    /// An empty group.
    pub fn new(trace_id: TraceId) -> Self {
        Self {
            trace_id,
            trace: None,
            spans: Vec::new(),
            messages: Vec::new(),
            feedback: Vec::new(),
            signals: Vec::new(),
        }
    }

    /// Adds one record of this trace.
    pub fn push(&mut self, record: Record) {
        match record {
            Record::Trace(trace) => self.trace = Some(trace),
            Record::Span(span) => self.spans.push(span),
            Record::Message(message) => self.messages.push(message),
            Record::Feedback(feedback) => self.feedback.push(feedback),
            Record::Signal(signal) => self.signals.push(signal),
        }
    }

    /// How many records the group holds.
    pub fn len(&self) -> usize {
        usize::from(self.trace.is_some())
            + self.spans.len()
            + self.messages.len()
            + self.feedback.len()
            + self.signals.len()
    }

    /// Whether the group holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The earliest time in the group: the trace's start, else its first record's.
    pub fn start_time(&self) -> u64 {
        if let Some(trace) = &self.trace {
            return trace.start_time_unix_nano;
        }
        let spans = self.spans.iter().map(|s| s.start_time_unix_nano);
        let messages = self.messages.iter().map(|m| m.time_unix_nano);
        let feedback = self.feedback.iter().map(|f| f.time_unix_nano);
        let signals = self.signals.iter().map(|s| s.time_unix_nano);
        spans.chain(messages).chain(feedback).chain(signals).min().unwrap_or(0)
    }
}

/// One held trace: when it began to be held, and how many records it counts.
#[derive(Debug)]
struct Held<G> {
    sequence: u64,
    records: usize,
    group: G,
}

/// Traces waiting for their end, each a group `G` of its records, with the order in
/// which they began so that the oldest can be let go when a bound is reached. The
/// bounds themselves are the caller's: it compares [`PendingTraces::len`] and
/// [`PendingTraces::records`] with them after each [`PendingTraces::add`].
#[derive(Debug)]
pub struct PendingTraces<G> {
    held: HashMap<TraceId, Held<G>>,
    /// Traces by first arrival; an entry whose sequence no longer matches is stale.
    arrival: VecDeque<(u64, TraceId)>,
    next_sequence: u64,
    records: usize,
}

impl<G> Default for PendingTraces<G> {
    fn default() -> Self {
        Self {
            held: HashMap::new(),
            arrival: VecDeque::new(),
            next_sequence: 0,
            records: 0,
        }
    }
}

impl<G> PendingTraces<G> {
    /// How many traces are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no trace is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many records the held traces count.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Counts one more record of `trace_id` and returns its group to put it in, begun
    /// with `begin` when the trace is not held yet.
    pub fn add(&mut self, trace_id: TraceId, begin: impl FnOnce() -> G) -> &mut G {
        self.records += 1;
        if self.arrival.len() > 2 * self.held.len() + 64 {
            // Drop the stale entries of traces already let go, so the queue stays bounded.
            let held = &self.held;
            self.arrival
                .retain(|(sequence, id)| held.get(id).is_some_and(|h| h.sequence == *sequence));
        }
        let next_sequence = &mut self.next_sequence;
        let arrival = &mut self.arrival;
        let held = self.held.entry(trace_id).or_insert_with(|| {
            let sequence = *next_sequence;
            *next_sequence += 1;
            arrival.push_back((sequence, trace_id));
            Held {
                sequence,
                records: 0,
                group: begin(),
            }
        });
        held.records += 1;
        &mut held.group
    }

    /// Lets go of the group of `trace_id`, if held.
    pub fn remove(&mut self, trace_id: &TraceId) -> Option<G> {
        let held = self.held.remove(trace_id)?;
        self.records -= held.records;
        Some(held.group)
    }

    /// Lets go of the trace held longest; `None` when none is held.
    pub fn pop_oldest(&mut self) -> Option<G> {
        while let Some((sequence, trace_id)) = self.arrival.pop_front() {
            if self.held.get(&trace_id).is_some_and(|h| h.sequence == sequence) {
                return self.remove(&trace_id);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> TraceId {
        TraceId::from_u128(n).unwrap_or_else(TraceId::random)
    }

    #[test]
    fn the_oldest_trace_is_let_go_first_and_records_are_counted_per_trace() {
        let mut pending: PendingTraces<Vec<u32>> = PendingTraces::default();
        pending.add(id(1), Vec::new).push(1);
        pending.add(id(2), Vec::new).push(2);
        pending.add(id(1), Vec::new).push(3);
        assert_eq!((pending.len(), pending.records()), (2, 3));
        assert_eq!(pending.pop_oldest(), Some(vec![1, 3]));
        assert_eq!((pending.len(), pending.records()), (1, 1));
        assert_eq!(pending.remove(&id(2)), Some(vec![2]));
        assert_eq!(pending.pop_oldest(), None);
        assert_eq!(pending.records(), 0);
    }

    #[test]
    fn a_trace_let_go_and_seen_again_is_held_as_new() {
        let mut pending: PendingTraces<Vec<u32>> = PendingTraces::default();
        pending.add(id(1), Vec::new).push(1);
        pending.add(id(2), Vec::new).push(2);
        assert_eq!(pending.remove(&id(1)), Some(vec![1]));
        pending.add(id(1), Vec::new).push(3);
        // Trace 1's first arrival is stale: trace 2 is now the oldest.
        assert_eq!(pending.pop_oldest(), Some(vec![2]));
        assert_eq!(pending.pop_oldest(), Some(vec![3]));
    }

    #[test]
    fn the_arrival_queue_stays_bounded_when_traces_end_in_place() {
        let mut pending: PendingTraces<()> = PendingTraces::default();
        for n in 1..=10_000 {
            pending.add(id(n), || ());
            pending.remove(&id(n));
        }
        assert!(pending.arrival.len() <= 66, "{}", pending.arrival.len());
    }
}
