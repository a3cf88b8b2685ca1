//! Runs ONE (stack, case) pair in this process and prints one machine-readable line.
//!
//! ```text
//! peers <stack> <case> <spans> [--queue RECORDS]
//!   stack: mv37 | fastrace | otel | tracing | bridge | bridge-filtered
//!   case:  sync | macro | async | capture | tiny | threads2 | agent | noclient
//! ```
//!
//! The line is `RESULT stack=.. case=.. spans=.. ns_per_span=.. cpu_ns_per_span=..
//! peak_rss_kib=.. expected=.. produced=.. exported=.. dropped=.. balanced=..
//! check=ok|DROPPED|FAIL`: `ok` when every span was exported, `DROPPED` when some were
//! counted as dropped, `FAIL` when some are unaccounted for. The `agent` case adds what
//! the loopback receiver got before `check` (see `Outcome::to_line`); its spans are
//! exported when the receiver decoded them, and its CPU leaves the receiver's threads
//! out. The exit status is 0 for `ok` and `DROPPED` (`compare` flags the drops), 2 for
//! `FAIL`, 64 on a usage error.

mod bridge_stack;
mod fastrace_stack;
mod mv37_stack;
mod otel_stack;
mod tracing_stack;

use std::process::ExitCode;

use mv37_bench::remote::{self, RemoteSink};
use mv37_bench::{
    process_usage, Case, Delivery, Meter, Outcome, Stack, Support, Wire, MV37_QUEUE_RECORDS, OTEL_QUEUE_RECORDS,
};

/// Settings shared by the stacks.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Queue bound in records, for mv37 and for the OpenTelemetry batch span processor
    /// (fastrace has no bound to set); `None`: each its own (see `mv37_bench`).
    pub queue_records: Option<usize>,
}

impl Settings {
    /// The queue bound mv37 gets.
    pub fn mv37_queue(self) -> usize {
        self.queue_records.unwrap_or(MV37_QUEUE_RECORDS)
    }

    /// The queue bound the OpenTelemetry batch span processor gets.
    pub fn otel_queue(self) -> usize {
        self.queue_records.unwrap_or(OTEL_QUEUE_RECORDS)
    }
}

fn usage(error: &str) -> ExitCode {
    eprintln!("error: {error}");
    eprintln!(
        "usage: peers <mv37|fastrace|otel|tracing|bridge|bridge-filtered> \
         <sync|macro|async|capture|tiny|threads2|agent|noclient> <spans> [--queue RECORDS]"
    );
    ExitCode::from(64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(remote::SERVE_ARG) {
        return match remote::serve(std::io::stdin().lock(), std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: the OTLP receiver: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let mut positional = Vec::new();
    let mut settings = Settings { queue_records: None };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--queue" {
            match rest.next().map(|value| value.parse()) {
                Some(Ok(records)) => settings.queue_records = Some(records),
                _ => return usage("`--queue` takes a number of records"),
            }
        } else {
            positional.push(arg.as_str());
        }
    }
    let [stack, case, spans] = positional[..] else {
        return usage("expected three arguments");
    };
    let stack: Stack = match stack.parse() {
        Ok(stack) => stack,
        Err(error) => return usage(&error),
    };
    let case: Case = match case.parse() {
        Ok(case) => case,
        Err(error) => return usage(&error),
    };
    let spans: u64 = match spans.parse() {
        Ok(spans) if spans >= 2 => spans,
        _ => return usage("`spans` must be a whole number of at least 2"),
    };
    // A tiny trace is two spans, an agent turn nine: measure whole traces.
    let spans = case.whole_iterations(spans);
    if stack.runs(case) == Support::No {
        return usage(&format!("{} has no `{case}` case", stack.label()));
    }

    let mut meter = Meter::default();
    let (delivery, wire): (Delivery, Wire) = if case == Case::Agent {
        // The receiver runs in a child process, as a collector would: its memory and CPU
        // are not the stack's.
        let sink = match std::env::current_exe().and_then(|peers| RemoteSink::spawn(&peers)) {
            Ok(sink) => sink,
            Err(error) => {
                eprintln!("error: cannot start the loopback OTLP receiver: {error}");
                return ExitCode::FAILURE;
            }
        };
        let delivery = match stack {
            Stack::Mv37 => mv37_stack::agent(spans, settings, &sink, &mut meter),
            Stack::Otel => otel_stack::agent(spans, settings, &sink, &mut meter),
            _ => return usage(&format!("{} has no `{case}` case", stack.label())),
        };
        let wire = match sink.totals() {
            Ok(wire) => wire,
            Err(error) => {
                eprintln!("error: the loopback OTLP receiver's totals: {error}");
                return ExitCode::FAILURE;
            }
        };
        (delivery, wire)
    } else {
        let delivery = match stack {
            Stack::Mv37 => mv37_stack::run(case, spans, settings, &mut meter),
            Stack::Fastrace => fastrace_stack::run(case, spans, &mut meter),
            Stack::Otel => otel_stack::run(case, spans, settings, &mut meter),
            Stack::Tracing => tracing_stack::run(case, spans, settings, &mut meter),
            Stack::Bridge => bridge_stack::run(case, spans, settings, false, &mut meter),
            Stack::BridgeFiltered => bridge_stack::run(case, spans, settings, true, &mut meter),
        };
        (delivery, Wire::default())
    };
    let Some((hot, cpu)) = meter.finish() else {
        eprintln!("error: the {stack} {case} run did not start and stop its meter");
        return ExitCode::FAILURE;
    };
    // With no client, what the attribute costs is the difference from the same call
    // without it, measured here right after.
    let baseline_ns_per_span =
        (stack == Stack::Mv37 && case == Case::NoClient).then(|| mv37_stack::plain_call_ns(spans));
    let outcome = Outcome {
        stack,
        case,
        spans,
        ns_per_span: hot.as_nanos() as f64 / spans as f64,
        cpu_ns_per_span: cpu.as_nanos() as f64 / spans as f64,
        peak_rss_kib: process_usage().peak_rss_kib,
        delivery,
        wire,
        baseline_ns_per_span,
    };
    println!("{}", outcome.to_line());
    if outcome.delivery.is_complete() {
        ExitCode::SUCCESS
    } else if outcome.delivery.is_accounted() {
        eprintln!("warning: spans were dropped (counted): {delivery:?}");
        ExitCode::SUCCESS
    } else {
        eprintln!("error: not every span was exported or counted dropped: {delivery:?}");
        ExitCode::from(2)
    }
}
