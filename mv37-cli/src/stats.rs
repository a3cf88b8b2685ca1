//! `mv37 stats`: calls, tokens, cost, latency percentiles and error rates per model, per
//! tool and per span kind (and per user or session), in one streaming pass.
//!
//! Memory grows with the number of distinct models, tools, kinds and users, never with
//! the number of records: latencies go into a [`Sketch`] (1% relative error), and with
//! `--by` each trace keeps only a few counters until its `trace` record names the user.
//!
//! Longer than 500 lines because the tallies and their two renderings (text tables and
//! `--json`) change together: a field added to one is added to the others here.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Write};

use clap::{Args, ValueEnum};
use mv37_runtime::{Record, SpanKind, SpanRecord, Status, TraceId, TraceRecord};
use serde_json::{json, Value};

use crate::error::{output_result, CliError};
use crate::escape::{escape, escape_json};
use crate::input::RecordReader;
use crate::lines::LineLimitArgs;
use crate::sketch::{Sketch, RELATIVE_ACCURACY};
use crate::time::format_duration;

/// What `--by` groups traces by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    /// The trace's `user_id`.
    User,
    /// The trace's `session_id`.
    Session,
}

impl GroupBy {
    fn as_str(self) -> &'static str {
        match self {
            GroupBy::User => "user",
            GroupBy::Session => "session",
        }
    }
}

/// Options of `mv37 stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// JSONL files written by mv37; `-` reads standard input; gzip files are read as such.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Also summarise traces per user or per session.
    #[arg(long, value_enum, value_name = "FIELD")]
    pub by: Option<GroupBy>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// With --by: most traces waiting for their `trace` record; past it the oldest is
    /// counted under "(no trace record)".
    #[arg(long, value_name = "N", default_value_t = 100_000, hide_short_help = true)]
    pub max_pending: usize,
    #[command(flatten)]
    pub line_limit: LineLimitArgs,
}

/// Counters of a set of calls (spans).
#[derive(Debug, Default)]
struct Calls {
    calls: u64,
    errors: u64,
    cancelled: u64,
    with_usage: u64,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    cache_write_tokens: u64,
    reasoning_tokens: u64,
    cost_usd: f64,
    with_cost: u64,
    latency: Sketch,
    provider: Option<String>,
}

impl Calls {
    fn add(&mut self, span: &SpanRecord) {
        self.calls += 1;
        match span.status {
            Status::Ok => {}
            Status::Error => self.errors += 1,
            Status::Cancelled => self.cancelled += 1,
        }
        self.latency.add(span.latency_ns);
        if self.provider.is_none() {
            self.provider.clone_from(&span.provider);
        }
        let Some(usage) = &span.usage else { return };
        self.with_usage += 1;
        self.input_tokens += usage.input_tokens.unwrap_or(0);
        self.output_tokens += usage.output_tokens.unwrap_or(0);
        self.cached_tokens += usage.cached_tokens.unwrap_or(0);
        self.cache_write_tokens += usage.cache_write_tokens.unwrap_or(0);
        self.reasoning_tokens += usage.reasoning_tokens.unwrap_or(0);
        if let Some(cost) = usage.cost_usd.filter(|c| c.is_finite()) {
            self.cost_usd += cost;
            self.with_cost += 1;
        }
    }

    fn error_rate(&self) -> f64 {
        rate(self.errors, self.calls)
    }

    fn to_json(&self, key: &str, name: &str) -> Value {
        let mut value = json!({
            key: name,
            "calls": self.calls,
            "errors": self.errors,
            "cancelled": self.cancelled,
            "error_rate": self.error_rate(),
            "latency_ns": latency_json(&self.latency),
        });
        if key == "model" {
            value["provider"] = json!(self.provider);
            value["calls_with_usage"] = json!(self.with_usage);
            value["tokens"] = json!({
                "input": self.input_tokens,
                "output": self.output_tokens,
                "cached": self.cached_tokens,
                "cache_write": self.cache_write_tokens,
                "reasoning": self.reasoning_tokens,
            });
            value["cost_usd"] = if self.with_cost > 0 {
                json!(self.cost_usd)
            } else {
                Value::Null
            };
        }
        value
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// `value` with every object's keys in sorted order, whatever serde_json's
/// `preserve_order` is in this build (another crate of the build can turn it on): `--json`
/// prints the same text in every build.
fn sorted_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sorted_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

fn latency_json(sketch: &Sketch) -> Value {
    json!({
        "p50": sketch.quantile(0.50),
        "p95": sketch.quantile(0.95),
        "p99": sketch.quantile(0.99),
    })
}

/// What one trace added up to, held until its `trace` record names the user/session.
#[derive(Debug, Default, Clone, Copy)]
struct TraceTally {
    spans: u64,
    llm_calls: u64,
    failed_spans: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
}

impl TraceTally {
    fn add(&mut self, span: &SpanRecord) {
        self.spans += 1;
        self.llm_calls += u64::from(span.kind == SpanKind::Llm);
        self.failed_spans += u64::from(span.status == Status::Error);
        if let Some(usage) = &span.usage {
            self.input_tokens += usage.input_tokens.unwrap_or(0);
            self.output_tokens += usage.output_tokens.unwrap_or(0);
            self.cost_usd += usage.cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0);
        }
    }
}

/// The per-user or per-session row.
#[derive(Debug, Default)]
struct Group {
    traces: u64,
    failed: u64,
    tally: TraceTally,
    latency: Sketch,
}

impl Group {
    fn add(&mut self, tally: TraceTally, trace: Option<&TraceRecord>) {
        self.tally.spans += tally.spans;
        self.tally.llm_calls += tally.llm_calls;
        self.tally.failed_spans += tally.failed_spans;
        self.tally.input_tokens += tally.input_tokens;
        self.tally.output_tokens += tally.output_tokens;
        self.tally.cost_usd += tally.cost_usd;
        if let Some(trace) = trace {
            self.traces += 1;
            self.failed += u64::from(trace.status == Status::Error);
            self.latency.add(trace.latency_ns);
        }
    }
}

const NO_TRACE_RECORD: &str = "(no trace record)";
const UNSET: &str = "(none)";
const UNKNOWN_MODEL: &str = "(unknown)";

/// Everything `stats` counts.
#[derive(Debug, Default)]
struct Summary {
    traces: u64,
    failed_traces: u64,
    trace_latency: Sketch,
    spans: u64,
    records: u64,
    cost_usd: f64,
    models: HashMap<String, Calls>,
    tools: HashMap<String, Calls>,
    kinds: HashMap<String, Calls>,
    groups: HashMap<String, Group>,
    pending: HashMap<TraceId, TraceTally>,
    pending_order: VecDeque<TraceId>,
}

impl Summary {
    fn add(&mut self, record: &Record, by: Option<GroupBy>, max_pending: usize) {
        self.records += 1;
        match record {
            Record::Span(span) => {
                self.spans += 1;
                if let Some(cost) = span.usage.and_then(|u| u.cost_usd).filter(|c| c.is_finite()) {
                    self.cost_usd += cost;
                }
                if span.model.is_some() || span.kind == SpanKind::Llm {
                    let model = span.model.as_deref().unwrap_or(UNKNOWN_MODEL);
                    update(&mut self.models, model, |c| c.add(span));
                }
                if span.kind == SpanKind::Tool {
                    update(&mut self.tools, &span.name, |c| c.add(span));
                }
                update(&mut self.kinds, span.kind.as_str(), |c| c.add(span));
                if by.is_some() {
                    self.pend(span, max_pending);
                }
            }
            Record::Trace(trace) => {
                self.traces += 1;
                self.failed_traces += u64::from(trace.status == Status::Error);
                self.trace_latency.add(trace.latency_ns);
                if let Some(by) = by {
                    let tally = self.pending.remove(&trace.trace_id).unwrap_or_default();
                    let key = match by {
                        GroupBy::User => trace.user_id.as_deref(),
                        GroupBy::Session => trace.session_id.as_deref(),
                    };
                    update(&mut self.groups, key.unwrap_or(UNSET), |g| g.add(tally, Some(trace)));
                }
            }
            Record::Message(_) | Record::Feedback(_) | Record::Signal(_) => {}
        }
    }

    fn pend(&mut self, span: &SpanRecord, max_pending: usize) {
        if let Some(tally) = self.pending.get_mut(&span.trace_id) {
            tally.add(span);
            return;
        }
        let mut tally = TraceTally::default();
        tally.add(span);
        self.pending.insert(span.trace_id, tally);
        self.pending_order.push_back(span.trace_id);
        while self.pending.len() > max_pending {
            let Some(oldest) = self.pending_order.pop_front() else {
                break;
            };
            if let Some(tally) = self.pending.remove(&oldest) {
                update(&mut self.groups, NO_TRACE_RECORD, |g| g.add(tally, None));
            }
        }
        if self.pending_order.len() > 2 * self.pending.len() + 64 {
            let pending = &self.pending;
            self.pending_order.retain(|id| pending.contains_key(id));
        }
    }

    fn finish(&mut self) {
        for (_, tally) in self.pending.drain() {
            update(&mut self.groups, NO_TRACE_RECORD, |g| g.add(tally, None));
        }
        self.pending_order.clear();
    }
}

/// Updates the row `key` of `map`, creating it when new (allocating the key only then).
fn update<T: Default>(map: &mut HashMap<String, T>, key: &str, change: impl FnOnce(&mut T)) {
    match map.get_mut(key) {
        Some(row) => change(row),
        None => {
            let mut row = T::default();
            change(&mut row);
            map.insert(key.to_owned(), row);
        }
    }
}

/// Rows sorted by count (descending), then name.
fn sorted<T>(map: &HashMap<String, T>, count: impl Fn(&T) -> u64) -> Vec<(&String, &T)> {
    let mut rows: Vec<_> = map.iter().collect();
    rows.sort_by(|a, b| count(b.1).cmp(&count(a.1)).then_with(|| a.0.cmp(b.0)));
    rows
}

/// Runs `mv37 stats`, returning the exit code.
pub fn run(args: StatsArgs) -> Result<u8, CliError> {
    let mut reader = RecordReader::new(args.files, false, args.line_limit.max_line_bytes()?);
    let mut summary = Summary::default();
    let max_pending = args.max_pending.max(1);
    while let Some(entry) = reader.next_entry()? {
        summary.add(&entry.record, args.by, max_pending);
    }
    summary.finish();
    let malformed = reader.diagnostics.malformed;
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&sorted_keys(to_json(&summary, args.by, malformed)))
            .map_err(|e| CliError::Output(io::Error::other(e)))?;
        text.push('\n');
        escape_json(&text).into_owned()
    } else {
        to_text(&summary, args.by, malformed)
    };
    let mut out = io::stdout().lock();
    output_result(out.write_all(text.as_bytes()).and_then(|()| out.flush()))?;
    reader.diagnostics.report();
    Ok(reader.diagnostics.exit_code())
}

fn to_json(summary: &Summary, by: Option<GroupBy>, malformed: u64) -> Value {
    let calls = |map: &HashMap<String, Calls>, key: &str| -> Vec<Value> {
        sorted(map, |c| c.calls)
            .into_iter()
            .map(|(name, calls)| calls.to_json(key, name))
            .collect()
    };
    let mut value = json!({
        "records": summary.records,
        "malformed_lines": malformed,
        "traces": {
            "count": summary.traces,
            "failed": summary.failed_traces,
            "error_rate": rate(summary.failed_traces, summary.traces),
            "latency_ns": latency_json(&summary.trace_latency),
        },
        "spans": summary.spans,
        "cost_usd": summary.cost_usd,
        "latency_relative_error": RELATIVE_ACCURACY,
        "models": calls(&summary.models, "model"),
        "tools": calls(&summary.tools, "tool"),
        "kinds": calls(&summary.kinds, "kind"),
    });
    if let Some(by) = by {
        value["by"] = json!(by.as_str());
        value["groups"] = sorted(&summary.groups, |g| g.traces)
            .into_iter()
            .map(|(name, group)| {
                json!({
                    by.as_str(): name,
                    "traces": group.traces,
                    "failed": group.failed,
                    "error_rate": rate(group.failed, group.traces),
                    "spans": group.tally.spans,
                    "llm_calls": group.tally.llm_calls,
                    "failed_spans": group.tally.failed_spans,
                    "tokens": { "input": group.tally.input_tokens, "output": group.tally.output_tokens },
                    "cost_usd": group.tally.cost_usd,
                    "latency_ns": latency_json(&group.latency),
                })
            })
            .collect();
    }
    value
}

/// A left-aligned first column and right-aligned others.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                let width = widths.get(column).copied().unwrap_or(0);
                if column == 0 {
                    let _ = write!(line, "{cell:<width$}");
                } else {
                    let _ = write!(line, "  {cell:>width$}");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.1}%", 100.0 * rate(part, whole))
}

fn quantiles(sketch: &Sketch) -> [String; 3] {
    [0.50, 0.95, 0.99].map(|q| sketch.quantile(q).map_or_else(|| "-".to_owned(), format_duration))
}

fn cost(value: f64, known: bool) -> String {
    if known {
        format!("${value:.6}")
    } else {
        "-".to_owned()
    }
}

fn tokens(value: u64, known: bool) -> String {
    if known {
        value.to_string()
    } else {
        "-".to_owned()
    }
}

fn calls_table(title: &str, map: &HashMap<String, Calls>, out: &mut String) {
    let mut table = Table::new(&[title, "calls", "errors", "error%", "p50", "p95", "p99"]);
    for (name, calls) in sorted(map, |c| c.calls) {
        let [p50, p95, p99] = quantiles(&calls.latency);
        table.row(vec![
            escape(name).into_owned(),
            calls.calls.to_string(),
            calls.errors.to_string(),
            percent(calls.errors, calls.calls),
            p50,
            p95,
            p99,
        ]);
    }
    table.write(out);
}

fn to_text(summary: &Summary, by: Option<GroupBy>, malformed: u64) -> String {
    let mut out = String::new();
    let [p50, p95, p99] = quantiles(&summary.trace_latency);
    let _ = writeln!(
        out,
        "{} ({} failed, {}), {} spans, {} records, cost ${:.6}",
        if summary.traces == 1 {
            "1 trace".to_owned()
        } else {
            format!("{} traces", summary.traces)
        },
        summary.failed_traces,
        percent(summary.failed_traces, summary.traces),
        summary.spans,
        summary.records,
        summary.cost_usd
    );
    let _ = writeln!(out, "trace latency p50 {p50}, p95 {p95}, p99 {p99}");
    if malformed > 0 {
        let _ = writeln!(out, "{malformed} malformed lines skipped");
    }

    out.push('\n');
    let mut table = Table::new(&[
        "model",
        "calls",
        "errors",
        "error%",
        "in",
        "out",
        "cached",
        "cache_write",
        "reasoning",
        "cost",
        "p50",
        "p95",
        "p99",
    ]);
    for (name, calls) in sorted(&summary.models, |c| c.calls) {
        let known = calls.with_usage > 0;
        let [p50, p95, p99] = quantiles(&calls.latency);
        table.row(vec![
            escape(name).into_owned(),
            calls.calls.to_string(),
            calls.errors.to_string(),
            percent(calls.errors, calls.calls),
            tokens(calls.input_tokens, known),
            tokens(calls.output_tokens, known),
            tokens(calls.cached_tokens, known),
            tokens(calls.cache_write_tokens, known),
            tokens(calls.reasoning_tokens, known),
            cost(calls.cost_usd, calls.with_cost > 0),
            p50,
            p95,
            p99,
        ]);
    }
    table.write(&mut out);
    out.push('\n');
    calls_table("tool", &summary.tools, &mut out);
    out.push('\n');
    calls_table("kind", &summary.kinds, &mut out);
    if let Some(by) = by {
        out.push('\n');
        let mut table = Table::new(&[
            by.as_str(),
            "traces",
            "failed",
            "spans",
            "llm",
            "in",
            "out",
            "cost",
            "p50",
            "p95",
            "p99",
        ]);
        for (name, group) in sorted(&summary.groups, |g| g.traces) {
            let [p50, p95, p99] = quantiles(&group.latency);
            table.row(vec![
                escape(name).into_owned(),
                group.traces.to_string(),
                group.failed.to_string(),
                group.tally.spans.to_string(),
                group.tally.llm_calls.to_string(),
                group.tally.input_tokens.to_string(),
                group.tally.output_tokens.to_string(),
                cost(group.tally.cost_usd, true),
                p50,
                p95,
                p99,
            ]);
        }
        table.write(&mut out);
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "latency percentiles are estimates within {:.0}% (streaming log-bucket sketch)",
        RELATIVE_ACCURACY * 100.0
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_keys_are_sorted_in_every_build() {
        let value = serde_json::json!({"zeta": 1, "alpha": {"y": [{"b": 1, "a": 2}], "x": 0}});
        assert_eq!(
            super::sorted_keys(value).to_string(),
            r#"{"alpha":{"x":0,"y":[{"a":2,"b":1}]},"zeta":1}"#
        );
    }
}
