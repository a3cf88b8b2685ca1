//! What an open trace or span is while handles and the context stack refer to it: a
//! [`SharedTrace`], a [`SharedSpan`] (a span some handle may reach from anywhere), or a
//! [`LocalSpan`] (a span run on this thread, whose state the context stack holds until a
//! handle needs it elsewhere). All lead to a [`Recorder`]: the pipeline they are sent
//! to, and the client's settings that shape what is recorded.
//!
//! How they end and are sent is in [`super::local`], which owns the thread's state.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastant::Instant;

use crate::clock;
use crate::ids::{SpanId, TraceId};
use crate::payload::CapturePolicy;
use crate::pipeline::Pipeline;
use crate::progress::{Extras, KindCode, OpenRecord, Progress, SpanState, TraceState};
use crate::record::{MessageRecord, SpanKind, TraceScope};

/// Enabled clients alive in the process: while it is zero, every call is a no-op after
/// one relaxed load.
static LIVE_RECORDERS: AtomicUsize = AtomicUsize::new(0);

/// Whether any enabled client exists; the one check made on every call when none does.
#[inline]
pub(crate) fn any_client_live() -> bool {
    LIVE_RECORDERS.load(Ordering::Relaxed) != 0
}

/// An enabled client's engine: its pipeline and the settings traces and spans need.
/// Clients, traces and spans share it; when the last of them goes, it shuts the
/// pipeline down (see `Drop` in [`super::local`]).
pub(crate) struct Recorder {
    pub(crate) pipeline: Arc<Pipeline>,
    /// The payload limit and the content-capture switch.
    pub(crate) capture: CapturePolicy,
    /// Traces whose id's low 64 bits are below this are kept; `None` keeps all.
    sample_below: Option<u64>,
    pub(crate) flush_on_end: bool,
    pub(crate) shutdown_timeout: Duration,
}

impl Recorder {
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        capture: CapturePolicy,
        sample_rate: f64,
        flush_on_end: bool,
        shutdown_timeout: Duration,
    ) -> Self {
        LIVE_RECORDERS.fetch_add(1, Ordering::AcqRel);
        Self {
            pipeline,
            capture,
            sample_below: (sample_rate < 1.0).then_some((sample_rate * u64::MAX as f64) as u64),
            flush_on_end,
            shutdown_timeout,
        }
    }

    /// Whether a trace with this id is kept by sampling.
    pub(crate) fn sample(&self, trace_id: TraceId) -> bool {
        self.sample_below
            .is_none_or(|below| (trace_id.to_u128() as u64) < below)
    }

    pub(crate) fn count_sampled_out(&self) {
        self.pipeline.count_sampled_out();
    }

    /// Called by `Drop` (in [`super::local`]).
    pub(crate) fn forget(&self) {
        LIVE_RECORDERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An open trace, shared by its handles, its spans and the context stacks it is on.
pub(crate) struct SharedTrace {
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) trace_id: TraceId,
    pub(crate) root_span_id: SpanId,
    pub(crate) scope: Arc<TraceScope>,
    pub(crate) record: OpenRecord<TraceState>,
}

impl SharedTrace {
    pub(crate) fn attach_message(&self, message: MessageRecord) -> Option<MessageRecord> {
        self.record.attach_message(message)
    }
}

/// An open span that handles may reach from anywhere.
pub(crate) struct SharedSpan {
    pub(crate) trace: Arc<SharedTrace>,
    pub(crate) span_id: SpanId,
    pub(crate) record: OpenRecord<SpanState>,
}

impl SharedSpan {
    fn new(trace: Arc<SharedTrace>, span_id: SpanId, state: SpanState) -> Self {
        Self {
            trace,
            span_id,
            record: OpenRecord::new(state.progress.start(), state),
        }
    }

    pub(crate) fn attach_message(&self, message: MessageRecord) -> Option<MessageRecord> {
        self.record.attach_message(message)
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut Progress)) {
        self.record.update(change);
    }
}

/// An open span whose state is held by the context stack of the thread that runs it.
pub(crate) struct LocalSpan {
    pub(crate) trace: Arc<SharedTrace>,
    span_id: SpanId,
    pub(crate) state: LocalState,
}

pub(crate) enum LocalState {
    /// Only this thread knows the span: its record is here.
    Local(SpanState),
    /// A handle escaped: the record moved into a shared span.
    Shared(Arc<SharedSpan>),
    /// Momentarily, while the record moves.
    Moving,
}

impl LocalSpan {
    /// A span `span_id` of `trace` starting at `start`, its state on this thread. A span
    /// run in scope passes `Instant::ZERO` and takes its reading with
    /// [`LocalSpan::stamp_start`] once it is on the stack: read before, the reading was
    /// stored into the new span and the span copied at once, a copy that waited for
    /// those stores (perf put a quarter of `run_built`'s samples there).
    #[inline(always)]
    pub(crate) fn starting_at(
        start: Instant,
        trace: Arc<SharedTrace>,
        span_id: SpanId,
        parent: SpanId,
        kind: SpanKind,
        name: Cow<'static, str>,
        extras: Option<Box<Extras>>,
    ) -> Self {
        let (kind, extras) = KindCode::split_into(kind, extras);
        Self::starting_coded(start, trace, span_id, parent, kind, name, extras)
    }

    /// [`LocalSpan::starting_at`] with the kind as its code already (a custom kind in
    /// `extras`).
    #[inline(always)]
    pub(crate) fn starting_coded(
        start: Instant,
        trace: Arc<SharedTrace>,
        span_id: SpanId,
        parent: SpanId,
        kind: KindCode,
        name: Cow<'static, str>,
        extras: Option<Box<Extras>>,
    ) -> Self {
        let state = SpanState {
            parent,
            name,
            kind,
            progress: Progress::new(start, extras),
        };
        Self::new(trace, span_id, state)
    }

    /// Starts the span now (see [`LocalSpan::starting_at`]).
    #[inline(always)]
    pub(crate) fn stamp_start(&mut self) {
        if let LocalState::Local(state) = &mut self.state {
            state.progress.restart(clock::tick());
        }
    }

    pub(crate) fn new(trace: Arc<SharedTrace>, span_id: SpanId, state: SpanState) -> Self {
        Self {
            trace,
            span_id,
            state: LocalState::Local(state),
        }
    }

    pub(crate) fn trace(&self) -> &Arc<SharedTrace> {
        &self.trace
    }

    pub(crate) fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether only this thread knows the span (its state is here).
    pub(crate) fn is_local(&self) -> bool {
        matches!(self.state, LocalState::Local(_))
    }

    /// The trace and the span's state, if it is still local; the span itself if not.
    pub(crate) fn into_local(self) -> Result<(Arc<SharedTrace>, SpanState), Self> {
        match self.state {
            LocalState::Local(state) => Ok((self.trace, state)),
            state => Err(Self { state, ..self }),
        }
    }

    /// The shared span, made now if the state was still local.
    pub(crate) fn share(&mut self) -> Option<Arc<SharedSpan>> {
        match std::mem::replace(&mut self.state, LocalState::Moving) {
            LocalState::Local(state) => {
                let inner = Arc::new(SharedSpan::new(Arc::clone(&self.trace), self.span_id, state));
                self.state = LocalState::Shared(Arc::clone(&inner));
                Some(inner)
            }
            LocalState::Shared(inner) => {
                self.state = LocalState::Shared(Arc::clone(&inner));
                Some(inner)
            }
            LocalState::Moving => None,
        }
    }

    /// Made shareable from the start (a span that is not run in a scope).
    pub(crate) fn into_shared(self) -> Option<Arc<SharedSpan>> {
        match self.state {
            LocalState::Local(state) => Some(Arc::new(SharedSpan::new(self.trace, self.span_id, state))),
            LocalState::Shared(inner) => Some(inner),
            LocalState::Moving => None,
        }
    }

    pub(crate) fn change(&mut self, change: impl FnOnce(&mut Progress)) {
        match &mut self.state {
            LocalState::Local(state) => change(&mut state.progress),
            LocalState::Shared(inner) => inner.update(change),
            LocalState::Moving => {}
        }
    }
}
