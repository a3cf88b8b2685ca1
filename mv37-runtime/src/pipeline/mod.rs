//! The batching pipeline: a bounded lock-free queue filled by the program's threads and
//! drained by one background thread that batches records and calls the exporter.
//!
//! - [`admission`]: the packed word that bounds the queue and closes it at shutdown.
//! - [`chunk`]: the unit a thread hands over, and the pools of spare chunks.
//! - [`gather`]: the chunk a thread fills before handing it over.
//! - [`mailbox`]: where a thread leaves its records when a trace ends.
//! - [`shared`]: the state producers and the exporter thread share, and the producer side.
//! - [`worker`]: the exporter thread.
//! - [`recent`]: the exporter thread's memory of recent traces, for late feedback.
//! - [`reuse`]: the exporter thread's batch of records, refilled in place.
//! - [`control`]: the flush and shutdown handshakes.

mod admission;
mod chunk;
mod control;
mod gather;
mod mailbox;
mod recent;
mod reuse;
mod shared;
mod worker;

use std::sync::Arc;
use std::thread;

pub(crate) use admission::{MAX_ITEM_BYTES, MAX_QUEUE_BYTES, MAX_QUEUE_RECORDS};
pub(crate) use chunk::{Chunk, Item};
pub use control::{FlushError, ShutdownError};
pub(crate) use gather::Gathering;
pub(crate) use shared::{Limits, Pipeline, DEFAULT_EXPORT_LINGER};

use crate::export::spool::Spool;
use crate::export::Exporter;
use crate::progress::TraceResource;
use crate::redact::RedactHook;

/// Starts a pipeline and its exporter thread.
pub(crate) fn start(
    limits: Limits,
    resource: TraceResource,
    exporter: Box<dyn Exporter>,
    redact: Option<RedactHook>,
    spool: Option<Spool>,
) -> std::io::Result<Arc<Pipeline>> {
    let pipeline = Arc::new(Pipeline::new(limits, resource, redact, spool));
    let worker = Arc::clone(&pipeline);
    let handle = thread::Builder::new()
        .name("mv37-exporter".into())
        .spawn(move || worker.run(exporter))?;
    let _ = pipeline.thread.set(handle.thread().clone());
    Ok(pipeline)
}
