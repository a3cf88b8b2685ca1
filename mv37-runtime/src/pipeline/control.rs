//! The flush and shutdown handshakes between a caller and the exporter thread: the
//! caller posts a request under the control lock and waits on the condition variable
//! until the exporter answers or the deadline passes; at a shutdown deadline the caller
//! takes over the accounting of what the exporter still held.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::reuse::ReusedRecords;
use super::shared::Pipeline;
use crate::stats::DropReason;

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

/// How much earlier than the shutdown deadline the exporter gives up on what is in
/// flight: a fifth of the time left, at most this, so that what it could not deliver is
/// spooled or counted before the caller's deadline.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(250);

/// `now + timeout`, for any timeout (`Duration::MAX` means "a year", not a panic).
pub(crate) fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

impl Pipeline {
    fn on_exporter_thread(&self) -> bool {
        self.thread.get().is_some_and(|t| t.id() == thread::current().id())
    }

    /// Waits until every record queued before the call has been exported (or dropped)
    /// and the exporter has flushed. The caller hands its thread's records over first.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.on_exporter_thread() {
            return Err(FlushError::FromExporterThread);
        }
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
    /// The caller hands its thread's records over first.
    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.on_exporter_thread() {
            return Err(ShutdownError::FromExporterThread);
        }
        // What threads left in their mailboxes is queued before the close; what they
        // leave after it is counted as dropped after shutdown when collected.
        self.collect_mailboxes();
        self.admission.close();
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
        let mut records = ReusedRecords::default();
        // Producers that reserved room just before the close push within nanoseconds.
        let stragglers_until = Instant::now() + Duration::from_millis(10);
        loop {
            // Refused and counted now that the pipeline is closed.
            self.collect_mailboxes();
            while let Some(mut chunk) = self.unqueue() {
                chunk.drain_into(&mut records, &self.resource, None, usize::MAX);
            }
            if self.admission.queued() == 0 || Instant::now() >= stragglers_until {
                break;
            }
            thread::yield_now();
        }
        let in_flight = self.counters.in_flight.swap(0, Ordering::AcqRel);
        self.counters.drop_records(DropReason::ShutdownTimeout, in_flight);
        let mut records = records.into_vec();
        let queued = records.len() as u64;
        if queued > 0 {
            let spooled = match self.spool.try_lock() {
                Ok(mut spool) => self.spool_into(spool.as_mut(), &mut records, false, false),
                Err(_) => false,
            };
            if !spooled {
                self.counters.drop_records(DropReason::ShutdownTimeout, queued);
            }
        }
        queued + in_flight
    }
}
