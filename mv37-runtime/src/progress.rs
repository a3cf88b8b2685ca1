//! The state of a span or trace while it is open ([`SpanState`], [`TraceState`]): built
//! up by the handles, closed once with its latency and status, then sent as it is to the
//! exporter thread, where it becomes a record. Also how a scope ended ([`Outcome`]).

use std::borrow::Cow;
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

impl Extras {
    /// Roughly what the extras weigh in a record (counted against the queue bound).
    pub(crate) fn approx_bytes(extras: Option<&Extras>) -> usize {
        extras.map_or(0, |extras| {
            extras.input.as_ref().map_or(0, Payload::len)
                + extras.output.as_ref().map_or(0, Payload::len)
                + crate::record::messages_bytes(&extras.messages)
                + crate::record::documents_bytes(&extras.documents)
                + crate::record::events_bytes(&extras.events)
        })
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
    pub(crate) fn new(start: Instant, extras: Option<Box<Extras>>) -> Self {
        Self {
            start,
            end: start,
            status: Status::Ok,
            extras,
        }
    }

    /// Start in Unix nanoseconds, and the duration on the monotonic clock in nanoseconds.
    pub(crate) fn start_and_latency(&self) -> (u64, u64) {
        clock::unix_nanos_and_latency(self.start, self.end)
    }

    /// The extras, made on first use.
    pub(crate) fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// The extras, taken whole (empty if none were set).
    pub(crate) fn take_extras(&mut self) -> Extras {
        self.extras.take().map(|extras| *extras).unwrap_or_default()
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
    pub(crate) kind: SpanKind,
    pub(crate) name: Cow<'static, str>,
    pub(crate) progress: Progress,
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

    /// Where the extras are, to move them out and back in transit.
    pub(crate) fn extras_slot(&mut self) -> &mut Option<Box<Extras>> {
        &mut self.progress.extras
    }

    /// Roughly what the record will weigh once built (counted against the queue bound).
    pub(crate) fn approx_bytes(&self) -> usize {
        RECORD_BASE_BYTES + self.name.len() + Extras::approx_bytes(self.progress.extras.as_deref())
    }

    // Inlined into the exporter's loop, the 512-byte record is built where it is pushed
    // instead of being copied there (a tenth of the exporter thread's time when it was not).
    #[inline(always)]
    pub(crate) fn into_record(
        mut self,
        trace_id: TraceId,
        span_id: SpanId,
        scope: Option<Arc<TraceScope>>,
    ) -> SpanRecord {
        let (start, latency) = self.progress.start_and_latency();
        let mut record = SpanRecord {
            trace_id,
            span_id,
            parent_span_id: Some(self.parent),
            kind: self.kind,
            name: self.name,
            start_time_unix_nano: start,
            end_time_unix_nano: start.saturating_add(latency),
            latency_ns: latency,
            status: self.progress.status,
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
            scope,
        };
        // Most spans carry no extras: then nothing more is built or moved.
        if let Some(extras) = self.progress.extras.take() {
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
        }
        record
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

    pub(crate) fn into_record(mut self, scope: Option<&Arc<TraceScope>>, resource: &TraceResource) -> TraceRecord {
        let extras = self.progress.take_extras();
        let (start, latency) = self.progress.start_and_latency();
        let scope = scope.map(Arc::as_ref);
        let field = |get: fn(&TraceScope) -> &Option<String>| scope.and_then(|scope| get(scope).clone());
        TraceRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent,
            name: scope.map_or(Cow::Borrowed(""), |scope| scope.name.clone()),
            user_id: field(|scope| &scope.user_id),
            session_id: field(|scope| &scope.session_id),
            conversation_id: field(|scope| &scope.conversation_id),
            external_trace_id: field(|scope| &scope.external_trace_id),
            start_time_unix_nano: start,
            end_time_unix_nano: start.saturating_add(latency),
            latency_ns: latency,
            status: self.progress.status,
            error: extras.error,
            input: extras.input,
            output: extras.output,
            attributes: extras.attributes,
            messages: extras.messages,
            events: extras.events,
            context: scope.and_then(|scope| scope.context.clone()),
            environment: resource.environment.clone(),
            release: resource.release.clone(),
            service_name: resource.service_name.clone(),
        }
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
