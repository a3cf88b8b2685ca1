//! Grouping records into traces and drawing a trace as an indented tree: the code the
//! console exporter and the `mv37` command-line tool share.
//!
//! Only data modules are used here (`record`, `ids`), so any layer can
//! call it. It is public for the CLI and hidden from the documented surface.

mod group;
mod tree;

pub use group::{PendingTraces, TraceGroup};
pub use tree::{draw, usage_text, Node, Paint, TraceTree, MAX_DEPTH};
