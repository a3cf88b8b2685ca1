//! The clock: wall-clock start times anchored once, monotonic durations after that.
//!
//! Reads go to the CPU's time-stamp counter through `fastant` (a few nanoseconds, no
//! syscall) where the TSC is stable, and fall back to the OS monotonic clock elsewhere.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use fastant::Instant;

struct Anchor {
    unix_nanos: u64,
    instant: Instant,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| Anchor {
        unix_nanos: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        instant: Instant::now(),
    })
}

/// Fixes the anchor now (when a client is built), before any clock reading it converts.
pub(crate) fn init() {
    anchor();
}

/// A raw reading of the monotonic clock, to be turned into Unix time later (on the
/// exporter thread): the hot path only reads the counter.
pub(crate) fn tick() -> Instant {
    Instant::now()
}

/// The Unix time of a [`tick`], on the process's monotonic timeline.
pub(crate) fn unix_nanos_at(tick: Instant) -> u64 {
    let anchor = anchor();
    let since = tick.saturating_duration_since(anchor.instant).as_nanos();
    anchor
        .unix_nanos
        .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
}

/// Nanoseconds from `start` to `end` (zero if `end` is earlier).
pub(crate) fn nanos_between(start: Instant, end: Instant) -> u64 {
    u64::try_from(end.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

/// The current Unix time in nanoseconds, on the process's monotonic timeline.
pub fn unix_nanos_now() -> u64 {
    unix_nanos_at(Instant::now())
}
