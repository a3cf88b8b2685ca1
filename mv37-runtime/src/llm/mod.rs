//! Model-call helpers: prices and cost, request parameters and response fields and chat
//! messages from provider shapes, and recording of streamed responses.

pub(crate) mod call;
pub(crate) mod chat;
pub(crate) mod cost;
pub(crate) mod stream;
