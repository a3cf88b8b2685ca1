//! Side-by-side span benchmark of mv37 against fastrace, opentelemetry_sdk and tracing +
//! tracing-opentelemetry: the cases, the stacks, the measurement and its one-line report.
//!
//! One process runs one (stack, case) pair (`peers`); `compare` runs each pair in its own
//! process several times and prints the table of medians. See `run.sh` and
//! `docs/PERFORMANCE.md`.
//!
//! Over 500 lines because it holds every (stack, case) pair side by side, so that each
//! stack is seen to measure the same work. The `agent` case's workload is in [`agent`],
//! its loopback OTLP/HTTP receiver in [`sink`].

use std::fmt;
use std::str::FromStr;
use std::sync::Barrier;
use std::time::{Duration, Instant};

pub mod agent;
pub mod remote;
pub mod sink;

/// The queue bound, in records, given to mv37 unless `--queue` says otherwise: its
/// default.
pub const MV37_QUEUE_RECORDS: usize = 262_144;

/// The queue bound given to the OpenTelemetry batch span processor unless `--queue` says
/// otherwise (its own default is 2048). The processor allocates its queue up front, so a
/// larger bound costs it memory and time even when the queue stays short (at 262,144 its
/// sync case peaked at 99 MiB instead of 28 and ran 1.4x slower): it keeps the 65,536
/// that both stacks had until mv37's default grew.
pub const OTEL_QUEUE_RECORDS: usize = 65_536;

/// How the queue bounds read in a report.
pub fn queue_bounds(queue: Option<usize>) -> String {
    match queue {
        Some(records) => {
            format!("queue bound {records} records (mv37 and the OpenTelemetry batch processor; fastrace has none)")
        }
        None => format!(
            "queue bound {MV37_QUEUE_RECORDS} records for mv37 (its default), {OTEL_QUEUE_RECORDS} for the \
             OpenTelemetry batch processor (which allocates it up front); fastrace has none"
        ),
    }
}

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
    /// The sync case on [`PRODUCER_THREADS`] threads at once, each inside its own
    /// long-lived root, the spans split between them: contention on the stack's queue.
    Threads2,
    /// A realistic LLM-agent turn per iteration ([`agent`]: a root and 8 children with
    /// JSON payloads and token usage), exported through the stack's real OTLP/HTTP
    /// protobuf exporter with gzip to a loopback receiver ([`sink::Sink`]).
    Agent,
    /// The macro-instrumented fn with no client installed (mv37 only).
    NoClient,
}

impl Case {
    /// Every case, in table order.
    pub const ALL: [Case; 8] = [
        Case::Sync,
        Case::Macro,
        Case::Async,
        Case::Capture,
        Case::Tiny,
        Case::Threads2,
        Case::Agent,
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
            Case::Threads2 => "threads2",
            Case::Agent => "agent",
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
            Case::Threads2 => "2 threads at once, child spans (sync), own root each",
            Case::Agent => "agent trace, root + 8 children, OTLP/HTTP protobuf + gzip (per span)",
            Case::NoClient => "no client installed (macro fn)",
        }
    }

    /// The spans one iteration of the case makes: a run measures whole iterations.
    pub fn spans_per_iteration(self) -> u64 {
        match self {
            Case::Tiny => 2,
            Case::Agent => agent::SPANS_PER_TURN,
            _ => 1,
        }
    }

    /// `spans` rounded down to whole iterations (at least one).
    pub fn whole_iterations(self, spans: u64) -> u64 {
        let per = self.spans_per_iteration();
        (spans / per).max(1) * per
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
    /// mv37 with an exporter that counts every record it receives and discards it.
    Mv37,
    /// fastrace with a collector reporter that discards and counts.
    Fastrace,
    /// opentelemetry_sdk with a batch span processor and an exporter that discards and
    /// counts.
    Otel,
    /// tracing + tracing-subscriber's registry + tracing-opentelemetry over the same
    /// opentelemetry_sdk pipeline.
    Tracing,
    /// tracing + tracing-subscriber's registry + mv37's `tracing` bridge recording every
    /// span, into mv37's pipeline and a counting exporter.
    Bridge,
    /// The same, with the bridge's default filter, which the spans do not pass: what a
    /// span the bridge rejects costs.
    BridgeFiltered,
}

impl Stack {
    /// Every stack, in table order.
    pub const ALL: [Stack; 6] = [
        Stack::Mv37,
        Stack::Fastrace,
        Stack::Otel,
        Stack::Tracing,
        Stack::Bridge,
        Stack::BridgeFiltered,
    ];

    /// The name on the command line and in the report line.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Mv37 => "mv37",
            Stack::Fastrace => "fastrace",
            Stack::Otel => "otel",
            Stack::Tracing => "tracing",
            Stack::Bridge => "bridge",
            Stack::BridgeFiltered => "bridge-filtered",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Stack::Mv37 => "mv37",
            Stack::Fastrace => "fastrace",
            Stack::Otel => "opentelemetry_sdk",
            Stack::Tracing => "tracing + tracing-opentelemetry",
            Stack::Bridge => "tracing + mv37 layer",
            Stack::BridgeFiltered => "tracing + mv37 layer, span filtered out",
        }
    }

    /// Whether this stack has the case, and how it runs it when that needs saying.
    pub fn runs(self, case: Case) -> Support {
        match (self, case) {
            (Stack::Mv37, _) => Support::Yes,
            (_, Case::NoClient) => Support::No,
            (Stack::Otel, Case::Macro) => Support::No,
            (Stack::Otel, Case::Async) => Support::Labelled("no macro: span + `FutureExt::with_context` by hand"),
            (Stack::Otel, Case::Agent) => Support::Labelled("opentelemetry-otlp, reqwest blocking client"),
            // The agent case measures an OTLP exporter: fastrace has none of its own, and
            // the tracing stacks would measure the same exporters as otel and mv37.
            (_, Case::Agent) => Support::No,
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
    /// Records the exporter (reporter) received; in the `agent` case, the spans the
    /// loopback receiver decoded from the requests it accepted.
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

    /// Whether every expected record was exported: accounted for, and nothing dropped. A
    /// run that dropped records measured a pipeline that skipped part of its work, so its
    /// timings do not compare with a run that did it all.
    pub fn is_complete(&self) -> bool {
        self.is_accounted() && self.dropped == 0 && self.exported == self.expected
    }

    /// Records neither exported nor counted as dropped.
    pub fn unaccounted(&self) -> u64 {
        self.expected.saturating_sub(self.exported + self.dropped)
    }

    /// The verdict written in the report line: `ok`, `DROPPED` or `FAIL`.
    pub fn check(&self) -> &'static str {
        if self.is_complete() {
            "ok"
        } else if self.is_accounted() {
            "DROPPED"
        } else {
            "FAIL"
        }
    }
}

/// Where the spans of every run of one (stack, case) pair went: the delivery column of
/// the table, and whether the pair passes `compare --strict`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverySummary {
    /// Runs attempted, crashed ones included.
    pub runs: usize,
    /// Runs that crashed or printed no report line.
    pub crashed: usize,
    /// Runs whose records do not add up ([`Delivery::is_accounted`] is false).
    pub unaccounted_runs: usize,
    /// The most records one run left neither exported nor counted dropped.
    pub most_unaccounted: u64,
    /// Runs that counted dropped records.
    pub dropping_runs: usize,
    /// The most records one run counted as dropped.
    pub most_dropped: u64,
    /// The records one run must deliver (the largest `expected` among the runs).
    pub expected: u64,
}

impl DeliverySummary {
    /// Sums up the reported runs of a pair and the number that crashed.
    pub fn of(deliveries: &[Delivery], crashed: usize) -> Self {
        let mut summary = DeliverySummary {
            runs: deliveries.len() + crashed,
            crashed,
            ..DeliverySummary::default()
        };
        for delivery in deliveries {
            summary.expected = summary.expected.max(delivery.expected);
            if !delivery.is_accounted() {
                summary.unaccounted_runs += 1;
                summary.most_unaccounted = summary.most_unaccounted.max(delivery.unaccounted());
            }
            if delivery.dropped > 0 {
                summary.dropping_runs += 1;
                summary.most_dropped = summary.most_dropped.max(delivery.dropped);
            }
        }
        summary
    }

    /// Whether every run finished and exported every record: nothing crashed, dropped
    /// or lost.
    pub fn is_clean(&self) -> bool {
        self.crashed == 0 && self.unaccounted_runs == 0 && self.dropping_runs == 0
    }

    /// The table cell: "all exported" for a clean pair, otherwise every problem, in bold.
    pub fn cell(&self, stack: Stack, case: Case) -> String {
        if self.is_clean() {
            return if case == Case::NoClient {
                "nothing recorded"
            } else {
                "all exported"
            }
            .to_owned();
        }
        let total = self.runs;
        let mut problems = Vec::new();
        if self.crashed > 0 {
            problems.push(format!("**FAIL** {}/{total} runs crashed", self.crashed));
        }
        if self.unaccounted_runs > 0 {
            problems.push(if stack == Stack::Mv37 {
                format!(
                    "**FAIL** {}/{total} runs unbalanced (up to {} spans unaccounted)",
                    self.unaccounted_runs, self.most_unaccounted
                )
            } else {
                // The batch span processor and fastrace keep their drop counts private: a
                // missing span is all the harness can see.
                format!(
                    "**lost** up to {} spans, uncounted ({}/{total} runs)",
                    self.most_unaccounted, self.unaccounted_runs
                )
            });
        }
        if self.dropping_runs > 0 {
            problems.push(format!(
                "**dropped** up to {} of {} spans ({}), counted ({}/{total} runs)",
                self.most_dropped,
                self.expected,
                percent(self.most_dropped, self.expected),
                self.dropping_runs
            ));
        }
        problems.join("; ")
    }
}

/// `part` as a percentage of `whole`, such as `28%` or `0.01%`.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".to_owned();
    }
    let percent = part as f64 * 100.0 / whole as f64;
    if percent >= 1.0 {
        format!("{percent:.0}%")
    } else {
        format!("{percent:.2}%")
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
    /// What the loopback receiver got (the `agent` case; zero otherwise).
    pub wire: Wire,
    /// The `noclient` case: wall time per call of the same loop calling the same fn
    /// without the attribute, measured in the same process right after (what an
    /// uninstrumented call costs here, so that the attribute's own cost can be told).
    pub baseline_ns_per_span: Option<f64>,
}

impl Outcome {
    /// The machine-readable report line: `RESULT key=value ...`, ending with
    /// `check=ok|DROPPED|FAIL` ([`Delivery::check`]). The `agent` case adds what the
    /// receiver got (`requests=.. wire_bytes=.. body_bytes=.. sink_spans=..
    /// sink_attributes=.. rejected=..`) before `check`.
    pub fn to_line(&self) -> String {
        let d = &self.delivery;
        let w = &self.wire;
        let wire = if self.case == Case::Agent || *w != Wire::default() {
            format!("{} ", w.to_fields())
        } else {
            String::new()
        };
        let baseline = self
            .baseline_ns_per_span
            .map_or_else(String::new, |ns| format!("baseline_ns_per_span={ns:.2} "));
        format!(
            "RESULT stack={} case={} spans={} ns_per_span={:.2} cpu_ns_per_span={:.2} peak_rss_kib={} \
             expected={} produced={} exported={} dropped={} balanced={} {wire}{baseline}check={}",
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
            d.check(),
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
        // The receiver's fields are there for the agent case only.
        let wire = |key: &str| -> Result<u64, String> { value(key).map_or(Ok(0), |text| number(key, text)) };
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
            baseline_ns_per_span: value("baseline_ns_per_span")
                .ok()
                .map(|text| number("baseline_ns_per_span", text))
                .transpose()?,
            wire: Wire::from_fields(wire)?,
        })
    }
}

/// What the loopback OTLP receiver ([`sink::Sink`]) got in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wire {
    /// Export requests answered 200.
    pub requests: u64,
    /// Request bodies as sent (gzip-compressed), bytes.
    pub bytes: u64,
    /// The same bodies decompressed (the protobuf `ExportTraceServiceRequest`), bytes.
    pub body_bytes: u64,
    /// Spans decoded from the requests answered 200.
    pub spans: u64,
    /// Attributes on those spans (resource attributes not included).
    pub attributes: u64,
    /// Requests the receiver could not read or decode, answered 400; their spans are not
    /// counted.
    pub rejected: u64,
}

impl Wire {
    /// Its fields as `key=value` pairs, as report lines carry them: `requests=N
    /// wire_bytes=N body_bytes=N sink_spans=N sink_attributes=N rejected=N`.
    pub fn to_fields(self) -> String {
        format!(
            "requests={} wire_bytes={} body_bytes={} sink_spans={} sink_attributes={} rejected={}",
            self.requests, self.bytes, self.body_bytes, self.spans, self.attributes, self.rejected
        )
    }

    /// Reads back what [`Wire::to_fields`] wrote, each field's number from `field(key)`.
    pub fn from_fields<E>(mut field: impl FnMut(&str) -> Result<u64, E>) -> Result<Self, E> {
        Ok(Wire {
            requests: field("requests")?,
            bytes: field("wire_bytes")?,
            body_bytes: field("body_bytes")?,
            spans: field("sink_spans")?,
            attributes: field("sink_attributes")?,
            rejected: field("rejected")?,
        })
    }

    /// `total / spans received`, or `None` when none arrived.
    fn per_span(self, total: u64) -> Option<f64> {
        (self.spans > 0).then(|| total as f64 / self.spans as f64)
    }

    /// Compressed bytes on the wire per span received.
    pub fn bytes_per_span(self) -> Option<f64> {
        self.per_span(self.bytes)
    }

    /// Uncompressed protobuf bytes per span received.
    pub fn body_bytes_per_span(self) -> Option<f64> {
        self.per_span(self.body_bytes)
    }

    /// Attributes per span received.
    pub fn attributes_per_span(self) -> Option<f64> {
        self.per_span(self.attributes)
    }
}

/// Times the producing loop and the process CPU from its start.
#[derive(Debug, Default)]
pub struct Meter {
    started: Option<(Instant, Duration)>,
    hot: Option<Duration>,
    paused: Duration,
}

impl Meter {
    /// Call just before the producing loop, after the stack is set up.
    pub fn start(&mut self) {
        self.started = Some((Instant::now(), process_usage().cpu));
    }

    /// Call just after the producing loop, before ending the root and flushing.
    pub fn stop(&mut self) {
        if let Some((wall, _)) = self.started {
            self.hot = Some(wall.elapsed().saturating_sub(self.paused));
        }
    }

    /// Runs `wait` inside the loop without counting its wall time in the loop's (its CPU
    /// still counts): a flush that waits for the exporter to catch up.
    pub fn pause<R>(&mut self, wait: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = wait();
        self.paused += started.elapsed();
        result
    }

    /// The loop's wall time, and the process CPU since [`Meter::start`] (this process's
    /// threads only: the `agent` case's receiver is a child process); call after the
    /// stack has flushed.
    pub fn finish(&self) -> Option<(Duration, Duration)> {
        let (_, cpu_at_start) = self.started?;
        Some((self.hot?, process_usage().cpu.saturating_sub(cpu_at_start)))
    }
}

/// The producer threads of the `threads2` case.
pub const PRODUCER_THREADS: usize = 2;

/// `spans` split between the [`PRODUCER_THREADS`] producers (the first gets the smaller
/// half of an odd count).
pub fn shares(spans: u64) -> [u64; PRODUCER_THREADS] {
    let first = spans / PRODUCER_THREADS as u64;
    [first, spans - first]
}

/// Lines the producer threads up with the meter: see [`run_producers`].
#[derive(Debug)]
pub struct Gate {
    barrier: Barrier,
}

impl Gate {
    /// Runs `work` once every producer is ready (the meter starts then), and returns when
    /// every producer has finished its work (the meter stops then). Set up before (a
    /// root), end after.
    pub fn measure<R>(&self, work: impl FnOnce() -> R) -> R {
        self.barrier.wait();
        let result = work();
        self.barrier.wait();
        result
    }
}

/// Runs `producer(share, gate)` on [`PRODUCER_THREADS`] threads at once, each with its
/// share of `spans`; each must call [`Gate::measure`] exactly once. The meter runs from
/// the moment all are ready to the moment all are done: the wall time of the whole run,
/// and the CPU of every thread.
pub fn run_producers(meter: &mut Meter, spans: u64, producer: impl Fn(u64, &Gate) + Sync) {
    let gate = Gate {
        barrier: Barrier::new(PRODUCER_THREADS + 1),
    };
    std::thread::scope(|scope| {
        for share in shares(spans) {
            let (gate, producer) = (&gate, &producer);
            scope.spawn(move || producer(share, gate));
        }
        gate.barrier.wait();
        meter.start();
        gate.barrier.wait();
        meter.stop();
    });
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

/// Runs `work`, a case's measured loop, in a frame of its own: `instructions.sh` counts
/// the instructions executed inside this function (callgrind's `--toggle-collect`), so
/// that a stack's set-up, flush and shutdown stay out of the count as they stay out of
/// the time.
#[inline(never)]
pub fn measured<R>(work: impl FnOnce() -> R) -> R {
    work()
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
            wire: Wire::default(),
            baseline_ns_per_span: None,
        };
        let line = outcome.to_line();
        assert!(
            !line.contains("wire_bytes"),
            "only the agent case reports the receiver: {line}"
        );
        assert!(
            !line.contains("baseline"),
            "only the noclient case has a baseline: {line}"
        );
        assert_eq!(Outcome::parse_line(&line), Ok(outcome));
    }

    #[test]
    fn a_noclient_line_carries_its_baseline_and_parses_back() {
        let outcome = Outcome {
            stack: Stack::Mv37,
            case: Case::NoClient,
            spans: 1000,
            ns_per_span: 3.5,
            cpu_ns_per_span: 3.5,
            peak_rss_kib: 3000,
            delivery: Delivery {
                balanced: true,
                ..Delivery::default()
            },
            wire: Wire::default(),
            baseline_ns_per_span: Some(2.25),
        };
        let line = outcome.to_line();
        assert!(line.contains(" baseline_ns_per_span=2.25 "), "{line}");
        assert!(line.ends_with(" check=ok"), "{line}");
        assert_eq!(Outcome::parse_line(&line), Ok(outcome));
    }

    #[test]
    fn an_agent_line_carries_what_the_receiver_got_and_still_ends_with_the_check() {
        let outcome = Outcome {
            stack: Stack::Otel,
            case: Case::Agent,
            spans: 9000,
            ns_per_span: 2500.0,
            cpu_ns_per_span: 9000.5,
            peak_rss_kib: 40_000,
            delivery: delivery(9000, 9000, 0),
            wire: Wire {
                requests: 18,
                bytes: 261_000,
                body_bytes: 4_930_000,
                spans: 9000,
                attributes: 44_000,
                rejected: 1,
            },
            baseline_ns_per_span: None,
        };
        let line = outcome.to_line();
        assert!(line.ends_with(" check=ok"), "{line}");
        assert_eq!(Outcome::parse_line(&line), Ok(outcome));
        assert_eq!(outcome.wire.bytes_per_span(), Some(29.0));
        assert_eq!(outcome.wire.body_bytes_per_span(), Some(4_930_000.0 / 9000.0));
        assert_eq!(Wire::default().bytes_per_span(), None, "no span arrived: no figure");
    }

    #[test]
    fn an_agent_run_whose_receiver_got_fewer_spans_than_were_made_fails_the_check() {
        // The batch span processor dropped 12,686 spans without a count.
        let lost = delivery(90_000, 77_314, 0);
        assert_eq!(lost.check(), "FAIL");
        assert_eq!(
            DeliverySummary::of(&[lost], 0).cell(Stack::Otel, Case::Agent),
            "**lost** up to 12686 spans, uncounted (1/1 runs)"
        );
    }

    #[test]
    fn runs_are_whole_iterations_and_the_producers_share_the_spans() {
        assert_eq!(Case::Tiny.whole_iterations(1001), 1000);
        assert_eq!(Case::Agent.whole_iterations(100_000), 99_999);
        assert_eq!(Case::Agent.whole_iterations(2), 9, "at least one turn");
        assert_eq!(Case::Threads2.whole_iterations(1001), 1001);
        assert_eq!(shares(1001), [500, 501]);
        for case in Case::ALL {
            assert_eq!(case.name().parse(), Ok(case));
        }
    }

    #[test]
    fn the_producers_run_their_shares_at_once_inside_the_meter() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let made = AtomicU64::new(0);
        let inside = AtomicU64::new(0);
        let mut meter = Meter::default();
        run_producers(&mut meter, 1001, |share, gate| {
            gate.measure(|| {
                // Both producers are past the first barrier before either finishes.
                inside.fetch_add(1, Ordering::SeqCst);
                while inside.load(Ordering::SeqCst) < PRODUCER_THREADS as u64 {
                    std::thread::yield_now();
                }
                made.fetch_add(share, Ordering::SeqCst);
            });
        });
        assert_eq!(made.load(Ordering::SeqCst), 1001);
        assert!(meter.finish().is_some(), "the meter started and stopped");
    }

    #[test]
    fn a_paused_wait_is_left_out_of_the_loop_time() {
        let mut meter = Meter::default();
        meter.start();
        meter.pause(|| std::thread::sleep(Duration::from_millis(50)));
        meter.stop();
        let (hot, cpu) = meter.finish().expect("started and stopped");
        assert!(hot < Duration::from_millis(40), "{hot:?}");
        assert!(cpu < Duration::from_millis(40), "a sleep takes no CPU: {cpu:?}");
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

    fn delivery(expected: u64, exported: u64, dropped: u64) -> Delivery {
        Delivery {
            expected,
            produced: expected,
            exported,
            dropped,
            balanced: true,
        }
    }

    #[test]
    fn a_run_that_drops_records_is_accounted_but_not_complete() {
        let dropping = delivery(1001, 721, 280);
        assert!(dropping.is_accounted());
        assert!(!dropping.is_complete());
        assert_eq!(dropping.check(), "DROPPED");
        assert!(Outcome {
            stack: Stack::Mv37,
            case: Case::Tiny,
            spans: 1000,
            ns_per_span: 1.0,
            cpu_ns_per_span: 1.0,
            peak_rss_kib: 1,
            delivery: dropping,
            wire: Wire::default(),
            baseline_ns_per_span: None,
        }
        .to_line()
        .ends_with(" check=DROPPED"));
        assert_eq!(delivery(1001, 1001, 0).check(), "ok");
        assert_eq!(delivery(1001, 1000, 0).check(), "FAIL");
    }

    #[test]
    fn a_pair_with_a_dropping_run_is_flagged_in_the_table_and_is_not_clean() {
        let runs = [
            delivery(1001, 1001, 0),
            delivery(1001, 721, 280),
            delivery(1001, 1001, 0),
        ];
        let summary = DeliverySummary::of(&runs, 0);
        assert!(!summary.is_clean());
        assert_eq!(
            summary.cell(Stack::Mv37, Case::Tiny),
            "**dropped** up to 280 of 1001 spans (28%), counted (1/3 runs)"
        );
    }

    #[test]
    fn a_peer_that_loses_spans_and_a_crash_are_both_flagged() {
        let summary = DeliverySummary::of(&[delivery(1001, 990, 0)], 1);
        assert!(!summary.is_clean());
        assert_eq!(
            summary.cell(Stack::Otel, Case::Sync),
            "**FAIL** 1/2 runs crashed; **lost** up to 11 spans, uncounted (1/2 runs)"
        );
        let unbalanced = Delivery {
            balanced: false,
            ..delivery(1001, 1001, 0)
        };
        assert_eq!(
            DeliverySummary::of(&[unbalanced], 0).cell(Stack::Mv37, Case::Sync),
            "**FAIL** 1/1 runs unbalanced (up to 0 spans unaccounted)"
        );
    }

    #[test]
    fn a_pair_whose_runs_all_exported_everything_is_clean() {
        let summary = DeliverySummary::of(&[delivery(1001, 1001, 0), delivery(1001, 1001, 0)], 0);
        assert!(summary.is_clean());
        assert_eq!(summary.cell(Stack::Fastrace, Case::Sync), "all exported");
        let nothing = DeliverySummary::of(&[delivery(0, 0, 0)], 0);
        assert_eq!(nothing.cell(Stack::Mv37, Case::NoClient), "nothing recorded");
    }

    #[test]
    fn the_process_usage_is_measured() {
        let usage = process_usage();
        assert!(usage.peak_rss_kib > 0);
        let before = usage.cpu;
        let mut spin = 0u64;
        while process_usage().cpu == before {
            spin = std::hint::black_box(spin + 1);
        }
        assert!(process_usage().cpu > before, "the process's CPU time advances");
    }
}
