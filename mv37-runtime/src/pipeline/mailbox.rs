//! Mailboxes: where a thread leaves the records of the traces it finished, for the
//! exporter thread to collect.
//!
//! A thread that leaves its last scope (a trace ended) used to hand its few records over
//! at once: a spare chunk from the pool, a push on the queue, and the exporter thread
//! popping and recycling that chunk, each a transfer of cache lines between the two
//! cores, for every trace. A server that records one small trace per request paid that
//! for every request. Now the records go into the thread's mailbox, which only this
//! thread writes between the exporter thread's visits (a lock nobody else takes), and
//! leave in a full chunk, or when the exporter thread collects them: at each of its
//! rounds, which a trace's end asks for within the linger, and before every flush and
//! shutdown. Records put in a mailbox are produced: they hold their room in the
//! queue's bounds from then on, and count as queued.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::chunk::Chunk;

/// One thread's records for one pipeline, waiting to be queued. What the pipeline does
/// with them is in `Pipeline::deposit` and `Pipeline::collect_mailboxes`.
#[derive(Default)]
pub(crate) struct Mailbox(Mutex<Option<Chunk>>);

impl Mailbox {
    /// The chunk waiting here, if any, to add to or take.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Chunk>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
