//! Admission to the queue: its occupancy (records and bytes) and the closed flag packed
//! in one word, so that a producer reserves room, and learns whether the pipeline still
//! accepts records, with a single atomic add.
//!
//! Bit 63 is "closed", bits 40..63 count records, bits 0..40 count bytes. A producer
//! adds its reservation first and takes it back if it overshot a bound or found the
//! pipeline closed, so the word can briefly exceed a bound by what concurrent producers
//! reserved: the bounds below leave room for that in each field.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

const CLOSED: u64 = 1 << 63;
const ONE_RECORD: u64 = 1 << 40;
const BYTES_MASK: u64 = ONE_RECORD - 1;

/// The largest queue bound in records that the packed word can hold with room to spare
/// for producers that overshoot before they back off.
pub(crate) const MAX_QUEUE_RECORDS: usize = (1 << 22) - 1;
/// The largest queue bound in bytes.
pub(crate) const MAX_QUEUE_BYTES: usize = (1 << 39) - 1;
/// The most one item may weigh in a reservation (larger weights are clamped), so that
/// even many concurrent overshoots cannot carry into the records field.
pub(crate) const MAX_ITEM_BYTES: u64 = BYTES_MASK >> 8;

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `shutdown` has closed the pipeline.
    Closed,
    /// The records or bytes bound would be passed.
    Full,
}

/// What the queue holds right after a reservation, this one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Occupancy {
    pub(crate) records: usize,
    pub(crate) bytes: usize,
}

/// The packed occupancy word and the bounds it is checked against.
#[derive(Debug)]
pub(crate) struct Admission {
    /// On a cache line of its own: every hand-over and every batch writes it, and no
    /// other field should move between the cores with it.
    state: CachePadded<AtomicU64>,
    max_records: usize,
    max_bytes: usize,
}

impl Admission {
    /// Bounds are clamped to what the word can hold (and to at least one).
    pub(crate) fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            state: CachePadded::new(AtomicU64::new(0)),
            max_records: max_records.clamp(1, MAX_QUEUE_RECORDS),
            max_bytes: max_bytes.clamp(1, MAX_QUEUE_BYTES),
        }
    }

    fn amount(records: u64, bytes: u64) -> u64 {
        ONE_RECORD * records + bytes.min(MAX_ITEM_BYTES * records.max(1))
    }

    /// Reserves room for `records` weighing `bytes`; on success, what is queued now
    /// (this reservation included). A refused reservation leaves the word as it was.
    pub(crate) fn reserve(&self, records: u64, bytes: u64) -> Result<Occupancy, Refused> {
        let amount = Self::amount(records, bytes);
        let before = self.state.fetch_add(amount, Ordering::AcqRel);
        let after = before.wrapping_add(amount);
        let refused = if before & CLOSED != 0 {
            Some(Refused::Closed)
        } else if queued_records(after) > self.max_records || queued_bytes(after) > self.max_bytes {
            Some(Refused::Full)
        } else {
            None
        };
        match refused {
            Some(reason) => {
                self.state.fetch_sub(amount, Ordering::AcqRel);
                Err(reason)
            }
            None => Ok(Occupancy {
                records: queued_records(after),
                bytes: queued_bytes(after),
            }),
        }
    }

    /// Gives back a reservation whose records left the queue.
    #[cfg(test)]
    pub(crate) fn release(&self, records: u64, bytes: u64) {
        self.release_amount(Self::amount(records, bytes));
    }

    /// What [`release`](Self::release) gives back for `records` weighing `bytes`, to
    /// add up several reservations and give them back at once.
    pub(crate) fn amount_of(records: u64, bytes: u64) -> u64 {
        Self::amount(records, bytes)
    }

    /// Gives back reservations added up with [`amount_of`](Self::amount_of).
    pub(crate) fn release_amount(&self, amount: u64) {
        if amount != 0 {
            self.state.fetch_sub(amount, Ordering::AcqRel);
        }
    }

    /// Refuses every later reservation; those made before still arrive.
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Records reserved and not yet released.
    pub(crate) fn queued(&self) -> usize {
        queued_records(self.state.load(Ordering::Acquire))
    }

    /// Bytes reserved and not yet released.
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        queued_bytes(self.state.load(Ordering::Acquire))
    }

    /// Records and bytes reserved and not yet released.
    pub(crate) fn occupancy(&self) -> Occupancy {
        let state = self.state.load(Ordering::Acquire);
        Occupancy {
            records: queued_records(state),
            bytes: queued_bytes(state),
        }
    }
}

fn queued_records(state: u64) -> usize {
    ((state & !CLOSED) >> 40) as usize
}

fn queued_bytes(state: u64) -> usize {
    (state & BYTES_MASK) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_records_and_bytes_until_released() {
        let admission = Admission::new(10, 1_000);
        assert_eq!(admission.reserve(3, 300), Ok(Occupancy { records: 3, bytes: 300 }));
        assert_eq!(admission.reserve(2, 100), Ok(Occupancy { records: 5, bytes: 400 }));
        assert_eq!(admission.occupancy(), Occupancy { records: 5, bytes: 400 });
        assert_eq!((admission.queued(), admission.queued_bytes()), (5, 400));
        admission.release(3, 300);
        assert_eq!((admission.queued(), admission.queued_bytes()), (2, 100));
        admission.release(2, 100);
        assert_eq!((admission.queued(), admission.queued_bytes()), (0, 0));
    }

    #[test]
    fn a_reservation_past_either_bound_is_refused_and_leaves_the_word_unchanged() {
        let admission = Admission::new(4, 1_000);
        assert_eq!(admission.reserve(4, 10).map(|queued| queued.records), Ok(4));
        assert_eq!(
            admission.reserve(1, 10).map(|queued| queued.records),
            Err(Refused::Full)
        );
        assert_eq!((admission.queued(), admission.queued_bytes()), (4, 10));
        let bytes = Admission::new(100, 1_000);
        assert_eq!(bytes.reserve(1, 1_000).map(|queued| queued.records), Ok(1));
        assert_eq!(bytes.reserve(1, 1).map(|queued| queued.records), Err(Refused::Full));
        assert_eq!((bytes.queued(), bytes.queued_bytes()), (1, 1_000));
    }

    #[test]
    fn reservations_given_back_together_leave_the_word_as_one_by_one() {
        let admission = Admission::new(100, MAX_QUEUE_BYTES);
        let chunks = [(3, 300), (1, u64::MAX), (5, 0)];
        for (records, bytes) in chunks {
            assert!(admission.reserve(records, bytes).is_ok());
        }
        let total: u64 = chunks
            .iter()
            .map(|&(records, bytes)| Admission::amount_of(records, bytes))
            .sum();
        admission.release_amount(total);
        assert_eq!((admission.queued(), admission.queued_bytes()), (0, 0));
    }

    #[test]
    fn closing_refuses_later_reservations_but_keeps_the_counts() {
        let admission = Admission::new(10, 1_000);
        assert_eq!(admission.reserve(2, 20).map(|queued| queued.records), Ok(2));
        assert!(!admission.is_closed());
        admission.close();
        assert!(admission.is_closed());
        assert_eq!(admission.queued(), 2, "the closed bit is not counted as records");
        assert_eq!(
            admission.reserve(1, 1).map(|queued| queued.records),
            Err(Refused::Closed)
        );
        assert_eq!((admission.queued(), admission.queued_bytes()), (2, 20));
        admission.release(2, 20);
        assert_eq!(admission.queued(), 0);
        assert!(admission.is_closed(), "releasing does not reopen");
    }

    #[test]
    fn bounds_are_clamped_to_what_the_word_holds() {
        let admission = Admission::new(usize::MAX, usize::MAX);
        assert_eq!(
            (admission.max_records, admission.max_bytes),
            (MAX_QUEUE_RECORDS, MAX_QUEUE_BYTES)
        );
        let zero = Admission::new(0, 0);
        assert_eq!((zero.max_records, zero.max_bytes), (1, 1));
    }

    #[test]
    fn a_huge_weight_is_clamped_and_cannot_carry_into_the_records_field() {
        let admission = Admission::new(MAX_QUEUE_RECORDS, MAX_QUEUE_BYTES);
        assert_eq!(admission.reserve(1, u64::MAX).map(|queued| queued.records), Ok(1));
        assert_eq!(admission.queued_bytes() as u64, MAX_ITEM_BYTES);
        assert_eq!(admission.queued(), 1);
        // The full bound of records, each at the largest weight, still fits the fields.
        let full = Admission::new(MAX_QUEUE_RECORDS, MAX_QUEUE_BYTES);
        assert!(full.reserve(MAX_QUEUE_RECORDS as u64, 0).is_ok());
        assert_eq!(full.queued(), MAX_QUEUE_RECORDS);
        assert_eq!(full.reserve(1, 0).map(|queued| queued.records), Err(Refused::Full));
        assert!(
            !full.is_closed(),
            "a full records field does not spill into the closed bit"
        );
    }

    #[test]
    fn concurrent_producers_never_leave_more_than_the_bound_admitted() {
        let admission = std::sync::Arc::new(Admission::new(1_000, usize::MAX));
        let admitted: u64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let admission = &admission;
                    scope.spawn(move || (0..1_000).filter(|_| admission.reserve(1, 8).is_ok()).count() as u64)
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
        });
        assert_eq!(admitted, 1_000);
        assert_eq!(admission.queued(), 1_000);
    }
}
