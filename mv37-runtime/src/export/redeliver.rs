//! In-process redelivery of spooled segments, on the exporter thread, between batches of
//! new records: which segment goes next, how much is sent per round, and how each record
//! taken from the spool is counted.
//!
//! The spool is listed once and the sorted list kept; it is listed again only when it is
//! used up (at most once a batch interval), or sooner when this process sealed a segment.
//! Each segment is claimed before it is read (see [`super::spool`]), so a process sharing
//! the directory never sends it too. It is sent in batches of the pipeline's batch size:
//! while nothing else is waiting, batch after batch (for up to [`ROUND_BUDGET`] before
//! the exporter thread looks at its queue again); while new records wait, one batch per
//! round of the exporter loop, so they do not wait behind a long drain.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::redact::RedactHook;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::spool::{ClaimedSegment, Entry, Spool};
use super::Exporter;
use crate::record::Record;
use crate::stats::{Counters, DropReason};

/// The longest the exporter thread re-sends spooled batches before it looks at its own
/// queue, flush and shutdown requests again (it also stops as soon as they need it).
const ROUND_BUDGET: Duration = Duration::from_millis(50);

/// The longest wait between failed attempts while nothing gets through.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Unreadable segments reported one by one on standard error; later ones only counted.
const LOGGED_BAD_SEGMENTS: u32 = 10;

/// The redelivery state of one pipeline's exporter thread.
pub(crate) struct SpoolRedelivery {
    enabled: bool,
    interval: Duration,
    max_batch_records: usize,
    max_batch_bytes: usize,
    /// The client's redaction hook, run over every record read back.
    redact: Option<RedactHook>,
    /// Segments found by the last listing and not yet taken, oldest first.
    waiting: VecDeque<Entry>,
    /// The spool's generation and the time of the last listing.
    listed: Option<(u64, Instant)>,
    current: Option<InProgress>,
    next_attempt: Instant,
    /// Failed attempts in a row: the wait after one doubles with each (from a batch
    /// interval up to [`MAX_BACKOFF`]), and new segments do not end it; a batch of new
    /// records delivered by the exporter does.
    failures: u32,
    /// The exporter's delivered batches when last looked at.
    seen_batches: u64,
    logged: u32,
}

/// A claimed segment being sent, batch by batch.
struct InProgress {
    claimed: ClaimedSegment,
    records: Vec<Record>,
    sent: usize,
    /// Records of this process's own still counted as `spooled` (a segment it wrote).
    own_left: u64,
}

/// The outcome of sending one batch.
enum Step {
    Progress,
    Failed,
}

impl SpoolRedelivery {
    pub(crate) fn new(
        enabled: bool,
        interval: Duration,
        max_batch_records: usize,
        max_batch_bytes: usize,
        redact: Option<RedactHook>,
    ) -> Self {
        Self {
            redact,
            enabled,
            interval,
            max_batch_records: max_batch_records.max(1),
            max_batch_bytes: max_batch_bytes.max(1),
            waiting: VecDeque::new(),
            listed: None,
            current: None,
            next_attempt: Instant::now(),
            failures: 0,
            seen_batches: 0,
            logged: 0,
        }
    }

    /// One round of redelivery. Returns whether more is ready to send right away (the
    /// caller then loops again without waiting). `idle` says whether the exporter has
    /// nothing else to do; while it does, one batch is sent per round.
    pub(crate) fn round(
        &mut self,
        spool: &Mutex<Option<Spool>>,
        exporter: &mut dyn Exporter,
        counters: &Counters,
        idle: impl Fn() -> bool,
    ) -> bool {
        if !self.enabled {
            return false;
        }
        let started = Instant::now();
        // The exporter delivered new records: the backend is back, try at once.
        let batches = counters.batches.load(Ordering::Acquire);
        if batches != self.seen_batches {
            self.seen_batches = batches;
            self.failures = 0;
            self.next_attempt = started;
        }
        if self.failures == 0 && self.current.is_none() && self.waiting.is_empty() {
            // A segment this process sealed (full, or at shutdown) ends a wait for work.
            let guard = lock(spool);
            let sealed_since = guard.as_ref().is_some_and(|spool| {
                self.listed
                    .is_none_or(|(generation, _)| generation != spool.generation())
            });
            if sealed_since {
                self.next_attempt = started;
            }
        }
        if started < self.next_attempt {
            return false;
        }
        loop {
            if self.current.is_none() && !self.take_next(spool, counters) {
                self.next_attempt = Instant::now() + self.interval;
                return false;
            }
            match self.send_batch(exporter, counters) {
                Step::Progress => self.failures = 0,
                Step::Failed => {
                    self.failures = self.failures.saturating_add(1);
                    let backoff = self
                        .interval
                        .saturating_mul(1 << (self.failures - 1).min(16))
                        .min(MAX_BACKOFF);
                    self.next_attempt = Instant::now() + backoff.max(self.interval);
                    return false;
                }
            }
            if !idle() || started.elapsed() >= ROUND_BUDGET {
                return true;
            }
        }
    }

    /// Claims and reads the next segment; false when none is left.
    fn take_next(&mut self, spool: &Mutex<Option<Spool>>, counters: &Counters) -> bool {
        let mut listed_now = false;
        // Bounded: each turn takes one entry off the list, and the list is refilled once.
        loop {
            let Some(entry) = self.waiting.pop_front() else {
                if listed_now || !self.seal_and_list(spool) {
                    return false;
                }
                listed_now = true;
                continue;
            };
            let (taken, own_origin) = {
                let guard = lock(spool);
                let Some(spool) = guard.as_ref() else { return false };
                (spool.take(&entry), spool.origin().to_owned())
            };
            let mut claimed = match taken {
                Ok(Some(claimed)) => claimed,
                Ok(None) => continue,
                Err(error) => {
                    self.log(format_args!("cannot claim {}: {error}", entry.path.display()));
                    continue;
                }
            };
            let own = claimed.segment().origin == own_origin;
            let declared = claimed.segment().records;
            let contents = match claimed.read() {
                Ok(contents) => contents,
                Err(error) => {
                    let reason = format!("cannot be read ({}); {declared} records lost", error.kind());
                    self.lose_unreadable(counters, own, declared);
                    self.set_aside(claimed, &reason);
                    continue;
                }
            };
            let good = contents.records.len() as u64;
            let own_left = if own { good.min(declared) } else { 0 };
            let lost = declared.saturating_sub(good);
            if lost > 0 || !contents.malformed.is_empty() {
                self.lose_unreadable(counters, own, lost);
                claimed.set_damaged();
                let reason = match contents.malformed.first() {
                    Some((line, reason)) => format!(
                        "{} unreadable lines (first: line {line}, {reason}); {lost} records lost",
                        contents.malformed.len()
                    ),
                    None => format!("cut short: {lost} of its {declared} records are missing"),
                };
                if contents.records.is_empty() {
                    self.set_aside(claimed, &reason);
                    continue;
                }
                // The readable records are sent; the file is set aside once they are.
                let waiting = claimed.waiting_path().display().to_string();
                self.log(format_args!(
                    "spool segment {waiting}: {reason}; its {good} readable records are sent, then it is set aside as \
                     {waiting}.bad"
                ));
            } else if contents.records.is_empty() {
                if let Err(error) = claimed.finish() {
                    self.log(format_args!("cannot remove an empty spool segment: {error}"));
                }
                continue;
            }
            let mut records = contents.records;
            // Segments this process spooled were redacted before they were written; those
            // of an earlier process (or an older mv37) may not have been.
            if let Some(hook) = &self.redact {
                crate::redact::redact_records(hook, &mut records);
            }
            self.current = Some(InProgress {
                claimed,
                records,
                sent: 0,
                own_left,
            });
            return true;
        }
    }

    /// Nothing else is waiting: seals this process's open segment if it is a second old
    /// (so that its records go out soon once the backend is back; while it stays down,
    /// attempts are rare and the segment grows), then lists the spool again unless
    /// nothing can have changed. False if there is nothing to send.
    fn seal_and_list(&mut self, spool: &Mutex<Option<Spool>>) -> bool {
        let mut guard = lock(spool);
        let Some(spool) = guard.as_mut() else { return false };
        if let Err(error) = spool.seal_if_due() {
            let dir = spool.dir().display().to_string();
            self.log(format_args!("cannot seal a segment in {dir}: {error}"));
        }
        let unchanged = self
            .listed
            .is_some_and(|(generation, at)| generation == spool.generation() && at.elapsed() < self.interval);
        if unchanged {
            return false;
        }
        self.listed = Some((spool.generation(), Instant::now()));
        match spool.scan() {
            Ok(entries) => self.waiting = entries.into(),
            Err(error) => {
                let dir = spool.dir().display().to_string();
                self.log(format_args!("cannot list the spool {dir}: {error}"));
            }
        }
        !self.waiting.is_empty()
    }

    /// Sends the next batch of the segment in progress.
    fn send_batch(&mut self, exporter: &mut dyn Exporter, counters: &Counters) -> Step {
        let Some(progress) = self.current.as_mut() else {
            return Step::Progress;
        };
        let rest = &progress.records[progress.sent..];
        let mut end = 0;
        let mut bytes = 0;
        for record in rest.iter().take(self.max_batch_records) {
            bytes += record.approx_bytes();
            if end > 0 && bytes > self.max_batch_bytes {
                break;
            }
            end += 1;
        }
        let batch = &rest[..end];
        let count = batch.len() as u64;
        let outcome = catch_unwind(AssertUnwindSafe(|| exporter.export(batch)));
        let delivered = match outcome {
            Ok(Ok(())) => true,
            Ok(Err(error)) if error.transient => return Step::Failed,
            // Rejected by the backend, or the exporter panicked: sending it again would
            // not help.
            Ok(Err(_)) | Err(_) => false,
        };
        let own = count.min(progress.own_left);
        progress.own_left -= own;
        counters.spooled.fetch_sub(own, Ordering::AcqRel);
        if delivered {
            counters.exported.fetch_add(own, Ordering::AcqRel);
            counters.resent_from_spool.fetch_add(count - own, Ordering::AcqRel);
        } else {
            counters.drop_records(DropReason::SpoolEvicted, own);
            counters
                .lost_from_earlier_spool
                .fetch_add(count - own, Ordering::AcqRel);
        }
        progress.sent += end;
        if progress.sent >= progress.records.len() {
            if let Some(done) = self.current.take() {
                // A segment with unreadable lines was reported when it was read.
                if let Err(error) = done.claimed.finish() {
                    self.log(format_args!("cannot remove a delivered spool segment: {error}"));
                }
            }
        }
        Step::Progress
    }

    /// Counts records lost to unreadable lines, and the segment as bad.
    fn lose_unreadable(&self, counters: &Counters, own: bool, lost: u64) {
        counters.spool_bad_segments.fetch_add(1, Ordering::AcqRel);
        if own {
            counters.spooled.fetch_sub(lost, Ordering::AcqRel);
            counters.drop_records(DropReason::SpoolUnreadable, lost);
        } else {
            counters.lost_from_earlier_spool.fetch_add(lost, Ordering::AcqRel);
        }
    }

    /// Renames an unreadable segment to `.bad` and says so.
    fn set_aside(&mut self, claimed: ClaimedSegment, reason: &str) {
        let waiting = claimed.waiting_path().display().to_string();
        match claimed.set_aside() {
            Ok(bad) => self.log(format_args!(
                "spool segment {waiting} set aside as {}: {reason}",
                bad.display()
            )),
            Err(error) => self.log(format_args!(
                "spool segment {waiting} is unreadable ({reason}) and cannot be set aside: {error}"
            )),
        }
    }

    /// Reports a redelivery problem on standard error: the first few, then a note that
    /// later ones are only counted. Messages name files and reasons, never record
    /// contents.
    fn log(&mut self, message: std::fmt::Arguments<'_>) {
        self.logged = self.logged.saturating_add(1);
        if self.logged <= LOGGED_BAD_SEGMENTS {
            eprintln!("mv37: {message}");
        } else if self.logged == LOGGED_BAD_SEGMENTS + 1 {
            eprintln!(
                "mv37: further spool problems are not logged (unreadable segments are counted in stats.spool_bad_segments)"
            );
        }
    }
}

fn lock(spool: &Mutex<Option<Spool>>) -> MutexGuard<'_, Option<Spool>> {
    spool.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
