//! Delivery accounting: every record produced is exported, dropped for a named reason,
//! or still queued.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use serde::Serialize;

/// Why records were dropped instead of exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue was at its record or byte bound when the record was produced.
    QueueFull,
    /// The exporter returned an error (or panicked) for the batch.
    ExportFailed,
    /// The record was produced after `shutdown` began.
    AfterShutdown,
    /// The shutdown deadline passed before the record could be exported.
    ShutdownTimeout,
    /// The record waited in the disk spool, and its segment was evicted to keep the
    /// spool within its bound (or the backend rejected it when it was re-sent).
    SpoolEvicted,
    /// The record waited in the disk spool, and its line could not be read back (invalid
    /// UTF-8, cut short by a crash, not a record): its segment was set aside as `.bad`.
    SpoolUnreadable,
}

/// Counts of dropped records by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DroppedStats {
    /// The queue was full.
    pub queue_full: u64,
    /// The exporter failed.
    pub export_failed: u64,
    /// Produced after shutdown began.
    pub after_shutdown: u64,
    /// Still queued when the shutdown deadline passed.
    pub shutdown_timeout: u64,
    /// Spooled, then evicted from the spool (or rejected when re-sent).
    pub spool_evicted: u64,
    /// Spooled, then unreadable when read back (its segment was set aside as `.bad`).
    pub spool_unreadable: u64,
}

impl DroppedStats {
    /// All dropped records, whatever the reason.
    pub fn total(&self) -> u64 {
        self.queue_full
            + self.export_failed
            + self.after_shutdown
            + self.shutdown_timeout
            + self.spool_evicted
            + self.spool_unreadable
    }
}

/// A snapshot of the client's delivery accounting.
///
/// When nothing is being produced or exported (after `flush` or `shutdown` returns),
/// `produced == exported + dropped.total() + queued + spooled` holds exactly; each term
/// is counted on its own, so the equation is a check, not a definition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Records handed to the pipeline.
    pub produced: u64,
    /// Records the exporter accepted.
    pub exported: u64,
    /// Records dropped, by reason.
    pub dropped: DroppedStats,
    /// Records waiting in the queue or in the batch being exported.
    pub queued: u64,
    /// Records this client wrote to the disk spool that are still there.
    pub spooled: u64,
    /// Records from earlier runs' spool segments delivered by this client (not part of
    /// `produced`).
    pub resent_from_spool: u64,
    /// Records from earlier runs' spool segments evicted or rejected by this client (not
    /// part of `produced`).
    pub lost_from_earlier_spool: u64,
    /// Spool segments (of this process or earlier ones) this client found partly or
    /// wholly unreadable and set aside as `.bad`; their lost records are counted in
    /// `dropped.spool_unreadable` (this process's) or `lost_from_earlier_spool`.
    pub spool_bad_segments: u64,
    /// Batches the exporter accepted.
    pub batches: u64,
    /// Traces not recorded because of the sample rate (not records, so not in `produced`).
    pub sampled_out_traces: u64,
}

impl Stats {
    /// Whether `produced == exported + dropped + queued + spooled`.
    pub fn is_balanced(&self) -> bool {
        self.produced == self.exported + self.dropped.total() + self.queued + self.spooled
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    /// On a cache line of its own: the program's threads add to it at every hand-over,
    /// and the exporter thread writes the counters below.
    pub(crate) produced: CachePadded<AtomicU64>,
    pub(crate) exported: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) sampled_out_traces: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) resent_from_spool: AtomicU64,
    pub(crate) lost_from_earlier_spool: AtomicU64,
    pub(crate) spool_bad_segments: AtomicU64,
    spool_evicted: AtomicU64,
    spool_unreadable: AtomicU64,
    queue_full: AtomicU64,
    export_failed: AtomicU64,
    after_shutdown: AtomicU64,
    shutdown_timeout: AtomicU64,
}

impl Counters {
    pub(crate) fn drop_records(&self, reason: DropReason, count: u64) {
        let counter = match reason {
            DropReason::QueueFull => &self.queue_full,
            DropReason::ExportFailed => &self.export_failed,
            DropReason::AfterShutdown => &self.after_shutdown,
            DropReason::ShutdownTimeout => &self.shutdown_timeout,
            DropReason::SpoolEvicted => &self.spool_evicted,
            DropReason::SpoolUnreadable => &self.spool_unreadable,
        };
        counter.fetch_add(count, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, queue_len: u64) -> Stats {
        // Read the outcomes before `produced`, so a concurrent producer can only make
        // `produced` look larger, never the other way round.
        let exported = self.exported.load(Ordering::Acquire);
        let dropped = DroppedStats {
            queue_full: self.queue_full.load(Ordering::Acquire),
            export_failed: self.export_failed.load(Ordering::Acquire),
            after_shutdown: self.after_shutdown.load(Ordering::Acquire),
            shutdown_timeout: self.shutdown_timeout.load(Ordering::Acquire),
            spool_evicted: self.spool_evicted.load(Ordering::Acquire),
            spool_unreadable: self.spool_unreadable.load(Ordering::Acquire),
        };
        let spooled = self.spooled.load(Ordering::Acquire);
        let queued = queue_len + self.in_flight.load(Ordering::Acquire);
        Stats {
            produced: self.produced.load(Ordering::Acquire),
            exported,
            dropped,
            queued,
            spooled,
            resent_from_spool: self.resent_from_spool.load(Ordering::Acquire),
            lost_from_earlier_spool: self.lost_from_earlier_spool.load(Ordering::Acquire),
            spool_bad_segments: self.spool_bad_segments.load(Ordering::Acquire),
            batches: self.batches.load(Ordering::Acquire),
            sampled_out_traces: self.sampled_out_traces.load(Ordering::Relaxed),
        }
    }
}
