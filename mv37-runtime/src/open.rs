//! The record of a span or trace while it is open: built up under a lock by the handles,
//! closed once with its end time, latency and status.

use std::sync::{Mutex, MutexGuard};

use crate::clock::Moment;
use crate::record::{ErrorInfo, MessageRecord, Status, TraceRecord};

/// Messages one span or trace record carries; later ones are sent as records of their own.
pub(crate) const MAX_NESTED_MESSAGES: usize = 256;

/// What a span record and a trace record have in common while they are open.
pub(crate) trait Closable {
    fn messages(&mut self) -> &mut Vec<MessageRecord>;
    fn close(&mut self, end_unix_nanos: u64, latency_ns: u64, status: Status, error: Option<ErrorInfo>);
}

macro_rules! closable {
    ($record:ty) => {
        impl Closable for $record {
            fn messages(&mut self) -> &mut Vec<MessageRecord> {
                &mut self.messages
            }

            fn close(&mut self, end_unix_nanos: u64, latency_ns: u64, status: Status, error: Option<ErrorInfo>) {
                self.end_time_unix_nano = end_unix_nanos;
                self.latency_ns = latency_ns;
                if status.overrides(self.status) {
                    self.status = status;
                }
                if error.is_some() {
                    self.error = error;
                }
            }
        }
    };
}
closable!(TraceRecord);

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

    /// Changes the record if it is still open (writes after the end are ignored).
    pub(crate) fn update(&self, change: impl FnOnce(&mut R)) {
        if let Some(record) = self.lock().as_mut() {
            change(record);
        }
    }

    /// Adds a message; gives it back if the record is closed or holds too many already.
    pub(crate) fn attach_message(&self, message: MessageRecord) -> Option<MessageRecord> {
        let mut guard = self.lock();
        match guard.as_mut().map(Closable::messages) {
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
        record.close(end.unix_nanos, self.start.nanos_until(&end), status, error);
        Some(record)
    }
}
