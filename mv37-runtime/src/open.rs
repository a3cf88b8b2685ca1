//! The state of a span or trace while it is open: built up under a lock by the handles,
//! closed once with its latency and status, then sent in a compact form that becomes a
//! record on the exporter thread.

use std::sync::{Mutex, MutexGuard};

use fastant::Instant;

use crate::clock;
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

    /// Start in Unix nanoseconds.
    pub(crate) fn start_unix_nanos(&self) -> u64 {
        clock::unix_nanos_at(self.start)
    }

    /// Duration on the monotonic clock, in nanoseconds.
    pub(crate) fn latency_ns(&self) -> u64 {
        clock::nanos_between(self.start, self.end)
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
