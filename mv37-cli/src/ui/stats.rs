//! The stats page: latency percentiles per span name, and traces, errors, tokens and
//! cost per time bucket.

use serde::Serialize;

use super::index::{Index, KINDS};

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
