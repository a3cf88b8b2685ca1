//! What a thread has finished but not yet handed over: one chunk, for one pipeline. The
//! thread's state (`crate::state`) owns it beside the context stack and decides when it
//! goes (32 records gathered, the last open scope left, a flush, the thread's exit).

use std::sync::Arc;

use super::chunk::{Chunk, Item, LOCAL_CHUNK, SMALL_CHUNK};
use super::mailbox::Mailbox;
use super::shared::Pipeline;
use crate::record::TraceScope;

/// The records one thread gathers.
pub(crate) struct Gathering {
    pipeline: Option<Arc<Pipeline>>,
    chunk: Option<Chunk>,
    /// Where the records wait when the thread left its last scope (see
    /// [`super::mailbox`]); opened on first use.
    mailbox: Option<Arc<Mailbox>>,
}

impl Gathering {
    pub(crate) const fn new() -> Self {
        Self {
            pipeline: None,
            chunk: None,
            mailbox: None,
        }
    }

    /// Adds an item for `pipeline` (handing over what was gathered for another one), and
    /// hands the chunk over when it is full, or leaves its records in the thread's
    /// mailbox when `idle` (the thread left its last scope, so the records should leave).
    #[inline(always)]
    pub(crate) fn add(
        &mut self,
        pipeline: &Arc<Pipeline>,
        item: Item,
        scope: Option<&Arc<TraceScope>>,
        bytes: u64,
        idle: bool,
    ) {
        self.chunk_for(pipeline).add(item, scope, bytes);
        self.added(idle);
    }

    /// The chunk to add an item for `pipeline` to (what was gathered for another
    /// pipeline is handed over first); [`Gathering::added`] must follow the add.
    ///
    /// A span's end takes the chunk first and makes its item after, so that no call
    /// (made here only out of line) stands between making the item and writing it: the
    /// item is then written straight into the chunk, where passing it down made it in a
    /// temporary and copied it.
    #[inline(always)]
    pub(crate) fn chunk_for(&mut self, pipeline: &Arc<Pipeline>) -> &mut Chunk {
        if !self.pipeline.as_ref().is_some_and(|p| Arc::ptr_eq(p, pipeline)) {
            self.switch_to(pipeline);
        }
        self.chunk.get_or_insert_with(new_chunk)
    }

    /// After an item was added: hands the chunk over when it is full, or leaves its
    /// records in the thread's mailbox when `idle` (the thread left its last scope, so
    /// the records should leave).
    #[inline(always)]
    pub(crate) fn added(&mut self, idle: bool) {
        if self.chunk.as_ref().is_some_and(|chunk| chunk.len() >= LOCAL_CHUNK) {
            self.hand_over();
        } else if idle {
            self.leave();
        }
    }

    /// Hands over what was gathered for another pipeline and gathers for `pipeline`.
    #[cold]
    #[inline(never)]
    fn switch_to(&mut self, pipeline: &Arc<Pipeline>) {
        self.hand_over();
        self.mailbox = None;
        self.pipeline = Some(Arc::clone(pipeline));
    }

    /// Moves the gathered records into the thread's mailbox, for the exporter thread to
    /// collect (the thread left its last scope, or a trace ended).
    #[inline(never)]
    pub(crate) fn leave(&mut self) {
        let (Some(pipeline), Some(chunk)) = (&self.pipeline, self.chunk.as_mut()) else {
            return;
        };
        if chunk.is_empty() {
            return;
        }
        let mailbox = self.mailbox.get_or_insert_with(|| pipeline.open_mailbox());
        pipeline.deposit(mailbox, chunk);
    }

    /// Leaves the gathered records in the mailbox if they are for `pipeline`.
    pub(crate) fn leave_for(&mut self, pipeline: &Pipeline) {
        if self.is_for(pipeline) {
            self.leave();
        }
    }

    fn is_for(&self, pipeline: &Pipeline) -> bool {
        self.pipeline
            .as_ref()
            .is_some_and(|p| std::ptr::eq(Arc::as_ptr(p), pipeline))
    }

    /// Hands the gathered records, and those in the mailbox before them, to their
    /// pipeline's queue.
    #[inline(never)]
    pub(crate) fn hand_over(&mut self) {
        let (Some(pipeline), Some(mailbox)) = (&self.pipeline, &self.mailbox) else {
            return self.hand_over_chunk();
        };
        pipeline.post_mailbox(mailbox);
        self.hand_over_chunk();
    }

    fn hand_over_chunk(&mut self) {
        let (Some(pipeline), Some(chunk)) = (&self.pipeline, self.chunk.as_mut()) else {
            return;
        };
        if chunk.is_empty() {
            return;
        }
        // The records are copied into a spare chunk of their size, and the thread keeps
        // its gathering chunk: its memory stays in this core's cache, where writing the
        // next records costs no transfer from the exporter's core, and a queue of small
        // hand-overs stays as small as its records.
        let mut out = pipeline.spare_chunk(if chunk.len() <= SMALL_CHUNK {
            SMALL_CHUNK
        } else {
            LOCAL_CHUNK
        });
        out.take_from(chunk);
        pipeline.submit_chunk(out);
    }

    /// Hands over what was gathered if it is for `pipeline` (before its flush).
    pub(crate) fn hand_over_for(&mut self, pipeline: &Pipeline) {
        if self.is_for(pipeline) {
            self.hand_over();
        }
    }
}

/// A thread's first chunk (it keeps it from then on).
#[cold]
#[inline(never)]
fn new_chunk() -> Chunk {
    Chunk::with_capacity(LOCAL_CHUNK)
}

impl Drop for Gathering {
    fn drop(&mut self) {
        self.hand_over();
    }
}
