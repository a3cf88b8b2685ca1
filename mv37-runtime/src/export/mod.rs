//! Exporters: where finished records go. They run on the exporter thread only.

mod console;
pub(crate) mod deadline;
pub(crate) mod feedback;
#[cfg(feature = "transport")]
pub(crate) mod http;
#[cfg(feature = "ingest")]
pub(crate) mod ingest;
mod jsonl;
mod memory;
pub(crate) mod net;
pub(crate) mod otlp;
pub(crate) mod redeliver;
mod resource;
pub(crate) mod spool;

use std::time::Instant;

pub use console::ConsoleExporter;
pub use feedback::FeedbackBackend;
#[cfg(feature = "transport")]
pub use feedback::FeedbackExporter;
#[cfg(feature = "ingest")]
pub use ingest::IngestExporter;
pub use jsonl::JsonlExporter;
pub use memory::MemoryExporter;
pub use net::{ApiKey, IngestConfig, RetryPolicy, DEFAULT_INGEST_ENDPOINT};
pub use otlp::{OtlpConfig, OtlpProtocol, DEFAULT_OTLP_ENDPOINT};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpEncoder, OtlpExporter};
pub use resource::ResourceInfo;
pub use spool::{
    ClaimedSegment, Evicted, Segment, SegmentContents, Spool, DEFAULT_SEGMENT_BYTES, DEFAULT_SPOOL_MAX_BYTES,
};

use crate::record::Record;

/// A destination for batches of finished records.
///
/// Exporters are called from the client's own exporter thread, one batch at a time,
/// never from the program's threads; they may block (write a file, make a request).
/// A returned error, or a panic, counts the whole batch as dropped (`export_failed`).
///
/// ```
/// use mv37_runtime::{ExportError, Exporter, Record};
///
/// struct CountSpans(usize);
///
/// impl Exporter for CountSpans {
///     fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
///         self.0 += batch.iter().filter(|r| matches!(r, Record::Span(_))).count();
///         Ok(())
///     }
/// }
/// ```
pub trait Exporter: Send + 'static {
    /// Delivers one batch.
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError>;

    /// Makes everything exported so far durable or visible (called by `flush`).
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; called once, after the last batch, at shutdown.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.flush()
    }

    /// Shutdown has begun: no delivery attempt (retries and backoff included) should
    /// run past `deadline`.
    fn set_deadline(&mut self, deadline: Instant) {
        let _ = deadline;
    }
}

/// Why an exporter could not deliver a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exporter} exporter: {message}")]
pub struct ExportError {
    /// Which exporter failed.
    pub exporter: &'static str,
    /// What went wrong.
    pub message: String,
    /// Whether sending the same batch later could succeed (the backend was down or
    /// overloaded), as opposed to a batch the backend rejects. Only these are spooled.
    pub transient: bool,
}

impl ExportError {
    /// A permanent error of the named exporter (retrying the batch will not help).
    pub fn new(exporter: &'static str, message: impl Into<String>) -> Self {
        Self {
            exporter,
            message: message.into(),
            transient: false,
        }
    }

    /// A transient error: the backend could not be reached or was overloaded.
    pub fn transient(exporter: &'static str, message: impl Into<String>) -> Self {
        Self {
            transient: true,
            ..Self::new(exporter, message)
        }
    }
}

/// Discards every batch (they still count as exported): for benchmarks and for
/// `MV37_EXPORTER=none`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopExporter;

impl Exporter for NoopExporter {
    fn export(&mut self, _batch: &[Record]) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Sends each batch to several exporters. A batch counts as exported only if every
/// exporter accepted it; the first error is reported.
pub(crate) struct FanOut(pub(crate) Vec<Box<dyn Exporter>>);

impl FanOut {
    fn each(&mut self, mut call: impl FnMut(&mut dyn Exporter) -> Result<(), ExportError>) -> Result<(), ExportError> {
        let mut first_error: Option<ExportError> = None;
        for exporter in &mut self.0 {
            if let Err(error) = call(exporter.as_mut()) {
                match &mut first_error {
                    // The batch is worth spooling only if every failure was transient.
                    Some(first) => first.transient &= error.transient,
                    None => first_error = Some(error),
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Exporter for FanOut {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        self.each(|exporter| exporter.export(batch))
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.each(|exporter| exporter.flush())
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.each(|exporter| exporter.shutdown())
    }

    fn set_deadline(&mut self, deadline: Instant) {
        for exporter in &mut self.0 {
            exporter.set_deadline(deadline);
        }
    }
}
