//! fastrace: `LocalSpan`s under a local parent, `#[fastrace::trace]` fns, and a
//! collector `Reporter` that counts what it receives and discards it.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};
use fastrace::future::FutureExt as _;
use fastrace::local::LocalSpan;
use fastrace::Span;
use mv37_bench::{block_on, measured, run_producers, Case, Delivery, Meter, Query, PRODUCER_THREADS};

/// fastrace keeps at most 10240 local spans per local-parent scope and ignores the rest,
/// so the long-lived root is re-entered as the local parent every this many spans (as a
/// server sets it per request). The guard's cost is spread over the chunk.
const LOCAL_SPANS_PER_SCOPE: u64 = 1_000;

/// The name of the empty root traces that [`flush`] makes to push this thread's
/// overflow on; the reporter does not count them.
const NUDGE: &str = "mv37-bench-nudge";

struct CountingReporter {
    received: Arc<AtomicU64>,
}

impl Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        let measured = spans.iter().filter(|span| span.name != NUDGE).count();
        self.received.fetch_add(measured as u64, Ordering::Relaxed);
    }
}

#[fastrace::trace(name = "step")]
fn step(i: u64) -> u64 {
    black_box(i)
}

#[fastrace::trace(name = "step")]
async fn step_async(i: u64) -> u64 {
    black_box(i)
}

/// Calls `body(i)` for every `i` below `spans`, with `root` as the local parent.
fn under_local_parent(root: &Span, spans: u64, mut body: impl FnMut(u64)) {
    let mut next = 0;
    while next < spans {
        let _parent = root.set_local_parent();
        let end = (next + LOCAL_SPANS_PER_SCOPE).min(spans);
        for i in next..end {
            body(i);
        }
        next = end;
    }
}

/// Runs `case` for `spans` spans and reports where they went.
pub fn run(case: Case, spans: u64, meter: &mut Meter) -> Delivery {
    let received = Arc::new(AtomicU64::new(0));
    fastrace::set_reporter(
        CountingReporter {
            received: Arc::clone(&received),
        },
        Config::default(),
    );
    let expected = match case {
        Case::Tiny => spans,
        Case::Threads2 => spans + PRODUCER_THREADS as u64,
        _ => spans + 1,
    };
    let root = || Span::root("bench", SpanContext::random());
    match case {
        Case::Sync => {
            let root = root();
            meter.start();
            measured(|| {
                under_local_parent(&root, spans, |i| {
                    let _span = LocalSpan::enter_with_local_parent("step");
                    black_box(i);
                });
            });
            meter.stop();
        }
        Case::Macro => {
            let root = root();
            meter.start();
            measured(|| {
                under_local_parent(&root, spans, |i| {
                    black_box(step(i));
                });
            });
            meter.stop();
        }
        Case::Async => {
            let root = root();
            measured(|| {
                block_on(
                    async {
                        meter.start();
                        for i in 0..spans {
                            black_box(step_async(i).await);
                        }
                        meter.stop();
                    }
                    .in_span(root),
                )
            });
        }
        Case::Capture => {
            let query = Query::sample();
            let json = |value: &Query| serde_json::to_string(value).unwrap_or_default();
            let root = root();
            meter.start();
            measured(|| {
                under_local_parent(&root, spans, |_| {
                    let _span =
                        LocalSpan::enter_with_local_parent("step").with_property(|| ("input", json(black_box(&query))));
                    LocalSpan::add_property(|| ("output", json(black_box(&query))));
                });
            });
            meter.stop();
        }
        Case::Tiny => {
            meter.start();
            measured(|| {
                for i in 0..spans / 2 {
                    let root = root();
                    let _parent = root.set_local_parent();
                    let _span = LocalSpan::enter_with_local_parent("step");
                    black_box(i);
                }
            });
            meter.stop();
        }
        Case::Threads2 => run_producers(meter, spans, |share, gate| {
            let root = root();
            gate.measure(|| {
                under_local_parent(&root, share, |i| {
                    let _span = LocalSpan::enter_with_local_parent("step");
                    black_box(i);
                })
            });
            drop(root);
            // What this thread's command channel could not take waits in the thread's
            // overflow, and a thread's exit keeps only what fits: push it on from here.
            flush(&received, expected);
        }),
        Case::NoClient | Case::Agent => {}
    }
    // The root spans are dropped by now: hand what is queued to the reporter.
    let exported = flush(&received, expected);
    Delivery {
        expected,
        produced: expected,
        exported,
        dropped: 0,
        balanced: true,
    }
}

/// Flushes until the reporter has `expected` spans, or for at most 10 s.
///
/// fastrace's per-thread command channel holds 10240 commands; what does not fit waits
/// in an unbounded thread-local overflow that is only moved on at this thread's next
/// send. `fastrace::flush` drains the channel, not the overflow, so each round also makes
/// (and drops) an empty root trace on this thread, whose commands push the overflow on.
fn flush(received: &AtomicU64, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = u64::MAX;
    loop {
        fastrace::flush();
        let now = received.load(Ordering::Relaxed);
        if now >= expected || Instant::now() > deadline {
            return now;
        }
        if now == last {
            std::thread::sleep(Duration::from_millis(1));
        }
        last = now;
        drop(Span::root(NUDGE, SpanContext::random()));
    }
}
