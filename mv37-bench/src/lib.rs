//! Side-by-side span benchmark of mv37 against fastrace, opentelemetry_sdk and tracing +
//! tracing-opentelemetry: the cases, the stacks, the measurement and its one-line report.
//!
//! One process runs one (stack, case) pair (`peers`); `compare` runs each pair in its own
//! process several times and prints the table of medians. See `run.sh` and
//! `docs/PERFORMANCE.md`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The queue bound, in records, given to mv37 and to the OpenTelemetry batch span
/// processor unless `--queue` says otherwise: mv37's default (OpenTelemetry's is 2048).
pub const DEFAULT_QUEUE_RECORDS: usize = 65_536;

/// What one run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// A child span with no capture, sync, inside one long-lived root.
    Sync,
    /// The same through the stack's attribute macro (`#[mv37::task]`, `#[fastrace::trace]`,
    /// `#[tracing::instrument]`).
    Macro,
    /// An async fn span through the macro, awaited inside one long-lived root.
    Async,
    /// A child span capturing a 3-field struct as input and output (JSON properties or
    /// attributes for the peers).
    Capture,
    /// A tiny trace: a root and one child, per iteration.
    Tiny,
    /// The macro-instrumented fn with no client installed (mv37 only).
    NoClient,
}

impl Case {
    /// Every case, in table order.
    pub const ALL: [Case; 6] = [
        Case::Sync,
        Case::Macro,
        Case::Async,
        Case::Capture,
        Case::Tiny,
        Case::NoClient,
    ];

    /// The name on the command line and in the report line.
    pub fn name(self) -> &'static str {
        match self {
            Case::Sync => "sync",
            Case::Macro => "macro",
            Case::Async => "async",
            Case::Capture => "capture",
            Case::Tiny => "tiny",
            Case::NoClient => "noclient",
        }
    }

    /// What the case measures, for the table.
    pub fn description(self) -> &'static str {
        match self {
            Case::Sync => "child span, no capture (sync)",
            Case::Macro => "child span through the macro",
            Case::Async => "async span through the macro",
            Case::Capture => "span, 3-field struct as input + output",
            Case::Tiny => "tiny trace: root + 1 child (per span)",
            Case::NoClient => "no client installed (macro fn)",
        }
    }
}

impl FromStr for Case {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Case::ALL.into_iter().find(|case| case.name() == name).ok_or_else(|| {
            format!(
                "unknown case `{name}`, expected one of: {}",
                names(Case::ALL.map(Case::name))
            )
        })
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The tracing stack under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// mv37 with its `NoopExporter` (which still receives and counts every record).
    Mv37,
    /// fastrace with a collector reporter that discards and counts.
    Fastrace,
    /// opentelemetry_sdk with a batch span processor and an exporter that discards and
    /// counts.
    Otel,
    /// tracing + tracing-subscriber's registry + tracing-opentelemetry over the same
    /// opentelemetry_sdk pipeline.
    Tracing,
}

impl Stack {
    /// Every stack, in table order.
    pub const ALL: [Stack; 4] = [Stack::Mv37, Stack::Fastrace, Stack::Otel, Stack::Tracing];

    /// The name on the command line and in the report line.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Mv37 => "mv37",
            Stack::Fastrace => "fastrace",
            Stack::Otel => "otel",
            Stack::Tracing => "tracing",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Stack::Mv37 => "mv37",
            Stack::Fastrace => "fastrace",
            Stack::Otel => "opentelemetry_sdk",
            Stack::Tracing => "tracing + tracing-opentelemetry",
        }
    }

    /// Whether this stack has the case, and how it runs it when that needs saying.
    pub fn runs(self, case: Case) -> Support {
        match (self, case) {
            (Stack::Mv37, _) => Support::Yes,
            (_, Case::NoClient) => Support::No,
            (Stack::Otel, Case::Macro) => Support::No,
            (Stack::Otel, Case::Async) => Support::Labelled("no macro: span + `FutureExt::with_context` by hand"),
            _ => Support::Yes,
        }
    }
}

/// Whether a stack runs a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// As the case describes.
    Yes,
    /// In a nearby form, with this note.
    Labelled(&'static str),
    /// The stack has nothing comparable.
    No,
}

impl FromStr for Stack {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Stack::ALL
            .into_iter()
            .find(|stack| stack.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown stack `{name}`, expected one of: {}",
                    names(Stack::ALL.map(Stack::name))
                )
            })
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn names<const N: usize>(names: [&str; N]) -> String {
    names.map(|name| format!("`{name}`")).join(", ")
}

/// Where every span went, as the stack's own exporter or accounting saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Records the run must deliver: the measured spans plus the long-lived root (or
    /// trace record), if any.
    pub expected: u64,
    /// Records the stack says it produced (mv37's `stats.produced`; the peers have no such
    /// counter, so `expected`).
    pub produced: u64,
    /// Records the exporter (reporter) received.
    pub exported: u64,
    /// Records the stack counted as dropped (mv37 only; the peers drop without a public
    /// count, which shows up here as `produced - exported` missing).
    pub dropped: u64,
    /// mv37 only: whether `stats.is_balanced()` held after shutdown (peers: true).
    pub balanced: bool,
}

impl Delivery {
    /// Whether every expected record was produced and then exported or counted dropped.
    pub fn is_accounted(&self) -> bool {
        self.balanced && self.produced == self.expected && self.exported + self.dropped == self.produced
    }
}

/// The measurements of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The stack.
    pub stack: Stack,
    /// The case.
    pub case: Case,
    /// Spans produced by the measured loop.
    pub spans: u64,
    /// Wall time of the producing loop per span, on the calling thread.
    pub ns_per_span: f64,
    /// User + system CPU of the whole process (exporter and collector threads included)
    /// from the start of the loop until the stack had flushed, per span.
    pub cpu_ns_per_span: f64,
    /// Peak resident set size of the process (`ru_maxrss`), KiB.
    pub peak_rss_kib: u64,
    /// Where the spans went.
    pub delivery: Delivery,
}

impl Outcome {
    /// The machine-readable report line: `RESULT key=value ...`.
    pub fn to_line(&self) -> String {
        let d = &self.delivery;
        format!(
            "RESULT stack={} case={} spans={} ns_per_span={:.2} cpu_ns_per_span={:.2} peak_rss_kib={} \
             expected={} produced={} exported={} dropped={} balanced={} check={}",
            self.stack,
            self.case,
            self.spans,
            self.ns_per_span,
            self.cpu_ns_per_span,
            self.peak_rss_kib,
            d.expected,
            d.produced,
            d.exported,
            d.dropped,
            d.balanced,
            if d.is_accounted() { "ok" } else { "FAIL" },
        )
    }

    /// Parses a line written by [`Outcome::to_line`].
    pub fn parse_line(line: &str) -> Result<Self, String> {
        let fields = line
            .strip_prefix("RESULT ")
            .ok_or_else(|| format!("not a RESULT line: {line:?}"))?;
        let value = |key: &str| -> Result<&str, String> {
            fields
                .split(' ')
                .find_map(|pair| pair.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
                .ok_or_else(|| format!("missing `{key}` in {line:?}"))
        };
        fn number<T: FromStr>(key: &str, text: &str) -> Result<T, String> {
            text.parse().map_err(|_| format!("invalid {key}={text:?}"))
        }
        Ok(Outcome {
            stack: value("stack")?.parse()?,
            case: value("case")?.parse()?,
            spans: number("spans", value("spans")?)?,
            ns_per_span: number("ns_per_span", value("ns_per_span")?)?,
            cpu_ns_per_span: number("cpu_ns_per_span", value("cpu_ns_per_span")?)?,
            peak_rss_kib: number("peak_rss_kib", value("peak_rss_kib")?)?,
            delivery: Delivery {
                expected: number("expected", value("expected")?)?,
                produced: number("produced", value("produced")?)?,
                exported: number("exported", value("exported")?)?,
                dropped: number("dropped", value("dropped")?)?,
                balanced: number("balanced", value("balanced")?)?,
            },
        })
    }
}

/// Times the producing loop and the process CPU from its start.
#[derive(Debug, Default)]
pub struct Meter {
    started: Option<(Instant, Duration)>,
    hot: Option<Duration>,
}

impl Meter {
    /// Call just before the producing loop, after the stack is set up.
    pub fn start(&mut self) {
        self.started = Some((Instant::now(), process_usage().cpu));
    }

    /// Call just after the producing loop, before ending the root and flushing.
    pub fn stop(&mut self) {
        if let Some((wall, _)) = self.started {
            self.hot = Some(wall.elapsed());
        }
    }

    /// The loop's wall time, and the process CPU since [`Meter::start`]; call after the
    /// stack has flushed.
    pub fn finish(&self) -> Option<(Duration, Duration)> {
        let (_, cpu_at_start) = self.started?;
        Some((self.hot?, process_usage().cpu.saturating_sub(cpu_at_start)))
    }
}

/// The process's resource usage so far.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User + system CPU of all threads.
    pub cpu: Duration,
    /// Peak resident set size, KiB.
    pub peak_rss_kib: u64,
}

/// `getrusage(RUSAGE_SELF)`: CPU of every thread of the process, and its peak RSS.
#[allow(unsafe_code)]
pub fn process_usage() -> Usage {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is valid for writes of one `rusage`, which `getrusage` fills in
    // completely when it returns 0; RUSAGE_SELF is a valid `who`.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return Usage {
                cpu: Duration::ZERO,
                peak_rss_kib: 0,
            };
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    Usage {
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_rss_kib: usage.ru_maxrss as u64,
    }
}

/// Polls a future to completion on this thread with a no-op waker: every future in the
/// benchmark is ready at once, so no executor cost enters the numbers.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

/// The 3-field struct of the capture case, recorded as input and as output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Query {
    /// Who asks.
    pub user: &'static str,
    /// How many hits.
    pub top_k: u32,
    /// The minimum score.
    pub score: f64,
}

impl Query {
    /// The value every capture run records.
    pub fn sample() -> Self {
        Query {
            user: "cus_123",
            top_k: 5,
            score: 0.75,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_line_parses_back_to_the_same_outcome() {
        let outcome = Outcome {
            stack: Stack::Fastrace,
            case: Case::Capture,
            spans: 1000,
            ns_per_span: 12.5,
            cpu_ns_per_span: 30.25,
            peak_rss_kib: 4096,
            delivery: Delivery {
                expected: 1001,
                produced: 1001,
                exported: 1001,
                dropped: 0,
                balanced: true,
            },
        };
        assert_eq!(Outcome::parse_line(&outcome.to_line()), Ok(outcome));
    }

    #[test]
    fn a_record_neither_exported_nor_dropped_fails_the_check() {
        let delivery = Delivery {
            expected: 10,
            produced: 10,
            exported: 9,
            dropped: 0,
            balanced: true,
        };
        assert!(!delivery.is_accounted());
    }

    #[test]
    fn the_process_usage_is_measured() {
        let usage = process_usage();
        assert!(usage.peak_rss_kib > 0);
    }
}
