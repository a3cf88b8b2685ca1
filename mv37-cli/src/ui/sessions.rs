//! The sessions page: sessions with their traces' counts and totals, and one session's
//! traces grouped by conversation, in order.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::index::{Index, TraceSummary, NONE};
use super::query::{row, TraceRow, MAX_PAGE};

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
