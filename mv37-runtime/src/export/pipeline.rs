//! The batching pipeline: a bounded lock-free queue filled by the program's threads and
//! drained by one background thread that batches records and calls the exporter.
//!
//! Over 500 lines: per-thread gathering, the chunk pools, the admission counter, the worker
//! loop and the flush/shutdown handshake still live together here; the architecture issue
//! (#13) splits them into their own modules.

use std::cell::RefCell;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::{ArrayQueue, SegQueue};
use smallvec::SmallVec;

use super::deadline::{self, SharedDeadline};
use super::redeliver::SpoolRedelivery;
use super::spool::Spool;
use super::Exporter;
use crate::config::{Config, ConfigError};
use crate::open::Extras;
use crate::payload::Payload;
use crate::record::{Record, TraceScope};
use crate::redact::{redact_records, redact_text, RedactHook};
use crate::span::RawSpan;
use crate::stats::{Counters, DropReason, Stats};
use crate::trace::{RawTrace, TraceResource};

/// Why `flush` did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    /// The exporter did not catch up within the timeout; records are still queued.
    #[error("flush timed out after {timeout:?} with {queued} records still queued")]
    Timeout {
        /// How long the caller waited.
        timeout: Duration,
        /// Records still queued when the caller gave up.
        queued: u64,
    },
    /// `flush` was called from inside an exporter, which would wait for itself.
    #[error("flush called from the exporter thread, which would deadlock")]
    FromExporterThread,
}

/// Why `shutdown` did not drain everything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShutdownError {
    /// The deadline passed while the exporter was still busy. What it had not exported
    /// went to the spool (when one is configured) or was counted as dropped
    /// (`shutdown_timeout`): nothing is left queued.
    #[error(
        "shutdown deadline of {timeout:?} passed with {queued} records not exported (spooled or counted as dropped)"
    )]
    Timeout {
        /// The deadline that passed.
        timeout: Duration,
        /// Records the exporter had not exported at the deadline.
        queued: u64,
    },
    /// `shutdown` was called from inside an exporter, which would wait for itself.
    #[error("shutdown called from the exporter thread, which would deadlock")]
    FromExporterThread,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_queue_records: usize,
    max_queue_bytes: usize,
    max_batch_records: usize,
    max_batch_bytes: usize,
    batch_interval: Duration,
    linger: Duration,
}

#[derive(Default)]
struct Control {
    flush_requested: u64,
    flush_completed: u64,
    shutdown_deadline: Option<Instant>,
}

/// Queue occupancy and the closed flag in one word, so that a producer reserves room and
/// learns whether the pipeline still accepts records with a single atomic add:
/// bit 63 is "closed", bits 40..63 count records, bits 0..40 count bytes.
const CLOSED: u64 = 1 << 63;
const ONE_RECORD: u64 = 1 << 40;
const BYTES_MASK: u64 = ONE_RECORD - 1;
/// The largest queue bound in records that the packed word can hold with room to spare
/// for producers that overshoot before they back off.
pub(crate) const MAX_QUEUE_RECORDS: usize = (1 << 22) - 1;
/// The largest queue bound in bytes.
pub(crate) const MAX_QUEUE_BYTES: usize = (1 << 39) - 1;

fn queued_records(state: u64) -> usize {
    ((state & !CLOSED) >> 40) as usize
}

fn queued_bytes(state: u64) -> usize {
    (state & BYTES_MASK) as usize
}

/// How long the exporter waits after a trace ended before it exports, so that the traces
/// that end meanwhile go in the same request: at 1,000 traces a second this makes at
/// most 50 requests a second, and an isolated trace still leaves within this time.
pub(crate) const DEFAULT_EXPORT_LINGER: Duration = Duration::from_millis(20);

/// How much earlier than the shutdown deadline the exporter gives up on what is in
/// flight: a fifth of the time left, at most this, so that what it could not deliver is
/// spooled or counted before the caller's deadline.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(250);

/// `now + timeout`, for any timeout (`Duration::MAX` means "a year", not a panic).
fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// Records a thread gathers before it hands them to the queue in one operation.
const LOCAL_CHUNK: usize = 32;

/// Records a hand-over moves into a small chunk rather than sending its full one (a
/// thread left its last scope after a short trace).
const SMALL_CHUNK: usize = 4;

/// Empty chunks kept for the producing threads to reuse, full-size and small. The
/// exporter thread allocates them and takes them back, so that a chunk's memory is not
/// freed by a thread other than the one that allocated it (such a free contends for the
/// lock of the allocating thread's malloc arena, and the arena's bookkeeping shares cache
/// lines with the producer's live objects).
const SPARE_FULL: usize = 64;
const SPARE_SMALL: usize = 512;

/// What a thread hands over: finished spans and traces in their compact form (turned
/// into records on the exporter thread), other records boxed.
enum Item {
    Span { span: RawSpan, scope: u32, parked: bool },
    Trace { trace: RawTrace, scope: u32, parked: bool },
    Record(Box<Record>),
}

/// The extras of a span or trace in a chunk, out of their box, with the text of their
/// input and output moved into the chunk's data. The box and the payloads are freed by
/// the producing thread that allocated them (where the allocator reuses them for the
/// next span), and the exporter thread rebuilds them from memory it owns: a capture-heavy
/// program does not make the two threads contend for the producer's malloc arena.
struct Parked {
    extras: Extras,
    input: Option<Range<usize>>,
    output: Option<Range<usize>>,
}

/// A chunk's data buffer larger than this is not kept for reuse.
const MAX_KEPT_DATA: usize = 64 * 1024;

/// Records handed over together, with their approximate size. The items of a chunk
/// share its list of trace scopes (usually one), so that a scope's reference count is
/// touched once per chunk rather than once per span.
struct Chunk {
    items: Vec<Item>,
    scopes: SmallVec<[Arc<TraceScope>; 2]>,
    parked: Vec<Parked>,
    data: String,
    bytes: u64,
}

impl Chunk {
    fn with_capacity(items: usize) -> Self {
        Self {
            items: Vec::with_capacity(items),
            scopes: SmallVec::new(),
            parked: Vec::new(),
            data: String::new(),
            bytes: 0,
        }
    }

    /// Adds an item: its scope goes into the chunk's list, its extras are parked.
    fn add(&mut self, mut item: Item, scope: Option<&Arc<TraceScope>>, bytes: u64) {
        let (index, parked, extras) = match &mut item {
            Item::Span { span, scope, parked } => (scope, parked, span.extras_slot()),
            Item::Trace { trace, scope, parked } => (scope, parked, trace.extras_slot()),
            Item::Record(_) => {
                self.items.push(item);
                self.bytes += bytes;
                return;
            }
        };
        if let Some(scope) = scope {
            *index = self.scope_index(scope);
        }
        if let Some(mut boxed) = extras.take() {
            let mut stash = |payload: Option<Payload>| {
                payload.map(|payload| {
                    let start = self.data.len();
                    self.data.push_str(payload.as_json());
                    start..self.data.len()
                })
            };
            let (input, output) = (stash(boxed.input.take()), stash(boxed.output.take()));
            self.parked.push(Parked {
                extras: std::mem::take(&mut *boxed),
                input,
                output,
            });
            *parked = true;
        }
        self.items.push(item);
        self.bytes += bytes;
    }

    /// Moves everything gathered in `from` into this (empty) chunk.
    fn take_from(&mut self, from: &mut Chunk) {
        self.items.append(&mut from.items);
        self.scopes.extend(from.scopes.drain(..));
        self.parked.append(&mut from.parked);
        self.data.push_str(&from.data);
        from.data.clear();
        self.bytes = std::mem::take(&mut from.bytes);
    }

    /// What the chunk counts against the queue's byte bound while queued: its records'
    /// approximate size and its own memory.
    fn weight(&self) -> u64 {
        let memory = std::mem::size_of::<Self>()
            + self.items.capacity() * std::mem::size_of::<Item>()
            + self.parked.capacity() * std::mem::size_of::<Parked>()
            + self.data.capacity();
        self.bytes + memory as u64
    }

    fn one(item: Item, scope: Option<&Arc<TraceScope>>, bytes: u64) -> Self {
        let mut chunk = Self::with_capacity(1);
        chunk.add(item, scope, bytes);
        chunk
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// The index of `scope` in this chunk's list, adding it if it is not the last one.
    fn scope_index(&mut self, scope: &Arc<TraceScope>) -> u32 {
        if !self.scopes.last().is_some_and(|last| Arc::ptr_eq(last, scope)) {
            self.scopes.push(Arc::clone(scope));
        }
        u32::try_from(self.scopes.len() - 1).unwrap_or(u32::MAX)
    }

    /// Empties the chunk (its records are dropped), keeping its memory.
    fn clear(&mut self) {
        self.items.clear();
        self.scopes.clear();
        self.clear_data();
    }

    fn clear_data(&mut self) {
        self.parked.clear();
        if self.data.capacity() > MAX_KEPT_DATA {
            self.data = String::new();
        }
        self.data.clear();
        self.bytes = 0;
    }

    /// Turns the chunk's items into records, appended to `records`. The chunk keeps its
    /// scopes (see [`Pipeline::recycle`]).
    fn drain_into(&mut self, records: &mut Vec<Record>, resource: &TraceResource) {
        let (scopes, data) = (&self.scopes, &self.data);
        let mut parked = self.parked.drain(..);
        let mut unpark = |slot: &mut Option<Box<Extras>>, is_parked: bool| {
            if let Some(Parked {
                mut extras,
                input,
                output,
            }) = is_parked.then(|| parked.next()).flatten()
            {
                let text = |range: Option<Range<usize>>| range.and_then(|range| data.get(range)).map(Payload::trusted);
                extras.input = text(input);
                extras.output = text(output);
                *slot = Some(Box::new(extras));
            }
        };
        records.extend(self.items.drain(..).map(|item| match item {
            Item::Span {
                mut span,
                scope,
                parked,
            } => {
                unpark(span.extras_slot(), parked);
                Record::Span(span.into_record(scopes.get(scope as usize).cloned()))
            }
            Item::Trace {
                mut trace,
                scope,
                parked,
            } => {
                unpark(trace.extras_slot(), parked);
                Record::Trace(trace.into_record(scopes.get(scope as usize), resource))
            }
            Item::Record(record) => *record,
        }));
        drop(parked);
        self.clear_data();
    }
}

/// The records the current thread has finished but not yet handed to a pipeline. They
/// go to the queue when 32 have gathered, when the thread leaves the last open trace or
/// span (so a trace's records leave with it), when this thread calls `flush` or
/// `shutdown`, and when the thread exits.
struct LocalRecords {
    pipeline: Option<Arc<Pipeline>>,
    chunk: Option<Chunk>,
}

impl LocalRecords {
    fn hand_over(&mut self) {
        let Some(pipeline) = &self.pipeline else { return };
        if self.chunk.as_ref().is_none_or(|chunk| chunk.items.is_empty()) {
            return;
        }
        let Some(chunk) = self.chunk.as_mut() else { return };
        // The records are copied into a spare chunk of their size, and the thread keeps
        // its gathering chunk: its memory stays in this core's cache, where writing the
        // next records costs no transfer from the exporter's core, and a queue of small
        // hand-overs stays as small as its records.
        let mut out = pipeline.spare_chunk(if chunk.len() <= SMALL_CHUNK {
            SMALL_CHUNK
        } else {
            LOCAL_CHUNK
        });
        out.take_from(chunk);
        pipeline.submit_chunk(out);
    }

    /// This thread's chunk for `pipeline` (handing over one gathered for another).
    fn chunk_for(&mut self, pipeline: &Arc<Pipeline>) -> &mut Chunk {
        if !self.pipeline.as_ref().is_some_and(|p| Arc::ptr_eq(p, pipeline)) {
            self.hand_over();
            self.pipeline = Some(Arc::clone(pipeline));
        }
        self.chunk.get_or_insert_with(|| Chunk::with_capacity(LOCAL_CHUNK))
    }

    fn pushed(&mut self) {
        if self.chunk.as_ref().is_some_and(|chunk| chunk.len() >= LOCAL_CHUNK) || crate::context::is_idle() {
            self.hand_over();
        }
    }
}

impl Drop for LocalRecords {
    fn drop(&mut self) {
        self.hand_over();
    }
}

thread_local! {
    static LOCAL: RefCell<LocalRecords> = const {
        RefCell::new(LocalRecords {
            pipeline: None,
            chunk: None,
        })
    };
}

/// Hands over the records this thread has gathered, whatever pipeline they are for.
pub(crate) fn hand_over_this_thread() {
    let _ = LOCAL.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            local.hand_over();
        }
    });
}

pub(crate) struct Pipeline {
    queue: SegQueue<Chunk>,
    spare_full: ArrayQueue<Chunk>,
    spare_small: ArrayQueue<Chunk>,
    state: AtomicU64,
    counters: Counters,
    finished: AtomicBool,
    /// A trace ended and its records are not exported yet.
    urgent: AtomicBool,
    wake_pending: AtomicBool,
    limits: Limits,
    /// The shutdown deadline, as the exporter thread's transports see it mid-request.
    deadline: Arc<SharedDeadline>,
    /// Set when a `shutdown` caller gave up waiting at the deadline and took over the
    /// accounting of what the exporter still held; the exporter thread changes
    /// `in_flight` and counts outcomes only while holding this lock and while it is false.
    abandoned: Mutex<bool>,
    control: Mutex<Control>,
    changed: Condvar,
    thread: OnceLock<Thread>,
    failures_logged: AtomicU64,
    redact: Option<RedactHook>,
    /// Used by the exporter thread only; a lock so the pipeline can be shared.
    spool: Mutex<Option<Spool>>,
    /// The client's fields every trace record carries, added on the exporter thread.
    resource: TraceResource,
}

// The redaction hook is only called under `catch_unwind` on the exporter thread, and
// every other piece of state is atomics or poison-tolerant locks: a panic in user code
// cannot leave the pipeline inconsistent, so clients stay usable across `catch_unwind`.
impl std::panic::RefUnwindSafe for Pipeline {}

impl Pipeline {
    /// Starts the exporter thread.
    pub(crate) fn start(
        config: &Config,
        exporter: Box<dyn Exporter>,
        redact: Option<RedactHook>,
        spool: Option<Spool>,
    ) -> Result<Arc<Self>, ConfigError> {
        let pipeline = Arc::new(Self {
            queue: SegQueue::new(),
            spare_full: ArrayQueue::new(SPARE_FULL),
            spare_small: ArrayQueue::new(SPARE_SMALL),
            state: AtomicU64::new(0),
            counters: Counters::default(),
            finished: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            deadline: Arc::new(SharedDeadline::default()),
            abandoned: Mutex::new(false),
            limits: Limits {
                max_queue_records: config.max_queue_records.clamp(1, MAX_QUEUE_RECORDS),
                max_queue_bytes: config.max_queue_bytes.clamp(1, MAX_QUEUE_BYTES),
                max_batch_records: config.max_batch_records.max(1),
                max_batch_bytes: config.max_batch_bytes.max(1),
                batch_interval: config.batch_interval,
                linger: config.export_linger.min(config.batch_interval),
            },
            control: Mutex::new(Control::default()),
            changed: Condvar::new(),
            thread: OnceLock::new(),
            failures_logged: AtomicU64::new(0),
            redact,
            spool: Mutex::new(spool),
            resource: TraceResource {
                environment: config.environment.as_deref().map(Arc::from),
                release: config.release.as_deref().map(Arc::from),
                service_name: config.service_name.as_deref().map(Arc::from),
            },
        });
        let worker = Arc::clone(&pipeline);
        let handle = thread::Builder::new()
            .name("mv37-exporter".into())
            .spawn(move || worker.run(exporter))
            .map_err(|e| ConfigError::Thread(e.to_string()))?;
        let _ = pipeline.thread.set(handle.thread().clone());
        Ok(pipeline)
    }

    /// Hands a finished record to the exporter thread, through this thread's chunk.
    /// Never blocks: past the queue's bound records are dropped and counted.
    pub(crate) fn submit(self: &Arc<Self>, mut record: Record) {
        // Values given as `serde_json::Value` are held to the payload depth limit here,
        // so that every record written can be read back.
        match &mut record {
            Record::Feedback(feedback) => crate::payload::limit_depth(&mut feedback.value),
            Record::Signal(signal) => crate::payload::limit_depth(&mut signal.value),
            _ => {}
        }
        let bytes = (record.approx_bytes() as u64).min(BYTES_MASK >> 8);
        self.push(Item::Record(Box::new(record)), None, bytes);
    }

    /// Hands a finished span to the exporter thread, in its compact form.
    pub(crate) fn submit_span(self: &Arc<Self>, span: RawSpan, scope: &Arc<TraceScope>) {
        let bytes = (span.approx_bytes() as u64).min(BYTES_MASK >> 8);
        let item = Item::Span {
            span,
            scope: 0,
            parked: false,
        };
        self.push(item, Some(scope), bytes);
    }

    /// Hands a finished trace to the exporter thread, in its compact form.
    pub(crate) fn submit_trace(self: &Arc<Self>, trace: RawTrace, scope: &Arc<TraceScope>) {
        let bytes = (trace.approx_bytes(scope) as u64).min(BYTES_MASK >> 8);
        let item = Item::Trace {
            trace,
            scope: 0,
            parked: false,
        };
        self.push(item, Some(scope), bytes);
    }

    fn push(self: &Arc<Self>, item: Item, scope: Option<&Arc<TraceScope>>, bytes: u64) {
        let mut item = Some(item);
        let _ = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else { return };
            let chunk = local.chunk_for(self);
            if let Some(item) = item.take() {
                chunk.add(item, scope, bytes);
            }
            local.pushed();
        });
        // No thread-local storage (the thread is exiting), or it is in use: alone.
        if let Some(item) = item {
            self.submit_chunk(Chunk::one(item, scope, bytes));
        }
    }

    /// Hands over what this thread has gathered for this pipeline (before a flush).
    fn hand_over_local(&self) {
        let _ = LOCAL.try_with(|local| {
            if let Ok(mut local) = local.try_borrow_mut() {
                if local
                    .pipeline
                    .as_ref()
                    .is_some_and(|p| std::ptr::eq(Arc::as_ptr(p), self))
                {
                    local.hand_over();
                }
            }
        });
    }

    fn submit_chunk(&self, chunk: Chunk) {
        let count = chunk.len() as u64;
        self.counters.produced.fetch_add(count, Ordering::Relaxed);
        let reservation = ONE_RECORD * count + chunk.weight();
        let before = self.state.fetch_add(reservation, Ordering::AcqRel);
        let after = before + reservation;
        if before & CLOSED != 0 {
            self.state.fetch_sub(reservation, Ordering::AcqRel);
            self.counters.drop_records(DropReason::AfterShutdown, count);
            return self.recycle(chunk);
        }
        let records = queued_records(after);
        if records > self.limits.max_queue_records || queued_bytes(after) > self.limits.max_queue_bytes {
            self.state.fetch_sub(reservation, Ordering::AcqRel);
            self.counters.drop_records(DropReason::QueueFull, count);
            return self.recycle(chunk);
        }
        // Reserved before the pipeline closed: the exporter drains until every
        // reservation made before the close has arrived.
        self.queue.push(chunk);
        if records >= self.limits.max_batch_records {
            self.wake();
        }
    }

    /// A trace ended: hands this thread's records over (the trace's own among them) and
    /// asks the exporter to export them within the linger.
    ///
    /// The records are handed over *before* the exporter is told, so that it cannot wake,
    /// find nothing, and leave the trace waiting a whole batch interval. Only the first
    /// trace end of a linger wakes the exporter; the others cost one load.
    pub(crate) fn export_soon(&self) {
        self.hand_over_local();
        if !self.urgent.load(Ordering::Acquire) && !self.urgent.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    fn wake(&self) {
        if !self.wake_pending.load(Ordering::Relaxed) && !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    fn force_wake(&self) {
        self.wake_pending.store(true, Ordering::Release);
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters
            .snapshot(queued_records(self.state.load(Ordering::Acquire)) as u64)
    }

    pub(crate) fn count_sampled_out(&self) {
        self.counters.sampled_out_traces.fetch_add(1, Ordering::Relaxed);
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn on_exporter_thread(&self) -> bool {
        self.thread.get().is_some_and(|t| t.id() == thread::current().id())
    }

    /// Waits until every record produced before the call has been exported (or dropped)
    /// and the exporter has flushed.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.on_exporter_thread() {
            return Err(FlushError::FromExporterThread);
        }
        self.hand_over_local();
        let deadline = deadline_after(Instant::now(), timeout);
        let mut control = self.control();
        control.flush_requested += 1;
        let target = control.flush_requested;
        self.force_wake();
        while control.flush_completed < target && !self.finished.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                return Err(FlushError::Timeout {
                    timeout,
                    queued: self.stats().queued,
                });
            }
            control = self
                .changed
                .wait_timeout(control, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// Stops accepting records, exports what is queued until `timeout`, shuts the
    /// exporter down. Safe to call more than once and from any thread but the exporter's.
    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.on_exporter_thread() {
            return Err(ShutdownError::FromExporterThread);
        }
        self.hand_over_local();
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut control = self.control();
        let now = Instant::now();
        // The first caller's deadline holds for every later one: a guard's shutdown
        // followed by the client's own in `Drop` takes one deadline, not two.
        let deadline = *control.shutdown_deadline.get_or_insert(deadline_after(now, timeout));
        let margin = (deadline.saturating_duration_since(now) / 5).min(SHUTDOWN_MARGIN);
        self.deadline.set(deadline - margin);
        self.force_wake();
        let give_up = deadline.min(deadline_after(now, timeout));
        while !self.finished.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= give_up {
                drop(control);
                return Err(ShutdownError::Timeout {
                    timeout,
                    queued: self.abandon(),
                });
            }
            control = self
                .changed
                .wait_timeout(control, give_up - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// The accounting lock (see `abandoned`).
    fn books(&self) -> MutexGuard<'_, bool> {
        self.abandoned.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a chunk off the queue, without counting it as in flight.
    fn unqueue(&self) -> Option<Chunk> {
        let chunk = self.queue.pop()?;
        self.state
            .fetch_sub(ONE_RECORD * chunk.len() as u64 + chunk.weight(), Ordering::AcqRel);
        Some(chunk)
    }

    /// Takes a chunk off the queue into the exporter's hands (`books`: not abandoned).
    fn pop(&self, _books: &MutexGuard<'_, bool>) -> Option<Chunk> {
        let chunk = self.unqueue()?;
        self.counters.in_flight.fetch_add(chunk.len() as u64, Ordering::AcqRel);
        Some(chunk)
    }

    /// A `shutdown` caller's deadline passed and the exporter thread has not finished (a
    /// request or a custom exporter that does not return): the caller takes over. What
    /// is still queued goes to the spool (if the spool is free) or is counted as
    /// `shutdown_timeout`, and so is the batch the exporter holds, whatever becomes of
    /// it; from now on the exporter thread counts nothing. Returns the records taken over.
    fn abandon(&self) -> u64 {
        let mut abandoned = self.books();
        if std::mem::replace(&mut *abandoned, true) {
            return 0;
        }
        let mut records = Vec::new();
        // Producers that reserved room just before the close push within nanoseconds.
        let stragglers_until = Instant::now() + Duration::from_millis(10);
        loop {
            while let Some(mut chunk) = self.unqueue() {
                chunk.drain_into(&mut records, &self.resource);
            }
            if queued_records(self.state.load(Ordering::Acquire)) == 0 || Instant::now() >= stragglers_until {
                break;
            }
            thread::yield_now();
        }
        let in_flight = self.counters.in_flight.swap(0, Ordering::AcqRel);
        self.counters.drop_records(DropReason::ShutdownTimeout, in_flight);
        let queued = records.len() as u64;
        if queued > 0 {
            let spooled = match self.spool.try_lock() {
                Ok(mut spool) => self.spool_into(spool.as_mut(), &mut records, false),
                Err(_) => false,
            };
            if !spooled {
                self.counters.drop_records(DropReason::ShutdownTimeout, queued);
            }
        }
        queued + in_flight
    }

    /// Moves a chunk's records into the batch and keeps the emptied chunk for reuse.
    fn take(&self, batch: &mut Batch, mut chunk: Chunk) {
        batch.push(&mut chunk, &self.resource);
        self.recycle(chunk);
    }

    /// The spare chunks for chunks of `capacity` items.
    fn spares(&self, capacity: usize) -> Option<&ArrayQueue<Chunk>> {
        if capacity >= LOCAL_CHUNK {
            Some(&self.spare_full)
        } else if capacity >= SMALL_CHUNK {
            Some(&self.spare_small)
        } else {
            None
        }
    }

    /// An empty chunk for `capacity` items: a spare one, or a new one if none is left.
    fn spare_chunk(&self, capacity: usize) -> Chunk {
        match self.spares(capacity).and_then(ArrayQueue::pop) {
            Some(mut chunk) => {
                chunk.clear();
                chunk
            }
            None => Chunk::with_capacity(capacity),
        }
    }

    /// Keeps an emptied chunk for the producing threads to reuse. Its trace scopes go
    /// with it, so that the last reference to a scope is usually dropped by a producing
    /// thread, which allocated it.
    fn recycle(&self, mut chunk: Chunk) {
        chunk.items.clear();
        chunk.clear_data();
        if let Some(spares) = self.spares(chunk.items.capacity()) {
            let _ = spares.push(chunk);
        }
    }

    /// Allocates spare chunks on the exporter thread, up to half of each reserve.
    fn top_up_spares(&self) {
        for (spares, capacity) in [(&self.spare_small, SMALL_CHUNK), (&self.spare_full, LOCAL_CHUNK)] {
            let want = spares.capacity() / 2;
            for _ in spares.len()..want {
                if spares.push(Chunk::with_capacity(capacity)).is_err() {
                    break;
                }
            }
        }
    }

    fn run(self: Arc<Self>, mut exporter: Box<dyn Exporter>) {
        deadline::install(Arc::clone(&self.deadline));
        let mut batch = Batch::default();
        let mut deadline_told = false;
        let mut redelivery = SpoolRedelivery::new(
            self.lock_spool().is_some(),
            self.limits.batch_interval,
            self.limits.max_batch_records,
            self.limits.max_batch_bytes,
            self.redact.clone(),
        );
        // When the records of the traces that ended are exported (see `export_soon`).
        let mut linger_until: Option<Instant> = None;
        loop {
            self.wake_pending.store(false, Ordering::Release);
            self.top_up_spares();
            let (flush_target, shutting_down) = {
                let control = self.control();
                (
                    (control.flush_requested > control.flush_completed).then_some(control.flush_requested),
                    control.shutdown_deadline.is_some(),
                )
            };
            // Shutdown gives up on what is in flight a little before the caller's deadline.
            let shutdown_deadline = self.deadline.get().filter(|_| shutting_down);
            if let (Some(deadline), false) = (shutdown_deadline, deadline_told) {
                deadline_told = true;
                let _ = catch_unwind(AssertUnwindSafe(|| exporter.set_deadline(deadline)));
            }
            let now = Instant::now();
            if linger_until.is_none() && self.urgent.load(Ordering::Acquire) {
                linger_until = Some(now + self.limits.linger);
            }
            let urgent = flush_target.is_some() || shutting_down || linger_until.is_some_and(|until| now >= until);
            if urgent {
                // Cleared before the drain: a trace that ends during it asks again.
                self.urgent.store(false, Ordering::Release);
                linger_until = None;
                self.drain(exporter.as_mut(), &mut batch, shutdown_deadline);
            } else {
                self.fill(&mut batch, usize::MAX);
                if batch.is_full(&self.limits) || batch.is_due(&self.limits) {
                    self.export(exporter.as_mut(), &mut batch);
                }
            }
            if let Some(target) = flush_target {
                let outcome = catch_unwind(AssertUnwindSafe(|| exporter.flush()));
                self.log_failure(
                    outcome
                        .map_err(|_| "exporter panicked in flush".to_owned())
                        .and_then(|r| r.map_err(|e| e.to_string())),
                );
                let mut control = self.control();
                control.flush_completed = control.flush_completed.max(target);
                self.changed.notify_all();
            }
            if shutting_down {
                let deadline = shutdown_deadline.unwrap_or_else(Instant::now);
                self.drain_stragglers(exporter.as_mut(), &mut batch, deadline);
                let outcome = catch_unwind(AssertUnwindSafe(|| exporter.shutdown()));
                self.log_failure(
                    outcome
                        .map_err(|_| "exporter panicked in shutdown".to_owned())
                        .and_then(|r| r.map_err(|e| e.to_string())),
                );
                // A spool segment this thread claimed to re-send goes back under its
                // waiting name before `shutdown` returns: a process that exits right
                // after must not leave it claimed.
                drop(redelivery);
                self.finished.store(true, Ordering::Release);
                let _control = self.control();
                self.changed.notify_all();
                return;
            }
            // Spooled records go between batches of new records (see `redeliver`).
            let resend_now = redelivery.round(&self.spool, exporter.as_mut(), &self.counters, || {
                batch.records.is_empty()
                    && queued_records(self.state.load(Ordering::Acquire)) == 0
                    && !self.wake_pending.load(Ordering::Acquire)
            });
            if resend_now
                || self.wake_pending.load(Ordering::Acquire)
                || queued_records(self.state.load(Ordering::Acquire)) >= self.limits.max_batch_records
            {
                continue;
            }
            let mut wait = batch.oldest.map_or(self.limits.batch_interval, |oldest| {
                self.limits.batch_interval.saturating_sub(oldest.elapsed())
            });
            if let Some(until) = linger_until {
                wait = wait.min(until.saturating_duration_since(Instant::now()));
            }
            thread::park_timeout(wait.max(Duration::from_micros(100)));
        }
    }

    /// Moves up to `budget` records from the queue into the batch, until it is full.
    fn fill(&self, batch: &mut Batch, mut budget: usize) -> usize {
        let books = self.books();
        if *books {
            return 0;
        }
        let mut moved = 0;
        while budget > 0 && !batch.is_full(&self.limits) {
            let Some(chunk) = self.pop(&books) else { break };
            let count = chunk.len();
            self.take(batch, chunk);
            budget = budget.saturating_sub(count);
            moved += count;
        }
        moved
    }

    /// Exports everything queued when called (not what arrives during the drain, so a
    /// busy program cannot keep a flush waiting forever).
    fn drain(&self, exporter: &mut dyn Exporter, batch: &mut Batch, deadline: Option<Instant>) {
        let mut budget = queued_records(self.state.load(Ordering::Acquire));
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.give_up(batch);
                return;
            }
            budget -= self.fill(batch, budget);
            if batch.records.is_empty() {
                return;
            }
            self.export(exporter, batch);
        }
    }

    /// After the close, waits for records reserved just before it (a producer between its
    /// reservation and its push) and exports them; at the deadline what is left is
    /// counted as `shutdown_timeout`.
    fn drain_stragglers(&self, exporter: &mut dyn Exporter, batch: &mut Batch, deadline: Instant) {
        while queued_records(self.state.load(Ordering::Acquire)) > 0 {
            if Instant::now() >= deadline {
                self.give_up(batch);
                return;
            }
            if self.fill(batch, usize::MAX) == 0 {
                thread::yield_now();
            } else {
                self.export(exporter, batch);
            }
        }
        self.export(exporter, batch);
    }

    fn export(&self, exporter: &mut dyn Exporter, batch: &mut Batch) {
        let count = batch.records.len() as u64;
        if count == 0 {
            return;
        }
        self.redact(batch);
        let outcome = catch_unwind(AssertUnwindSafe(|| exporter.export(&batch.records)));
        let books = self.books();
        if *books {
            // A `shutdown` caller gave up on this batch and counted it.
            batch.clear();
            return;
        }
        match outcome {
            Ok(Ok(())) => {
                self.counters.exported.fetch_add(count, Ordering::AcqRel);
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(error)) => {
                if !(error.transient && self.spool_records(&mut batch.records, true)) {
                    // Not delivered because shutdown cut it short, or because it failed.
                    let reason = if self.deadline.get().is_some_and(|deadline| Instant::now() >= deadline) {
                        DropReason::ShutdownTimeout
                    } else {
                        DropReason::ExportFailed
                    };
                    self.counters.drop_records(reason, count);
                }
                self.log_failure(Err(error.to_string()));
            }
            Err(_) => {
                self.counters.drop_records(DropReason::ExportFailed, count);
                self.log_failure(Err("exporter panicked".to_owned()));
            }
        }
        self.counters.in_flight.fetch_sub(count, Ordering::AcqRel);
        drop(books);
        batch.clear();
    }

    /// Runs the redaction hook over the batch, once.
    fn redact(&self, batch: &mut Batch) {
        if let (Some(hook), false) = (&self.redact, batch.redacted) {
            redact_records(hook, &mut batch.records);
        }
        batch.redacted = true;
    }

    fn lock_spool(&self) -> MutexGuard<'_, Option<Spool>> {
        self.spool.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes records to the spool, if there is one; false if they could not be kept.
    /// Records that have not passed the redaction hook (`redacted`) pass it first.
    fn spool_records(&self, records: &mut [Record], redacted: bool) -> bool {
        let mut spool = self.lock_spool();
        self.spool_into(spool.as_mut(), records, redacted)
    }

    fn spool_into(&self, spool: Option<&mut Spool>, records: &mut [Record], redacted: bool) -> bool {
        let Some(spool) = spool else {
            return false;
        };
        if let (Some(hook), false) = (&self.redact, redacted) {
            redact_records(hook, records);
        }
        let written = spool.write(records);
        if written.is_ok() && self.is_closed() && queued_records(self.state.load(Ordering::Acquire)) == 0 {
            // The last batch of a shutdown: the segment is sealed, ready for the next
            // process or `mv37 send --spool`.
            let _ = spool.seal();
        }
        match written {
            Ok(evicted) => {
                self.counters.spooled.fetch_add(records.len() as u64, Ordering::AcqRel);
                self.counters.spooled.fetch_sub(evicted.own_records, Ordering::AcqRel);
                self.counters
                    .drop_records(DropReason::SpoolEvicted, evicted.own_records);
                self.counters
                    .lost_from_earlier_spool
                    .fetch_add(evicted.other_records, Ordering::AcqRel);
                true
            }
            Err(error) => {
                self.log_failure(Err(format!(
                    "cannot write the spool {}: {error}",
                    spool.dir().display()
                )));
                false
            }
        }
    }

    /// The shutdown deadline passed: what is still queued (and the batch in hand) goes to
    /// the spool, or is counted as `shutdown_timeout`.
    fn give_up(&self, batch: &mut Batch) {
        let books = self.books();
        if *books {
            batch.clear();
            return;
        }
        while let Some(chunk) = self.pop(&books) {
            self.take(batch, chunk);
        }
        let count = batch.records.len() as u64;
        let redacted = batch.redacted;
        if count > 0 && !self.spool_records(&mut batch.records, redacted) {
            self.counters.drop_records(DropReason::ShutdownTimeout, count);
        }
        self.counters.in_flight.fetch_sub(count, Ordering::AcqRel);
        drop(books);
        batch.clear();
    }

    /// Reports the first failure on standard error; later ones are only counted. The
    /// message passes the redaction hook: a collector may echo a payload in its answer.
    fn log_failure(&self, outcome: Result<(), String>) {
        if let Err(mut message) = outcome {
            if self.failures_logged.fetch_add(1, Ordering::Relaxed) == 0 {
                if let Some(hook) = &self.redact {
                    redact_text(hook, &mut message);
                }
                eprintln!("mv37: {message} (further export failures are counted in stats, not logged)");
            }
        }
    }
}

#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    bytes: usize,
    oldest: Option<Instant>,
    /// Whether the records have passed the redaction hook.
    redacted: bool,
}

impl Batch {
    fn push(&mut self, chunk: &mut Chunk, resource: &TraceResource) {
        if self.records.is_empty() {
            self.oldest = Some(Instant::now());
        }
        self.redacted = false;
        self.bytes += chunk.bytes as usize;
        chunk.drain_into(&mut self.records, resource);
    }

    fn clear(&mut self) {
        self.records.clear();
        self.bytes = 0;
        self.oldest = None;
        self.redacted = false;
    }

    fn is_full(&self, limits: &Limits) -> bool {
        self.records.len() >= limits.max_batch_records || self.bytes >= limits.max_batch_bytes
    }

    fn is_due(&self, limits: &Limits) -> bool {
        self.oldest.is_some_and(|t| t.elapsed() >= limits.batch_interval)
    }
}
