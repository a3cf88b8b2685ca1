//! What the macros expand to; not a public API.
pub use mv37_runtime::__private::*;
pub use serde;
pub use serde_json;
