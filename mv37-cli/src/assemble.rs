//! Grouping a stream of records into traces with bounded memory.
//!
//! The runtime writes a trace's spans, late messages, signals and feedback before the
//! trace's own record, so a trace is complete when its `trace` record arrives. Groups
//! still waiting for it are held in a pending map bounded in traces and in records: past
//! either bound, the oldest group is given out as it is (incomplete). A completed trace
//! waits among the last few completed ones (the settling window) so that feedback given
//! just after it ends joins it; later records of an already given out trace form a group
//! marked `late`.

use std::collections::{HashSet, VecDeque};

use mv37_runtime::render::{self, PendingTraces};
use mv37_runtime::{Record, TraceId};

/// The records of one trace, as read.
#[derive(Debug)]
pub struct TraceGroup {
    /// The records, by type.
    pub records: render::TraceGroup,
    /// The lines as read, when kept (for `--json`).
    pub raw: Vec<String>,
    /// Records of a trace that was already given out.
    pub late: bool,
}

impl TraceGroup {
    fn new(trace_id: TraceId, late: bool) -> Self {
        Self {
            records: render::TraceGroup::new(trace_id),
            raw: Vec::new(),
            late,
        }
    }

    fn push(&mut self, record: Record, raw: Option<String>) {
        self.records.push(record);
        self.raw.extend(raw);
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
    pending: PendingTraces<TraceGroup>,
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
            pending: PendingTraces::default(),
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
        if let Some(group) = self.settling.iter_mut().find(|g| g.records.trace_id == trace_id) {
            group.push(record, raw);
            return;
        }
        if matches!(record, Record::Trace(_)) {
            let late = self.given_out.contains(&trace_id);
            let mut group = self
                .pending
                .remove(&trace_id)
                .unwrap_or_else(|| TraceGroup::new(trace_id, late));
            group.push(record, raw);
            self.settle(group);
            return;
        }
        let late = self.given_out.contains(&trace_id);
        self.pending
            .add(trace_id, || TraceGroup::new(trace_id, late))
            .push(record, raw);
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
        let trace_id = group.records.trace_id;
        if self.given_out.insert(trace_id) {
            self.given_out_order.push_back(trace_id);
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
            || (self.pending.records() > self.limits.max_pending_records && self.pending.len() > 1)
        {
            let Some(group) = self.pending.pop_oldest() else { break };
            self.evicted += 1;
            self.give_out(group);
        }
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
        while let Some(group) = self.pending.pop_oldest() {
            self.give_out(group);
        }
    }

    /// The next group to print or count.
    pub fn pop_ready(&mut self) -> Option<TraceGroup> {
        self.ready.pop_front()
    }
}
