//! The disk spool end to end on loopback: the collector is down while a program traces
//! and shuts down, the batches wait on disk, the next process delivers them once the
//! collector is back, and every span arrives exactly once.

// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mv37::{Client, OtlpConfig, OtlpExporter, OtlpProtocol, ResourceInfo, RetryPolicy, Spool};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use support::collector::{Collector, Reply};

fn client(collector_url: &str, spool: &std::path::Path) -> Client {
    let config = OtlpConfig {
        endpoint: format!("{collector_url}/v1/traces"),
        protocol: OtlpProtocol::Protobuf,
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            request_timeout: Duration::from_millis(300),
            connect_timeout: Duration::from_millis(100),
            ..RetryPolicy::default()
        },
        ..OtlpConfig::default()
    };
    Client::builder()
        .exporter(OtlpExporter::new(config, &ResourceInfo::default()).expect("exporter"))
        .spool_dir(spool)
        .batch_interval(Duration::from_millis(20))
        .max_batch_records(8)
        .build()
        .expect("client")
}

#[test]
fn batches_wait_in_the_spool_while_the_collector_is_down_and_arrive_once_later() {
    let spool_dir = std::env::temp_dir().join(format!(
        "mv37-spool-e2e-{}-{}",
        std::process::id(),
        mv37::unix_nanos_now()
    ));
    let mut collector = Collector::start(|_| Reply::Ok);
    let url = collector.url();
    collector.pause();

    // First process: the collector is down the whole time.
    let first = client(&url, &spool_dir);
    for i in 0..20 {
        first
            .trace("offline")
            .attribute("i", i)
            .run(|trace| trace.task("step").run(|_| ()));
    }
    first.shutdown().expect("shutdown");
    let stats = first.stats();
    assert_eq!(stats.produced, 40);
    assert_eq!(stats.spooled, 40, "{stats:?}");
    assert_eq!(stats.exported, 0);
    assert!(stats.is_balanced(), "{stats:?}");
    let segments = Spool::open(&spool_dir, u64::MAX)
        .expect("spool")
        .segments()
        .expect("segments");
    assert!(!segments.is_empty());
    assert_eq!(segments.iter().map(|s| s.records).sum::<u64>(), 40);
    drop(first);

    // Next process: the collector is back; the spool drains on its own.
    collector.resume();
    let second = client(&url, &spool_dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.stats().resent_from_spool < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    second.shutdown().expect("shutdown");
    assert_eq!(second.stats().resent_from_spool, 40, "{:?}", second.stats());
    assert_eq!(second.stats().produced, 0);
    assert!(Spool::open(&spool_dir, u64::MAX)
        .expect("spool")
        .segments()
        .expect("segments")
        .is_empty());

    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for request in collector.accepted() {
        let decoded = ExportTraceServiceRequest::decode(&request.body[..]).expect("protobuf");
        for span in decoded
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
        {
            *seen.entry(span.span_id).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 40, "every span arrived");
    assert!(seen.values().all(|&n| n == 1), "exactly once");
    let _ = std::fs::remove_dir_all(spool_dir);
}
