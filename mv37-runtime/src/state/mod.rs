//! Per-thread state and the open traces and spans it refers to: [`open`] has the types,
//! [`local`] the one thread-local (context stack and gathered records) and how a trace
//! or span ends and leaves the thread.

pub(crate) mod local;
pub(crate) mod open;
