//! mv37: spans through the builder (`trace.task(..).run(..)`) and the `#[mv37::task]`
//! macro, exported to an exporter that counts what it receives and discards it (as
//! `NoopExporter` does), accounted by `client.stats()` and checked against that count.
//! The agent case exports through mv37's own OTLP exporter (protobuf, gzip) to the
//! loopback receiver instead, whose count is checked against the client's.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mv37::{Client, Config, ExportError, Exporter, ExporterKind, OtlpConfig, OtlpProtocol, Record, Trace, Usage};
use mv37_bench::agent::{self, Payloads};
use mv37_bench::remote::RemoteSink;
use mv37_bench::{block_on, measured, run_producers, Case, Delivery, Meter, Query, PRODUCER_THREADS};

use crate::Settings;

#[mv37::task(name = "step", skip_all, output = false)]
fn step(i: u64) -> u64 {
    black_box(i)
}

/// [`step`] without the attribute: the `noclient` case's baseline.
#[inline(never)]
fn plain_step(i: u64) -> u64 {
    black_box(i)
}

#[mv37::task(name = "step", skip_all, output = false)]
async fn step_async(i: u64) -> u64 {
    black_box(i)
}

/// Discards every batch after counting its records: the harness's own count of what
/// arrived, next to the client's.
#[derive(Clone, Default)]
pub(crate) struct CountingExporter {
    received: Arc<AtomicU64>,
}

impl Exporter for CountingExporter {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        self.received.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

pub(crate) fn client(settings: Settings, exporter: CountingExporter) -> Client {
    Client::builder()
        .exporter(exporter)
        .max_queue_records(settings.mv37_queue())
        .build()
        .unwrap_or_else(|error| {
            eprintln!("error: mv37 client: {error}");
            std::process::exit(1)
        })
}

/// Runs `case` for `spans` spans and reports where they went.
pub fn run(case: Case, spans: u64, settings: Settings, meter: &mut Meter) -> Delivery {
    if case == Case::NoClient {
        return without_client(spans, meter);
    }
    let exporter = CountingExporter::default();
    let client = client(settings, exporter.clone());
    let _default = client.set_default();
    // The long-lived trace adds one trace record (one per producer thread); the tiny
    // traces are all measured.
    let expected = match case {
        Case::Tiny => spans,
        Case::Threads2 => spans + PRODUCER_THREADS as u64,
        _ => spans + 1,
    };
    match case {
        Case::Sync => client.trace("bench").run(|trace| {
            meter.start();
            measured(|| {
                for i in 0..spans {
                    trace.task("step").run(|_| black_box(i));
                }
            });
            meter.stop();
        }),
        Case::Macro => client.trace("bench").run(|_| {
            meter.start();
            measured(|| {
                for i in 0..spans {
                    black_box(step(i));
                }
            });
            meter.stop();
        }),
        Case::Async => measured(|| {
            block_on(client.trace("bench").run_async(|_| async {
                meter.start();
                for i in 0..spans {
                    black_box(step_async(i).await);
                }
                meter.stop();
            }))
        }),
        Case::Capture => {
            let query = Query::sample();
            client.trace("bench").run(|trace| {
                meter.start();
                measured(|| {
                    for _ in 0..spans {
                        trace.task("step").run(|span| {
                            span.record_input(black_box(&query));
                            span.record_output(black_box(&query));
                        });
                    }
                });
                meter.stop();
            })
        }
        Case::Tiny => {
            meter.start();
            measured(|| {
                for i in 0..spans / 2 {
                    client
                        .trace("bench")
                        .run(|trace| trace.task("step").run(|_| black_box(i)));
                }
            });
            meter.stop();
        }
        Case::Threads2 => run_producers(meter, spans, |share, gate| {
            client.trace("bench").run(|trace| {
                gate.measure(|| {
                    for i in 0..share {
                        trace.task("step").run(|_| black_box(i));
                    }
                })
            })
        }),
        Case::NoClient | Case::Agent => unreachable!("handled elsewhere"),
    }
    delivery(&client, &exporter, expected)
}

/// The agent case: `spans / 9` agent turns exported by mv37's OTLP/HTTP exporter
/// (protobuf, gzip) to `sink`, flushed every [`agent::TURNS_PER_FLUSH`]; the delivery counts what the receiver decoded, and is
/// unbalanced unless that is what the client counted exported.
pub fn agent(spans: u64, settings: Settings, sink: &RemoteSink, meter: &mut Meter) -> Delivery {
    let config = Config {
        exporters: vec![ExporterKind::Otlp],
        service_name: Some("mv37-bench".to_owned()),
        max_queue_records: settings.mv37_queue(),
        otlp: OtlpConfig {
            endpoint: sink.traces_url().to_owned(),
            protocol: OtlpProtocol::Protobuf,
            gzip: true,
            ..OtlpConfig::default()
        },
        ..Config::default()
    };
    let client = Client::builder().config(config).build().unwrap_or_else(|error| {
        eprintln!("error: mv37 client: {error}");
        std::process::exit(1)
    });
    let payloads = Payloads::sample();
    meter.start();
    measured(|| {
        for turn in 1..=spans / agent::SPANS_PER_TURN {
            agent_turn(&client, &payloads);
            if turn % agent::TURNS_PER_FLUSH == 0 {
                if let Err(error) = meter.pause(|| client.flush()) {
                    eprintln!("mv37: flush: {error}");
                }
            }
        }
    });
    meter.stop();
    if let Err(error) = client.shutdown() {
        eprintln!("mv37: shutdown: {error}");
    }
    let stats = client.stats();
    if stats.dropped.total() > 0 {
        eprintln!("mv37: dropped {:?}", stats.dropped);
    }
    let received = sink.spans_received();
    if received != stats.exported {
        eprintln!("error: the receiver decoded {received} spans, the client counted {stats:?}");
    }
    Delivery {
        expected: spans,
        produced: stats.produced,
        exported: received,
        dropped: stats.dropped.total(),
        balanced: stats.is_balanced() && stats.queued == 0 && stats.spooled == 0 && received == stats.exported,
    }
}

/// One agent turn ([`mv37_bench::agent`]): the trace is the root.
fn agent_turn(client: &Client, payloads: &Payloads) {
    client.trace(agent::TURN).input(&payloads.question).run(|trace| {
        trace.agent(agent::AGENT).run(|_| {
            for _ in 0..agent::TOOL_CALLS {
                model_call(trace, payloads);
                trace
                    .tool(agent::TOOL)
                    .arguments(&payloads.tool_arguments)
                    .run(|call| call.record_output(&payloads.tool_result));
            }
            model_call(trace, payloads);
        });
        trace.record_output(&payloads.answer);
    });
}

fn model_call(trace: &Trace, payloads: &Payloads) {
    trace
        .llm(agent::LLM)
        .model(agent::MODEL)
        .provider(agent::PROVIDER)
        .input(&payloads.llm_input)
        .run(|span| {
            span.record_output(&payloads.llm_output);
            span.set_usage(Usage {
                input_tokens: Some(agent::INPUT_TOKENS as u64),
                output_tokens: Some(agent::OUTPUT_TOKENS as u64),
                ..Usage::default()
            });
        });
}

/// Shuts `client` down and reports what arrived, checking the client's count against the
/// exporter's.
pub(crate) fn delivery(client: &Client, exporter: &CountingExporter, expected: u64) -> Delivery {
    if let Err(error) = client.shutdown() {
        eprintln!("mv37: shutdown: {error}");
    }
    let stats = client.stats();
    if stats.dropped.total() > 0 {
        eprintln!("mv37: dropped {:?}", stats.dropped);
    }
    let received = exporter.received.load(Ordering::Relaxed);
    if received != stats.exported {
        eprintln!("error: the exporter received {received} records, the client counted {stats:?}");
    }
    Delivery {
        expected,
        produced: stats.produced,
        exported: received,
        dropped: stats.dropped.total(),
        balanced: stats.is_balanced() && stats.queued == 0 && stats.spooled == 0 && received == stats.exported,
    }
}

/// Wall time per call of the `noclient` loop calling [`plain_step`], the same fn
/// without the attribute.
pub fn plain_call_ns(spans: u64) -> f64 {
    let start = std::time::Instant::now();
    for i in 0..spans {
        black_box(plain_step(i));
    }
    start.elapsed().as_nanos() as f64 / spans.max(1) as f64
}

fn without_client(spans: u64, meter: &mut Meter) -> Delivery {
    let installed = mv37::client().is_some();
    meter.start();
    measured(|| {
        for i in 0..spans {
            black_box(step(i));
        }
    });
    meter.stop();
    Delivery {
        balanced: !installed,
        ..Delivery::default()
    }
}
