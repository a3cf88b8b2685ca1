//! Chunks: the records one thread hands over together, and the pools of empty chunks
//! that the exporter thread allocates for the producing threads to reuse.
//!
//! Over 500 lines: a chunk is filled on a producing thread and drained into records on
//! the exporter thread, and both halves work on the same parked text, scope indices and
//! reservations; they read best side by side.

use std::ops::Range;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use smallvec::SmallVec;

use super::admission::MAX_ITEM_BYTES;
use super::recent::RecentTraces;
use super::reuse::ReusedRecords;
use crate::ids::{SpanId, TraceId};
use crate::in_place::push_in_place;
use crate::payload::Payload;
use crate::progress::{Extras, SpanState, TraceResource, TraceState};
use crate::record::{Record, TraceScope, RECORD_BASE_BYTES};

/// Records a thread gathers before it hands them to the queue in one operation.
pub(crate) const LOCAL_CHUNK: usize = 32;

/// Records a hand-over moves into a small chunk rather than sending its full one (a
/// thread left its last scope after a short trace).
pub(crate) const SMALL_CHUNK: usize = 4;

/// Empty chunks kept for the producing threads to reuse, full-size and small. The
/// exporter thread allocates them and takes them back, so that a chunk's memory is not
/// freed by a thread other than the one that allocated it (such a free contends for the
/// lock of the allocating thread's malloc arena, and the arena's bookkeeping shares cache
/// lines with the producer's live objects).
///
/// The exporter thread wakes every few thousand records, so a busy producer hands over
/// up to 256 full chunks between two of its rounds. With room for only 64 (until issue
/// 18's ninth session) the pool ran dry in every such burst: the producer allocated a
/// new chunk for most hand-overs and the exporter thread freed what it could not keep,
/// the cross-thread free this pool exists to avoid. Room for 512 (1.7 MB of items at
/// most) keeps every chunk taken back; only 32 are allocated ahead, since allocating
/// more on the exporter thread at start-up stalled both threads (eighth session).
const SPARE_FULL: usize = 512;
const SPARE_SMALL: usize = 512;
/// How many of each the exporter thread allocates ahead (at each of its rounds, up to
/// this many are waiting); the rest of a pool fills with the chunks it takes back.
const TOP_UP_FULL: usize = 32;
const TOP_UP_SMALL: usize = 256;

/// A chunk's data buffer larger than this is not kept for reuse: the pools hold at most
/// 16 MiB of text buffers (1,024 chunks), however large the captured payloads were.
const MAX_KEPT_DATA: usize = 16 * 1024;

/// What a thread hands over: finished spans and traces in their compact form (turned
/// into records on the exporter thread), other records boxed.
pub(crate) enum Item {
    Span {
        span: SpanState,
        trace_id: TraceId,
        span_id: SpanId,
        scope: u32,
        parked: bool,
    },
    Trace {
        trace: TraceState,
        scope: u32,
        parked: bool,
    },
    Record(Box<Record>),
}

impl Item {
    pub(crate) fn span(span: SpanState, trace_id: TraceId, span_id: SpanId) -> Self {
        Item::Span {
            span,
            trace_id,
            span_id,
            scope: 0,
            parked: false,
        }
    }

    pub(crate) fn trace(trace: TraceState) -> Self {
        Item::Trace {
            trace,
            scope: 0,
            parked: false,
        }
    }
}

/// The extras of a span or trace in a chunk, with the text of their input and output
/// moved into the chunk's data. The payloads (and the box, when it held nothing else)
/// are freed by the producing thread that allocated them, where the allocator reuses
/// them for the next span, and the exporter thread rebuilds the payloads from memory it
/// owns: a capture-heavy program does not make the two threads contend for the
/// producer's malloc arena.
struct Parked {
    /// `None` when the extras held nothing but the input and output (a span that only
    /// captured its arguments and value): their box is freed here and not rebuilt on
    /// the exporter thread. Other extras (a model call's) travel in their box.
    extras: Option<Box<Extras>>,
    input: Option<Range<usize>>,
    output: Option<Range<usize>>,
}

/// Records handed over together, with their approximate size. The items of a chunk
/// share its list of trace scopes (usually one), so that a scope's reference count is
/// touched once per chunk rather than once per span.
pub(crate) struct Chunk {
    items: Vec<Item>,
    scopes: SmallVec<[Arc<TraceScope>; 2]>,
    /// Scopes the exporter thread let go of while it drained the chunk (those of the
    /// used records it refilled, and of the traces it forgot): they go back with the
    /// emptied chunk, so that a scope is freed by a producing thread, which allocated
    /// it. A scope freed on the exporter thread costs both threads a contended lock on
    /// the producer's malloc arena.
    retired: Vec<Arc<TraceScope>>,
    parked: Vec<Parked>,
    data: String,
    /// The approximate size of the records the items become (what a batch counts).
    bytes: u64,
    /// Items still in their compact form (spans and traces, not boxed records): the
    /// base size of the record each becomes is in `bytes`, but not held while queued.
    compact: u32,
    /// What the chunk's records hold reserved in the admission word (given back exactly
    /// when they leave the queue).
    reserved: u64,
}

impl Chunk {
    pub(crate) fn with_capacity(items: usize) -> Self {
        Self {
            items: Vec::with_capacity(items),
            scopes: SmallVec::new(),
            retired: Vec::new(),
            parked: Vec::new(),
            data: String::new(),
            bytes: 0,
            compact: 0,
            reserved: 0,
        }
    }

    /// Adds an item: its scope goes into the chunk's list, its extras are parked.
    ///
    /// The item is pushed as it came and then changed where it lies: setting its scope
    /// index and taking its extras before the push stored into it just before the push
    /// copied it, and that copy waited for the stores (perf: a third of this function's
    /// samples on the tiny-trace case).
    #[inline(always)]
    pub(crate) fn add(&mut self, item: Item, scope: Option<&Arc<TraceScope>>, bytes: u64) {
        self.bytes += bytes;
        let index = scope.map(|scope| self.scope_index(scope));
        push_in_place(&mut self.items, item);
        let Some(last) = self.items.last_mut() else {
            return;
        };
        let (index_slot, parked, extras) = match last {
            Item::Span {
                span, scope, parked, ..
            } => (scope, parked, span.extras_slot()),
            Item::Trace { trace, scope, parked } => (scope, parked, trace.extras_slot()),
            Item::Record(_) => return,
        };
        self.compact += 1;
        if let Some(index) = index {
            *index_slot = index;
        }
        if let Some(boxed) = extras.take() {
            *parked = true;
            self.park(boxed);
        }
    }

    /// Adds a finished span, made here from its parts: its scope's index comes from
    /// [`Chunk::scope_index`], taken before, so that nothing between the span leaving the
    /// context stack and this push can call out, and the item is written straight into
    /// its slot (a value that must live across a call is made in a temporary and copied,
    /// and the copy waits for the temporary's stores). Its size is read and its extras
    /// parked where it lies.
    #[inline(always)]
    pub(crate) fn add_span(&mut self, span: SpanState, trace_id: TraceId, span_id: SpanId, scope: u32) {
        push_in_place(
            &mut self.items,
            Item::Span {
                span,
                trace_id,
                span_id,
                scope,
                parked: false,
            },
        );
        self.compact += 1;
        let Some(Item::Span { span, parked, .. }) = self.items.last_mut() else {
            return;
        };
        self.bytes += (span.approx_bytes() as u64).min(MAX_ITEM_BYTES);
        if let Some(boxed) = span.extras_slot().take() {
            *parked = true;
            self.park(boxed);
        }
    }

    /// The index of `scope` in the chunk's list of scopes, added if it is not the last
    /// one.
    #[inline(always)]
    pub(crate) fn scope_index(&mut self, scope: &Arc<TraceScope>) -> u32 {
        if !self.scopes.last().is_some_and(|last| Arc::ptr_eq(last, scope)) {
            self.push_scope(scope);
        }
        u32::try_from(self.scopes.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    #[inline(never)]
    fn push_scope(&mut self, scope: &Arc<TraceScope>) {
        self.scopes.push(Arc::clone(scope));
    }

    /// Parks an item's extras: its input and output as text in the chunk's buffer (their
    /// own buffers go back to the thread), the rest, if anything, boxed as it was.
    #[inline(never)]
    fn park(&mut self, mut boxed: Box<Extras>) {
        let mut stash = |payload: Option<Payload>| {
            payload.map(|payload| {
                let start = self.data.len();
                self.data.push_str(payload.as_json());
                payload.give_back();
                start..self.data.len()
            })
        };
        let (input, output) = (stash(boxed.input.take()), stash(boxed.output.take()));
        let extras = if boxed.is_empty_but_payloads() {
            Extras::recycle(boxed);
            None
        } else {
            Some(boxed)
        };
        self.parked.push(Parked { extras, input, output });
    }

    /// A chunk of one item (when the thread has no chunk of its own to add it to).
    pub(crate) fn one(item: Item, scope: Option<&Arc<TraceScope>>, bytes: u64) -> Self {
        let mut chunk = Self::with_capacity(1);
        chunk.add(item, scope, bytes);
        chunk
    }

    /// Moves everything gathered in `from` after what this chunk holds.
    pub(crate) fn take_from(&mut self, from: &mut Chunk) {
        let (scope_base, data_base) = (self.scopes.len(), self.data.len());
        // A mailbox gathering short traces of one scope: this chunk holds that scope
        // already, so `from` keeps its reference and its items point at ours. Its next
        // record then finds the scope in its list too: two reference-count changes
        // fewer per trace (one when the record is added, one when the chunk is reused),
        // each a locked operation on a line the exporter thread reads.
        let shared_scope = match (from.scopes.as_slice(), self.scopes.last()) {
            ([held], Some(last)) => Arc::ptr_eq(held, last),
            _ => false,
        };
        if shared_scope {
            let index = u32::try_from(scope_base - 1).unwrap_or(u32::MAX);
            for item in &mut from.items {
                if let Item::Span { scope, .. } | Item::Trace { scope, .. } = item {
                    *scope = if *scope == 0 { index } else { u32::MAX };
                }
            }
        } else if scope_base != 0 {
            // The items' scope indices and the parked text's ranges point into `from`.
            let scopes = from.scopes.len();
            for item in &mut from.items {
                if let Item::Span { scope, .. } | Item::Trace { scope, .. } = item {
                    *scope = if (*scope as usize) < scopes {
                        u32::try_from(*scope as usize + scope_base).unwrap_or(u32::MAX)
                    } else {
                        u32::MAX
                    };
                }
            }
        }
        if data_base != 0 {
            let shift = |range: &mut Option<Range<usize>>| {
                if let Some(range) = range {
                    *range = range.start + data_base..range.end + data_base;
                }
            };
            for parked in &mut from.parked {
                shift(&mut parked.input);
                shift(&mut parked.output);
            }
        }
        self.items.append(&mut from.items);
        if shared_scope {
            // Kept by `from` (above).
        } else if self.scopes.is_empty() {
            // The usual case (a spare chunk): the scopes move without a draining
            // iterator, whose state was stored and at once copied (perf: half of the
            // samples of `extend` on the tiny-trace case waited on that copy).
            std::mem::swap(&mut self.scopes, &mut from.scopes);
        } else if from.scopes.len() == 1 {
            // A mailbox gathering short traces: one scope per deposit, moved without
            // the draining iterator either (its state, stored and at once reloaded,
            // was three quarters of `extend`'s samples on the tiny-trace case).
            if let Some(scope) = from.scopes.pop() {
                self.scopes.push(scope);
            }
        } else {
            self.scopes.append(&mut from.scopes);
        }
        // Most records park nothing (no input or output): the appends, each a call
        // to copy nothing, are skipped then.
        if !from.parked.is_empty() {
            self.parked.append(&mut from.parked);
        }
        // The text is copied, and `from` keeps its buffer: a thread's gathering chunk
        // then writes its next records' text without growing a buffer again from
        // nothing (swapping the buffers instead gave it a spare's, often new, and the
        // capture case paid about 160 instructions per span growing it back).
        if !from.data.is_empty() {
            self.data.push_str(&from.data);
            from.data.clear();
            if from.data.capacity() > MAX_KEPT_DATA {
                from.data = String::new();
            }
        }
        self.bytes += std::mem::take(&mut from.bytes);
        self.compact += std::mem::take(&mut from.compact);
    }

    /// What the chunk's records hold reserved in the admission word.
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Adds to what the chunk's records hold reserved.
    pub(crate) fn add_reserved(&mut self, amount: u64) {
        self.reserved += amount;
    }

    /// The approximate size of the chunk's records.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// What the chunk counts against the queue's byte bound while queued: its own
    /// memory and what its items hold outside it.
    pub(crate) fn weight(&self) -> u64 {
        let memory = std::mem::size_of::<Self>()
            + self.items.capacity() * std::mem::size_of::<Item>()
            + self.parked.capacity() * std::mem::size_of::<Parked>()
            + self.data.capacity();
        self.held_outside() + memory as u64
    }

    /// What the items hold outside the chunk's own memory while queued, approximately:
    /// a boxed record its size, an item in compact form its extras (its input and output
    /// counted again, though parked in the chunk's text). A compact item's record is
    /// built on the exporter thread, a batch at a time, so its base size is not held
    /// here: a queued sync span weighs its 104-byte item, not the ~600-byte record.
    pub(crate) fn held_outside(&self) -> u64 {
        self.bytes
            .saturating_sub(u64::from(self.compact) * RECORD_BASE_BYTES as u64)
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// How many scope references the chunk holds.
    #[cfg(test)]
    pub(crate) fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Empties the chunk (its records are dropped), keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.scopes.clear();
        self.retired.clear();
        self.clear_data();
    }

    fn clear_data(&mut self) {
        self.parked.clear();
        if self.data.capacity() > MAX_KEPT_DATA {
            self.data = String::new();
        }
        self.data.clear();
        self.bytes = 0;
        self.compact = 0;
        self.reserved = 0;
    }

    /// Turns the chunk's items into records, appended to `records` (span records over
    /// used ones where it has them). The chunk keeps its scopes (see [`Spares::recycle`]).
    /// The traces among them are remembered in `recent` (with the scope the chunk
    /// already shares, not a copy).
    /// At most `limit` items are drained, the first ones; the chunk keeps the others
    /// (and the text they refer to) for a later call.
    pub(crate) fn drain_into(
        &mut self,
        records: &mut ReusedRecords,
        resource: &TraceResource,
        mut recent: Option<&mut RecentTraces>,
        limit: usize,
    ) {
        let count = limit.min(self.items.len());
        let parked_count = if count == self.items.len() {
            self.parked.len()
        } else {
            self.items[..count]
                .iter()
                .filter(|item| matches!(item, Item::Span { parked: true, .. } | Item::Trace { parked: true, .. }))
                .count()
        };
        let (scopes, data, retired) = (&self.scopes, self.data.as_str(), &mut self.retired);
        let mut parked = self.parked.drain(..parked_count);
        // Puts a parked item's extras back, or gives the text of its input and output
        // when they were all it had (for the record to copy into buffers it holds).
        let mut unpark = move |slot: &mut Option<Box<Extras>>, is_parked: bool| {
            let Parked { extras, input, output } = is_parked.then(|| parked.next()).flatten()?;
            let text = |range: Option<Range<usize>>| range.and_then(|range| data.get(range));
            let (input, output) = (text(input), text(output));
            match extras {
                Some(mut extras) => {
                    extras.input = input.map(Payload::trusted);
                    extras.output = output.map(Payload::trusted);
                    *slot = Some(extras);
                    None
                }
                None => Some((input, output)),
            }
        };
        records.reserve(count);
        for item in self.items.drain(..count) {
            match item {
                Item::Span {
                    mut span,
                    trace_id,
                    span_id,
                    scope,
                    parked,
                } => {
                    let payloads = unpark(span.extras_slot(), parked);
                    let scope = scopes.get(scope as usize);
                    match records.refill_span() {
                        Some(used) => {
                            let held = Held::take(payloads.is_some(), &mut used.input, &mut used.output);
                            retired.extend(span.fill(used, trace_id, span_id, scope));
                            held.give(payloads, &mut used.input, &mut used.output);
                        }
                        None => {
                            let mut record = span.into_record(trace_id, span_id, scope);
                            Held::NONE.give(payloads, &mut record.input, &mut record.output);
                            records.push(Record::Span(record));
                        }
                    }
                }
                Item::Trace {
                    mut trace,
                    scope,
                    parked,
                } => {
                    let payloads = unpark(trace.extras_slot(), parked);
                    let scope = scopes.get(scope as usize);
                    if let (Some(recent), Some(scope)) = (recent.as_deref_mut(), scope) {
                        retired.extend(recent.remember(trace.trace_id, trace.span_id, scope));
                    }
                    match records.refill_trace() {
                        Some(used) => {
                            let held = Held::take(payloads.is_some(), &mut used.input, &mut used.output);
                            trace.fill(used, scope, resource);
                            held.give(payloads, &mut used.input, &mut used.output);
                        }
                        None => {
                            let mut record = trace.into_record(scope, resource);
                            Held::NONE.give(payloads, &mut record.input, &mut record.output);
                            records.push(Record::Trace(record));
                        }
                    }
                }
                Item::Record(record) => {
                    if let (Some(recent), Record::Trace(trace)) = (recent.as_deref_mut(), record.as_ref()) {
                        retired.extend(recent.remember(
                            trace.trace_id,
                            trace.span_id,
                            &Arc::new(TraceScope::of_trace(trace)),
                        ));
                    }
                    records.push(*record);
                }
            }
        }
        drop(unpark);
        if self.items.is_empty() {
            self.clear_data();
        } else {
            // Counted in the batch that took the first items (and in the reservation).
            self.bytes = 0;
            self.compact = 0;
        }
    }
}

/// The input and output a used record held, taken before it is refilled so that the
/// text of the new ones is copied into their buffers: a capture-heavy program's exporter
/// thread then allocates and frees no payload per record.
struct Held {
    input: Option<Payload>,
    output: Option<Payload>,
}

impl Held {
    const NONE: Held = Held {
        input: None,
        output: None,
    };

    /// The record's payloads, if payloads are `coming` to take their place.
    #[inline(always)]
    fn take(coming: bool, input: &mut Option<Payload>, output: &mut Option<Payload>) -> Self {
        if coming {
            Held {
                input: input.take(),
                output: output.take(),
            }
        } else {
            Held::NONE
        }
    }

    /// Gives a record the input and output its item carried without other extras.
    #[inline(always)]
    fn give(
        self,
        payloads: Option<(Option<&str>, Option<&str>)>,
        input: &mut Option<Payload>,
        output: &mut Option<Payload>,
    ) {
        if let Some((given_input, given_output)) = payloads {
            *input = given_input.map(|text| Payload::refilled(self.input, text));
            *output = given_output.map(|text| Payload::refilled(self.output, text));
        }
    }
}

/// The pools of empty chunks, full-size and small.
pub(crate) struct Spares {
    full: ArrayQueue<Chunk>,
    small: ArrayQueue<Chunk>,
}

impl Spares {
    pub(crate) fn new() -> Self {
        Self {
            full: ArrayQueue::new(SPARE_FULL),
            small: ArrayQueue::new(SPARE_SMALL),
        }
    }

    /// The pool for chunks of `capacity` items.
    fn pool(&self, capacity: usize) -> Option<&ArrayQueue<Chunk>> {
        if capacity >= LOCAL_CHUNK {
            Some(&self.full)
        } else if capacity >= SMALL_CHUNK {
            Some(&self.small)
        } else {
            None
        }
    }

    /// An empty chunk for `capacity` items: a spare one, or a new one if none is left.
    pub(crate) fn take(&self, capacity: usize) -> Chunk {
        match self.pool(capacity).and_then(ArrayQueue::pop) {
            Some(mut chunk) => {
                chunk.clear();
                chunk
            }
            None => Chunk::with_capacity(capacity),
        }
    }

    /// Keeps an emptied chunk for the producing threads to reuse. Its trace scopes go
    /// with it, so that the last reference to a scope is usually dropped by a producing
    /// thread, which allocated it.
    pub(crate) fn recycle(&self, mut chunk: Chunk) {
        chunk.items.clear();
        chunk.clear_data();
        if let Some(pool) = self.pool(chunk.items.capacity()) {
            let _ = pool.push(chunk);
        }
    }

    /// Allocates spare chunks (on the exporter thread), up to [`TOP_UP_FULL`] and
    /// [`TOP_UP_SMALL`] waiting.
    pub(crate) fn top_up(&self) {
        for (pool, capacity, want) in [
            (&self.small, SMALL_CHUNK, TOP_UP_SMALL),
            (&self.full, LOCAL_CHUNK, TOP_UP_FULL),
        ] {
            for _ in pool.len()..want {
                if pool.push(Chunk::with_capacity(capacity)).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pools_keep_what_the_exporter_takes_back_beyond_what_it_allocates_ahead() {
        let spares = Spares::new();
        spares.top_up();
        assert_eq!(spares.full.len(), TOP_UP_FULL, "allocated ahead");
        assert_eq!(spares.small.len(), TOP_UP_SMALL);
        // A burst of hand-overs between two rounds of the exporter thread: the chunks it
        // takes back are all kept, so that the next burst reuses them instead of
        // allocating on the producing thread (and freeing on the exporter thread).
        let taken: Vec<Chunk> = (0..300).map(|_| spares.take(LOCAL_CHUNK)).collect();
        assert_eq!(spares.full.len(), 0);
        for chunk in taken {
            spares.recycle(chunk);
        }
        assert_eq!(spares.full.len(), 300);
        // Topping up does not grow a pool that holds enough.
        spares.top_up();
        assert_eq!(spares.full.len(), 300);
        // Past the pool's capacity, chunks are freed.
        for _ in 0..SPARE_FULL {
            spares.recycle(Chunk::with_capacity(LOCAL_CHUNK));
        }
        assert_eq!(spares.full.len(), SPARE_FULL);
    }
}
