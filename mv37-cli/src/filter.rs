//! Which traces `view` and `tail` show.

use clap::Args;
use mv37_runtime::Status;

use crate::assemble::TraceGroup;
use crate::error::CliError;
use crate::time::parse_time;

/// Options that select traces. Every given option must match.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only the trace with this id (or an id starting with these hex digits).
    #[arg(long, value_name = "ID")]
    pub trace: Option<String>,
    /// Only traces of this user (`user_id`).
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,
    /// Only traces of this session (`session_id`).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Only traces of this conversation (`conversation_id`).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// Only traces whose name, or one of whose spans' names, contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Only failed traces: the trace or one of its spans has status `error`.
    #[arg(long)]
    pub failed: bool,
    /// Only traces that started at or after TIME: RFC 3339 (2026-05-01T12:00:00Z), a date
    /// (2026-05-01, midnight UTC) or Unix seconds (1777636800).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only traces that started before TIME (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

/// The parsed filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    args: FilterArgs,
    since: Option<u64>,
    until: Option<u64>,
}

impl Filter {
    /// Parses the time bounds; a bad time is a usage error.
    pub fn new(args: FilterArgs) -> Result<Self, CliError> {
        let since = args
            .since
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(CliError::Usage)?;
        let until = args
            .until
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(CliError::Usage)?;
        let trace = args.trace.as_ref().map(|id| id.trim().to_ascii_lowercase());
        if let Some(id) = &trace {
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(CliError::Usage(format!(
                    "invalid --trace {id:?}: expected up to 32 hex digits of a trace id"
                )));
            }
        }
        Ok(Self {
            args: FilterArgs { trace, ..args },
            since,
            until,
        })
    }

    /// Whether `group` is selected.
    pub fn matches(&self, group: &TraceGroup) -> bool {
        let args = &self.args;
        if let Some(prefix) = &args.trace {
            if !group.records.trace_id.to_string().starts_with(prefix.as_str()) {
                return false;
            }
        }
        let trace = group.records.trace.as_ref();
        let field_matches = |wanted: &Option<String>, field: fn(&mv37_runtime::TraceRecord) -> &Option<String>| {
            wanted
                .as_ref()
                .is_none_or(|wanted| trace.and_then(|t| field(t).as_ref()) == Some(wanted))
        };
        if !field_matches(&args.user, |t| &t.user_id)
            || !field_matches(&args.session, |t| &t.session_id)
            || !field_matches(&args.conversation, |t| &t.conversation_id)
        {
            return false;
        }
        if let Some(name) = &args.name {
            let in_trace = trace.is_some_and(|t| t.name.contains(name.as_str()));
            if !in_trace && !group.records.spans.iter().any(|s| s.name.contains(name.as_str())) {
                return false;
            }
        }
        if args.failed {
            let failed = trace.is_some_and(|t| t.status == Status::Error)
                || group.records.spans.iter().any(|s| s.status == Status::Error);
            if !failed {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let start = group.records.start_time();
            if self.since.is_some_and(|since| start < since) || self.until.is_some_and(|until| start >= until) {
                return false;
            }
        }
        true
    }
}
