//! Model-call helpers: prices and cost, chat messages from provider shapes, and
//! recording of streamed responses.

pub(crate) mod chat;
pub(crate) mod cost;
pub(crate) mod stream;
