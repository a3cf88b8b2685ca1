//! Grouping a stream of records into traces with bounded memory.
//!
//! The runtime writes a trace's spans, late messages, signals and feedback before the
//! trace's own record, so a trace is complete when its `trace` record arrives. Groups
//! still waiting for it are held in a pending map bounded in traces and in records: past
//! either bound, the oldest group is given out as it is (incomplete). A completed trace
//! waits among the last few completed ones (the settling window) so that feedback given
//! just after it ends joins it; later records of an already given out trace form a group
//! marked `late`.

use std::collections::{HashMap, HashSet, VecDeque};

use mv37_runtime::{FeedbackRecord, MessageRecord, Record, SignalRecord, SpanRecord, TraceId, TraceRecord};

/// The records of one trace, as read.
#[derive(Debug)]
pub struct TraceGroup {
    /// The trace's id.
    pub trace_id: TraceId,
    /// The trace record, when it arrived.
    pub trace: Option<TraceRecord>,
    /// Its spans, in the order read.
    pub spans: Vec<SpanRecord>,
    /// Stand-alone (late) messages.
    pub messages: Vec<MessageRecord>,
    /// Feedback.
    pub feedback: Vec<FeedbackRecord>,
    /// Signals.
    pub signals: Vec<SignalRecord>,
    /// The lines as read, when kept (for `--json`).
    pub raw: Vec<String>,
    /// Records of a trace that was already given out.
    pub late: bool,
}

impl TraceGroup {
    fn new(trace_id: TraceId, late: bool) -> Self {
        Self {
            trace_id,
            trace: None,
            spans: Vec::new(),
            messages: Vec::new(),
            feedback: Vec::new(),
            signals: Vec::new(),
            raw: Vec::new(),
            late,
        }
    }

    fn push(&mut self, record: Record, raw: Option<String>) {
        match record {
            Record::Trace(trace) => self.trace = Some(trace),
            Record::Span(span) => self.spans.push(span),
            Record::Message(message) => self.messages.push(message),
            Record::Feedback(feedback) => self.feedback.push(feedback),
            Record::Signal(signal) => self.signals.push(signal),
        }
        self.raw.extend(raw);
    }

    /// How many records the group holds.
    pub fn len(&self) -> usize {
        usize::from(self.trace.is_some())
            + self.spans.len()
            + self.messages.len()
            + self.feedback.len()
            + self.signals.len()
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

/// Bounds of the assembler.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most traces waiting for their trace record.
    pub max_pending_traces: usize,
    /// Most records held in waiting traces.
    pub max_pending_records: usize,
    /// Completed traces held back for their late feedback (0: give out at once).
    pub settling: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pending_traces: 10_000,
            max_pending_records: 200_000,
            settling: 8,
        }
    }
}

/// How many given-out trace ids are remembered to mark later records as late.
const REMEMBERED_TRACES: usize = 4096;

/// Groups records into traces; completed groups come out of [`Assembler::pop_ready`].
#[derive(Debug)]
pub struct Assembler {
    limits: Limits,
    pending: HashMap<TraceId, (u64, TraceGroup)>,
    pending_records: usize,
    arrival: VecDeque<(u64, TraceId)>,
    next_sequence: u64,
    settling: VecDeque<TraceGroup>,
    ready: VecDeque<TraceGroup>,
    given_out: HashSet<TraceId>,
    given_out_order: VecDeque<TraceId>,
    /// Groups given out incomplete because a bound was reached.
    pub evicted: u64,
}

impl Assembler {
    /// An empty assembler with these bounds.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            pending: HashMap::new(),
            pending_records: 0,
            arrival: VecDeque::new(),
            next_sequence: 0,
            settling: VecDeque::new(),
            ready: VecDeque::new(),
            given_out: HashSet::new(),
            given_out_order: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Adds one record (and its line, when kept).
    pub fn push(&mut self, record: Record, raw: Option<String>) {
        let trace_id = record.trace_id();
        if let Some(group) = self.settling.iter_mut().find(|g| g.trace_id == trace_id) {
            group.push(record, raw);
            return;
        }
        if matches!(record, Record::Trace(_)) {
            let mut group = match self.pending.remove(&trace_id) {
                Some((_, group)) => {
                    self.pending_records -= group.len();
                    group
                }
                None => TraceGroup::new(trace_id, self.given_out.contains(&trace_id)),
            };
            group.push(record, raw);
            self.settle(group);
            return;
        }
        match self.pending.get_mut(&trace_id) {
            Some((_, group)) => group.push(record, raw),
            None => {
                let sequence = self.next_sequence;
                self.next_sequence += 1;
                self.arrival.push_back((sequence, trace_id));
                let mut group = TraceGroup::new(trace_id, self.given_out.contains(&trace_id));
                group.push(record, raw);
                self.pending.insert(trace_id, (sequence, group));
            }
        }
        self.pending_records += 1;
        self.enforce_bounds();
    }

    fn settle(&mut self, group: TraceGroup) {
        self.settling.push_back(group);
        while self.settling.len() > self.limits.settling {
            if let Some(oldest) = self.settling.pop_front() {
                self.give_out(oldest);
            }
        }
    }

    fn give_out(&mut self, group: TraceGroup) {
        if self.given_out.insert(group.trace_id) {
            self.given_out_order.push_back(group.trace_id);
            if self.given_out_order.len() > REMEMBERED_TRACES {
                if let Some(forgotten) = self.given_out_order.pop_front() {
                    self.given_out.remove(&forgotten);
                }
            }
        }
        self.ready.push_back(group);
    }

    fn enforce_bounds(&mut self) {
        while self.pending.len() > self.limits.max_pending_traces
            || (self.pending_records > self.limits.max_pending_records && self.pending.len() > 1)
        {
            let Some(group) = self.pop_oldest_pending() else { break };
            self.evicted += 1;
            self.give_out(group);
        }
        // Drop the arrival entries of groups that completed, so the queue stays bounded.
        if self.arrival.len() > 2 * self.pending.len() + 64 {
            let pending = &self.pending;
            self.arrival
                .retain(|(sequence, id)| pending.get(id).is_some_and(|(s, _)| s == sequence));
        }
    }

    fn pop_oldest_pending(&mut self) -> Option<TraceGroup> {
        while let Some((sequence, trace_id)) = self.arrival.pop_front() {
            if self.pending.get(&trace_id).is_some_and(|(s, _)| *s == sequence) {
                let (_, group) = self.pending.remove(&trace_id)?;
                self.pending_records -= group.len();
                return Some(group);
            }
        }
        None
    }

    /// Gives out the completed traces held back for late feedback (when input is idle).
    pub fn flush_settling(&mut self) {
        while let Some(group) = self.settling.pop_front() {
            self.give_out(group);
        }
    }

    /// End of input: gives out every group, completed ones first, then the still-open
    /// ones in the order they began.
    pub fn finish(&mut self) {
        self.flush_settling();
        while let Some(group) = self.pop_oldest_pending() {
            self.give_out(group);
        }
    }

    /// The next group to print or count.
    pub fn pop_ready(&mut self) -> Option<TraceGroup> {
        self.ready.pop_front()
    }
}
