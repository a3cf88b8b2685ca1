//! The answers of the list, sessions and stats pages, computed from the index: filters,
//! full-text search, sorting and paging of traces; traces grouped by session and
//! conversation; latency percentiles per span name and tokens, cost and errors over time.

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

/// The sessions page's query string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SessionQuery {
    /// Text the session id or user must contain.
    pub q: String,
    /// Rows to skip.
    pub offset: usize,
    /// Rows to give (default 50).
    pub limit: Option<usize>,
}

/// One session: its traces' counts and totals.
#[derive(Debug, Serialize)]
pub struct SessionRow<'a> {
    /// The session id.
    pub session: &'a str,
    /// Its (first) user.
    pub user: Option<&'a str>,
    /// Traces.
    pub traces: usize,
    /// Distinct conversations.
    pub conversations: usize,
    /// Its first trace's start.
    pub first: u64,
    /// Its last trace's start.
    pub last: u64,
    /// Tokens.
    pub tokens: u64,
    /// Cost, US dollars.
    pub cost: f64,
    /// Failed traces.
    pub errors: usize,
}

/// A page of sessions, the most recently active first.
#[derive(Debug, Serialize)]
pub struct SessionPage<'a> {
    /// Sessions matching.
    pub total: usize,
    /// The first row's position.
    pub offset: usize,
    /// The rows.
    pub sessions: Vec<SessionRow<'a>>,
}

/// The sessions page.
pub fn sessions<'a>(index: &'a Index, query: &SessionQuery) -> SessionPage<'a> {
    let mut by_session: HashMap<u32, (SessionRow<'a>, Vec<u32>)> = HashMap::new();
    let needle = query.q.trim();
    for summary in index.traces().iter().filter(|s| s.session != NONE) {
        let (row, conversations) = by_session.entry(summary.session).or_insert_with(|| {
            (
                SessionRow {
                    session: index.strings.name(summary.session),
                    user: index.strings.optional(summary.user),
                    traces: 0,
                    conversations: 0,
                    first: u64::MAX,
                    last: 0,
                    tokens: 0,
                    cost: 0.0,
                    errors: 0,
                },
                Vec::new(),
            )
        });
        row.traces += 1;
        row.first = row.first.min(summary.start);
        row.last = row.last.max(summary.start);
        row.tokens += summary.tokens;
        row.cost += summary.cost;
        row.errors += usize::from(summary.failed());
        if !conversations.contains(&summary.conversation) {
            conversations.push(summary.conversation);
        }
    }
    let mut rows: Vec<SessionRow<'a>> = by_session
        .into_values()
        .map(|(mut row, conversations)| {
            row.conversations = conversations.len();
            row
        })
        .filter(|row| needle.is_empty() || row.session.contains(needle) || row.user.is_some_and(|u| u.contains(needle)))
        .collect();
    rows.sort_by(|a, b| b.last.cmp(&a.last).then(a.session.cmp(b.session)));
    let total = rows.len();
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let sessions = rows.into_iter().skip(query.offset).take(limit).collect();
    SessionPage {
        total,
        offset: query.offset,
        sessions,
    }
}

/// The traces of one conversation of a session, in order.
#[derive(Debug, Serialize)]
pub struct Conversation<'a> {
    /// The conversation id (`None`: traces without one).
    pub conversation: Option<&'a str>,
    /// Its traces, oldest first.
    pub traces: Vec<TraceRow<'a>>,
}

/// One session's traces, grouped by conversation (in order of their first trace), each
/// group oldest first. At most [`MAX_PAGE`] traces per session are given.
#[derive(Debug, Serialize)]
pub struct SessionDetail<'a> {
    /// The session.
    pub session: &'a str,
    /// Traces in the session.
    pub total: usize,
    /// The conversations.
    pub conversations: Vec<Conversation<'a>>,
}

/// The page of one session; `None` when no trace has it.
pub fn session<'a>(index: &'a Index, session: &str) -> Option<SessionDetail<'a>> {
    let id = index.strings.get(session)?;
    let mut traces: Vec<&TraceSummary> = index.traces().iter().filter(|s| s.session == id).collect();
    traces.sort_by_key(|s| s.start);
    let total = traces.len();
    traces.truncate(MAX_PAGE);
    let mut conversations: Vec<Conversation<'a>> = Vec::new();
    for summary in traces {
        let conversation = index.strings.optional(summary.conversation);
        let row = row(index, summary);
        match conversations.iter_mut().find(|c| c.conversation == conversation) {
            Some(group) => group.traces.push(row),
            None => conversations.push(Conversation {
                conversation,
                traces: vec![row],
            }),
        }
    }
    Some(SessionDetail {
        session: index.strings.name(id),
        total,
        conversations,
    })
}

/// Latency percentiles and errors of the spans of one name.
#[derive(Debug, Serialize)]
pub struct SpanNameRow<'a> {
    /// The span name.
    pub name: &'a str,
    /// The kinds seen under it.
    pub kinds: Vec<&'static str>,
    /// Spans.
    pub count: u64,
    /// Failed spans.
    pub errors: u64,
    /// Median latency, nanoseconds.
    pub p50: u64,
    /// 95th percentile latency, nanoseconds.
    pub p95: u64,
    /// 99th percentile latency, nanoseconds.
    pub p99: u64,
}

/// Traces started in one time bucket.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Bucket {
    /// The bucket's start, Unix nanoseconds.
    pub start: u64,
    /// Traces.
    pub traces: u64,
    /// Failed traces.
    pub errors: u64,
    /// Tokens.
    pub tokens: u64,
    /// Cost, US dollars.
    pub cost: f64,
}

/// The stats page.
#[derive(Debug, Serialize)]
pub struct Stats<'a> {
    /// Span names, the most called first (at most 50).
    pub span_names: Vec<SpanNameRow<'a>>,
    /// Width of a bucket, nanoseconds.
    pub bucket_ns: u64,
    /// Traces over time.
    pub buckets: Vec<Bucket>,
    /// Traces in all.
    pub traces: usize,
    /// Failed traces in all.
    pub errors: usize,
    /// Tokens in all.
    pub tokens: u64,
    /// Cost in all.
    pub cost: f64,
}

/// How many time buckets the charts have (at most).
const BUCKETS: u64 = 60;

/// The stats of the whole index.
pub fn stats(index: &Index) -> Stats<'_> {
    let mut span_names: Vec<SpanNameRow<'_>> = index
        .span_names()
        .map(|(name, stats)| SpanNameRow {
            name,
            kinds: KINDS
                .iter()
                .enumerate()
                .filter(|(bit, _)| stats.kinds & (1 << bit) != 0)
                .map(|(_, kind)| *kind)
                .collect(),
            count: stats.count,
            errors: stats.errors,
            p50: stats.latency.quantile(0.50).unwrap_or(0),
            p95: stats.latency.quantile(0.95).unwrap_or(0),
            p99: stats.latency.quantile(0.99).unwrap_or(0),
        })
        .collect();
    span_names.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(b.name)));
    span_names.truncate(50);
    let traces = index.traces();
    let first = traces.iter().map(|t| t.start).min().unwrap_or(0);
    let last = traces.iter().map(|t| t.start).max().unwrap_or(0);
    let bucket_ns = ((last - first) / BUCKETS + 1).max(1_000_000_000);
    let count = ((last - first) / bucket_ns + 1) as usize;
    let mut buckets: Vec<Bucket> = (0..count)
        .map(|at| Bucket {
            start: first + at as u64 * bucket_ns,
            ..Bucket::default()
        })
        .collect();
    let (mut errors, mut tokens, mut cost) = (0usize, 0u64, 0.0f64);
    for trace in traces {
        let at = ((trace.start - first) / bucket_ns) as usize;
        if let Some(bucket) = buckets.get_mut(at) {
            bucket.traces += 1;
            bucket.errors += u64::from(trace.failed());
            bucket.tokens += trace.tokens;
            bucket.cost += trace.cost;
        }
        errors += usize::from(trace.failed());
        tokens += trace.tokens;
        cost += trace.cost;
    }
    Stats {
        span_names,
        bucket_ns,
        buckets: if traces.is_empty() { Vec::new() } else { buckets },
        traces: traces.len(),
        errors,
        tokens,
        cost,
    }
}
