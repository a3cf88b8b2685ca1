//! The state of a span or trace while it is open ([`SpanState`], [`TraceState`]): built
//! up by the handles, closed once with its latency and status, then sent as it is to the
//! exporter thread, where it becomes a record. Also how a scope ended ([`Outcome`]).
//!
//! Over 500 lines: the open state and the record it fills on the exporter thread are
//! written field for field against each other (`fill`, `into_record`), and read best in
//! one place.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};

use fastant::Instant;

use crate::clock;
use crate::ids::{SpanId, TraceId};
use crate::payload::Payload;
use crate::record::{
    Attributes, DocumentRecord, ErrorInfo, EventRecord, MessageRecord, RequestParams, ResponseInfo, SpanKind,
    SpanRecord, Status, TraceRecord, TraceScope, Usage, RECORD_BASE_BYTES,
};

/// Messages one span or trace record carries; later ones are sent as records of their own.
pub(crate) const MAX_NESTED_MESSAGES: usize = 256;

/// What is rarely set on a span or trace, kept out of line so that a bare one stays
/// small (model, provider, usage, request, response and documents are for spans only;
/// request and response are boxed again, so that the common extras stay small).
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) error: Option<ErrorInfo>,
    pub(crate) model: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) usage: Option<Usage>,
    pub(crate) request: Option<Box<RequestParams>>,
    pub(crate) response: Option<Box<ResponseInfo>>,
    pub(crate) input: Option<Payload>,
    pub(crate) output: Option<Payload>,
    pub(crate) documents: Vec<DocumentRecord>,
    pub(crate) attributes: Attributes,
    pub(crate) messages: Vec<MessageRecord>,
    pub(crate) events: Vec<EventRecord>,
    /// A kind and a name learnt after the span started (the `tracing` bridge, when a
    /// span records its GenAI operation late); they replace those it started with.
    pub(crate) retyped: Option<(Option<SpanKind>, Option<Cow<'static, str>>)>,
}

thread_local! {
    /// An emptied extras box, kept by its thread for the next span that needs one: a span
    /// that set only its input and output gives its box back as its record leaves (a new
    /// box was an allocation, 450 bytes written and, at the end, a drop and a free).
    static SPARE_EXTRAS: Cell<Option<Box<Extras>>> = const { Cell::new(None) };
}

impl Extras {
    /// A box for new extras: this thread's spare one if it has one.
    pub(crate) fn boxed() -> Box<Extras> {
        SPARE_EXTRAS.try_with(Cell::take).ok().flatten().unwrap_or_default()
    }

    /// Keeps `boxed` as this thread's spare (in place of the one it had) if nothing is
    /// set in it (its payloads were taken); otherwise it is dropped.
    pub(crate) fn recycle(boxed: Box<Extras>) {
        if boxed.input.is_none() && boxed.output.is_none() && boxed.is_empty_but_payloads() {
            let _ = SPARE_EXTRAS.try_with(|spare| drop(spare.replace(Some(boxed))));
        }
    }

    /// Whether nothing is set (input and output aside, which travel on their own).
    pub(crate) fn is_empty_but_payloads(&self) -> bool {
        self.error.is_none()
            && self.model.is_none()
            && self.provider.is_none()
            && self.usage.is_none()
            && self.request.is_none()
            && self.response.is_none()
            && self.documents.is_empty()
            && self.attributes.is_empty()
            && self.messages.is_empty()
            && self.events.is_empty()
            && self.retyped.is_none()
    }

    /// Roughly what the extras weigh in a record (counted against the queue bound).
    /// Inlined for the test alone: most spans have no extras, and a call to learn that
    /// was 20 instructions of a 650-instruction span (callgrind).
    #[inline(always)]
    pub(crate) fn approx_bytes(extras: Option<&Extras>) -> usize {
        extras.map_or(0, Extras::weight)
    }

    #[inline(never)]
    fn weight(&self) -> usize {
        self.input.as_ref().map_or(0, Payload::len)
            + self.output.as_ref().map_or(0, Payload::len)
            + crate::record::messages_bytes(&self.messages)
            + crate::record::documents_bytes(&self.documents)
            + crate::record::events_bytes(&self.events)
    }
}

/// The timing, status and extras of an open span or trace. Start and end are raw clock
/// readings, turned into Unix times and a latency on the exporter thread.
pub(crate) struct Progress {
    start: Instant,
    end: Instant,
    pub(crate) status: Status,
    pub(crate) extras: Option<Box<Extras>>,
}

impl Progress {
    /// Sets the start (and the end, until it is closed) to `start`.
    #[inline(always)]
    pub(crate) fn restart(&mut self, start: Instant) {
        self.start = start;
        self.end = start;
    }

    pub(crate) fn new(start: Instant, extras: Option<Box<Extras>>) -> Self {
        Self {
            start,
            end: start,
            status: Status::Ok,
            extras,
        }
    }

    /// The start reading.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Start in Unix nanoseconds, and the duration on the monotonic clock in nanoseconds.
    pub(crate) fn start_and_latency(&self) -> (u64, u64) {
        clock::unix_nanos_and_latency(self.start, self.end)
    }

    /// The extras, made on first use.
    pub(crate) fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Extras::boxed)
    }

    pub(crate) fn close(&mut self, end: Instant, status: Status, error: Option<ErrorInfo>) {
        self.end = end;
        if status.overrides(self.status) {
            self.status = status;
        }
        if error.is_some() {
            self.extras().error = error;
        }
    }
}

/// An open span or trace: what identifies it, and its [`Progress`].
pub(crate) trait Closable {
    fn progress(&mut self) -> &mut Progress;
}

pub(crate) struct OpenRecord<R> {
    start: Instant,
    record: Mutex<Option<R>>,
}

impl<R: Closable> OpenRecord<R> {
    pub(crate) fn new(start: Instant, record: R) -> Self {
        Self {
            start,
            record: Mutex::new(Some(record)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<R>> {
        self.record.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Time since the record was opened.
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Changes the progress if still open (writes after the end are ignored).
    pub(crate) fn update(&self, change: impl FnOnce(&mut Progress)) {
        if let Some(record) = self.lock().as_mut() {
            change(record.progress());
        }
    }

    /// Adds a message; gives it back if the record is closed or holds too many already.
    pub(crate) fn attach_message(&self, message: MessageRecord) -> Option<MessageRecord> {
        let mut guard = self.lock();
        match guard.as_mut().map(|record| &mut record.progress().extras().messages) {
            Some(messages) if messages.len() < MAX_NESTED_MESSAGES => {
                messages.push(message);
                None
            }
            _ => Some(message),
        }
    }

    /// Closes the record now; `None` if it was closed already.
    pub(crate) fn close(&self, status: Status, error: Option<ErrorInfo>) -> Option<R> {
        let mut record = self.lock().take()?;
        record.progress().close(clock::tick(), status, error);
        Some(record)
    }
}

/// A span from its start to its export: its parent, kind, name and [`Progress`]. On the
/// program's thread it is held by the context stack or by a shared span (which hold its
/// ids, so that this stays small: it is moved on and off the stack at every poll of an
/// async span); once closed it travels to the exporter thread with its ids, and becomes
/// a [`SpanRecord`] there.
pub(crate) struct SpanState {
    pub(crate) parent: SpanId,
    pub(crate) kind: KindCode,
    pub(crate) name: Cow<'static, str>,
    pub(crate) progress: Progress,
}

/// A span's kind while it is open and in transit: the built-in kinds in one byte. A
/// custom kind (rare) travels in the extras, as a later change of kind does, so that
/// the compact item a finished span travels in to the exporter thread stays at 104 bytes
/// (with the 24-byte [`SpanKind`] it took 128: two cache lines to write on one core and
/// read on the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KindCode {
    Llm,
    Tool,
    Task,
    Retrieval,
    Agent,
    Span,
    /// The kind is in the extras (`retyped`).
    Custom,
}

impl KindCode {
    /// The code of a built-in kind; `None` for a custom one.
    #[inline(always)]
    pub(crate) fn built_in(kind: &SpanKind) -> Option<Self> {
        Some(match kind {
            SpanKind::Llm => KindCode::Llm,
            SpanKind::Tool => KindCode::Tool,
            SpanKind::Task => KindCode::Task,
            SpanKind::Retrieval => KindCode::Retrieval,
            SpanKind::Agent => KindCode::Agent,
            SpanKind::Span => KindCode::Span,
            SpanKind::Custom(_) => return None,
        })
    }

    /// The code for `kind`, and the custom kind it leaves for the extras.
    #[inline(always)]
    pub(crate) fn split(kind: SpanKind) -> (Self, Option<SpanKind>) {
        match Self::built_in(&kind) {
            Some(code) => (code, None),
            None => (KindCode::Custom, Some(kind)),
        }
    }

    /// The code for `kind`, with a custom kind moved into `extras` (boxed for it if
    /// there were none).
    #[inline(always)]
    pub(crate) fn split_into(kind: SpanKind, extras: Option<Box<Extras>>) -> (Self, Option<Box<Extras>>) {
        match Self::split(kind) {
            (code, None) => (code, extras),
            (code, Some(custom)) => {
                let mut extras = extras.unwrap_or_else(Extras::boxed);
                extras.retyped.get_or_insert((None, None)).0.get_or_insert(custom);
                (code, Some(extras))
            }
        }
    }

    /// The kind a record gets (a custom one is then set from the extras).
    pub(crate) fn kind(self) -> SpanKind {
        match self {
            KindCode::Llm => SpanKind::Llm,
            KindCode::Tool => SpanKind::Tool,
            KindCode::Task => SpanKind::Task,
            KindCode::Retrieval => SpanKind::Retrieval,
            KindCode::Agent => SpanKind::Agent,
            KindCode::Span | KindCode::Custom => SpanKind::Span,
        }
    }
}

impl Closable for SpanState {
    fn progress(&mut self) -> &mut Progress {
        &mut self.progress
    }
}

impl SpanState {
    /// Closes the span now.
    pub(crate) fn close(&mut self, outcome: Outcome) {
        let (status, error) = outcome.into_status();
        self.progress.close(clock::tick(), status, error);
    }

    /// Closes the span as succeeded (unless it was marked otherwise) at `end`, a reading
    /// taken when its code returned. Inlined where the state is then read, so that the
    /// reading goes there from a register.
    #[inline(always)]
    pub(crate) fn close_ok_at(&mut self, end: Instant) {
        self.progress.end = end;
    }

    /// Where the extras are, to move them out and back in transit.
    pub(crate) fn extras_slot(&mut self) -> &mut Option<Box<Extras>> {
        &mut self.progress.extras
    }

    /// Roughly what the record will weigh once built (counted against the queue bound).
    #[inline]
    pub(crate) fn approx_bytes(&self) -> usize {
        RECORD_BASE_BYTES + self.name.len() + Extras::approx_bytes(self.progress.extras.as_deref())
    }

    /// The record, built whole (when the exporter thread has no used record to refill).
    pub(crate) fn into_record(self, trace_id: TraceId, span_id: SpanId, scope: Option<&Arc<TraceScope>>) -> SpanRecord {
        let mut record = SpanRecord {
            trace_id,
            span_id,
            parent_span_id: None,
            kind: SpanKind::Task,
            name: Cow::Borrowed(""),
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            latency_ns: 0,
            status: Status::Ok,
            error: None,
            model: None,
            provider: None,
            usage: None,
            request: None,
            response: None,
            input: None,
            output: None,
            documents: Vec::new(),
            attributes: Attributes::new(),
            messages: Vec::new(),
            events: Vec::new(),
            scope: None,
        };
        let _none = self.fill(&mut record, trace_id, span_id, scope);
        record
    }

    /// Overwrites `record` (a used one from the exporter's last batch) with this span's
    /// record. Written field by field where it lies, the 528-byte record is neither built
    /// on the stack nor copied into the batch: that copy was a third of the exporter
    /// thread's time per record. Fields this span does not set are emptied, and what the
    /// old record held in them is dropped here, except its trace scope when that changes:
    /// it is returned, for the caller to drop on the thread that allocated it.
    #[must_use]
    #[inline(always)]
    pub(crate) fn fill(
        mut self,
        record: &mut SpanRecord,
        trace_id: TraceId,
        span_id: SpanId,
        scope: Option<&Arc<TraceScope>>,
    ) -> Option<Arc<TraceScope>> {
        let (start, latency) = self.progress.start_and_latency();
        record.trace_id = trace_id;
        record.span_id = span_id;
        record.parent_span_id = Some(self.parent);
        record.kind = self.kind.kind();
        record.name = self.name;
        record.start_time_unix_nano = start;
        record.end_time_unix_nano = start.saturating_add(latency);
        record.latency_ns = latency;
        record.status = self.progress.status;
        let replaced = replace_shared(&mut record.scope, scope);
        let Some(extras) = self.progress.extras.take() else {
            // Most spans carry no extras, and most used records held none either: each
            // field is only checked.
            empty(&mut record.error);
            empty(&mut record.model);
            empty(&mut record.provider);
            empty(&mut record.usage);
            empty(&mut record.request);
            empty(&mut record.response);
            empty(&mut record.input);
            empty(&mut record.output);
            if record.documents.capacity() != 0 {
                record.documents = Vec::new();
            }
            empty_collections(&mut record.attributes, &mut record.messages, &mut record.events);
            return replaced;
        };
        let Extras {
            error,
            model,
            provider,
            usage,
            request,
            response,
            input,
            output,
            documents,
            attributes,
            messages,
            events,
            retyped,
        } = *extras;
        if let Some((kind, name)) = retyped {
            if let Some(kind) = kind {
                record.kind = kind;
            }
            if let Some(name) = name {
                record.name = name;
            }
        }
        record.error = error;
        record.model = model;
        record.provider = provider;
        record.usage = usage;
        record.request = request;
        record.response = response;
        record.input = input;
        record.output = output;
        record.documents = documents;
        record.attributes = attributes;
        record.messages = messages;
        record.events = events;
        replaced
    }
}

/// Empties `slot`, dropping what it held; an empty slot is only checked.
#[inline(always)]
fn empty<T>(slot: &mut Option<T>) {
    if slot.is_some() {
        *slot = None;
    }
}

/// A trace from its start to its export: its ids, its remote parent and its progress.
/// The rest of what its record holds is in its [`TraceScope`] and, added on the exporter
/// thread, the client's [`TraceResource`].
pub(crate) struct TraceState {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) progress: Progress,
}

impl Closable for TraceState {
    fn progress(&mut self) -> &mut Progress {
        &mut self.progress
    }
}

/// The client's fields that every trace record carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct TraceResource {
    pub(crate) environment: Option<Arc<str>>,
    pub(crate) release: Option<Arc<str>>,
    pub(crate) service_name: Option<Arc<str>>,
}

impl TraceState {
    /// Where the extras are, to move them out and back in transit.
    pub(crate) fn extras_slot(&mut self) -> &mut Option<Box<Extras>> {
        &mut self.progress.extras
    }

    /// Roughly what the record will weigh once built (counted against the queue bound).
    pub(crate) fn approx_bytes(&self, scope: &TraceScope) -> usize {
        RECORD_BASE_BYTES + scope.name.len() + Extras::approx_bytes(self.progress.extras.as_deref())
    }

    /// The record, built whole (when the exporter thread has no used record to refill).
    pub(crate) fn into_record(self, scope: Option<&Arc<TraceScope>>, resource: &TraceResource) -> TraceRecord {
        let mut record = TraceRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: None,
            name: Cow::Borrowed(""),
            user_id: None,
            session_id: None,
            conversation_id: None,
            external_trace_id: None,
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            latency_ns: 0,
            status: Status::Ok,
            error: None,
            input: None,
            output: None,
            attributes: Attributes::new(),
            messages: Vec::new(),
            events: Vec::new(),
            context: None,
            environment: None,
            release: None,
            service_name: None,
        };
        self.fill(&mut record, scope, resource);
        record
    }

    /// Overwrites `record` (a used one) with this trace's record, as
    /// [`SpanState::fill`] does: the scope's strings are copied into the used ones' memory,
    /// and the shared ones are not touched when the used record holds them already.
    #[inline(always)]
    pub(crate) fn fill(mut self, record: &mut TraceRecord, scope: Option<&Arc<TraceScope>>, resource: &TraceResource) {
        let (start, latency) = self.progress.start_and_latency();
        record.trace_id = self.trace_id;
        record.span_id = self.span_id;
        record.parent_span_id = self.parent;
        record.start_time_unix_nano = start;
        record.end_time_unix_nano = start.saturating_add(latency);
        record.latency_ns = latency;
        record.status = self.progress.status;
        match scope {
            Some(scope) => {
                record.name.clone_from(&scope.name);
                record.user_id.clone_from(&scope.user_id);
                record.session_id.clone_from(&scope.session_id);
                record.conversation_id.clone_from(&scope.conversation_id);
                record.external_trace_id.clone_from(&scope.external_trace_id);
                share(&mut record.context, scope.context.as_ref());
            }
            None => {
                record.name = Cow::Borrowed("");
                empty(&mut record.user_id);
                empty(&mut record.session_id);
                empty(&mut record.conversation_id);
                empty(&mut record.external_trace_id);
                empty(&mut record.context);
            }
        }
        share(&mut record.environment, resource.environment.as_ref());
        share(&mut record.release, resource.release.as_ref());
        share(&mut record.service_name, resource.service_name.as_ref());
        match self.progress.extras.take() {
            Some(extras) => {
                let extras = *extras;
                record.error = extras.error;
                record.input = extras.input;
                record.output = extras.output;
                record.attributes = extras.attributes;
                record.messages = extras.messages;
                record.events = extras.events;
            }
            None => {
                empty(&mut record.error);
                empty(&mut record.input);
                empty(&mut record.output);
                empty_collections(&mut record.attributes, &mut record.messages, &mut record.events);
            }
        }
    }
}

/// Makes `slot` hold `from`, leaving it alone when it holds the same value already (no
/// reference count is touched then: most records of a batch share their trace's scope
/// and the client's resource).
#[inline(always)]
pub(crate) fn share<T: ?Sized>(slot: &mut Option<Arc<T>>, from: Option<&Arc<T>>) {
    drop(replace_shared(slot, from));
}

/// Makes `slot` hold `from` as [`share`] does, returning what it held if that changed.
#[inline(always)]
fn replace_shared<T: ?Sized>(slot: &mut Option<Arc<T>>, from: Option<&Arc<T>>) -> Option<Arc<T>> {
    let same = match (slot.as_ref(), from) {
        (Some(held), Some(from)) => Arc::ptr_eq(held, from),
        (None, None) => true,
        _ => false,
    };
    if same {
        None
    } else {
        std::mem::replace(slot, from.cloned())
    }
}

/// Empties a record's attributes, messages and events, dropping what they held; empty
/// ones are only checked.
#[inline(always)]
fn empty_collections(attributes: &mut Attributes, messages: &mut Vec<MessageRecord>, events: &mut Vec<EventRecord>) {
    if !attributes.is_empty() {
        *attributes = Attributes::new();
    }
    if messages.capacity() != 0 {
        *messages = Vec::new();
    }
    if events.capacity() != 0 {
        *events = Vec::new();
    }
}

/// How a scope (a trace or a span run by this crate) ended.
pub(crate) enum Outcome {
    Ok,
    Failed(ErrorInfo),
    Cancelled,
}

impl Outcome {
    pub(crate) fn into_status(self) -> (Status, Option<ErrorInfo>) {
        match self {
            Outcome::Ok => (Status::Ok, None),
            Outcome::Failed(error) => (Status::Error, Some(error)),
            Outcome::Cancelled => (Status::Cancelled, None),
        }
    }
}

/// The error of a panic, from its payload.
pub(crate) fn panic_info(payload: &(dyn std::any::Any + Send)) -> ErrorInfo {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    ErrorInfo {
        message,
        error_type: Some("panic".to_owned()),
    }
}

/// The error of an `Err` (or of `fail`): its `Display` text and type name.
pub(crate) fn error_info<E: std::fmt::Display + ?Sized>(error: &E) -> ErrorInfo {
    ErrorInfo {
        message: error.to_string(),
        error_type: Some(std::any::type_name::<E>().to_owned()),
    }
}
