//! The state the producing threads and the exporter thread share: the queue, the spare
//! chunks, the admission word, the counters, the wake-up flags and the control block of
//! the flush and shutdown handshakes; and what producers do with it (hand a chunk over,
//! ask for an export, wake the exporter).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;

use super::admission::{Admission, Occupancy, Refused};
use super::chunk::{Chunk, Item, Spares, LOCAL_CHUNK};
use super::mailbox::Mailbox;
use crate::export::deadline::SharedDeadline;
use crate::export::spool::Spool;
use crate::progress::TraceResource;
use crate::redact::RedactHook;
use crate::stats::{Counters, DropReason, Stats};

/// How long the exporter waits after a trace ended before it exports, so that the traces
/// that end meanwhile go in the same request: at 1,000 traces a second this makes at
/// most 50 requests a second, and an isolated trace still leaves within this time.
pub(crate) const DEFAULT_EXPORT_LINGER: Duration = Duration::from_millis(20);

/// The pipeline's bounds and timings, resolved from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_queue_records: usize,
    pub(crate) max_queue_bytes: usize,
    pub(crate) max_batch_records: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) batch_interval: Duration,
    pub(crate) linger: Duration,
}

/// How full the queue is when a producer that hands records over wakes the exporter
/// thread, and when it offers that thread its CPU ([`Pipeline::submit_chunk`]).
///
/// The wake is a futex call, and where the exporter thread waits on the producer's own
/// core (the scheduler places a woken thread beside its waker: `perf record -e
/// sched:sched_switch` showed it there, on a 2-core VM with the other core idle) each wake
/// also switches the producer out, for ~30 µs of exporting, every 512 records. So a
/// producer wakes the exporter only once an eighth of the queue (or a sixteenth of its
/// bytes) waits: a few wakes per 65,536 records, each with a longer run of work (the
/// traces after the change show the exporter on a core of its own). Never before a full
/// batch waits, which is never more than half the queue bound. Below that the exporter
/// thread's own timer (the batch interval) or an ended trace wakes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nudge {
    wake_records: usize,
    wake_bytes: usize,
    yield_records: usize,
}

/// The most records a producer lets wait before it wakes the exporter, and before it
/// offers its CPU, however deep the queue: a deeper queue is room to ride out a stall
/// of the exporter thread, not a reason to wake it less often.
const MOST_WAKE_RECORDS: usize = 8_192;
const MOST_YIELD_RECORDS: usize = 16_384;

impl Nudge {
    fn new(limits: &Limits) -> Self {
        let wake_records = limits
            .max_batch_records
            .max((limits.max_queue_records / 8).min(MOST_WAKE_RECORDS));
        Self {
            wake_records,
            wake_bytes: limits.max_batch_bytes.max(limits.max_queue_bytes / 16),
            // Never before the exporter was woken: yielding to a sleeping thread is a
            // system call per hand-over for nothing (large batches wake it late).
            yield_records: (limits.max_queue_records / 4).min(MOST_YIELD_RECORDS).max(wake_records),
        }
    }

    /// Whether a producer that left the queue at `queued` wakes the exporter thread.
    fn wakes(&self, queued: Occupancy) -> bool {
        queued.records >= self.wake_records || queued.bytes >= self.wake_bytes
    }
}

/// The flush and shutdown requests, under the control lock.
#[derive(Default)]
pub(crate) struct Control {
    pub(crate) flush_requested: u64,
    pub(crate) flush_completed: u64,
    pub(crate) shutdown_deadline: Option<Instant>,
}

/// See [`Pipeline::in_exporter`].
pub(crate) struct InExporter<'a>(&'a AtomicBool);

impl Drop for InExporter<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Chunks taken off the queue whose reservations are not given back yet.
#[derive(Default)]
pub(crate) struct Held {
    records: u64,
    amount: u64,
}

pub(crate) struct Pipeline {
    pub(crate) queue: SegQueue<Chunk>,
    pub(crate) spares: Spares,
    /// The threads' mailboxes (see [`super::mailbox`]).
    pub(crate) mailboxes: Mutex<Vec<Arc<Mailbox>>>,
    pub(crate) admission: Admission,
    pub(crate) counters: Counters,
    pub(crate) finished: AtomicBool,
    /// A trace ended and its records are not exported yet.
    pub(crate) urgent: AtomicBool,
    pub(crate) wake_pending: AtomicBool,
    /// The exporter thread is in a call to its exporter, the spool or the redaction
    /// hook (see [`Pipeline::in_exporter`]).
    pub(crate) in_exporter: AtomicBool,
    pub(crate) limits: Limits,
    /// When a producer wakes the exporter thread, or offers it its CPU.
    pub(crate) nudge: Nudge,
    /// The shutdown deadline, as the exporter thread's transports see it mid-request.
    pub(crate) deadline: Arc<SharedDeadline>,
    /// Set when a `shutdown` caller gave up waiting at the deadline and took over the
    /// accounting of what the exporter still held; the exporter thread changes
    /// `in_flight` and counts outcomes only while holding this lock and while it is false.
    pub(crate) abandoned: Mutex<bool>,
    pub(crate) control: Mutex<Control>,
    pub(crate) changed: Condvar,
    pub(crate) thread: OnceLock<Thread>,
    pub(crate) failures_logged: AtomicU64,
    pub(crate) redact: Option<RedactHook>,
    /// Used by the exporter thread only; a lock so the pipeline can be shared.
    pub(crate) spool: Mutex<Option<Spool>>,
    /// The client's fields every trace record carries, added on the exporter thread.
    pub(crate) resource: TraceResource,
}

// The redaction hook is only called under `catch_unwind` on the exporter thread, and
// every other piece of state is atomics or poison-tolerant locks: a panic in user code
// cannot leave the pipeline inconsistent, so clients stay usable across `catch_unwind`.
impl std::panic::RefUnwindSafe for Pipeline {}

impl Pipeline {
    pub(crate) fn new(
        limits: Limits,
        resource: TraceResource,
        redact: Option<RedactHook>,
        spool: Option<Spool>,
    ) -> Self {
        let limits = Limits {
            // A batch is exported when it is full, and the records it holds count in the
            // queue: one allowed to grow past half the queue bound would hold the
            // producers' records back, while the queue filled and dropped them, until
            // the batch interval.
            max_batch_records: limits.max_batch_records.min(limits.max_queue_records / 2).max(1),
            max_batch_bytes: limits.max_batch_bytes.min(limits.max_queue_bytes / 2).max(1),
            linger: limits.linger.min(limits.batch_interval),
            ..limits
        };
        Self {
            nudge: Nudge::new(&limits),
            queue: SegQueue::new(),
            spares: Spares::new(),
            mailboxes: Mutex::new(Vec::new()),
            admission: Admission::new(limits.max_queue_records, limits.max_queue_bytes),
            counters: Counters::default(),
            finished: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            in_exporter: AtomicBool::new(false),
            deadline: Arc::new(SharedDeadline::default()),
            abandoned: Mutex::new(false),
            limits,
            control: Mutex::new(Control::default()),
            changed: Condvar::new(),
            thread: OnceLock::new(),
            failures_logged: AtomicU64::new(0),
            redact,
            spool: Mutex::new(spool),
            resource,
        }
    }

    /// An empty chunk for `capacity` items, for a producing thread to fill.
    pub(crate) fn spare_chunk(&self, capacity: usize) -> Chunk {
        self.spares.take(capacity)
    }

    /// Queues a chunk of records. Never blocks: past the queue's bounds (or after
    /// `shutdown`) the records are dropped and counted.
    pub(crate) fn submit_chunk(&self, chunk: Chunk) {
        if let Some(queued) = self.enqueue(chunk) {
            if self.nudge.wakes(queued) {
                self.wake();
            }
            if queued.records > self.nudge.yield_records && !self.in_exporter.load(Ordering::Relaxed) {
                // A quarter of the queue waits and the exporter thread is not waiting on
                // its exporter: it is waiting for a CPU, most often this one, where it
                // was woken (see `Nudge`), or the program's threads hold them all.
                // Offering this thread's CPU lets it drain before the queue is full and
                // records are dropped. This never waits: with nothing else runnable here
                // the call returns at once, and a hung collector (the exporter thread in
                // its exporter) costs the program nothing.
                std::thread::yield_now();
            }
        }
    }

    /// Counts a chunk's records as produced and queues them, or drops and counts them
    /// past the queue's bounds or after `shutdown`; what is queued now, if queued.
    pub(crate) fn enqueue(&self, mut chunk: Chunk) -> Option<Occupancy> {
        let count = chunk.len() as u64;
        let weight = chunk.weight();
        match self.reserve(count, weight) {
            Some(queued) => {
                chunk.add_reserved(Admission::amount_of(count, weight));
                // Reserved before the pipeline closed: the exporter drains until every
                // reservation made before the close has arrived.
                self.queue.push(chunk);
                Some(queued)
            }
            None => {
                self.spares.recycle(chunk);
                None
            }
        }
    }

    /// Counts `count` records weighing `weight` as produced and reserves room for them;
    /// past the queue's bounds or after `shutdown` they are counted as dropped instead.
    /// What is queued now, if reserved.
    pub(crate) fn reserve(&self, count: u64, weight: u64) -> Option<Occupancy> {
        self.counters.produced.fetch_add(count, Ordering::Relaxed);
        match self.admission.reserve(count, weight) {
            Err(refused) => {
                let reason = match refused {
                    Refused::Closed => DropReason::AfterShutdown,
                    Refused::Full => DropReason::QueueFull,
                };
                self.counters.drop_records(reason, count);
                None
            }
            Ok(queued) => Some(queued),
        }
    }

    /// Moves the records of `from` into `mailbox` (see [`super::mailbox`]), counted as
    /// produced and holding their room in the queue's bounds (or counted as dropped,
    /// past them); a chunk that fills up there is queued.
    pub(crate) fn deposit(&self, mailbox: &Mailbox, from: &mut Chunk) {
        let count = from.len() as u64;
        let weight = from.held_outside() + (from.len() * std::mem::size_of::<Item>()) as u64;
        if self.reserve(count, weight).is_none() {
            from.clear();
            return;
        }
        let mut held = mailbox.lock();
        if held
            .as_ref()
            .is_some_and(|chunk| chunk.len() + from.len() > LOCAL_CHUNK)
        {
            if let Some(full) = held.take() {
                self.push_reserved(full);
            }
        }
        let chunk = held.get_or_insert_with(|| self.spare_chunk(LOCAL_CHUNK));
        chunk.take_from(from);
        chunk.add_reserved(Admission::amount_of(count, weight));
        if chunk.len() >= LOCAL_CHUNK {
            if let Some(full) = held.take() {
                self.push_reserved(full);
                if self.nudge.wakes(self.admission.occupancy()) {
                    self.wake();
                }
            }
        }
    }

    /// A new mailbox for the calling thread, which the exporter thread visits.
    pub(crate) fn open_mailbox(&self) -> Arc<Mailbox> {
        let mailbox = Arc::new(Mailbox::default());
        self.mailboxes().push(Arc::clone(&mailbox));
        mailbox
    }

    /// Queues what every mailbox holds, and forgets the mailboxes whose thread let go of
    /// them (it queued their records first).
    pub(crate) fn collect_mailboxes(&self) {
        self.mailboxes().retain(|mailbox| {
            self.post_mailbox(mailbox);
            Arc::strong_count(mailbox) > 1
        });
    }

    /// Queues what `mailbox` holds. The chunk is pushed before the mailbox's lock is let
    /// go: its thread cannot queue a later record ahead of it meanwhile (a trace's late
    /// feedback must reach the exporter after the trace, which it completes from).
    pub(crate) fn post_mailbox(&self, mailbox: &Mailbox) {
        let mut held = mailbox.lock();
        if let Some(chunk) = held.take() {
            self.push_reserved(chunk);
        }
    }

    fn mailboxes(&self) -> MutexGuard<'_, Vec<Arc<Mailbox>>> {
        self.mailboxes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a chunk whose records hold their reservation already (a mailbox's).
    pub(crate) fn push_reserved(&self, chunk: Chunk) {
        if !chunk.is_empty() {
            self.queue.push(chunk);
        }
    }

    /// A trace ended: asks the exporter to export what is queued within the linger. The
    /// caller hands its thread's records over first, so that the exporter cannot wake,
    /// find nothing, and leave the trace waiting a whole batch interval. Only the first
    /// trace end of a linger wakes the exporter; the others cost one load.
    pub(crate) fn export_soon(&self) {
        if !self.urgent.load(Ordering::Acquire) && !self.urgent.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    pub(crate) fn wake(&self) {
        if !self.wake_pending.load(Ordering::Relaxed) && !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    /// Marks the exporter thread as being in its exporter (or the spool, or the
    /// redaction hook) until the guard is dropped: a full queue is then not the
    /// exporter thread lacking a CPU, and producers do not yield for it.
    pub(crate) fn in_exporter(&self) -> InExporter<'_> {
        self.in_exporter.store(true, Ordering::Relaxed);
        InExporter(&self.in_exporter)
    }

    pub(crate) fn force_wake(&self) {
        self.wake_pending.store(true, Ordering::Release);
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot(self.admission.queued() as u64)
    }

    pub(crate) fn count_sampled_out(&self) {
        self.counters.sampled_out_traces.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.admission.is_closed()
    }

    pub(crate) fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The accounting lock (see `abandoned`).
    pub(crate) fn books(&self) -> MutexGuard<'_, bool> {
        self.abandoned.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a chunk off the queue, without counting it as in flight.
    pub(crate) fn unqueue(&self) -> Option<Chunk> {
        let chunk = self.queue.pop()?;
        self.admission.release_amount(chunk.reserved());
        Some(chunk)
    }

    /// Takes a chunk off the queue into the exporter's hands (`books`: not abandoned).
    pub(crate) fn pop(&self, _books: &MutexGuard<'_, bool>) -> Option<Chunk> {
        let chunk = self.unqueue()?;
        self.counters.in_flight.fetch_add(chunk.len() as u64, Ordering::AcqRel);
        Some(chunk)
    }

    /// Takes a chunk off the queue into the exporter's hands (`books`: not abandoned),
    /// adding its reservation to `held` rather than giving it back now: the exporter
    /// gives back a whole batch's with [`Pipeline::give_back`], so that the admission
    /// word and the counters cross to its core once per batch, not once per chunk.
    pub(crate) fn pop_held(&self, _books: &MutexGuard<'_, bool>, held: &mut Held) -> Option<Chunk> {
        let chunk = self.queue.pop()?;
        held.records += chunk.len() as u64;
        held.amount += chunk.reserved();
        Some(chunk)
    }

    /// Gives back what [`Pipeline::pop_held`] took: out of the queue, now in flight.
    pub(crate) fn give_back(&self, _books: &MutexGuard<'_, bool>, held: Held) {
        if held.records != 0 {
            self.admission.release_amount(held.amount);
            self.counters.in_flight.fetch_add(held.records, Ordering::AcqRel);
        }
    }

    pub(crate) fn lock_spool(&self) -> MutexGuard<'_, Option<Spool>> {
        self.spool.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_queue_records: usize, max_queue_bytes: usize) -> Limits {
        Limits {
            max_queue_records,
            max_queue_bytes,
            max_batch_records: 512,
            max_batch_bytes: 4 << 20,
            batch_interval: Duration::from_secs(1),
            linger: DEFAULT_EXPORT_LINGER,
        }
    }

    fn queued(records: usize, bytes: usize) -> Occupancy {
        Occupancy { records, bytes }
    }

    #[test]
    fn producers_wake_the_exporter_at_an_eighth_of_the_records_or_a_sixteenth_of_the_bytes() {
        let nudge = Nudge::new(&limits(65_536, 64 << 20));
        assert!(!nudge.wakes(queued(512, 0)), "a full batch alone does not wake it");
        assert!(!nudge.wakes(queued(8_191, (4 << 20) - 1)));
        assert!(nudge.wakes(queued(8_192, 0)));
        assert!(nudge.wakes(queued(1, 4 << 20)));
        assert_eq!(nudge.yield_records, 16_384);
    }

    #[test]
    fn a_deeper_queue_does_not_make_producers_wake_the_exporter_later() {
        for depth in [131_072, 1 << 22] {
            let nudge = Nudge::new(&limits(depth, 64 << 20));
            assert!(!nudge.wakes(queued(8_191, 0)), "{depth}");
            assert!(nudge.wakes(queued(8_192, 0)), "{depth}");
            assert_eq!(nudge.yield_records, 16_384, "{depth}");
        }
    }

    #[test]
    fn producers_do_not_yield_before_the_exporter_was_woken() {
        let mut large_batches = limits(1 << 20, 64 << 20);
        large_batches.max_batch_records = 100_000;
        let nudge = Nudge::new(&large_batches);
        assert!(!nudge.wakes(queued(99_999, 0)));
        assert!(nudge.wakes(queued(100_000, 0)));
        assert_eq!(nudge.yield_records, 100_000);
    }

    #[test]
    fn a_small_queue_bound_wakes_the_exporter_at_a_full_batch() {
        let nudge = Nudge::new(&limits(2_000, 64 << 20));
        assert!(!nudge.wakes(queued(511, 0)));
        assert!(nudge.wakes(queued(512, 0)), "a full batch");
    }

    #[test]
    fn a_batch_never_holds_more_than_half_the_queue_bound() {
        let pipeline = Pipeline::new(limits(100, 1 << 20), TraceResource::default(), None, None);
        assert_eq!(pipeline.limits.max_batch_records, 50);
        assert_eq!(pipeline.limits.max_batch_bytes, 512 << 10);
        assert!(!pipeline.nudge.wakes(queued(49, (512 << 10) - 1)));
        assert!(pipeline.nudge.wakes(queued(50, 0)));
        assert!(pipeline.nudge.wakes(queued(1, 512 << 10)));
        let pipeline = Pipeline::new(limits(1, 1), TraceResource::default(), None, None);
        assert_eq!(
            (pipeline.limits.max_batch_records, pipeline.limits.max_batch_bytes),
            (1, 1)
        );
    }
}
