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

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::admission::Admission;
use super::chunk::{Chunk, Item, LOCAL_CHUNK};
use super::shared::Pipeline;

/// One thread's records for one pipeline, waiting to be queued.
#[derive(Default)]
pub(crate) struct Mailbox(Mutex<Option<Chunk>>);

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Option<Chunk>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the records of `from` in, counted as produced and holding their room in
    /// the queue's bounds (or counted as dropped, past them); a chunk that fills up is
    /// queued.
    pub(crate) fn deposit(&self, pipeline: &Pipeline, from: &mut Chunk) {
        let count = from.len() as u64;
        let weight = from.bytes() + (from.len() * std::mem::size_of::<Item>()) as u64;
        if pipeline.reserve(count, weight).is_none() {
            from.clear();
            return;
        }
        let mut held = self.lock();
        if held
            .as_ref()
            .is_some_and(|chunk| chunk.len() + from.len() > LOCAL_CHUNK)
        {
            if let Some(full) = held.take() {
                pipeline.push_reserved(full);
            }
        }
        let chunk = held.get_or_insert_with(|| pipeline.spare_chunk(LOCAL_CHUNK));
        chunk.take_from(from);
        chunk.add_reserved(Admission::amount_of(count, weight));
        if chunk.len() >= LOCAL_CHUNK {
            if let Some(full) = held.take() {
                pipeline.push_reserved(full);
                if pipeline.admission.queued() >= pipeline.limits.max_batch_records {
                    pipeline.wake();
                }
            }
        }
    }

    /// What waits here, taken.
    pub(crate) fn take(&self) -> Option<Chunk> {
        self.lock().take().filter(|chunk| !chunk.is_empty())
    }
}

impl Pipeline {
    /// A new mailbox for the calling thread, which the exporter thread visits.
    pub(crate) fn open_mailbox(&self) -> Arc<Mailbox> {
        let mailbox = Arc::new(Mailbox::default());
        self.mailboxes().push(Arc::clone(&mailbox));
        mailbox
    }

    /// Queues what every mailbox holds, and forgets the mailboxes whose thread let go of
    /// them (it queued their records first).
    pub(crate) fn collect_mailboxes(&self) {
        self.mailboxes().retain(|mailbox| {
            if let Some(chunk) = mailbox.take() {
                self.push_reserved(chunk);
            }
            Arc::strong_count(mailbox) > 1
        });
    }

    fn mailboxes(&self) -> MutexGuard<'_, Vec<Arc<Mailbox>>> {
        self.mailboxes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
