//! The page, its style sheet and its scripts, compiled into the binary: plain HTML, CSS
//! and JavaScript, with no build step and nothing fetched from elsewhere.

/// The one HTML page; the scripts draw every view into it.
pub const INDEX_HTML: &str = include_str!("assets/index.html");
/// The style sheet.
pub const APP_CSS: &str = include_str!("assets/app.css");
/// Helpers, routing, the trace list and the sessions.
pub const APP_JS: &str = include_str!("assets/app.js");
/// The trace page: tree, waterfall, chat transcript, span details.
pub const TRACE_JS: &str = include_str!("assets/trace.js");
/// The stats page and its SVG charts.
pub const STATS_JS: &str = include_str!("assets/stats.js");
