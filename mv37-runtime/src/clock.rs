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

/// A point in time: the monotonic instant, and the Unix time derived from one anchor,
/// so that timestamps of one process never go backwards even if the wall clock does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Moment {
    pub(crate) instant: Instant,
    pub(crate) unix_nanos: u64,
}

impl Moment {
    pub(crate) fn now() -> Self {
        let anchor = anchor();
        let instant = Instant::now();
        let since = instant.saturating_duration_since(anchor.instant).as_nanos();
        Self {
            instant,
            unix_nanos: anchor
                .unix_nanos
                .saturating_add(u64::try_from(since).unwrap_or(u64::MAX)),
        }
    }

    /// Nanoseconds from `self` to `later` (zero if `later` is earlier).
    pub(crate) fn nanos_until(&self, later: &Moment) -> u64 {
        u64::try_from(later.instant.saturating_duration_since(self.instant).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The current Unix time in nanoseconds, on the process's monotonic timeline.
pub fn unix_nanos_now() -> u64 {
    Moment::now().unix_nanos
}
