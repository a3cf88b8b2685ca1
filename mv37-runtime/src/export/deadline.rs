//! The shutdown deadline as the exporter thread sees it: set by `shutdown` from any
//! thread, read by a transport in the middle of a request, so that a collector that
//! accepts a connection and never answers cannot hold the process past the deadline.
//!
//! [`Exporter::set_deadline`](super::Exporter::set_deadline) is only called between
//! batches; this is what reaches a request already in flight.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Instants are stored as nanoseconds after this one, so that they fit in an atomic.
fn anchor() -> Instant {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    *ANCHOR.get_or_init(Instant::now)
}

const NONE: u64 = u64::MAX;

/// A deadline that one thread sets and another polls.
#[derive(Debug)]
pub(crate) struct SharedDeadline(AtomicU64);

impl Default for SharedDeadline {
    fn default() -> Self {
        Self(AtomicU64::new(NONE))
    }
}

impl SharedDeadline {
    /// Sets the deadline, unless an earlier one is already set.
    pub(crate) fn set(&self, at: Instant) {
        let nanos = u64::try_from(at.saturating_duration_since(anchor()).as_nanos()).unwrap_or(NONE - 1);
        self.0.fetch_min(nanos, Ordering::AcqRel);
    }

    pub(crate) fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Acquire) {
            NONE => None,
            nanos => Some(anchor() + Duration::from_nanos(nanos)),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<SharedDeadline>>> = const { RefCell::new(None) };
}

/// Makes `deadline` the one this (exporter) thread's transports obey.
pub(crate) fn install(deadline: Arc<SharedDeadline>) {
    let _ = CURRENT.try_with(|current| *current.borrow_mut() = Some(deadline));
}

/// The shutdown deadline of the pipeline whose exporter thread this is, once shutdown
/// has begun.
#[cfg(any(test, feature = "transport"))]
pub(crate) fn current() -> Option<Instant> {
    CURRENT
        .try_with(|current| current.borrow().as_ref().and_then(|deadline| deadline.get()))
        .ok()
        .flatten()
}

#[cfg(feature = "transport")]
/// Resolves when the shutdown deadline passes (never, if shutdown does not begin).
/// Polled inside the transport's runtime, on the exporter thread.
pub(crate) async fn reached() {
    // Before shutdown begins this looks every 20 ms: only while a request is in flight.
    const LOOK_EVERY: Duration = Duration::from_millis(20);
    loop {
        match current() {
            Some(at) => {
                tokio::time::sleep_until(at.into()).await;
                return;
            }
            None => tokio::time::sleep(LOOK_EVERY).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_wins_and_is_seen_by_the_installed_thread_only() {
        let deadline = Arc::new(SharedDeadline::default());
        assert_eq!(deadline.get(), None);
        let soon = Instant::now() + Duration::from_millis(100);
        deadline.set(soon + Duration::from_secs(1));
        deadline.set(soon);
        deadline.set(soon + Duration::from_secs(2));
        let seen = deadline.get().expect("set");
        assert!(seen.max(soon) - seen.min(soon) < Duration::from_micros(1));
        assert_eq!(current(), None);
        let theirs = Arc::clone(&deadline);
        let on_exporter = std::thread::spawn(move || {
            install(theirs);
            current()
        })
        .join()
        .expect("no panic");
        assert_eq!(on_exporter, deadline.get());
        assert_eq!(current(), None);
    }
}
