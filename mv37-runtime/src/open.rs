//! The state of a span or trace while it is open: built up under a lock by the handles,
//! closed once with its latency and status, then sent in a compact form that becomes a
//! record on the exporter thread.

use std::sync::{Mutex, MutexGuard};

use crate::clock::Moment;
use crate::payload::Payload;
use crate::record::{Attributes, ErrorInfo, MessageRecord, Status, Usage};

/// Messages one span or trace record carries; later ones are sent as records of their own.
pub(crate) const MAX_NESTED_MESSAGES: usize = 256;

/// What is rarely set on a span or trace, kept out of line so that a bare one stays
/// small (model, provider and usage are for spans only).
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) error: Option<ErrorInfo>,
    pub(crate) model: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) usage: Option<Usage>,
    pub(crate) input: Option<Payload>,
    pub(crate) output: Option<Payload>,
    pub(crate) attributes: Attributes,
    pub(crate) messages: Vec<MessageRecord>,
}

impl Extras {
    /// Roughly what the extras weigh in a record (counted against the queue bound).
    pub(crate) fn approx_bytes(extras: Option<&Extras>) -> usize {
        extras.map_or(0, |extras| {
            extras.input.as_ref().map_or(0, Payload::len)
                + extras.output.as_ref().map_or(0, Payload::len)
                + crate::record::messages_bytes(&extras.messages)
        })
    }
}

/// The timing, status and extras of an open span or trace.
pub(crate) struct Progress {
    pub(crate) start_unix_nanos: u64,
    pub(crate) latency_ns: u64,
    pub(crate) status: Status,
    pub(crate) extras: Option<Box<Extras>>,
}

impl Progress {
    pub(crate) fn new(start: &Moment, extras: Option<Box<Extras>>) -> Self {
        Self {
            start_unix_nanos: start.unix_nanos,
            latency_ns: 0,
            status: Status::Ok,
            extras,
        }
    }

    /// The extras, made on first use.
    pub(crate) fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// The extras, taken whole (empty if none were set).
    pub(crate) fn take_extras(&mut self) -> Extras {
        self.extras.take().map(|extras| *extras).unwrap_or_default()
    }

    /// End in Unix nanoseconds (on the same timeline as the start).
    pub(crate) fn end_unix_nanos(&self) -> u64 {
        self.start_unix_nanos.saturating_add(self.latency_ns)
    }

    fn close(&mut self, latency_ns: u64, status: Status, error: Option<ErrorInfo>) {
        self.latency_ns = latency_ns;
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
    start: Moment,
    record: Mutex<Option<R>>,
}

impl<R: Closable> OpenRecord<R> {
    pub(crate) fn new(start: Moment, record: R) -> Self {
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
        self.start.instant.elapsed()
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
        let end = Moment::now();
        record.progress().close(self.start.nanos_until(&end), status, error);
        Some(record)
    }
}
