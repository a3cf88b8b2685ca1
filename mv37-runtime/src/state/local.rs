//! The thread's state: one thread-local that owns both the context stack (which traces
//! and spans are open here) and the records this thread finished and has not handed
//! over yet. Ending a trace or span and sending its record happen here, because both
//! touch that state: a record leaves the thread when 32 have gathered, when the thread
//! leaves its last open scope (so a trace's records leave with it), when this thread
//! calls `flush` or `shutdown`, and when the thread exits.
//!
//! Longer than 500 lines because the stack's operations and the hand-over of records
//! share that one borrow of the thread's state and must stay together; a fifth of the
//! file is their tests.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use fastant::Instant;

use super::open::{any_client_live, LocalSpan, LocalState, Recorder, SharedSpan, SharedTrace};
use crate::clock;
use crate::ids::SpanId;
use crate::in_place::push_in_place;
use crate::payload::limit_depth;
use crate::pipeline::{Chunk, FlushError, Gathering, Item, Pipeline, ShutdownError, MAX_ITEM_BYTES};
use crate::progress::{KindCode, Outcome, SpanState};
use crate::record::{Record, TraceScope};

/// One entry of the context stack as handed out: an open span (which knows its trace),
/// or a trace with no span open. One reference count per entry, not two.
#[derive(Clone)]
pub(crate) enum Frame {
    Trace(Arc<SharedTrace>),
    Span(Arc<SharedSpan>),
}

impl Frame {
    pub(crate) fn trace(&self) -> &Arc<SharedTrace> {
        match self {
            Frame::Trace(trace) => trace,
            Frame::Span(span) => &span.trace,
        }
    }

    pub(crate) fn span(&self) -> Option<&Arc<SharedSpan>> {
        match self {
            Frame::Trace(_) => None,
            Frame::Span(span) => Some(span),
        }
    }

    pub(crate) fn span_id(&self) -> SpanId {
        match self {
            Frame::Trace(trace) => trace.root_span_id,
            Frame::Span(span) => span.span_id,
        }
    }
}

/// One entry of the stack: a frame (a trace or a shared span, entered by a guard, a
/// future or a captured context), or a span run here whose state the stack holds.
///
/// A frame also keeps a spare reference to its trace: a child span run on it gives its
/// own reference back there when it ends, and the next child takes it from there when
/// it starts, so that a run of child spans under one frame changes no reference count
/// (a locked read-modify-write at each end of every span, 9 ns alone on an Intel Xeon;
/// in place the span measured no faster for it on that host, see PERFORMANCE.md's tenth
/// session). The spare goes with the entry; the frame holds the trace anyway, so it
/// keeps nothing alive that would not be.
enum Entry {
    Frame(Frame, Option<Arc<SharedTrace>>),
    Local(LocalSpan),
}

impl Entry {
    fn trace(&self) -> &Arc<SharedTrace> {
        match self {
            Entry::Frame(frame, _) => frame.trace(),
            Entry::Local(span) => span.trace(),
        }
    }

    fn span_id(&self) -> SpanId {
        match self {
            Entry::Frame(frame, _) => frame.span_id(),
            Entry::Local(span) => span.span_id(),
        }
    }

    /// A reference to the entry's trace for a span starting on it: the frame's spare if
    /// it keeps one, else a new one.
    #[inline(always)]
    fn trace_ref(&mut self) -> Arc<SharedTrace> {
        match self {
            Entry::Frame(frame, spare) => spare.take().unwrap_or_else(|| Arc::clone(frame.trace())),
            Entry::Local(span) => Arc::clone(span.trace()),
        }
    }

    /// Keeps `trace`, the reference of a span that ended on this entry, as the frame's
    /// spare; gives it back if the entry is not a frame of that trace or has one.
    #[inline(always)]
    fn keep_spare(&mut self, trace: Arc<SharedTrace>) -> Option<Arc<SharedTrace>> {
        match self {
            Entry::Frame(frame, spare @ None) if Arc::ptr_eq(frame.trace(), &trace) => {
                *spare = Some(trace);
                None
            }
            _ => Some(trace),
        }
    }

    /// The entry as a frame to hand out; a local span becomes shared.
    fn frame(&mut self) -> Option<Frame> {
        match self {
            Entry::Frame(frame, _) => Some(frame.clone()),
            Entry::Local(span) => span.share().map(Frame::Span),
        }
    }
}

struct ThreadState {
    stack: Vec<Entry>,
    records: Gathering,
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        // The thread exits: its records leave before the stack's references go (the
        // last one to a client shuts its pipeline down).
        self.records.hand_over();
    }
}

thread_local! {
    static STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState {
            stack: Vec::new(),
            records: Gathering::new(),
        })
    };
}

/// Runs `f` on this thread's state; `None` if there is none to use (the thread is
/// exiting, or the state is in use further up this call).
fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    STATE
        .try_with(|state| state.try_borrow_mut().ok().map(|mut state| f(&mut state)))
        .ok()
        .flatten()
}

/// Pushes `value` as an entry; gives it back if there is no stack to hold it (the thread
/// is exiting, or its state is in use further up this call). The value is moved once,
/// straight into the stack: an async span comes here at every poll.
fn push<T>(value: T, entry: impl FnOnce(T) -> Entry) -> Result<usize, T> {
    if STATE.try_with(|_| ()).is_err() {
        return Err(value);
    }
    STATE.with(|state| match state.try_borrow_mut() {
        Ok(mut state) => {
            push_in_place(&mut state.stack, entry(value));
            Ok(state.stack.len() - 1)
        }
        Err(_) => Err(value),
    })
}

/// Pushes a frame; returns the depth to give back to [`exit`].
pub(crate) fn enter(frame: Frame) -> usize {
    push(frame, |frame| Entry::Frame(frame, None)).unwrap_or(usize::MAX)
}

/// Moves the span in `slot` onto the stack, in one move (an async span comes here at
/// every poll); `None`, with the span left in `slot`, if there is no stack to hold it.
#[inline(always)]
pub(crate) fn enter_from(slot: &mut Option<LocalSpan>) -> Option<usize> {
    STATE
        .try_with(|state| {
            let mut state = state.try_borrow_mut().ok()?;
            let span = slot.take()?;
            push_in_place(&mut state.stack, Entry::Local(span));
            Some(state.stack.len() - 1)
        })
        .ok()
        .flatten()
}

/// Pushes the span `make` makes, made in place on the stack (a span made first and
/// pushed after was copied twice on the way), and starts it there
/// ([`LocalSpan::stamp_start`]); `None`, with `make` not called, if there is no stack to
/// hold it.
#[inline(always)]
pub(crate) fn enter_made(make: &mut Option<impl FnOnce() -> LocalSpan>) -> Option<usize> {
    STATE
        .try_with(|state| {
            let mut state = state.try_borrow_mut().ok()?;
            let make = make.take()?;
            push_in_place(&mut state.stack, Entry::Local(make()));
            if let Some(Entry::Local(span)) = state.stack.last_mut() {
                span.stamp_start();
            }
            Some(state.stack.len() - 1)
        })
        .ok()
        .flatten()
}

/// Pushes a span of `trace` with a static name and no extras (a plain builder's, a
/// macro's) and starts it; its depth, or the trace back if there is no stack to hold
/// it. Its parts come in registers: the span maker of [`enter_made`], a closure in
/// memory, was written by the caller and read back at once here, the name with a wider
/// load than its stores (a load that waits for them).
#[inline(never)]
pub(crate) fn enter_static(
    trace: Arc<SharedTrace>,
    span_id: SpanId,
    parent: Option<SpanId>,
    kind: KindCode,
    name: &'static str,
) -> Result<usize, Option<Arc<SharedTrace>>> {
    let mut trace = Some(trace);
    let entered = STATE
        .try_with(|state| {
            let mut state = state.try_borrow_mut().ok()?;
            let trace = trace.take()?;
            // Looked up in the same borrow as the push (one thread-local access fewer).
            let parent = parent.unwrap_or_else(|| parent_on(&state.stack, &trace));
            let span =
                LocalSpan::starting_coded(Instant::ZERO, trace, span_id, parent, kind, Cow::Borrowed(name), None);
            push_in_place(&mut state.stack, Entry::Local(span));
            if let Some(Entry::Local(span)) = state.stack.last_mut() {
                span.stamp_start();
            }
            Some(state.stack.len() - 1)
        })
        .ok()
        .flatten();
    entered.ok_or(trace)
}

/// Pops back to `depth` and returns the entry that was there. Entries above it (leaked
/// guards) go too, so that a mistake in one scope cannot corrupt the parent links of the
/// next; spans held by them are ended, not lost. If the thread left its last scope, its
/// records are handed over (after `last` has ended, so that they leave together).
fn pop_to(depth: usize, last: impl FnOnce(Option<Entry>)) {
    let mut cut_off = Vec::new();
    let popped = with_state(|state| {
        if state.stack.len() == depth + 1 {
            // The usual case: the scope is the innermost one.
            let entry = state.stack.pop();
            return (entry, state.stack.is_empty());
        }
        let mut entry = None;
        while state.stack.len() > depth {
            match state.stack.pop() {
                Some(popped) if state.stack.len() == depth => entry = Some(popped),
                Some(popped) => cut_off.push(popped),
                None => {}
            }
        }
        (entry, state.stack.is_empty())
    });
    // Ended and dropped outside the borrow: they may send records.
    for entry in cut_off {
        if let Entry::Local(span) = entry {
            span.finish(Outcome::Ok);
        }
    }
    let (entry, idle) = popped.unwrap_or((None, false));
    last(entry);
    if idle {
        let _ = with_state(|state| state.records.leave());
    }
}

/// Pops back to `depth`, dropping the frame there.
pub(crate) fn exit(depth: usize) {
    // The usual case, the frame innermost, without `pop_to`'s list of cut-off entries
    // (its loop and its drop were a tenth of a tiny trace's instructions, callgrind).
    // The entry is dropped after the borrow, as there: the last reference to a client
    // hands this thread's records over.
    let popped = with_state(|state| {
        if state.stack.len() != depth + 1 {
            return None;
        }
        let entry = state.stack.pop()?;
        Some((entry, state.stack.is_empty()))
    })
    .flatten();
    let Some((entry, idle)) = popped else {
        return pop_to(depth, end_exited);
    };
    end_exited(Some(entry));
    if idle {
        let _ = with_state(|state| state.records.leave());
    }
}

fn end_exited(entry: Option<Entry>) {
    if let Some(Entry::Local(span)) = entry {
        // A span run here was left from a guard's depth (guards dropped out of order):
        // it ends rather than being lost.
        span.finish(Outcome::Ok);
    }
}

/// Ends the span run at `depth` with `outcome` and leaves it.
///
/// Inlined, so that the usual outcome (`Ok`) is a branch at the call site and not a
/// 48-byte `Outcome` written by the caller and read back whole here: perf put a fifth
/// of this function's samples on that read (the caller's narrower stores cannot be
/// forwarded to its wider loads, which then wait for them to reach the cache).
#[inline(always)]
pub(crate) fn leave_local(depth: usize, span_id: SpanId, outcome: Outcome) {
    match outcome {
        Outcome::Ok => leave_local_ok(depth, span_id),
        outcome => leave_local_with(depth, span_id, outcome),
    }
}

#[inline(never)]
fn leave_local_ok(depth: usize, span_id: SpanId) {
    // Read first: the span ends when its code returned, not after this bookkeeping.
    let end = clock::tick();
    if !leave_innermost(depth, span_id, |span| span.close_ok_at(end)) {
        leave_cut_off(depth, span_id, Outcome::Ok);
    }
}

#[inline(never)]
fn leave_local_with(depth: usize, span_id: SpanId, outcome: Outcome) {
    let mut outcome = Some(outcome);
    let left = leave_innermost(depth, span_id, |span| {
        span.close(outcome.take().unwrap_or(Outcome::Ok));
    });
    if let (false, Some(outcome)) = (left, outcome) {
        leave_cut_off(depth, span_id, outcome);
    }
}

/// The usual case of [`leave_local`], in one borrow of the thread's state: the span is
/// the innermost entry and still local. It is closed with `close`, and its state goes
/// from the stack into the thread's chunk without passing through the frames of
/// `pop_to`, `finish` and `send` (each moved the 112-byte entry or the 128-byte item
/// once more: a fifth of the hot path). `false`, with `close` not called, if the span
/// is not there so.
///
/// Whatever may call out (the chunk made, another pipeline's records handed over, a new
/// trace scope listed) is done while the span is still on the stack: between popping
/// it and adding it to the chunk nothing but `close` runs, so that with `close` inlined
/// the span's state goes from the stack's slot into the chunk's without a temporary
/// (see `crate::in_place`).
#[inline(always)]
fn leave_innermost(depth: usize, span_id: SpanId, close: impl FnOnce(&mut SpanState)) -> bool {
    let left = with_state(|state| {
        let ThreadState { stack, records } = state;
        if stack.len() != depth + 1 {
            return None;
        }
        let trace = match stack.last() {
            Some(Entry::Local(span)) if span.span_id() == span_id && span.is_local() => span.trace(),
            _ => return None,
        };
        let chunk = records.chunk_for(&trace.recorder.pipeline);
        let scope = chunk.scope_index(&trace.scope);
        let Some(Entry::Local(span)) = stack.pop() else {
            return None;
        };
        let (trace, mut span_state) = match span.into_local() {
            Ok(parts) => parts,
            Err(span) => {
                // Not reached (checked above); ended the general way rather than lost.
                stack.push(Entry::Local(span));
                return None;
            }
        };
        close(&mut span_state);
        chunk.add_span(span_state, trace.trace_id, span_id, scope);
        records.added(stack.is_empty());
        // Kept by the frame below for the next span, or dropped after the borrow: the
        // last reference to a client shuts it down, which hands this thread's records
        // over.
        Some(match stack.last_mut() {
            Some(below) => below.keep_spare(trace),
            None => Some(trace),
        })
    })
    .flatten();
    left.is_some()
}

/// [`leave_local`] when the span is not the innermost local entry: entries above it
/// (leaked guards) are cut off and ended, or it was ended already.
#[cold]
fn leave_cut_off(depth: usize, span_id: SpanId, outcome: Outcome) {
    pop_to(depth, |entry| match entry {
        Some(Entry::Local(span)) if span.span_id() == span_id => span.finish(outcome),
        // Ours was ended already (cut off); whatever took its place ends too.
        Some(Entry::Local(span)) => span.finish(Outcome::Ok),
        _ => {}
    });
}

/// Takes the span run at `depth` off the stack, still open (a future's span between
/// polls); `None` if it was ended meanwhile.
pub(crate) fn take_local(depth: usize, span_id: SpanId) -> Option<LocalSpan> {
    let mut taken = None;
    pop_to(depth, |entry| match entry {
        Some(Entry::Local(span)) if span.span_id() == span_id => taken = Some(span),
        Some(Entry::Local(span)) => span.finish(Outcome::Ok),
        _ => {}
    });
    taken
}

/// Runs `f` on the span run at `depth` (`None` if it is not there any more).
pub(crate) fn with_local<R>(depth: usize, span_id: SpanId, f: impl FnOnce(&mut LocalSpan) -> R) -> Option<R> {
    with_state(|state| match state.stack.get_mut(depth) {
        Some(Entry::Local(span)) if span.span_id() == span_id => Some(f(span)),
        _ => None,
    })
    .flatten()
}

/// The innermost span of `trace` open here, or the trace's root span.
pub(crate) fn parent_in(trace: &Arc<SharedTrace>) -> SpanId {
    STATE
        .try_with(|state| Some(parent_on(&state.try_borrow().ok()?.stack, trace)))
        .ok()
        .flatten()
        .unwrap_or(trace.root_span_id)
}

/// The innermost span of `trace` on `stack`, or the trace's root span.
#[inline(always)]
fn parent_on(stack: &[Entry], trace: &Arc<SharedTrace>) -> SpanId {
    stack
        .iter()
        .rev()
        .find(|entry| Arc::ptr_eq(entry.trace(), trace))
        .map_or(trace.root_span_id, Entry::span_id)
}

/// The innermost frame of `trace` open here.
pub(crate) fn frame_in(trace: &Arc<SharedTrace>) -> Option<Frame> {
    with_state(|state| {
        state
            .stack
            .iter_mut()
            .rev()
            .find(|entry| Arc::ptr_eq(entry.trace(), trace))
            .and_then(Entry::frame)
    })
    .flatten()
}

/// The trace open here, without making a span run here shareable.
pub(crate) fn current_trace() -> Option<Arc<SharedTrace>> {
    if !any_client_live() {
        return None;
    }
    STATE
        .try_with(|state| {
            let state = state.try_borrow().ok()?;
            state.stack.last().map(|entry| Arc::clone(entry.trace()))
        })
        .ok()
        .flatten()
}

/// The trace open here and the span a new span opened now is the child of (the
/// innermost entry's), in one look at the thread's state.
pub(crate) fn current_trace_and_parent() -> Option<(Arc<SharedTrace>, SpanId)> {
    if !any_client_live() {
        return None;
    }
    STATE
        .try_with(|state| {
            let mut state = state.try_borrow_mut().ok()?;
            state.stack.last_mut().map(|entry| (entry.trace_ref(), entry.span_id()))
        })
        .ok()
        .flatten()
}

/// A reference to `trace` for a span starting now: the spare of the innermost entry if
/// that is a frame of `trace` that keeps one (no reference count changes), else a new
/// one.
pub(crate) fn trace_ref(trace: &Arc<SharedTrace>) -> Arc<SharedTrace> {
    with_state(|state| match state.stack.last_mut() {
        Some(entry) if Arc::ptr_eq(entry.trace(), trace) => Some(entry.trace_ref()),
        _ => None,
    })
    .flatten()
    .unwrap_or_else(|| Arc::clone(trace))
}

/// The innermost frame open here (a span run here becomes shareable).
pub(crate) fn current_frame() -> Option<Frame> {
    if !any_client_live() {
        return None;
    }
    with_state(|state| state.stack.last_mut()?.frame()).flatten()
}

/// Adds an item to this thread's records for `pipeline` (alone, if the thread's state
/// cannot be used). Never blocks.
fn send(pipeline: &Arc<Pipeline>, item: Item, scope: Option<&Arc<TraceScope>>, bytes: u64) {
    let bytes = bytes.min(MAX_ITEM_BYTES);
    let mut item = Some(item);
    let _ = with_state(|state| {
        if let Some(item) = item.take() {
            let idle = state.stack.is_empty();
            state.records.add(pipeline, item, scope, bytes, idle);
        }
    });
    if let Some(item) = item {
        pipeline.submit_chunk(Chunk::one(item, scope, bytes));
    }
}

fn hand_over_for(pipeline: &Pipeline) {
    let _ = with_state(|state| state.records.hand_over_for(pipeline));
}

fn submit_span(trace: &SharedTrace, span_id: SpanId, state: SpanState) {
    let bytes = state.approx_bytes() as u64;
    let item = Item::span(state, trace.trace_id, span_id);
    send(&trace.recorder.pipeline, item, Some(&trace.scope), bytes);
}

impl LocalSpan {
    /// Ends the span with `outcome` and sends its record.
    pub(crate) fn finish(self, outcome: Outcome) {
        let span_id = self.span_id();
        match self.state {
            LocalState::Local(mut state) => {
                state.close(outcome);
                submit_span(&self.trace, span_id, state);
            }
            LocalState::Shared(inner) => inner.end(outcome),
            LocalState::Moving => {}
        }
    }
}

impl SharedSpan {
    /// Ends the span (if it has not ended) and sends its record.
    pub(crate) fn end(&self, outcome: Outcome) {
        let (status, error) = outcome.into_status();
        if let Some(state) = self.record.close(status, error) {
            submit_span(&self.trace, self.span_id, state);
        }
    }
}

impl SharedTrace {
    /// Ends the trace (if it has not ended), sends its record, and has this thread's
    /// records exported now: "the trace flushes".
    pub(crate) fn end(&self, outcome: Outcome) {
        let (status, error) = outcome.into_status();
        if let Some(state) = self.record.close(status, error) {
            let bytes = state.approx_bytes(&self.scope) as u64;
            send(&self.recorder.pipeline, Item::trace(state), Some(&self.scope), bytes);
            self.recorder.trace_ended();
        }
    }

    /// The span that a record made now through this trace belongs to.
    pub(crate) fn current_span(self: &Arc<Self>) -> SpanId {
        parent_in(self)
    }
}

impl Recorder {
    /// Sends a record that is not a span or trace (a message, feedback, a signal).
    pub(crate) fn submit(&self, mut record: Record) {
        // Values given as `serde_json::Value` are held to the payload depth limit here,
        // so that every record written can be read back.
        match &mut record {
            Record::Feedback(feedback) => {
                limit_depth(&mut feedback.value);
                if feedback.root_span_id.is_none() || feedback.scope.is_none() {
                    // Feedback given after its trace ended is completed on the exporter
                    // thread from the trace's record, which must get there first: the
                    // records threads left in their mailboxes are queued ahead of it.
                    self.pipeline.collect_mailboxes();
                }
            }
            Record::Signal(signal) => limit_depth(&mut signal.value),
            _ => {}
        }
        let bytes = record.approx_bytes() as u64;
        send(&self.pipeline, Item::Record(Box::new(record)), None, bytes);
    }

    /// A trace ended: its records are exported now rather than at the next batch
    /// interval; with `flush_on_end` the caller waits for that.
    fn trace_ended(&self) {
        if self.flush_on_end {
            let _ = self.flush(self.shutdown_timeout);
        } else {
            let _ = with_state(|state| state.records.leave_for(&self.pipeline));
            self.pipeline.export_soon();
        }
    }

    /// Waits until what this thread finished, and what other threads handed over, is
    /// exported.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        hand_over_for(&self.pipeline);
        self.pipeline.flush(timeout)
    }

    /// Stops recording and delivers what is left within `timeout`.
    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        hand_over_for(&self.pipeline);
        self.pipeline.shutdown(timeout)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.forget();
        // The last handle (client, trace or span) is gone: deliver what is left.
        let _ = self.shutdown(self.shutdown_timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::export::MemoryExporter;
    use crate::record::Status;

    fn client() -> (Client, MemoryExporter) {
        let memory = MemoryExporter::new();
        let client = Client::builder().exporter(memory.clone()).build().expect("client");
        (client, memory)
    }

    fn depth() -> usize {
        with_state(|state| state.stack.len()).unwrap_or(usize::MAX)
    }

    #[test]
    fn the_innermost_entry_of_a_trace_is_the_parent_and_leaving_restores_the_one_below() {
        let (client, _memory) = client();
        let trace = client.trace("t").start();
        let root = trace.root_span_id().expect("recording");
        let shared = current_trace().expect("a trace is open");
        assert_eq!(parent_in(&shared), root);
        let span = trace.task("outer").start();
        assert_eq!(parent_in(&shared), span.id().expect("recording"));
        assert_eq!(depth(), 2);
        drop(span);
        assert_eq!(parent_in(&shared), root);
        drop(trace);
        assert_eq!(depth(), 0);
        assert!(current_trace().is_none());
    }

    #[test]
    fn child_spans_reuse_one_spare_reference_that_goes_with_the_frame() {
        let (client, memory) = client();
        let trace = client.trace("t").start();
        let shared = current_trace().expect("a trace is open");
        // This handle, the guard's handle and scope, and the frame on the stack.
        let base = Arc::strong_count(&shared);
        trace
            .task("first")
            .run(|_| assert_eq!(Arc::strong_count(&shared), base + 1));
        assert_eq!(
            Arc::strong_count(&shared),
            base + 1,
            "the span's reference is the frame's spare"
        );
        for _ in 0..3 {
            trace.task("next").run(|_| {
                assert_eq!(Arc::strong_count(&shared), base + 1, "the next span took the spare");
                // A span nested in a local span gets its own reference.
                trace
                    .tool("nested")
                    .run(|_| assert_eq!(Arc::strong_count(&shared), base + 2));
            });
            assert_eq!(Arc::strong_count(&shared), base + 1, "one spare, not one per span");
        }
        drop(trace);
        assert_eq!(depth(), 0);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "only this handle is left: the spare went with the frame"
        );
        client.flush().expect("flush");
        assert_eq!(memory.spans().len(), 7);
        let first = memory.span("first").expect("sent");
        assert_eq!(
            memory.span("nested").expect("sent").parent_span_id,
            memory
                .spans()
                .iter()
                .find(|span| span.name == "next")
                .map(|span| span.span_id)
        );
        assert_eq!(first.parent_span_id, memory.traces().first().map(|trace| trace.span_id));
    }

    #[test]
    fn leaving_an_outer_scope_cuts_off_leaked_entries_and_ends_their_spans() {
        let (client, memory) = client();
        let trace = client.trace("t").start();
        let outer = depth() - 1;
        // A span run on the stack whose scope is never left (a leaked guard's state).
        let span = trace.task("leaked").prepare().expect("recording");
        let local = enter_from(&mut Some(span)).unwrap_or(usize::MAX);
        assert_eq!(local, outer + 1);
        exit(outer);
        assert_eq!(depth(), 0, "the leaked entry went with its parent");
        drop(trace);
        client.flush().expect("flush");
        let leaked = memory
            .span("leaked")
            .expect("the cut-off span ended and was sent, not lost");
        assert_eq!(leaked.status, Status::Ok);
    }

    #[test]
    fn a_thread_hands_its_records_over_when_it_leaves_its_last_scope() {
        let (client, _memory) = client();
        let trace = client.trace("t").start();
        trace.task("a").run(|_| ());
        // Still inside the trace: the span's record waits in this thread's chunk.
        assert_eq!(client.stats().produced, 0);
        let span = trace.tool("b").prepare().expect("recording");
        let id = span.span_id();
        let at = enter_from(&mut Some(span)).unwrap_or(usize::MAX);
        leave_local(at, id, Outcome::Ok);
        assert_eq!(client.stats().produced, 0, "not idle yet: the trace is still open");
        drop(trace);
        // The trace's end hands everything over, before any flush.
        assert_eq!(client.stats().produced, 3);
    }

    #[test]
    fn with_local_reaches_only_the_span_it_was_given() {
        let (client, _memory) = client();
        let trace = client.trace("t").start();
        let span = trace.task("s").prepare().expect("recording");
        let id = span.span_id();
        let at = enter_from(&mut Some(span)).unwrap_or(usize::MAX);
        assert_eq!(with_local(at, id, |span| span.span_id()), Some(id));
        assert_eq!(with_local(at, SpanId::random(), |span| span.span_id()), None);
        assert_eq!(with_local(at + 1, id, |span| span.span_id()), None);
        let taken = take_local(at, id).expect("still open");
        assert_eq!(taken.span_id(), id);
        assert_eq!(with_local(at, id, |span| span.span_id()), None, "taken off the stack");
        taken.finish(Outcome::Cancelled);
        drop(trace);
    }
}
