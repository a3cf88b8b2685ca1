//! The trace list, computed from the index: filters, full-text search, sorting and
//! paging; and the facets its filter controls offer.

use std::collections::HashMap;

use mv37_runtime::Status;
use serde::{Deserialize, Serialize};

use super::index::{kind_bit, Index, TraceSummary, KINDS, NONE};

/// Most rows of one page.
pub const MAX_PAGE: usize = 500;

/// The trace list's query string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// Text to find in inputs, outputs and messages (any case).
    pub q: String,
    /// The trace's name, exactly.
    pub name: String,
    /// The user, exactly.
    pub user: String,
    /// The session, exactly.
    pub session: String,
    /// `ok`, `error`, `cancelled` or `open`.
    pub status: String,
    /// A span kind the trace must contain.
    pub kind: String,
    /// `start`, `latency`, `tokens`, `cost`, `name` or `spans`.
    pub sort: String,
    /// `asc` or `desc` (the default).
    pub order: String,
    /// Rows to skip.
    pub offset: usize,
    /// Rows to give (default 50, at most [`MAX_PAGE`]).
    pub limit: Option<usize>,
}

/// One row of the trace list.
#[derive(Debug, Serialize)]
pub struct TraceRow<'a> {
    /// The trace id, 32 hex digits.
    pub id: String,
    /// The trace's name.
    pub name: &'a str,
    /// Start, Unix nanoseconds.
    pub start: u64,
    /// Latency, nanoseconds.
    pub latency_ns: u64,
    /// The user.
    pub user: Option<&'a str>,
    /// The session.
    pub session: Option<&'a str>,
    /// The conversation.
    pub conversation: Option<&'a str>,
    /// `ok`, `error`, `cancelled`, or `open` while the trace record has not arrived.
    pub status: &'static str,
    /// Spans that failed.
    pub failed_spans: u32,
    /// Spans.
    pub spans: u32,
    /// Tokens of its model calls.
    pub tokens: u64,
    /// Cost of its model calls, US dollars.
    pub cost: f64,
    /// The span kinds it contains.
    pub kinds: Vec<&'static str>,
    /// Feedback was given.
    pub feedback: bool,
}

/// A page of the trace list.
#[derive(Debug, Serialize)]
pub struct TracePage<'a> {
    /// Traces matching the filters.
    pub total: usize,
    /// The first row's position.
    pub offset: usize,
    /// The rows.
    pub traces: Vec<TraceRow<'a>>,
}

/// The status shown for a trace.
pub fn status_name(summary: &TraceSummary) -> &'static str {
    if summary.ended() {
        summary.status.as_str()
    } else {
        "open"
    }
}

/// The row of one trace.
pub fn row<'a>(index: &'a Index, summary: &TraceSummary) -> TraceRow<'a> {
    let strings = &index.strings;
    TraceRow {
        id: format!("{:032x}", summary.id),
        name: strings.name(summary.name),
        start: summary.start,
        latency_ns: summary.latency(),
        user: strings.optional(summary.user),
        session: strings.optional(summary.session),
        conversation: strings.optional(summary.conversation),
        status: status_name(summary),
        failed_spans: summary.failed_spans,
        spans: summary.spans,
        tokens: summary.tokens,
        cost: summary.cost,
        kinds: KINDS
            .iter()
            .enumerate()
            .filter(|(bit, _)| summary.kinds & (1 << bit) != 0)
            .map(|(_, kind)| *kind)
            .collect(),
        feedback: summary.flags & super::index::flags::FEEDBACK != 0,
    }
}

/// The traces matching a search, one bit per trace number.
#[derive(Debug, Clone)]
pub struct SearchHits {
    bits: Vec<u64>,
}

impl SearchHits {
    /// Searches the index's text for `needle` (lowercased here).
    pub fn find(index: &Index, needle: &str) -> std::io::Result<Self> {
        let needle = needle.trim().to_lowercase();
        let mut bits = vec![0u64; index.traces().len().div_ceil(64)];
        index.text.search(&needle, |trace| {
            if let Some(word) = bits.get_mut(trace as usize / 64) {
                *word |= 1 << (trace % 64);
            }
        })?;
        Ok(Self { bits })
    }

    fn contains(&self, trace: usize) -> bool {
        self.bits
            .get(trace / 64)
            .is_some_and(|word| word & (1 << (trace % 64)) != 0)
    }
}

/// The page of traces `query` asks for; `hits` are the search's matches when `query.q`
/// is not empty.
pub fn list<'a>(index: &'a Index, query: &ListQuery, hits: Option<&SearchHits>) -> TracePage<'a> {
    let lookup = |text: &str| -> Option<Option<u32>> { (!text.is_empty()).then(|| index.strings.get(text)) };
    let (name, user, session) = (lookup(&query.name), lookup(&query.user), lookup(&query.session));
    let kind = (!query.kind.is_empty()).then(|| kind_bit(&query.kind));
    let wanted = |field: u32, wanted: Option<Option<u32>>| match wanted {
        None => true,
        Some(None) => false,
        Some(Some(id)) => id == field && field != NONE,
    };
    let mut matching: Vec<u32> = index
        .traces()
        .iter()
        .enumerate()
        .filter(|(number, summary)| {
            wanted(summary.name, name)
                && wanted(summary.user, user)
                && wanted(summary.session, session)
                && kind.is_none_or(|bit| summary.kinds & bit != 0)
                && match query.status.as_str() {
                    "" => true,
                    "error" => summary.failed(),
                    "open" => !summary.ended(),
                    "ok" => summary.ended() && !summary.failed() && summary.status == Status::Ok,
                    "cancelled" => summary.ended() && summary.status == Status::Cancelled,
                    _ => false,
                }
                && hits.is_none_or(|hits| hits.contains(*number))
        })
        .map(|(number, _)| number as u32)
        .collect();
    let traces = index.traces();
    let summary = |number: &u32| &traces[*number as usize];
    match query.sort.as_str() {
        "latency" => matching.sort_by_key(|n| summary(n).latency()),
        "tokens" => matching.sort_by_key(|n| summary(n).tokens),
        "cost" => matching.sort_by(|a, b| summary(a).cost.total_cmp(&summary(b).cost)),
        "spans" => matching.sort_by_key(|n| summary(n).spans),
        "name" => matching.sort_by(|a, b| {
            index
                .strings
                .name(summary(a).name)
                .cmp(index.strings.name(summary(b).name))
        }),
        _ => matching.sort_by_key(|n| summary(n).start),
    }
    if query.order != "asc" {
        matching.reverse();
    }
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let rows = matching
        .iter()
        .skip(query.offset)
        .take(limit)
        .map(|number| row(index, summary(number)))
        .collect();
    TracePage {
        total: matching.len(),
        offset: query.offset,
        traces: rows,
    }
}

/// What the filter controls offer: trace names, span kinds, and counts.
#[derive(Debug, Serialize)]
pub struct Facets<'a> {
    /// Distinct trace names, most frequent first (at most 200).
    pub names: Vec<(&'a str, usize)>,
    /// The span kinds.
    pub kinds: &'static [&'static str],
    /// Distinct users.
    pub users: usize,
    /// Distinct sessions.
    pub sessions: usize,
}

/// The facets of the index.
pub fn facets(index: &Index) -> Facets<'_> {
    let mut names: HashMap<u32, usize> = HashMap::new();
    let mut users: HashMap<u32, ()> = HashMap::new();
    let mut sessions: HashMap<u32, ()> = HashMap::new();
    for summary in index.traces() {
        *names.entry(summary.name).or_default() += 1;
        users.insert(summary.user, ());
        sessions.insert(summary.session, ());
    }
    users.remove(&NONE);
    sessions.remove(&NONE);
    let mut names: Vec<(&str, usize)> = names
        .into_iter()
        .filter(|(name, _)| *name != NONE)
        .map(|(name, count)| (index.strings.name(name), count))
        .collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    names.truncate(200);
    Facets {
        names,
        kinds: &KINDS,
        users: users.len(),
        sessions: sessions.len(),
    }
}
