//! The exporter thread: it batches what the producing threads queued, exports each batch
//! (with the redaction hook run once), answers flush and shutdown requests, keeps what
//! could not be delivered in the spool, and counts every outcome.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::chunk::Chunk;
use super::recent::RecentTraces;
use super::reuse::ReusedRecords;
use super::shared::{Held, Limits, Pipeline};
use crate::export::deadline;
use crate::export::redeliver::SpoolRedelivery;
use crate::export::spool::Spool;
use crate::export::Exporter;
use crate::progress::TraceResource;
use crate::record::Record;
use crate::redact::{redact_records, redact_text};
use crate::stats::DropReason;

/// The records the exporter thread holds for its next export.
#[derive(Default)]
struct Batch {
    records: ReusedRecords,
    bytes: usize,
    oldest: Option<Instant>,
    /// How many of the records, from the first, have passed the redaction hook (records
    /// taken in after an export failed at the shutdown deadline join redacted ones).
    redacted: usize,
    /// The traces exported last, to complete later feedback on them.
    recent: RecentTraces,
    /// Whether records arrived since the exporter last went idle.
    busy: bool,
    /// A chunk taken off the queue whose last records did not fit in the batch: they go
    /// first into the next one, so that no export passes `max_batch_records`.
    carry: Option<Chunk>,
}

impl Batch {
    /// Moves up to `limit` of the chunk's records in (all, with `usize::MAX`).
    fn push(&mut self, chunk: &mut Chunk, resource: &TraceResource, limit: usize) {
        if self.records.is_empty() {
            self.oldest = Some(Instant::now());
        }
        self.busy = true;
        self.bytes += chunk.bytes() as usize;
        let start = self.records.len();
        chunk.drain_into(&mut self.records, resource, Some(&mut self.recent), limit);
        self.recent.complete(self.records.live_from(start));
    }

    /// Room left before the batch is full.
    fn room(&self, limits: &Limits) -> usize {
        limits.max_batch_records.saturating_sub(self.records.len())
    }

    fn clear(&mut self) {
        self.records.clear();
        self.bytes = 0;
        self.oldest = None;
        self.redacted = 0;
    }

    fn is_full(&self, limits: &Limits) -> bool {
        self.records.len() >= limits.max_batch_records || self.bytes >= limits.max_batch_bytes
    }

    fn is_due(&self, limits: &Limits) -> bool {
        self.oldest.is_some_and(|t| t.elapsed() >= limits.batch_interval)
    }
}

impl Pipeline {
    /// The exporter thread's loop, until shutdown.
    pub(crate) fn run(self: Arc<Self>, mut exporter: Box<dyn Exporter>) {
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
            self.spares.top_up();
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
                let busy = self.in_exporter();
                let outcome = catch_unwind(AssertUnwindSafe(|| exporter.flush()));
                drop(busy);
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
                if !*self.books() {
                    // What this process spooled is sealed, ready for the next process or
                    // `mv37 send --spool`, also when batches exported after the last
                    // spooled one left its segment open.
                    if let Some(spool) = self.lock_spool().as_mut() {
                        let _ = spool.seal();
                    }
                }
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
            if self.is_closed() {
                // Shutdown began during this round: its branch above runs next, and no
                // spooled segment is claimed for re-sending (one this round sealed at the
                // deadline included) while the caller waits on it.
                continue;
            }
            // Spooled records go between batches of new records (see `redeliver`).
            let busy = self.in_exporter();
            let resend_now = redelivery.round(&self.spool, exporter.as_mut(), &self.counters, || {
                batch.records.is_empty() && self.admission.queued() == 0 && !self.wake_pending.load(Ordering::Acquire)
            });
            drop(busy);
            if resend_now
                || batch.carry.is_some()
                || self.wake_pending.load(Ordering::Acquire)
                || self.admission.queued() >= self.limits.max_batch_records
            {
                continue;
            }
            let mut wait = batch.oldest.map_or(self.limits.batch_interval, |oldest| {
                self.limits.batch_interval.saturating_sub(oldest.elapsed())
            });
            if let Some(until) = linger_until {
                wait = wait.min(until.saturating_duration_since(Instant::now()));
            }
            if !std::mem::take(&mut batch.busy) && batch.records.is_empty() {
                // A round with nothing to do: the program is quiet, and the records
                // kept for reuse are dropped rather than held until it is busy again.
                batch.records.release();
            }
            thread::park_timeout(wait.max(Duration::from_micros(100)));
        }
    }

    /// Moves a chunk's records into the batch and keeps the emptied chunk for reuse.
    fn take(&self, batch: &mut Batch, mut chunk: Chunk) {
        batch.push(&mut chunk, &self.resource, usize::MAX);
        self.spares.recycle(chunk);
    }

    /// Moves a chunk's records into the batch as far as it has room; the rest is carried
    /// to the next batch.
    fn take_some(&self, batch: &mut Batch, mut chunk: Chunk) {
        batch.push(&mut chunk, &self.resource, batch.room(&self.limits));
        if chunk.is_empty() {
            self.spares.recycle(chunk);
        } else {
            batch.carry = Some(chunk);
        }
    }

    /// Moves up to `budget` records from the queue into the batch, until it is full.
    fn fill(&self, batch: &mut Batch, mut budget: usize) -> usize {
        // Mailboxes' records are counted in `queued` (and so in a drain's budget).
        self.collect_mailboxes();
        let books = self.books();
        if *books {
            return 0;
        }
        if let Some(carried) = batch.carry.take() {
            self.take_some(batch, carried);
        }
        let mut moved = 0;
        let mut held = Held::default();
        while budget > 0 && !batch.is_full(&self.limits) && batch.carry.is_none() {
            let Some(chunk) = self.pop_held(&books, &mut held) else {
                break;
            };
            let count = chunk.len();
            self.take_some(batch, chunk);
            budget = budget.saturating_sub(count);
            moved += count;
        }
        self.give_back(&books, held);
        moved
    }

    /// Exports everything queued when called (not what arrives during the drain, so a
    /// busy program cannot keep a flush waiting forever).
    fn drain(&self, exporter: &mut dyn Exporter, batch: &mut Batch, deadline: Option<Instant>) {
        let mut budget = self.admission.queued();
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.give_up(batch);
                return;
            }
            budget = budget.saturating_sub(self.fill(batch, budget));
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
        while self.admission.queued() > 0 {
            if Instant::now() >= deadline {
                self.give_up(batch);
                return;
            }
            if self.fill(batch, usize::MAX) == 0 && batch.records.is_empty() {
                thread::yield_now();
            } else {
                self.export(exporter, batch);
            }
        }
        // The batch in hand, and what a last chunk carried past it.
        loop {
            self.export(exporter, batch);
            if batch.carry.is_none() {
                return;
            }
            if Instant::now() >= deadline {
                self.give_up(batch);
                return;
            }
            self.fill(batch, 0);
        }
    }

    fn export(&self, exporter: &mut dyn Exporter, batch: &mut Batch) {
        let count = batch.records.len() as u64;
        if count == 0 {
            return;
        }
        let _busy = self.in_exporter();
        self.redact(batch);
        let outcome = catch_unwind(AssertUnwindSafe(|| exporter.export(batch.records.as_slice())));
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
                let cut_short = self.deadline.get().is_some_and(|deadline| Instant::now() >= deadline);
                self.log_failure(Err(error.to_string()));
                if cut_short {
                    if !error.transient {
                        self.counters.drop_records(DropReason::ShutdownTimeout, count);
                        self.counters.in_flight.fetch_sub(count, Ordering::AcqRel);
                        batch.clear();
                    }
                    // Shutdown cut the request short: the batch and everything queued
                    // behind it go to the spool in one write, so one disk sync (not one
                    // per batch) stands between the exporter's deadline and the caller's.
                    drop(books);
                    self.give_up(batch);
                    return;
                }
                let more_behind = batch.carry.is_some();
                if !(error.transient && self.spool_records(batch.records.as_mut_slice(), true, more_behind)) {
                    self.counters.drop_records(DropReason::ExportFailed, count);
                }
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

    /// Runs the redaction hook over the records of the batch that have not passed it.
    fn redact(&self, batch: &mut Batch) {
        let records = batch.records.as_mut_slice();
        if let (Some(hook), Some(fresh)) = (&self.redact, records.get_mut(batch.redacted..)) {
            redact_records(hook, fresh);
        }
        batch.redacted = records.len();
    }

    /// Writes records to the spool, if there is one; false if they could not be kept.
    /// Records that have not passed the redaction hook (`redacted`) pass it first.
    /// `more_behind`: the exporter holds more records to write after these (the rest of
    /// a chunk, taken off the queue and so no longer counted in it).
    fn spool_records(&self, records: &mut [Record], redacted: bool, more_behind: bool) -> bool {
        let mut spool = self.lock_spool();
        self.spool_into(spool.as_mut(), records, redacted, more_behind)
    }

    pub(crate) fn spool_into(
        &self,
        spool: Option<&mut Spool>,
        records: &mut [Record],
        redacted: bool,
        more_behind: bool,
    ) -> bool {
        let Some(spool) = spool else {
            return false;
        };
        if let (Some(hook), false) = (&self.redact, redacted) {
            redact_records(hook, records);
        }
        let written = spool.write(records);
        if written.is_ok() && self.is_closed() && self.admission.queued() == 0 && !more_behind {
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
        self.collect_mailboxes();
        let books = self.books();
        if *books {
            batch.clear();
            return;
        }
        if let Some(carried) = batch.carry.take() {
            self.take(batch, carried);
        }
        while let Some(chunk) = self.pop(&books) {
            self.take(batch, chunk);
        }
        let count = batch.records.len() as u64;
        self.redact(batch);
        if count > 0 && !self.spool_records(batch.records.as_mut_slice(), true, false) {
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
