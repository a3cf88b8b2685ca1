//! Shutdown and trace-end delivery: the shutdown deadline bounds the whole shutdown, a
//! request in flight included; what is not delivered by then is spooled or counted, never
//! left "queued"; a trace that ends is exported within the linger, in sync and async code;
//! and trace ends close together share one export.

// These tests use the OTLP exporter or encoder: they need the `otlp` feature (on by
// default; CI also runs the suite without it).
#![cfg(feature = "otlp")]
// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mv37::{
    Client, ClientBuilder, ExportError, Exporter, OtlpConfig, OtlpExporter, OtlpProtocol, Record, ResourceInfo,
    RetryPolicy,
};
use support::collector::{Collector, Reply};
use support::scratch_dir;

fn spooled_records(dir: &PathBuf) -> usize {
    let spool = mv37::Spool::open(dir, u64::MAX).expect("open spool");
    spool
        .segments()
        .expect("list")
        .iter()
        .map(|segment| mv37::Spool::read(segment).expect("read").records.len())
        .sum()
}

/// A collector that accepts every connection and never answers (within the test).
fn hung_collector() -> Collector {
    Collector::start(|_| Reply::Stall(Duration::from_secs(60)))
}

fn otlp_to(collector: &Collector) -> OtlpExporter {
    let config = OtlpConfig {
        endpoint: format!("{}/v1/traces", collector.url()),
        protocol: OtlpProtocol::Protobuf,
        // The defaults a user has: a request may take 10 s.
        retry: RetryPolicy::default(),
        ..OtlpConfig::default()
    };
    OtlpExporter::new(config, &ResourceInfo::default()).expect("exporter")
}

/// Waits (bounded) until `ready` holds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Ends `n` traces of two spans each.
fn traces(client: &Client, n: usize) {
    for i in 0..n {
        client.trace("work").run(|trace| {
            trace.task("step").run(|span| span.record_input(&format!("input-{i}")));
        });
    }
}

/// Sends one batch to a collector that hangs, queues more, then shuts down with a 1 s
/// deadline; checks that shutdown kept to the deadline and left nothing queued or
/// uncounted, and returns the stats. `configure` adds to the client's settings.
fn shut_down_against_a_hung_collector(
    spool: Option<&PathBuf>,
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> mv37::Stats {
    let collector = hung_collector();
    let mut builder = Client::builder()
        .exporter(otlp_to(&collector))
        .export_linger(Duration::ZERO)
        .shutdown_timeout(Duration::from_secs(1));
    if let Some(dir) = spool {
        builder = builder.spool_dir(dir);
    }
    let client = configure(builder).build().expect("client");
    traces(&client, 5);
    wait_for("the first request to reach the collector", || {
        !collector.received().is_empty()
    });
    // The exporter is now stuck in that request; these wait in the queue behind it.
    traces(&client, 20);
    let started = Instant::now();
    let outcome = client.shutdown();
    let took = started.elapsed();
    let stats = client.stats();
    println!(
        "hung collector, spool {}: shutdown took {took:?} with a 1 s deadline: {outcome:?}, {stats:?}",
        spool.is_some()
    );
    assert!(
        outcome.is_ok() || matches!(outcome, Err(mv37::ShutdownError::Timeout { .. })),
        "{outcome:?}"
    );
    // One deadline, with slack for a loaded machine (the spool write syncs to disk); a
    // request that held shutdown would take the 10 s request timeout.
    assert!(
        took < Duration::from_millis(1_300),
        "shutdown took {took:?} with a 1 s deadline"
    );
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
    // 25 traces of 2 records: the batch in flight and the 40 records queued behind it.
    assert_eq!(stats.produced, 50, "{stats:?}");
    assert_eq!(stats.exported, 0, "{stats:?}");
    stats
}

#[test]
fn a_hung_collector_cannot_hold_shutdown_past_its_deadline_and_what_it_held_is_spooled() {
    let dir = scratch_dir("shutdown-hung-spool");
    let stats = shut_down_against_a_hung_collector(Some(&dir), |builder| builder);
    assert_eq!(stats.spooled, 50, "{stats:?}");
    assert_eq!(spooled_records(&dir), 50);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_a_cut_short_request_held_and_what_waited_behind_it_pass_the_redaction_hook_once() {
    let dir = scratch_dir("shutdown-hung-redact");
    // Not idempotent: a value that passed the hook twice shows it.
    let stats = shut_down_against_a_hung_collector(Some(&dir), |builder| {
        builder.redact(|value| {
            if let serde_json::Value::String(text) = value {
                *text = format!("<{text}>");
            }
        })
    });
    assert_eq!(stats.spooled, 50, "{stats:?}");
    let mut inputs = Vec::new();
    for segment in mv37::Spool::open(&dir, u64::MAX)
        .expect("open")
        .segments()
        .expect("list")
    {
        for record in mv37::Spool::read(&segment).expect("read").records {
            if let Record::Span(span) = record {
                inputs.push(span.input.map(|input| input.as_json().to_owned()).unwrap_or_default());
            }
        }
    }
    inputs.sort();
    let mut expected: Vec<String> = (0..5).chain(0..20).map(|i| format!("\"<input-{i}>\"")).collect();
    expected.sort();
    assert_eq!(inputs, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_spool_what_a_hung_collector_held_is_counted_as_shutdown_timeout() {
    let stats = shut_down_against_a_hung_collector(None, |builder| builder);
    assert_eq!(stats.dropped.shutdown_timeout, 50, "{stats:?}");
}

/// An exporter that blocks forever once it has received its first batch.
struct NeverReturns {
    entered: Arc<(Mutex<bool>, Condvar)>,
}

impl Exporter for NeverReturns {
    fn export(&mut self, _batch: &[Record]) -> Result<(), ExportError> {
        let (entered, changed) = &*self.entered;
        *entered.lock().expect("lock") = true;
        changed.notify_all();
        loop {
            std::thread::park();
        }
    }
}

fn stuck_client(timeout: Duration) -> (Client, Arc<(Mutex<bool>, Condvar)>) {
    let entered = Arc::new((Mutex::new(false), Condvar::new()));
    let client = Client::builder()
        .exporter(NeverReturns {
            entered: Arc::clone(&entered),
        })
        .export_linger(Duration::ZERO)
        .shutdown_timeout(timeout)
        .build()
        .expect("client");
    (client, entered)
}

fn wait_until_stuck(entered: &(Mutex<bool>, Condvar)) {
    let (flag, changed) = entered;
    let guard = flag.lock().expect("lock");
    let (guard, _) = changed
        .wait_timeout_while(guard, Duration::from_secs(10), |entered| !*entered)
        .expect("lock");
    assert!(*guard, "the exporter never received a batch");
}

#[test]
fn an_exporter_that_never_returns_is_given_up_at_the_deadline_with_every_record_counted() {
    let (client, entered) = stuck_client(Duration::from_millis(300));
    traces(&client, 3);
    wait_until_stuck(&entered);
    traces(&client, 7);
    let started = Instant::now();
    let outcome = client.shutdown();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(450),
        "shutdown took {took:?} with a 300 ms deadline"
    );
    match outcome {
        Err(mv37::ShutdownError::Timeout { queued, .. }) => assert_eq!(queued, 20),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let stats = client.stats();
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert_eq!(stats.dropped.shutdown_timeout, 20, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
    // A second shutdown (the client's own, when its last handle drops) does not wait again.
    let started = Instant::now();
    let _ = client.shutdown();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    // Nothing recorded after the shutdown is lost silently.
    traces(&client, 1);
    let stats = client.stats();
    assert_eq!(stats.dropped.after_shutdown, 2, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
}

#[test]
fn an_explicit_shutdown_then_the_guards_take_one_deadline_together() {
    let (client, entered) = stuck_client(Duration::from_millis(400));
    let guard = client.install().expect("the only global client of this test binary");
    mv37::trace("work").run(|_| {});
    wait_until_stuck(&entered);
    mv37::trace("more").run(|_| {});
    let started = Instant::now();
    let _ = guard.client().shutdown();
    drop(guard); // shuts down again
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(550),
        "exit took {took:?} with a 400 ms deadline"
    );
}

/// Records when each trace was exported.
#[derive(Clone, Default)]
struct ExportTimes(Arc<(Mutex<HashMap<String, Instant>>, Condvar)>);

impl ExportTimes {
    fn when(&self, name: &str) -> Option<Instant> {
        let (times, changed) = &*self.0;
        let guard = times.lock().expect("lock");
        let (guard, _) = changed
            .wait_timeout_while(guard, Duration::from_secs(3), |times| !times.contains_key(name))
            .expect("lock");
        guard.get(name).copied()
    }
}

impl Exporter for ExportTimes {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let now = Instant::now();
        let (times, changed) = &*self.0;
        let mut times = times.lock().expect("lock");
        for record in batch {
            if let Record::Trace(trace) = record {
                times.insert(trace.name.to_string(), now);
            }
        }
        changed.notify_all();
        Ok(())
    }
}

/// Ends `n` traces one after another, each once the previous one was exported, and
/// returns how long each took from its end to its export. With `nested`, every trace
/// ends inside a span of another trace that stays open throughout (a long-lived agent
/// loop): the thread never leaves its last scope, so only the trace's end can hand its
/// records over.
async fn isolated_trace_delays(client: &Client, times: &ExportTimes, n: usize, nested: bool) -> Vec<Duration> {
    let outer = nested.then(|| client.trace("outer").start());
    let _enclosing = outer.as_ref().map(|outer| outer.span("enclosing").start());
    let mut delays = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("trace-{i}-{nested}");
        client
            .trace(name.clone())
            .run_async(|trace| async move {
                trace
                    .task("step")
                    .run_async(|_| async { tokio::task::yield_now().await })
                    .await;
            })
            .await;
        let ended = Instant::now();
        let exported = times.when(&name).unwrap_or_else(|| panic!("{name} was never exported"));
        delays.push(exported.saturating_duration_since(ended));
    }
    delays
}

fn p99(mut delays: Vec<Duration>) -> Duration {
    delays.sort();
    delays[(delays.len() * 99 / 100).min(delays.len() - 1)]
}

fn assert_every_trace_is_exported_promptly(runtime: tokio::runtime::Runtime, flavour: &str) {
    let times = ExportTimes::default();
    // The default batch interval (1 s) and linger (20 ms): a trace that waited for the
    // interval instead of leaving at its end shows up as a delay of about a second.
    let client = Client::builder().exporter(times.clone()).build().expect("client");
    for nested in [false, true] {
        let delays = runtime.block_on(isolated_trace_delays(&client, &times, 60, nested));
        let worst = delays.iter().max().copied().unwrap_or_default();
        let p99 = p99(delays);
        println!("{flavour} nested={nested}: trace end to export p99 {p99:?}, max {worst:?}");
        assert!(
            worst < Duration::from_millis(100),
            "{flavour} nested={nested}: a trace waited {worst:?}"
        );
    }
    client.shutdown().expect("shutdown");
}

#[test]
fn every_trace_is_exported_within_100ms_of_its_end_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    assert_every_trace_is_exported_promptly(runtime, "current-thread");
}

#[test]
fn every_trace_is_exported_within_100ms_of_its_end_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    assert_every_trace_is_exported_promptly(runtime, "multi-thread");
}

/// Counts export calls (each one is a request for the network exporters).
#[derive(Clone, Default)]
struct CountCalls(Arc<Mutex<(usize, usize)>>);

impl Exporter for CountCalls {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        let mut counts = self.0.lock().expect("lock");
        counts.0 += 1;
        counts.1 += batch.len();
        Ok(())
    }
}

#[test]
fn traces_that_end_close_together_share_one_export() {
    let calls = CountCalls::default();
    let client = Client::builder()
        .exporter(calls.clone())
        .export_linger(Duration::from_millis(50))
        .build()
        .expect("client");
    // 200 traces end well within one linger of each other.
    let started = Instant::now();
    traces(&client, 200);
    let produced_in = started.elapsed();
    wait_for("every record to be exported", || calls.0.lock().expect("lock").1 == 400);
    let (exports, _) = *calls.0.lock().expect("lock");
    if produced_in < Duration::from_millis(40) {
        assert!(
            exports <= 2,
            "{exports} exports for 200 traces ended in {produced_in:?}"
        );
    }
    assert!(
        exports <= 10,
        "{exports} exports for 200 traces ended in {produced_in:?}"
    );
    client.shutdown().expect("shutdown");
}
