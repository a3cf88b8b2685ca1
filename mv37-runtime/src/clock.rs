//! The clock: wall-clock start times anchored once, monotonic durations after that.
//!
//! Reads go to the CPU's time-stamp counter through `fastant` (a few nanoseconds, no
//! syscall) where the TSC is stable, and fall back to the OS monotonic clock elsewhere.

use std::sync::OnceLock;

use fastant::Instant;

/// The Unix time and the clock reading taken together once; every reading is turned into
/// Unix time from it (a multiplication: no division, no `Duration` on the way).
fn anchor() -> &'static fastant::Anchor {
    static ANCHOR: OnceLock<fastant::Anchor> = OnceLock::new();
    ANCHOR.get_or_init(fastant::Anchor::new)
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
    tick.as_unix_nanos(anchor())
}

/// The Unix time of `start`, and the nanoseconds from `start` to `end` (zero if `end` is
/// earlier): what a record needs, in two conversions.
pub(crate) fn unix_nanos_and_latency(start: Instant, end: Instant) -> (u64, u64) {
    let anchor = anchor();
    let start = start.as_unix_nanos(anchor);
    (start, end.as_unix_nanos(anchor).saturating_sub(start))
}

/// The current Unix time in nanoseconds, on the process's monotonic timeline.
pub fn unix_nanos_now() -> u64 {
    unix_nanos_at(Instant::now())
}
