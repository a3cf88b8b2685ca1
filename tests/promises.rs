//! The delivery promises, each checked so that it fails when the promise breaks:
//! the program never waits for the network (compared against a collector that stalls,
//! with `flush_on_end` as the one mode that does wait); `Retry-After` is honoured, up to
//! the largest backoff; retries stop after `max_attempts` and when the retry budget is
//! spent; a request that stalls is cut off by its timeout; and every record is accounted
//! for exactly, for every drop reason, also when producers race `shutdown`.

// These tests use the OTLP exporter or encoder: they need the `otlp` feature (on by
// default; CI also runs the suite without it).
#![cfg(feature = "otlp")]
// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use mv37::{
    Client, ExportError, Exporter, MemoryExporter, OtlpConfig, OtlpExporter, OtlpProtocol, Record, ResourceInfo,
    RetryPolicy, Spool,
};
use support::collector::{Collector, Reply};

fn otlp_exporter(collector: &Collector, retry: RetryPolicy) -> OtlpExporter {
    let config = OtlpConfig {
        endpoint: format!("{}/v1/traces", collector.url()),
        protocol: OtlpProtocol::Protobuf,
        retry,
        ..OtlpConfig::default()
    };
    OtlpExporter::new(config, &ResourceInfo::default()).expect("exporter")
}

/// Retries that wait a millisecond or two, so that only what a test sets up takes time.
fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        max_elapsed: Duration::from_secs(10),
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        budget_tokens: 100.0,
        budget_refill: 1.0,
    }
}

/// One trace of two records, recorded in memory: a batch to hand an exporter directly.
fn a_batch() -> Vec<Record> {
    let (client, memory) = support::memory::memory_client();
    client.trace("t").run(|trace| trace.task("step").run(|_| ()));
    client.shutdown().expect("shutdown");
    let records = memory.records();
    assert_eq!(records.len(), 2);
    records
}

/// Polls `done` until it holds; panics naming `what` after 10 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Ends up to `n` traces of two records each, stopping early once they have taken
/// `budget` together (so that a test of a broken build fails fast); returns how long the
/// slowest call took and how long they took together.
fn timed_traces(client: &Client, n: usize, budget: Duration) -> (Duration, Duration) {
    let (mut slowest, mut total) = (Duration::ZERO, Duration::ZERO);
    for i in 0..n {
        let started = Instant::now();
        client
            .trace("request")
            .attribute("i", i)
            .run(|trace| trace.task("step").run(|_| ()));
        let took = started.elapsed();
        slowest = slowest.max(took);
        total += took;
        if total >= budget {
            break;
        }
    }
    (slowest, total)
}

// ---------------------------------------------------------------------------------------
// Network independence: measured against the stall, not against a fixed threshold.

/// How long the collector holds each request before it closes the connection.
const STALL: Duration = Duration::from_secs(2);

#[test]
fn traced_calls_take_a_small_fraction_of_a_collector_stall() {
    let collector = Collector::start(|_| Reply::Stall(STALL));
    let retry = RetryPolicy {
        max_attempts: 1,
        // Above the stall: the exporter really is stuck for the whole stall.
        request_timeout: STALL * 2,
        ..quick_retries()
    };
    let client = Client::builder()
        .exporter(otlp_exporter(&collector, retry))
        .export_linger(Duration::ZERO)
        // A blocking mode (`flush_on_end`) would wait for the whole stall.
        .shutdown_timeout(STALL * 5)
        .build()
        .expect("client");
    let (first, _) = timed_traces(&client, 1, STALL);
    wait_until("the first request to reach the collector", || {
        !collector.received().is_empty()
    });
    let stalled_since = collector.received()[0].received_at;
    // The exporter is now held by the collector; these traces end meanwhile.
    let (slowest, total) = timed_traces(&client, 50, STALL);
    let (slowest, total) = (slowest.max(first), total + first);
    assert!(
        slowest < STALL / 10,
        "the slowest traced call took {slowest:?}, the collector stalls for {STALL:?}"
    );
    assert!(
        total < STALL / 10,
        "51 traced calls took {total:?} together, the collector stalls for {STALL:?}"
    );
    assert!(
        stalled_since.elapsed() < STALL,
        "the traces were measured while the collector stalled"
    );
    assert_eq!(
        collector.received().len(),
        1,
        "the exporter is still in the stalled request"
    );
    // Shut down without waiting for the stall; nothing is left uncounted.
    let _ = client.shutdown_timeout(Duration::from_millis(200));
    let stats = client.stats();
    assert_eq!(stats.produced, 102);
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
}

#[test]
fn flush_on_end_is_the_one_mode_in_which_a_trace_end_waits_for_the_collector() {
    let stall = Duration::from_secs(1);
    // The first request stalls, then the connection closes; the retry is accepted.
    let collector = Collector::start(move |n| if n == 0 { Reply::Stall(stall) } else { Reply::Ok });
    let retry = RetryPolicy {
        max_attempts: 2,
        request_timeout: stall * 3,
        ..quick_retries()
    };
    let client = Client::builder()
        .exporter(otlp_exporter(&collector, retry))
        .flush_on_end(true)
        .batch_interval(Duration::from_secs(3600))
        .shutdown_timeout(stall * 5)
        .build()
        .expect("client");
    let (took, _) = timed_traces(&client, 1, stall);
    assert!(
        took >= stall,
        "the trace end waited for the stalled request: {took:?} (stall {stall:?})"
    );
    assert!(
        took < stall + Duration::from_secs(1),
        "then for the retry only: {took:?}"
    );
    assert_eq!(
        client.stats().exported,
        2,
        "delivered before the trace call returned: {:?}",
        client.stats()
    );
    assert_eq!(collector.accepted().len(), 1);
    client.shutdown().expect("shutdown");
}

// ---------------------------------------------------------------------------------------
// Retries: `Retry-After`, the attempt limit, the retry budget and the request timeout,
// counted in requests the collector received.

#[test]
fn a_retry_after_of_one_second_is_waited_for_even_when_the_backoff_is_shorter() {
    let collector = Collector::start(|n| if n == 0 { Reply::Status(429, Some(1)) } else { Reply::Ok });
    let retry = RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_secs(2),
        ..quick_retries()
    };
    let mut exporter = otlp_exporter(&collector, retry);
    exporter.export(&a_batch()).expect("delivered on the retry");
    let received = collector.received();
    assert_eq!(received.len(), 2, "one 429, one retry");
    let gap = received[1].received_at - received[0].received_at;
    assert!(gap >= Duration::from_secs(1), "the retry came {gap:?} after the 429");
    assert!(
        gap < Duration::from_millis(1800),
        "and not much later (the backoff is 1 ms, the largest 2 s): {gap:?}"
    );
}

#[test]
fn a_retry_after_longer_than_the_largest_backoff_gives_up_at_once_and_says_so() {
    let collector = Collector::start(|_| Reply::Status(429, Some(2)));
    let retry = RetryPolicy {
        max_backoff: Duration::from_millis(100),
        ..quick_retries()
    };
    let mut exporter = otlp_exporter(&collector, retry);
    let started = Instant::now();
    let error = exporter
        .export(&a_batch())
        .expect_err("the collector asks for too long");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(collector.received().len(), 1, "no retry: {error}");
    assert!(error.transient, "{error}");
    assert!(error.message.contains("HTTP 429"), "{error}");
    assert!(
        error
            .message
            .contains("asked to retry after 2s, longer than the 100ms allowed"),
        "{error}"
    );

    // Through a client, the batch is counted as failed, not lost.
    let collector = Collector::start(|_| Reply::Status(429, Some(2)));
    let client = Client::builder()
        .exporter(otlp_exporter(&collector, retry))
        .build()
        .expect("client");
    client.trace("t").run(|trace| trace.task("step").run(|_| ()));
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(collector.received().len(), 1, "{stats:?}");
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert_eq!(stats.dropped.export_failed, 2, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
}

#[test]
fn a_batch_is_given_up_after_max_attempts_requests() {
    let collector = Collector::start(|_| Reply::Status(503, None));
    let retry = RetryPolicy {
        max_attempts: 4,
        ..quick_retries()
    };
    let mut exporter = otlp_exporter(&collector, retry);
    let error = exporter.export(&a_batch()).expect_err("the collector is down");
    assert_eq!(collector.received().len(), 4, "{error}");
    assert!(error.transient, "{error}");
    assert!(error.message.contains("HTTP 503"), "{error}");
    assert!(error.message.contains("gave up after 4 attempts"), "{error}");
}

#[test]
fn the_retry_budget_stops_retrying_until_a_success_earns_a_token_back() {
    // Five failures, one success, then failures again.
    let collector = Collector::start(|n| if n == 5 { Reply::Ok } else { Reply::Status(503, None) });
    let retry = RetryPolicy {
        max_attempts: 10,
        budget_tokens: 3.0,
        budget_refill: 1.0,
        ..quick_retries()
    };
    let mut exporter = otlp_exporter(&collector, retry);
    let batch = a_batch();
    let mut export = |expected_requests: usize| {
        let before = collector.received().len();
        let outcome = exporter.export(&batch);
        assert_eq!(collector.received().len() - before, expected_requests, "{outcome:?}");
        outcome
    };
    // The first attempt and three retries spend the three tokens.
    let error = export(4).expect_err("down");
    assert!(error.message.contains("retry budget exhausted"), "{error}");
    // No token left: one attempt, no retry.
    let error = export(1).expect_err("down");
    assert!(error.message.contains("retry budget exhausted"), "{error}");
    // A success earns one token back...
    export(1).expect("the collector is up for one request");
    // ...which buys one retry.
    let error = export(2).expect_err("down again");
    assert!(error.message.contains("retry budget exhausted"), "{error}");
    assert_eq!(collector.received().len(), 8);
}

#[test]
fn a_request_that_stalls_past_its_timeout_is_cut_off_and_reported_as_timed_out() {
    let collector = Collector::start(|_| Reply::Stall(Duration::from_secs(3)));
    let timeout = Duration::from_millis(200);
    let retry = RetryPolicy {
        max_attempts: 1,
        request_timeout: timeout,
        ..quick_retries()
    };
    let mut exporter = otlp_exporter(&collector, retry);
    let started = Instant::now();
    let error = exporter.export(&a_batch()).expect_err("the collector never answers");
    let took = started.elapsed();
    assert!(error.transient, "{error}");
    assert!(error.message.contains("request timed out"), "{error}");
    assert!(error.message.contains("gave up after 1 attempts"), "{error}");
    assert!(took >= timeout, "{took:?}");
    assert!(
        took < Duration::from_secs(1),
        "cut off by the timeout, not by the collector: {took:?}"
    );
    assert_eq!(collector.received().len(), 1);
}

// ---------------------------------------------------------------------------------------
// Accounting: exact counts for every drop reason.

/// An exporter that panics on every batch.
struct Panicking;

impl Exporter for Panicking {
    fn export(&mut self, _batch: &[Record]) -> Result<(), ExportError> {
        panic!("exporter bug")
    }
}

#[test]
fn a_panicking_exporter_s_batches_are_counted_as_export_failed_never_as_exported() {
    let client = Client::builder().exporter(Panicking).build().expect("client");
    for _ in 0..3 {
        client.trace("t").run(|trace| trace.task("step").run(|_| ()));
        client.flush().expect("flush");
    }
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.produced, 6);
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert_eq!(stats.batches, 0, "{stats:?}");
    assert_eq!(stats.dropped.export_failed, 6, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
}

/// An exporter that, at its first batch, says so and waits until it is let go.
#[derive(Clone, Default)]
struct Held {
    /// (inside the first export, let go)
    state: Arc<(Mutex<(bool, bool)>, Condvar)>,
}

impl Held {
    fn wait_inside(&self) {
        let (lock, changed) = &*self.state;
        let state = lock.lock().expect("lock");
        let (state, timeout) = changed
            .wait_timeout_while(state, Duration::from_secs(10), |(inside, _)| !*inside)
            .expect("lock");
        assert!(!timeout.timed_out() && state.0, "the exporter never got a batch");
    }

    fn let_go(&self) {
        let (lock, changed) = &*self.state;
        lock.lock().expect("lock").1 = true;
        changed.notify_all();
    }
}

impl Exporter for Held {
    fn export(&mut self, _batch: &[Record]) -> Result<(), ExportError> {
        let (lock, changed) = &*self.state;
        let mut state = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0 = true;
        changed.notify_all();
        let _ = changed
            .wait_timeout_while(state, Duration::from_secs(10), |(_, go)| !*go)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(())
    }
}

#[test]
fn records_past_the_queue_bound_are_counted_as_queue_full_exactly() {
    let held = Held::default();
    let client = Client::builder()
        .exporter(held.clone())
        .max_queue_records(10)
        .export_linger(Duration::ZERO)
        .build()
        .expect("client");
    client.trace("first").run(|trace| trace.task("step").run(|_| ()));
    held.wait_inside();
    // The exporter holds the first trace; the queue (10 records) takes five traces of
    // two records, and refuses the other fifteen.
    for _ in 0..20 {
        client.trace("t").run(|trace| trace.task("step").run(|_| ()));
    }
    let during = client.stats();
    assert_eq!(during.dropped.queue_full, 30, "{during:?}");
    assert_eq!(during.queued, 12, "the held batch and a full queue: {during:?}");
    held.let_go();
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.produced, 42, "{stats:?}");
    assert_eq!(stats.exported, 12, "{stats:?}");
    assert_eq!(stats.dropped.queue_full, 30, "{stats:?}");
    assert_eq!(stats.dropped.total(), 30, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
}

#[test]
fn a_queue_bound_smaller_than_a_batch_wakes_the_exporter_before_it_fills() {
    // Within one open trace nothing asks for an export, and the batch interval is an
    // hour: only a producer's wake moves the records, once half of the 64-record bound
    // waits (a full batch, 512, would never be reached).
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .max_queue_records(64)
        .batch_interval(Duration::from_secs(3600))
        .build()
        .expect("client");
    client.trace("long").run(|trace| {
        for round in 1..=10u64 {
            // A thread hands its spans over 32 at a time.
            for _ in 0..32 {
                trace.task("step").run(|_| ());
            }
            wait_until(&format!("round {round}'s spans to be exported"), || {
                client.stats().exported == 32 * round
            });
        }
    });
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.dropped.total(), 0, "{stats:?}");
    assert_eq!(stats.exported, 321, "320 spans and the trace: {stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
}

/// A fresh directory under the system's temporary one.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mv37-promises-{name}-{}-{}",
        std::process::id(),
        mv37::unix_nanos_now()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Records in the spool's waiting segments, by whether `origins` (the writers of an
/// earlier process) wrote them: (theirs, the rest).
fn spooled_by(dir: &Path, origins: &[String]) -> (u64, u64) {
    let segments = Spool::open(dir, u64::MAX).expect("spool").segments().expect("segments");
    segments.iter().fold((0, 0), |(theirs, rest), segment| {
        if origins.contains(&segment.origin) {
            (theirs + segment.records, rest)
        } else {
            (theirs, rest + segment.records)
        }
    })
}

/// An exporter that fails transiently (the backend is down) or, once `reject` is set,
/// rejects every batch for good (as a backend answering 400).
#[derive(Clone, Default)]
struct Backend {
    reject: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl Exporter for Backend {
    fn export(&mut self, _batch: &[Record]) -> Result<(), ExportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.reject.load(Ordering::SeqCst) {
            Err(ExportError::new("backend", "400 bad request"))
        } else {
            Err(ExportError::transient("backend", "the backend is down"))
        }
    }
}

fn spooling_client(backend: &Backend, dir: &Path, max_bytes: u64) -> Client {
    Client::builder()
        .exporter(backend.clone())
        .spool_dir(dir)
        .spool_max_bytes(max_bytes)
        .batch_interval(Duration::from_millis(20))
        .build()
        .expect("client")
}

/// Ends `n` traces, each flushed on its own so that each is one failed batch.
fn flushed_traces(client: &Client, n: usize) {
    for i in 0..n {
        client
            .trace("down")
            .input(&format!("question {i}, long enough to fill a small spool quickly"))
            .run(|trace| trace.task("step").run(|_| ()));
        client.flush().expect("flush");
    }
}

#[test]
fn records_evicted_to_keep_the_spool_within_its_bound_are_counted_as_spool_evicted() {
    let dir = temp_dir("evict");
    let backend = Backend::default();
    let client = spooling_client(&backend, &dir, 4 * 1024);
    flushed_traces(&client, 40);
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    let (_, on_disk) = spooled_by(&dir, &[]);
    assert_eq!(stats.produced, 80);
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert_eq!(
        stats.spooled, on_disk,
        "what is counted as spooled is on disk: {stats:?}"
    );
    assert!(stats.dropped.spool_evicted > 0, "the bound was reached: {stats:?}");
    assert_eq!(stats.dropped.spool_evicted + on_disk, 80, "{stats:?}");
    assert_eq!(stats.dropped.total(), stats.dropped.spool_evicted, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn spooled_records_the_backend_rejects_when_re_sent_are_counted_as_spool_evicted() {
    let dir = temp_dir("rejected");
    let backend = Backend::default();
    let client = spooling_client(&backend, &dir, u64::MAX);
    flushed_traces(&client, 5);
    assert_eq!(client.stats().spooled, 10, "{:?}", client.stats());
    backend.reject.store(true, Ordering::SeqCst);
    // The open segment is sealed and re-sent once it is a second old.
    wait_until("the spooled records to be re-sent", || client.stats().spooled == 0);
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.produced, 10);
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert_eq!(stats.dropped.spool_evicted, 10, "{stats:?}");
    assert_eq!(stats.dropped.total(), 10, "{stats:?}");
    assert_eq!(stats.lost_from_earlier_spool, 0, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
    assert_eq!(spooled_by(&dir, &[]), (0, 0));
    let _ = std::fs::remove_dir_all(dir);
}

/// What an earlier process left in `dir`: `traces` traces (two records each) in sealed
/// segments; returns the writers' names.
fn earlier_process_spool(dir: &Path, traces: usize, per_segment: usize) -> Vec<String> {
    let (client, memory) = support::memory::memory_client();
    for i in 0..traces {
        client
            .trace("earlier")
            .input(&format!("question {i} from a process that is gone"))
            .run(|trace| trace.task("step").run(|_| ()));
    }
    client.shutdown().expect("shutdown");
    let records = memory.records();
    let mut spool = Spool::open(dir, u64::MAX).expect("spool");
    for segment in records.chunks(per_segment) {
        spool.write(segment).expect("write");
        spool.seal().expect("seal");
    }
    let mut origins: Vec<String> = spool
        .segments()
        .expect("segments")
        .into_iter()
        .map(|s| s.origin)
        .collect();
    origins.dedup();
    origins
}

#[test]
fn an_earlier_process_s_records_evicted_from_the_spool_are_counted_as_lost_from_earlier_spool() {
    let dir = temp_dir("evict-earlier");
    let earlier = earlier_process_spool(&dir, 10, 4);
    assert_eq!(spooled_by(&dir, &earlier), (20, 0));
    let backend = Backend::default();
    let client = spooling_client(&backend, &dir, 4 * 1024);
    flushed_traces(&client, 40);
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    let (earlier_left, own_left) = spooled_by(&dir, &earlier);
    assert!(stats.lost_from_earlier_spool > 0, "the oldest went first: {stats:?}");
    assert_eq!(stats.lost_from_earlier_spool + earlier_left, 20, "{stats:?}");
    assert_eq!(stats.resent_from_spool, 0, "{stats:?}");
    assert_eq!(stats.spooled, own_left, "{stats:?}");
    assert_eq!(stats.dropped.spool_evicted + own_left, 80, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_earlier_process_s_records_the_backend_rejects_are_counted_as_lost_from_earlier_spool() {
    let dir = temp_dir("rejected-earlier");
    let earlier = earlier_process_spool(&dir, 6, 4);
    let backend = Backend::default();
    backend.reject.store(true, Ordering::SeqCst);
    let client = spooling_client(&backend, &dir, u64::MAX);
    wait_until("the earlier records to be re-sent", || {
        client.stats().lost_from_earlier_spool >= 12
    });
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.lost_from_earlier_spool, 12, "{stats:?}");
    assert_eq!(stats.resent_from_spool, 0, "{stats:?}");
    assert_eq!(stats.produced, 0, "{stats:?}");
    assert_eq!(stats.dropped.total(), 0, "not this process's records: {stats:?}");
    assert_eq!(spooled_by(&dir, &earlier), (0, 0));
    let _ = std::fs::remove_dir_all(dir);
}

/// Producer threads end traces in a loop while this thread shuts the client down; each
/// producer goes on for a few traces after it has seen shutdown begin.
fn race_producers_against_shutdown(threads: usize, after_shutdown: u64) {
    // The largest queue there is: on a loaded machine this thread and the exporter's can
    // wait long for a core while eight producers fill the default queue (262,144 records),
    // and records dropped as queue-full (a bound tested on its own above) would hide what
    // this test counts, the records caught in the race with shutdown.
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .max_queue_records(4_194_303)
        .max_queue_bytes(1 << 32)
        .build()
        .expect("a client with a memory exporter builds");
    let ended = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(threads + 1));
    let producers: Vec<_> = (0..threads)
        .map(|_| {
            let (client, ended, start) = (client.clone(), Arc::clone(&ended), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                // Trace until shutdown has begun, then a few more (bounded either way).
                let mut late = 0;
                for _ in 0..1_000_000 {
                    let closed = client.is_shut_down();
                    client.trace("t").run(|trace| trace.task("step").run(|_| ()));
                    ended.fetch_add(1, Ordering::Relaxed);
                    if closed {
                        late += 1;
                        if late == after_shutdown {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    start.wait();
    wait_until("the producers to get going", || ended.load(Ordering::Relaxed) >= 50);
    client.shutdown().expect("shutdown");
    for producer in producers {
        producer.join().expect("producer");
    }
    let stats = client.stats();
    let traces = ended.load(Ordering::Relaxed);
    assert_eq!(stats.produced, 2 * traces, "{stats:?}");
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert!(stats.is_balanced(), "{stats:?}");
    assert_eq!(stats.exported, memory.records().len() as u64, "{stats:?}");
    assert_eq!(
        stats.exported + stats.dropped.after_shutdown,
        stats.produced,
        "exported or refused, nothing else: {stats:?}"
    );
    assert!(
        stats.dropped.after_shutdown >= 2 * threads as u64 * after_shutdown,
        "the traces ended after shutdown began are refused: {stats:?}"
    );
    assert!(stats.exported >= 100, "{stats:?}");
}

#[test]
fn producers_racing_shutdown_leave_nothing_queued_and_every_record_counted() {
    // Repeated, with more producers than cores, so that the moments a producer is
    // preempted between reserving room in the queue and pushing its records come up.
    for _ in 0..25 {
        race_producers_against_shutdown(8, 5);
    }
}
