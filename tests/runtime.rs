//! Behaviour of traces, spans, context and the export pipeline, observed through the
//! in-memory exporter.
//!
//! Over 500 lines: one test binary for the runtime's behaviour as a user sees it, so
//! that `cargo test` links it once; the tests share the helpers at the top.

// Tests fail by panicking.
#![allow(clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mv37::{
    Client, ContentPart, Context, ExportError, Exporter, FutureExt, MemoryExporter, Record, Role, SpanKind, Status,
    TraceParent, Usage,
};
use serde::Serialize;

mod support;

use support::fixtures::record_support_trace;
use support::memory::{flushed, memory_client};

#[test]
fn nested_spans_record_their_parent_in_sync_code() {
    let (client, memory) = memory_client();
    client.trace("support_agent").run(|trace| {
        trace.task("resolve_ticket").run(|task| {
            task.record_input(&serde_json::json!({"ticket_id": "T-42"}));
            trace.llm("openai.responses").model("gpt-4.1-mini").run(|_| ());
            trace
                .tool("issue_refund")
                .arguments(&serde_json::json!({"order": "4421"}))
                .run(|call| call.record_output(&"refunded"));
        });
        trace.retrieval("search_docs").run(|_| ());
    });
    flushed(&client);
    let root = memory.traces()[0].span_id;
    let task = memory.span("resolve_ticket").expect("task span");
    let llm = memory.span("openai.responses").expect("llm span");
    let tool = memory.span("issue_refund").expect("tool span");
    let retrieval = memory.span("search_docs").expect("retrieval span");
    assert_eq!(task.parent_span_id, Some(root));
    assert_eq!(llm.parent_span_id, Some(task.span_id));
    assert_eq!(tool.parent_span_id, Some(task.span_id));
    assert_eq!(retrieval.parent_span_id, Some(root));
    assert_eq!(llm.kind, SpanKind::Llm);
    assert_eq!(llm.model.as_deref(), Some("gpt-4.1-mini"));
    assert_eq!(
        tool.input.as_ref().map(|p| p.to_value()),
        Some(serde_json::json!({"order": "4421"}))
    );
    assert_eq!(tool.output.as_ref().map(|p| p.as_json()), Some("\"refunded\""));
    assert_eq!(
        task.input.as_ref().map(|p| p.to_value()),
        Some(serde_json::json!({"ticket_id": "T-42"}))
    );
    assert!(task.start_time_unix_nano <= llm.start_time_unix_nano);
    assert!(llm.end_time_unix_nano <= task.end_time_unix_nano);
}

#[test]
fn a_span_of_a_free_form_kind_keeps_its_kind_and_name() {
    let (client, memory) = memory_client();
    client.trace("t").run(|trace| {
        trace.span("guardrail").name("pii_check").run(|_| ());
        trace.span("retrieval").run(|_| ());
        // A custom kind travels beside the span's other extras (its input and output
        // here), whether the span runs in a scope or under a guard.
        trace.span("rerank").name("with_io").run(|span| {
            span.record_input(&"query");
            span.record_output(&3);
        });
        let guard = trace.span("judge").name("guarded").start();
        guard.record_input(&"draft");
        drop(guard);
    });
    flushed(&client);
    let custom = memory.span("pii_check").expect("custom span");
    assert_eq!(custom.kind.as_str(), "guardrail");
    assert_eq!(memory.span("retrieval").expect("unnamed").kind, SpanKind::Retrieval);
    let with_io = memory.span("with_io").expect("custom span with content");
    assert_eq!(with_io.kind, SpanKind::Custom("rerank".into()));
    assert_eq!(with_io.input.expect("input").as_json(), "\"query\"");
    assert_eq!(with_io.output.expect("output").as_json(), "3");
    let guarded = memory.span("guarded").expect("custom span under a guard");
    assert_eq!(guarded.kind, SpanKind::Custom("judge".into()));
    assert_eq!(guarded.input.expect("input").as_json(), "\"draft\"");
}

/// A span with nothing set but its kind and a static name starts by a shorter path than
/// a built one (an owned name, a parent, an input): both record the same kind, name,
/// parent and outcome.
#[test]
fn plain_and_built_spans_record_the_same_kind_name_parent_and_outcome() {
    let (client, memory) = memory_client();
    let kinds = [
        SpanKind::Llm,
        SpanKind::Tool,
        SpanKind::Task,
        SpanKind::Retrieval,
        SpanKind::Agent,
        SpanKind::Span,
    ];
    client.trace("t").run(|trace| {
        for kind in &kinds {
            trace.span(kind.clone()).run(|_| ());
            trace
                .span(kind.clone())
                .name(format!("owned_{}", kind.as_str()))
                .run(|_| ());
        }
        trace.task("outer").run(|outer| {
            let outer_id = outer.id().expect("recording");
            trace.tool("plain_in_outer").run(|_| ());
            trace.tool("explicit_parent").parent(outer_id).run(|_| ());
            let failed: Result<(), &str> = trace.llm("plain_failed").try_run(|_| Err("no"));
            assert!(failed.is_err());
        });
    });
    flushed(&client);
    let root = memory.traces()[0].span_id;
    for kind in &kinds {
        let plain = memory
            .span(kind.as_str())
            .expect("the plain span, named after its kind");
        let owned = memory
            .span(&format!("owned_{}", kind.as_str()))
            .expect("the built span");
        assert_eq!((&plain.kind, &owned.kind), (kind, kind));
        assert_eq!((plain.parent_span_id, owned.parent_span_id), (Some(root), Some(root)));
    }
    let outer = memory.span("outer").expect("outer").span_id;
    let plain = memory.span("plain_in_outer").expect("plain child");
    let explicit = memory.span("explicit_parent").expect("built child");
    assert_eq!(
        (plain.parent_span_id, explicit.parent_span_id),
        (Some(outer), Some(outer))
    );
    let failed = memory.span("plain_failed").expect("failed span");
    assert_eq!((failed.kind.clone(), failed.status), (SpanKind::Llm, Status::Error));
    assert_eq!(failed.error.expect("error").message, "no");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_spans_record_their_parent_across_await() {
    let (client, memory) = memory_client();
    client
        .trace("async_agent")
        .run_async(|trace| async move {
            trace
                .task("plan")
                .run_async(|_| async {
                    tokio::task::yield_now().await;
                    mv37::current_trace()
                        .llm("openai.responses")
                        .run_async(|span| async move {
                            tokio::task::yield_now().await;
                            span.record_output(&"done");
                        })
                        .await;
                    tokio::task::yield_now().await;
                    mv37::current_trace().tool("lookup").run(|_| ());
                })
                .await;
        })
        .await;
    flushed(&client);
    let plan = memory.span("plan").expect("plan");
    assert_eq!(
        memory.span("openai.responses").expect("llm").parent_span_id,
        Some(plan.span_id)
    );
    assert_eq!(memory.span("lookup").expect("tool").parent_span_id, Some(plan.span_id));
    assert_eq!(plan.parent_span_id, Some(memory.traces()[0].span_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_join_the_parent_through_in_current_span() {
    let (client, memory) = memory_client();
    client
        .trace("fan_out")
        .run_async(|trace| async move {
            trace
                .task("gather")
                .run_async(|_| async {
                    let handles: Vec<_> = (0..4)
                        .map(|i| {
                            tokio::spawn(
                                async move {
                                    tokio::task::yield_now().await;
                                    mv37::current_trace().tool(format!("fetch_{i}")).run(|_| ());
                                }
                                .in_current_span(),
                            )
                        })
                        .collect();
                    for handle in handles {
                        handle.await.expect("task completes");
                    }
                })
                .await;
        })
        .await;
    flushed(&client);
    let gather = memory.span("gather").expect("gather");
    for i in 0..4 {
        let fetch = memory.span(&format!("fetch_{i}")).expect("spawned span");
        assert_eq!(fetch.parent_span_id, Some(gather.span_id), "fetch_{i}");
        assert_eq!(fetch.trace_id, gather.trace_id);
    }
}

#[test]
fn threads_join_the_parent_through_a_captured_context() {
    let (client, memory) = memory_client();
    client.trace("threads").run(|trace| {
        trace.task("parent").run(|_| {
            let context = Context::current();
            std::thread::spawn(context.wrap(|| mv37::span(SpanKind::Tool).name("in_thread").run(|_| ())))
                .join()
                .expect("thread completes");
        });
    });
    flushed(&client);
    let parent = memory.span("parent").expect("parent");
    assert_eq!(
        memory.span("in_thread").expect("child").parent_span_id,
        Some(parent.span_id)
    );
}

#[test]
fn a_span_without_context_on_another_thread_records_nothing_silently() {
    let (client, memory) = memory_client();
    client.trace("t").run(|_| {
        std::thread::spawn(|| mv37::span(SpanKind::Tool).name("lost").run(|_| ()))
            .join()
            .expect("thread completes");
    });
    flushed(&client);
    assert!(memory.span("lost").is_none());
    assert!(client.stats().is_balanced());
}

#[test]
fn concurrent_traces_on_many_threads_do_not_mix() {
    let (client, memory) = memory_client();
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let client = client.clone();
            std::thread::spawn(move || {
                for round in 0..50 {
                    client
                        .trace("worker")
                        .attribute("who", format!("{thread}-{round}"))
                        .run(|trace| {
                            trace.task("outer").run(|outer| {
                                outer.record_input(&format!("{thread}-{round}"));
                                trace
                                    .tool("inner")
                                    .run(|inner| inner.record_input(&format!("{thread}-{round}")));
                            });
                        });
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("worker completes");
    }
    flushed(&client);
    let traces = memory.traces();
    assert_eq!(traces.len(), 400);
    let spans = memory.spans();
    assert_eq!(spans.len(), 800);
    for trace in &traces {
        let who = trace.attributes["who"].as_str().expect("who").to_owned();
        let mine: Vec<_> = spans.iter().filter(|s| s.trace_id == trace.trace_id).collect();
        assert_eq!(mine.len(), 2, "trace {who} has exactly its two spans");
        let outer = mine.iter().find(|s| s.name == "outer").expect("outer");
        let inner = mine.iter().find(|s| s.name == "inner").expect("inner");
        assert_eq!(outer.parent_span_id, Some(trace.span_id));
        assert_eq!(inner.parent_span_id, Some(outer.span_id));
        for span in mine {
            assert_eq!(span.input.as_ref().map(|p| p.to_value()), Some(serde_json::json!(who)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_traces_on_many_tasks_do_not_mix() {
    let (client, memory) = memory_client();
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .trace("task_trace")
                    .attribute("n", n)
                    .run_async(|_| async move {
                        for step in 0..3 {
                            tokio::task::yield_now().await;
                            mv37::current_trace()
                                .task("step")
                                .run_async(|span| async move {
                                    tokio::task::yield_now().await;
                                    span.record_input(&(n, step));
                                })
                                .await;
                        }
                    })
                    .await;
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task completes");
    }
    flushed(&client);
    let traces = memory.traces();
    assert_eq!(traces.len(), 64);
    let spans = memory.spans();
    for trace in traces {
        let n = trace.attributes["n"].as_u64().expect("n");
        let mine: Vec<_> = spans.iter().filter(|s| s.trace_id == trace.trace_id).collect();
        assert_eq!(mine.len(), 3);
        for span in mine {
            assert_eq!(span.parent_span_id, Some(trace.span_id));
            assert_eq!(span.input.as_ref().map(|p| p.to_value()[0].as_u64()), Some(Some(n)));
        }
    }
}

#[derive(Debug)]
struct RefundError(&'static str);

impl std::fmt::Display for RefundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refund rejected: {}", self.0)
    }
}

#[test]
fn a_span_that_returns_err_is_marked_failed_with_the_message() {
    let (client, memory) = memory_client();
    let result: Result<(), RefundError> = client.trace("t").try_run(|trace| {
        trace
            .tool("issue_refund")
            .try_run(|_| Err(RefundError("order too old")))
    });
    assert!(result.is_err());
    flushed(&client);
    let tool = memory.span("issue_refund").expect("tool");
    assert_eq!(tool.status, Status::Error);
    let error = tool.error.expect("error recorded");
    assert_eq!(error.message, "refund rejected: order too old");
    assert!(error.error_type.expect("type").ends_with("RefundError"));
    assert_eq!(memory.traces()[0].status, Status::Error);
}

#[test]
fn a_span_that_panics_is_marked_failed_and_the_panic_continues() {
    let (client, memory) = memory_client();
    let outcome = std::panic::catch_unwind(|| {
        client.trace("t").run(|trace| {
            trace.task("explode").run(|_| panic!("model returned garbage"));
        })
    });
    assert!(outcome.is_err(), "the panic is not swallowed");
    flushed(&client);
    let span = memory.span("explode").expect("span is still recorded");
    assert_eq!(span.status, Status::Error);
    assert_eq!(span.error.expect("error").message, "model returned garbage");
    assert_eq!(memory.traces()[0].status, Status::Error);
}

#[test]
fn a_guard_dropped_by_a_panic_marks_its_span_failed() {
    let (client, memory) = memory_client();
    let _ = std::panic::catch_unwind(|| {
        let trace = client.trace("t").start();
        let _span = trace.task("guarded").start();
        panic!("boom");
    });
    flushed(&client);
    assert_eq!(memory.span("guarded").expect("span").status, Status::Error);
    assert_eq!(memory.traces()[0].status, Status::Error);
}

#[tokio::test]
async fn an_async_span_that_fails_or_is_dropped_records_it() {
    let (client, memory) = memory_client();
    let trace = client.trace("t").start();
    let failed: Result<u8, RefundError> = trace
        .task("async_err")
        .try_run_async(|_| async { Err(RefundError("no")) })
        .await;
    assert!(failed.is_err());
    let never = trace.task("abandoned").run_async(|_| std::future::pending::<()>());
    drop(never);
    drop(trace);
    flushed(&client);
    assert_eq!(memory.span("async_err").expect("span").status, Status::Error);
    assert_eq!(memory.span("abandoned").expect("span").status, Status::Cancelled);
}

#[test]
fn explicit_fail_marks_a_span_failed() {
    let (client, memory) = memory_client();
    client.trace("t").run(|trace| {
        trace.llm("call").run(|span| span.fail(&RefundError("rate limited")));
    });
    flushed(&client);
    let span = memory.span("call").expect("span");
    assert_eq!(span.status, Status::Error);
    assert_eq!(span.error.expect("error").message, "refund rejected: rate limited");
}

#[test]
fn every_usage_field_is_recorded() {
    let (client, memory) = memory_client();
    let usage = Usage {
        input_tokens: Some(812),
        output_tokens: Some(64),
        cached_tokens: Some(512),
        cache_write_tokens: Some(128),
        reasoning_tokens: Some(16),
        total_tokens: None,
        cost_usd: Some(0.00042),
        context_window_tokens: Some(128_000),
        context_used_tokens: Some(876),
    };
    client
        .trace("t")
        .run(|trace| trace.llm("call").run(|span| span.set_usage(usage)));
    flushed(&client);
    let recorded = memory.span("call").expect("span").usage.expect("usage");
    assert_eq!(
        recorded,
        Usage {
            total_tokens: Some(876),
            ..usage
        }
    );
    let line = Record::Span(memory.span("call").expect("span"))
        .to_json_line()
        .expect("json");
    for field in [
        "\"input_tokens\":812",
        "\"output_tokens\":64",
        "\"cached_tokens\":512",
        "\"cache_write_tokens\":128",
        "\"reasoning_tokens\":16",
        "\"total_tokens\":876",
        "\"cost_usd\":0.00042",
        "\"context_window_tokens\":128000",
        "\"context_used_tokens\":876",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
}

#[test]
fn messages_keep_roles_multimodal_parts_tool_call_ids_and_the_internal_flag() {
    let (client, memory) = memory_client();
    client.trace("chat").run(|trace| {
        trace.message(Role::User, "Where is my order?");
        trace.message(
            "user",
            vec![
                ContentPart::text("This one:"),
                ContentPart::image_base64("image/png", "iVBORw0KGgo="),
                ContentPart::audio("audio/wav", "UklGRg=="),
                ContentPart::file_url("https://example.com/invoice.pdf"),
            ],
        );
        trace.message(
            Role::Assistant,
            ContentPart::tool_call("call_1", "track_order", serde_json::json!({"order": "4421"})),
        );
        trace.task("lookup").run(|_| {
            trace
                .message(Role::Tool, r#"{"status":"shipped"}"#)
                .tool_call_id("call_1");
        });
        trace.message(Role::Assistant, "scratchpad").internal();
        trace.message("critic", "looks fine");
    });
    flushed(&client);
    let messages = memory.messages();
    assert_eq!(messages.len(), 6);
    assert_eq!(messages[0].role, Role::User);
    let mv37::Content::Parts(parts) = &messages[1].content else {
        panic!("expected parts, got {:?}", messages[1].content)
    };
    assert_eq!(parts.len(), 4);
    assert!(matches!(&parts[1], ContentPart::ImageBase64 { media_type, .. } if media_type == "image/png"));
    let tool = &messages[3];
    assert_eq!(tool.tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(
        tool.span_id,
        memory.span("lookup").expect("lookup").span_id,
        "attached to the open span"
    );
    assert_eq!(messages[0].span_id, memory.traces()[0].span_id, "attached to the root");
    assert!(messages[4].is_internal);
    assert!(!messages[0].is_internal);
    assert_eq!(messages[5].role, Role::Other("critic".into()));
    // Messages travel inside the record of the span (or trace) open when they were made.
    assert_eq!(memory.span("lookup").expect("lookup").messages.len(), 1);
    assert_eq!(memory.traces()[0].messages.len(), 5);
    // The JSON form round-trips.
    for record in memory.records() {
        let line = record.to_json_line().expect("json");
        let again = Record::from_json_line(&line)
            .expect("parse")
            .to_json_line()
            .expect("json");
        assert_eq!(line, again);
    }
}

#[test]
fn feedback_and_signals_attach_to_the_trace_also_after_it_ended() {
    let (client, memory) = memory_client();
    let trace_id = client
        .trace("t")
        .run(|trace| {
            trace.feedback("helpfulness", 0.9).comment("good");
            trace.signal("escalated", false);
            trace.id()
        })
        .expect("recording trace has an id");
    client.feedback(trace_id, "thumbs", "up").comment("from the UI, later");
    flushed(&client);
    let feedback = memory.feedback();
    assert_eq!(feedback.len(), 2);
    assert!(feedback.iter().all(|f| f.trace_id == trace_id));
    assert_eq!(feedback[1].value, serde_json::json!("up"));
    assert_eq!(feedback[1].comment.as_deref(), Some("from the UI, later"));
    assert_eq!(memory.signals()[0].value, serde_json::json!(false));
}

#[test]
fn trace_fields_and_context_reach_every_record() {
    let (client, memory) = memory_client();
    client
        .trace("support_agent")
        .user_id("cus_123")
        .session_id("sess_9")
        .conversation_id("thread_123")
        .external_trace_id("ticket-42")
        .attribute("plan", "pro")
        .context("tenant", "acme")
        .input(&serde_json::json!({"question": "where?"}))
        .run(|trace| {
            trace.message(Role::User, "hi");
            trace.task("step").run(|_| ());
            trace.record_output(&"answered");
        });
    flushed(&client);
    let trace = &memory.traces()[0];
    assert_eq!(trace.user_id.as_deref(), Some("cus_123"));
    assert_eq!(trace.session_id.as_deref(), Some("sess_9"));
    assert_eq!(trace.conversation_id.as_deref(), Some("thread_123"));
    assert_eq!(trace.external_trace_id.as_deref(), Some("ticket-42"));
    assert_eq!(trace.attributes["plan"], "pro");
    assert_eq!(trace.output.as_ref().map(|p| p.as_json()), Some("\"answered\""));
    let tenant = serde_json::json!({"tenant": "acme"});
    for record in memory.records() {
        let line = record.to_json_line().expect("json");
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(value["context"], tenant, "{line}");
    }
}

#[test]
fn oversize_input_is_truncated_with_a_marker_and_the_span_kept() {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .max_payload_bytes(1024)
        .build()
        .expect("client");
    client.trace("t").run(|trace| {
        trace.retrieval("big").run(|span| {
            span.record_input(&"x".repeat(100_000));
            span.record_output(&"small");
        });
    });
    flushed(&client);
    let span = memory.span("big").expect("span kept");
    let input = span.input.expect("input");
    assert!(input.is_truncated());
    assert!(input.len() <= 1024, "marker stays within the limit: {}", input.len());
    assert_eq!(input.to_value()[mv37::TRUNCATED_KEY], true);
    assert_eq!(input.to_value()["original_bytes"], 100_002);
    assert_eq!(span.output.expect("output").as_json(), "\"small\"");
}

#[test]
fn a_failing_serialize_impl_becomes_a_marker_and_the_span_is_kept() {
    struct Handle;
    impl Serialize for Handle {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("sockets cannot be serialized"))
        }
    }
    let (client, memory) = memory_client();
    client.trace("t").run(|trace| {
        trace.tool("connect").run(|span| {
            span.record_input(&Handle);
            span.record_output(&[f64::NAN, 1.0]);
        });
    });
    flushed(&client);
    let span = memory.span("connect").expect("span kept");
    assert_eq!(
        span.input.expect("input").to_value()[mv37::SERIALIZATION_ERROR_KEY],
        "sockets cannot be serialized"
    );
    assert_eq!(span.output.expect("output").as_json(), "[null,1.0]");
}

#[test]
fn a_trace_continues_from_a_traceparent_header() {
    let (client, memory) = memory_client();
    let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let outgoing = client
        .trace("downstream")
        .continue_from(header)
        .expect("valid header")
        .run(|trace| trace.task("work").run(|_| trace.traceparent()))
        .expect("header for the next hop");
    flushed(&client);
    let trace = &memory.traces()[0];
    let parent: TraceParent = header.parse().expect("valid");
    assert_eq!(trace.trace_id, parent.trace_id);
    assert_eq!(trace.parent_span_id, Some(parent.parent_span_id));
    let next: TraceParent = outgoing.parse().expect("valid outgoing header");
    assert_eq!(next.trace_id, parent.trace_id);
    assert_eq!(next.parent_span_id, memory.span("work").expect("work").span_id);
    assert!(client.trace("x").continue_from("00-nonsense").is_err());
}

#[test]
fn a_sample_rate_of_zero_records_nothing_and_counts_it() {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .sample_rate(0.0)
        .build()
        .expect("client");
    for _ in 0..10 {
        client.trace("t").run(|trace| {
            assert!(!trace.is_recording());
            trace.task("x").run(|span| span.record_input(&1));
        });
    }
    flushed(&client);
    assert!(memory.records().is_empty());
    let stats = client.stats();
    assert_eq!(stats.sampled_out_traces, 10);
    assert_eq!(stats.produced, 0);
}

#[test]
fn invalid_builder_settings_are_typed_errors() {
    let error = Client::builder().sample_rate(2.0).build().expect_err("out of range");
    assert!(matches!(
        error,
        mv37::ConfigError::Invalid {
            variable: "sample_rate",
            ..
        }
    ));
    let error = Client::builder().max_queue_records(0).build().expect_err("zero");
    assert!(matches!(
        error,
        mv37::ConfigError::Invalid {
            variable: "max_queue_records",
            ..
        }
    ));
    let dir = std::env::temp_dir().join(format!("mv37-not-a-dir-{}", std::process::id()));
    std::fs::write(&dir, b"file").expect("temp file");
    let error = Client::builder()
        .jsonl_path(dir.join("traces.jsonl"))
        .build()
        .expect_err("parent is a file");
    assert!(matches!(error, mv37::ConfigError::JsonlPath { .. }), "{error}");
    let _ = std::fs::remove_file(dir);
}

#[test]
fn a_disabled_client_records_nothing() {
    let client = Client::builder().disabled(true).build().expect("client");
    assert!(!client.is_enabled());
    client.trace("t").run(|trace| assert!(!trace.is_recording()));
    assert_eq!(client.stats(), mv37::Stats::default());
}

/// An exporter that fails every other batch and panics on the third.
struct Flaky {
    calls: usize,
}

impl Exporter for Flaky {
    fn export(&mut self, _batch: &[Record]) -> Result<(), ExportError> {
        self.calls += 1;
        match self.calls % 3 {
            0 => panic!("exporter bug"),
            1 => Err(ExportError::new("flaky", "collector said 500")),
            _ => Ok(()),
        }
    }
}

#[test]
fn failed_and_panicking_exports_are_counted_not_lost() {
    let client = Client::builder()
        .exporter(Flaky { calls: 0 })
        .max_batch_records(5)
        .build()
        .expect("client");
    for _ in 0..12 {
        client.trace("t").run(|trace| trace.task("s").run(|_| ()));
        flushed(&client);
    }
    client.shutdown().expect("shutdown");
    let stats = client.stats();
    assert_eq!(stats.produced, 24);
    // Each flush exports one batch of a trace's two records; of every three batches the
    // first fails, the second is delivered and the third panics.
    assert_eq!(stats.exported, 8, "{stats:?}");
    assert_eq!(stats.batches, 4, "{stats:?}");
    assert_eq!(stats.dropped.export_failed, 16, "failures and panics: {stats:?}");
    assert_eq!(stats.queued, 0);
    assert!(stats.is_balanced(), "{stats:?}");
}

/// An exporter that blocks until released, to fill the queue.
struct Gate {
    open: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Gate {
    /// A closed gate, and the latch that opens it (see [`open_gate`]).
    fn closed() -> (Self, Arc<(Mutex<bool>, std::sync::Condvar)>) {
        let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        (
            Gate {
                open: Arc::clone(&open),
            },
            open,
        )
    }
}

/// Lets every export that waits at the gate, and every later one, through.
fn open_gate(open: &(Mutex<bool>, std::sync::Condvar)) {
    *open.0.lock().expect("lock") = true;
    open.1.notify_all();
}

impl Exporter for Gate {
    fn export(&mut self, _batch: &[Record]) -> Result<(), ExportError> {
        let (lock, condvar) = &*self.open;
        let mut open = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while !*open {
            open = condvar.wait(open).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        Ok(())
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking_the_caller() {
    let (gate, open) = Gate::closed();
    let client = Client::builder()
        .exporter(gate)
        .max_queue_records(100)
        .max_batch_records(10)
        .build()
        .expect("client");
    // With the exporter stuck, producing far more than the bound must neither block nor
    // grow the queue past it.
    for _ in 0..1_000 {
        client.trace("t").run(|trace| trace.task("s").run(|_| ()));
    }
    let during = client.stats();
    assert!(during.dropped.queue_full > 0, "{during:?}");
    // Queued counts what the exporter holds too: one batch, and the rest of the chunk
    // the batch was cut from (a thread hands over at most 32 records at once).
    assert!(during.queued <= 100 + 10 + 31, "bounded queue: {during:?}");
    open_gate(&open);
    client.shutdown().expect("shutdown drains");
    let after = client.stats();
    assert_eq!(after.produced, 2_000);
    assert_eq!(after.queued, 0);
    assert_eq!(after.exported + after.dropped.queue_full, 2_000, "{after:?}");
    assert!(after.is_balanced());
}

#[test]
fn the_byte_bound_holds_for_large_payloads_and_every_record_is_counted() {
    let (gate, open) = Gate::closed();
    let client = Client::builder()
        .exporter(gate)
        .max_queue_records(100_000)
        .max_queue_bytes(256 * 1024)
        .max_batch_records(10)
        .build()
        .expect("client");
    let text = "x".repeat(4_000);
    for _ in 0..500 {
        client.trace("t").run(|trace| {
            trace.task("s").run(|span| {
                span.record_input(&text);
                span.record_output(&text);
            })
        });
    }
    let during = client.stats();
    // 500 spans of 8 KB would be 4 MB: the 256 KiB bound (records, payload text and the
    // chunks' own memory) drops most of them, counted, where the record bound (100,000)
    // would have queued all 1,000 records. How many stay queued depends on whether the
    // exporter thread had taken its first batch when the stats were read (about 100
    // records fit; `< 100` failed one run in five when it had not), so the check is
    // that the bytes, not the records, stopped them.
    assert!(during.dropped.queue_full > 500, "{during:?}");
    assert!(during.queued < 200, "{during:?}");
    open_gate(&open);
    client.shutdown().expect("shutdown drains");
    let after = client.stats();
    assert_eq!(after.produced, 1_000);
    assert_eq!(after.exported + after.dropped.queue_full, 1_000, "{after:?}");
    assert!(after.is_balanced());
}

#[test]
fn a_queued_span_weighs_its_compact_form_not_the_record_it_becomes() {
    let (gate, open) = Gate::closed();
    let client = Client::builder()
        .exporter(gate)
        .max_queue_records(1_000_000)
        .max_queue_bytes(4 << 20)
        .max_batch_records(10)
        .build()
        .expect("client");
    let produce = |spans: usize| {
        client
            .trace("t")
            .run(|trace| (0..spans).for_each(|_| trace.task("s").run(|_| ())))
    };
    // 20,000 queued spans hold ~2.3 MB (a 104-byte item each, in chunks of 32): under
    // the 4 MiB bound. Counted at the ~600 bytes of the records they become on the
    // exporter thread, fewer than 7,000 would fit.
    produce(20_000);
    let during = client.stats();
    assert_eq!(during.dropped.queue_full, 0, "{during:?}");
    // The bound still holds: no more than 4 MiB of items (at least 100 bytes each) wait.
    produce(40_000);
    let full = client.stats();
    assert!(full.dropped.queue_full > 0, "{full:?}");
    assert!(full.queued < (4 << 20) / 100, "{full:?}");
    open_gate(&open);
    client.shutdown().expect("shutdown drains");
    let after = client.stats();
    assert_eq!(after.produced, 60_002);
    assert_eq!(after.exported + after.dropped.queue_full, 60_002, "{after:?}");
    assert!(after.is_balanced());
}

#[test]
fn accounting_balances_after_shutdown_and_late_records_are_counted() {
    let (client, memory) = memory_client();
    for _ in 0..100 {
        client.trace("t").run(|trace| {
            trace.message(Role::User, "hi");
            trace.task("s").run(|_| ());
        });
    }
    client.shutdown().expect("shutdown");
    client.shutdown().expect("a second shutdown is fine");
    client.trace("late").run(|trace| trace.task("s").run(|_| ()));
    let stats = client.stats();
    assert_eq!(
        stats.produced, 202,
        "a trace and a span each; messages ride in the trace record"
    );
    assert_eq!(stats.exported, 200);
    assert_eq!(memory.records().len(), 200);
    assert_eq!(memory.messages().len(), 100);
    assert_eq!(stats.dropped.after_shutdown, 2);
    assert_eq!(stats.queued, 0);
    assert!(stats.is_balanced());
}

#[test]
fn shutdown_past_its_deadline_counts_what_the_exporter_held_and_a_second_call_does_not_wait_again() {
    let (gate, open) = Gate::closed();
    let client = Client::builder().exporter(gate).build().expect("client");
    for _ in 0..10 {
        client.trace("t").run(|_| ());
    }
    let error = client
        .shutdown_timeout(Duration::from_millis(50))
        .expect_err("exporter is stuck");
    assert!(
        matches!(error, mv37::ShutdownError::Timeout { queued: 10, .. }),
        "{error}"
    );
    // Nothing is left "queued": what the stuck exporter held is counted at the deadline.
    let at_deadline = client.stats();
    assert_eq!(at_deadline.produced, 10);
    assert_eq!(at_deadline.queued, 0);
    assert_eq!(at_deadline.dropped.shutdown_timeout, 10, "{at_deadline:?}");
    assert!(at_deadline.is_balanced(), "{at_deadline:?}");
    open_gate(&open);
    // The first deadline holds for every later call: this one does not wait another.
    let started = std::time::Instant::now();
    let _ = client.shutdown();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    // Whatever the released exporter does with the batch, it is not counted twice.
    assert_eq!(client.stats(), at_deadline);
}

#[test]
fn shutdown_from_a_current_thread_runtime_does_not_hang() {
    let (client, memory) = memory_client();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        client
            .trace("async")
            .run_async(|trace| async move {
                trace.task("step").run_async(|_| tokio::task::yield_now()).await;
            })
            .await;
        client.shutdown_async().await.expect("async shutdown");
        // The blocking form is also safe here: the exporter has its own thread.
        client.shutdown().expect("blocking shutdown");
    });
    assert_eq!(memory.spans().len(), 1);
    assert!(client.stats().is_balanced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_from_a_multi_thread_runtime_does_not_hang() {
    let (client, memory) = memory_client();
    client.trace("t").run_async(|_| async {}).await;
    client.flush_async().await.expect("async flush");
    client.shutdown().expect("blocking shutdown inside the runtime");
    assert_eq!(memory.traces().len(), 1);
}

#[test]
fn flush_async_on_a_current_thread_runtime_exports_what_came_before() {
    let (client, memory) = memory_client();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        client.trace("async").run_async(|_| tokio::task::yield_now()).await;
        client.flush_async().await.expect("async flush");
        assert_eq!(memory.traces().len(), 1, "exported before flush_async returned");
    });
    client.shutdown().expect("shutdown");
}

/// Polls `future` on this thread with a waker that unparks it: no async runtime at all.
/// Gives up after 10 s (the future's waker never fired).
fn block_on_without_runtime<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "the future was never woken");
        std::thread::park_timeout(left);
    }
}

#[test]
fn flush_async_and_shutdown_async_need_no_async_runtime() {
    let (client, memory) = memory_client();
    client.trace("t").run(|_| ());
    block_on_without_runtime(client.flush_async()).expect("flush");
    assert_eq!(memory.traces().len(), 1);
    block_on_without_runtime(client.shutdown_async()).expect("shutdown");
    assert!(client.is_shut_down());
}

#[test]
fn flush_on_end_delivers_before_the_trace_call_returns() {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .flush_on_end(true)
        .batch_interval(Duration::from_secs(3600))
        .build()
        .expect("client");
    client.trace("lambda").run(|trace| trace.task("s").run(|_| ()));
    assert_eq!(memory.records().len(), 2, "delivered without an explicit flush");
}

#[test]
fn the_default_client_serves_the_free_functions_on_this_thread() {
    let (client, memory) = memory_client();
    {
        let _default = client.set_default();
        mv37::trace("via_default").run(|_| {
            mv37::current_span().record_input(&"ignored: no span open");
            mv37::span(SpanKind::Task).name("child").run(|_| {
                mv37::current_span().record_output(&"from deep code");
            });
        });
    }
    flushed(&client);
    assert_eq!(
        memory
            .span("child")
            .expect("child")
            .output
            .map(|p| p.as_json().to_owned()),
        Some("\"from deep code\"".to_owned())
    );
}

#[test]
fn the_jsonl_exporter_writes_one_versioned_record_per_line() {
    let path = std::env::temp_dir().join(format!(
        "mv37-test-{}-{}.jsonl",
        std::process::id(),
        mv37::unix_nanos_now()
    ));
    let client = Client::builder().jsonl_path(&path).build().expect("client");
    client.trace("file").run(|trace| {
        trace.message(Role::User, "hello");
        trace.llm("call").run(|span| {
            span.set_usage(Usage {
                input_tokens: Some(3),
                ..Usage::default()
            })
        });
    });
    client.shutdown().expect("shutdown");
    let text = std::fs::read_to_string(&path).expect("file written");
    let records: Vec<Record> = text
        .lines()
        .map(|line| Record::from_json_line(line).expect("each line is a record"))
        .collect();
    assert_eq!(records.len(), 2, "the span, and the trace carrying its message");
    assert!(text.lines().all(|line| line.starts_with("{\"v\":1,\"type\":")));
    assert!(text.contains(r#""messages":[{"trace_id""#), "{text}");
    let _ = std::fs::remove_file(path);
}

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `text` with each latency (`48.2ms`) shown as `<ms>` and each trace id as `[<id>]`.
fn without_timings(text: &str) -> String {
    let word = |word: &str| match word {
        w if w.ends_with("ms") && w.trim_end_matches("ms").parse::<f64>().is_ok() => "<ms>".to_owned(),
        w if w.starts_with('[') && w.ends_with(']') && w.len() == 34 => "[<id>]".to_owned(),
        w => w.to_owned(),
    };
    let line = |line: &str| line.split(' ').map(word).collect::<Vec<_>>().join(" ");
    text.lines().map(line).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_console_exporter_prints_a_tree_per_trace() {
    let buffer = SharedBuffer::default();
    let client = Client::builder()
        .exporter(mv37::ConsoleExporter::to_writer(buffer.clone()))
        .build()
        .expect("client");
    record_support_trace(&client);
    client.shutdown().expect("shutdown");
    let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
    let expected = "\
trace support_agent ok <ms> user=cus_123 session=sess_9 conversation=thread_123 [<id>]
├─ message user: Where is my order?
├─ retrieval search_docs ok <ms>
└─ task resolve_ticket ok <ms>
   ├─ llm openai.responses ok <ms> gpt-4.1-mini (openai) tokens in=812 out=64 cached=512 reasoning=16 $0.000420
   │  ├─ message system: You are a support agent.
   │  ├─ message user: Refund order 4421 [image https://x/r.png]
   │  └─ message assistant: [tool call issue_refund call_1]
   └─ tool issue_refund ERROR!(card declined) <ms>";
    assert_eq!(without_timings(&text), expected, "{text}");
}

#[test]
fn the_redaction_hook_rewrites_values_before_export_and_withholds_them_if_it_panics() {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .redact(|value| match value {
            serde_json::Value::Object(map) if map.contains_key("explode") => panic!("hook bug"),
            serde_json::Value::Object(map) => {
                if let Some(email) = map.get_mut("email") {
                    *email = "[redacted]".into();
                }
            }
            serde_json::Value::String(text) => *text = text.replace("4111-1111", "[card]"),
            _ => {}
        })
        .build()
        .expect("client");
    client.trace("t").run(|trace| {
        trace.tool("lookup").run(|span| {
            span.record_input(&serde_json::json!({"email": "a@b.c", "order": 1}));
            span.record_output(&serde_json::json!({"explode": true}));
        });
        trace.message(Role::User, "my card is 4111-1111");
    });
    flushed(&client);
    let span = memory.span("lookup").expect("span");
    assert_eq!(
        span.input.expect("input").to_value(),
        serde_json::json!({"email": "[redacted]", "order": 1})
    );
    assert!(span.output.expect("output").to_value()[mv37::REDACTION_ERROR_KEY].is_string());
    assert_eq!(
        memory.messages()[0].content,
        mv37::Content::Text("my card is [card]".into())
    );
}

#[test]
fn a_message_on_a_span_that_already_ended_becomes_a_record_of_its_own() {
    let (client, memory) = memory_client();
    client.trace("t").run(|trace| {
        let span = trace.llm("call").run(|span| span.clone());
        span.message(Role::Assistant, "late");
    });
    flushed(&client);
    let standalone: Vec<_> = memory
        .records()
        .into_iter()
        .filter(|r| matches!(r, Record::Message(_)))
        .collect();
    assert_eq!(standalone.len(), 1);
    assert!(memory.span("call").expect("span").messages.is_empty());
    assert!(client.stats().is_balanced());
}

#[test]
fn a_detached_span_ends_when_dropped_or_cancelled_and_parents_its_children() {
    let (client, memory) = memory_client();
    client.trace("t").run(|trace| {
        let stream = trace.llm("stream").start_detached();
        std::thread::spawn({
            let context = stream.context();
            move || context.run(|| mv37::span(SpanKind::Tool).name("chunk_tool").run(|_| ()))
        })
        .join()
        .expect("thread");
        stream.record_output(&"partial");
        stream.cancel();
        drop(trace.task("dropped").start_detached());
    });
    flushed(&client);
    let stream = memory.span("stream").expect("stream span");
    assert_eq!(stream.status, Status::Cancelled);
    assert_eq!(
        memory.span("chunk_tool").expect("child").parent_span_id,
        Some(stream.span_id)
    );
    assert_eq!(memory.span("dropped").expect("dropped span").status, Status::Ok);
}

/// A span run in a scope keeps its state on the thread's context stack until a handle
/// is needed elsewhere; these check that every way of needing one sees the same span
/// and that nothing written before or after is lost.
mod scoped_spans {
    use super::*;

    #[test]
    fn writes_before_and_after_the_span_becomes_shareable_all_land() {
        let (client, memory) = memory_client();
        client.trace("t").run(|trace| {
            trace.tool("lookup").run(|span| {
                span.record_input(&"before");
                span.set_model("m-1");
                // A captured context makes the span shareable.
                let context = Context::current();
                std::thread::spawn(move || {
                    context.span().set_attribute("from_thread", true);
                    context.run(|| mv37::span(SpanKind::Task).name("child").run(|_| ()));
                })
                .join()
                .expect("the thread runs");
                span.record_output(&"after");
                span.set_usage(Usage {
                    input_tokens: Some(3),
                    ..Usage::default()
                });
            });
        });
        flushed(&client);
        let lookup = memory.span("lookup").expect("the span is exported");
        assert_eq!(lookup.input.as_ref().map(|p| p.as_json()), Some("\"before\""));
        assert_eq!(lookup.output.as_ref().map(|p| p.as_json()), Some("\"after\""));
        assert_eq!(lookup.model.as_deref(), Some("m-1"));
        assert_eq!(lookup.attributes["from_thread"], true);
        assert_eq!(lookup.usage.as_ref().and_then(|u| u.input_tokens), Some(3));
        let child = memory.span("child").expect("the child is exported");
        assert_eq!(child.parent_span_id, Some(lookup.span_id));
        assert_eq!(memory.spans().len(), 2, "each span is exported once");
    }

    #[test]
    fn a_handle_sent_to_another_thread_writes_into_the_span() {
        let (client, memory) = memory_client();
        client.trace("t").run(|trace| {
            trace.task("work").run(|span| {
                let shared = span.to_span();
                std::thread::spawn(move || shared.record_output(&42))
                    .join()
                    .expect("the thread runs");
                assert_eq!(span.id(), span.to_span().id());
            });
        });
        flushed(&client);
        let work = memory.span("work").expect("the span is exported");
        assert_eq!(work.output.as_ref().map(|p| p.as_json()), Some("42"));
    }

    #[test]
    fn a_message_made_inside_lands_on_the_span() {
        let (client, memory) = memory_client();
        client.trace("t").run(|trace| {
            trace.llm("call").run(|span| {
                span.record_input(&"prompt");
                trace.message(Role::User, "hello");
            });
        });
        flushed(&client);
        let call = memory.span("call").expect("the span is exported");
        assert_eq!(call.messages.len(), 1);
        assert_eq!(call.input.as_ref().map(|p| p.as_json()), Some("\"prompt\""));
    }

    #[test]
    fn ending_inside_the_closure_exports_once_and_ignores_later_writes() {
        let (client, memory) = memory_client();
        client.trace("t").run(|trace| {
            trace.task("early").run(|span| {
                span.record_input(&1);
                span.end();
                span.record_output(&2);
            });
        });
        flushed(&client);
        let early = memory.spans();
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].input.as_ref().map(|p| p.as_json()), Some("1"));
        assert!(early[0].output.is_none());
        assert_eq!(early[0].status, Status::Ok);
        assert!(client.stats().is_balanced());
    }

    #[test]
    fn a_guard_dropped_inside_a_later_span_ends_both_spans() {
        let (client, memory) = memory_client();
        client.trace("t").run(|trace| {
            let outer = trace.task("outer").start();
            trace.task("inner").run(move |span| {
                span.record_input(&"kept");
                // Out of order: the outer guard leaves while the inner span is open,
                // which takes the inner span off the stack; it ends there, not lost.
                drop(outer);
                span.record_output(&"ignored, the span ended");
            });
            trace.task("next").run(|_| ());
        });
        flushed(&client);
        let inner = memory.span("inner").expect("the inner span is exported");
        assert_eq!(inner.input.as_ref().map(|p| p.as_json()), Some("\"kept\""));
        let outer = memory.span("outer").expect("the outer span is exported");
        let next = memory.span("next").expect("the next span is exported");
        assert_eq!(next.parent_span_id, Some(memory.traces()[0].span_id));
        assert_ne!(next.parent_span_id, Some(outer.span_id));
        assert_eq!(memory.spans().len(), 3);
        assert!(client.stats().is_balanced());
    }

    #[test]
    fn a_failure_recorded_inside_and_a_panic_both_mark_the_span() {
        let (client, memory) = memory_client();
        client.trace("t").run(|trace| {
            trace.task("failed").run(|span| span.fail(&"bad input"));
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                trace.task("panicked").run(|span| {
                    span.record_input(&"x");
                    panic!("boom");
                })
            }));
            assert!(caught.is_err());
        });
        flushed(&client);
        let failed = memory.span("failed").expect("exported");
        assert_eq!(failed.status, Status::Error);
        assert_eq!(failed.error.as_ref().map(|e| e.message.as_str()), Some("bad input"));
        let panicked = memory.span("panicked").expect("exported");
        assert_eq!(panicked.status, Status::Error);
        assert_eq!(panicked.error.as_ref().map(|e| e.message.as_str()), Some("boom"));
        assert_eq!(panicked.input.as_ref().map(|p| p.as_json()), Some("\"x\""));
    }
}

/// A value nested `levels` deep (built by hand: `json!` would copy it at every level).
fn nested_value(levels: usize) -> serde_json::Value {
    let mut value = serde_json::Value::from("leaf");
    for _ in 0..levels {
        value = serde_json::Value::Array(vec![value]);
    }
    value
}

#[test]
fn deeply_nested_values_are_written_so_that_they_can_be_read_back() {
    // 10,000 levels take more stack to serialize than a test thread has; the program
    // being watched pays that itself, whether or not mv37 captures the value.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let path = std::env::temp_dir().join(format!("mv37-deep-{}.jsonl", std::process::id()));
            let client = Client::builder()
                .exporter(mv37::JsonlExporter::open(&path).expect("jsonl"))
                .build()
                .expect("client");
            for levels in [200, 10_000] {
                let deep = nested_value(levels);
                client.trace("deep").attribute("shape", &deep).run(|trace| {
                    trace.task("step").run(|span| {
                        span.record_input(&deep);
                        span.set_attribute("shape", &deep);
                    });
                    trace.feedback("score", deep.clone());
                    trace.signal("seen", deep.clone());
                });
                std::mem::forget(deep);
            }
            client.shutdown().expect("shutdown");
            let stats = client.stats();
            let text = std::fs::read_to_string(&path).expect("read");
            let _ = std::fs::remove_file(&path);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, stats.exported, "{stats:?}");
            for line in &lines {
                mv37::Record::from_json_line(line).unwrap_or_else(|e| panic!("unreadable line: {e}"));
                assert!(line.contains(mv37::DEPTH_LIMIT_KEY), "{line:.200}");
            }
        })
        .expect("thread")
        .join()
        .expect("no panic");
}

/// A thread that ended its traces and stays alive but quiet leaves their records in its
/// mailbox: they count as produced when each trace ends, and a flush or a shutdown made
/// on another thread exports every one of them.
#[test]
fn a_quiet_thread_s_finished_traces_are_exported_by_another_thread_s_flush_and_shutdown() {
    let (client, memory) = memory_client();
    let (ended, traces_ended) = std::sync::mpsc::channel();
    let (go_on, next) = std::sync::mpsc::channel::<()>();
    let worker = {
        let client = client.clone();
        std::thread::spawn(move || {
            for round in 0..5 {
                client.trace("quiet").run(|trace| trace.task("step").run(|_| round));
            }
            let _ = ended.send(());
            let _ = next.recv();
            client.trace("late").run(|trace| trace.task("step").run(|_| ()));
            let _ = ended.send(());
            let _ = next.recv();
        })
    };
    traces_ended.recv().expect("the worker ended its traces");
    assert_eq!(client.stats().produced, 10, "counted as each trace ended");
    flushed(&client);
    assert_eq!((memory.traces().len(), memory.spans().len()), (5, 5));
    go_on.send(()).expect("the worker waits");
    traces_ended.recv().expect("the worker ended its late trace");
    client.shutdown().expect("shutdown completes");
    assert_eq!(memory.traces().len(), 6, "the quiet thread's last trace was collected");
    let stats = client.stats();
    assert_eq!((stats.produced, stats.exported, stats.dropped.total()), (12, 12, 0));
    assert!(stats.is_balanced());
    go_on.send(()).expect("the worker waits");
    worker.join().expect("the worker ends");
}

/// Records each batch's size.
struct BatchSizes(Arc<Mutex<Vec<usize>>>);

impl Exporter for BatchSizes {
    fn export(&mut self, batch: &[Record]) -> Result<(), ExportError> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(batch.len());
        Ok(())
    }
}

/// Threads hand records over 32 at a time; a batch still never passes
/// `max_batch_records` (a backend may refuse larger requests), and none is lost.
#[test]
fn no_batch_passes_max_batch_records_whatever_the_hand_over_size() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder()
        .exporter(BatchSizes(Arc::clone(&sizes)))
        .max_batch_records(7)
        .build()
        .expect("client");
    client.trace("long").run(|trace| {
        for _ in 0..500 {
            trace.task("step").run(|_| ());
        }
    });
    for _ in 0..100 {
        client.trace("tiny").run(|trace| trace.task("step").run(|_| ()));
    }
    client.shutdown().expect("shutdown");
    let sizes = sizes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    assert_eq!(sizes.iter().sum::<usize>(), 501 + 200, "every record exported once");
    assert!(
        sizes.iter().all(|&size| (1..=7).contains(&size)),
        "batch sizes: {sizes:?}"
    );
    assert_eq!(client.stats().exported, 701);
}

/// Feedback given after its trace ended is completed from the trace (its root span and
/// scope) on the exporter thread, which needs the trace's records first: whatever the
/// exporter is collecting meanwhile, a thread's records reach it in the order made.
#[test]
fn late_feedback_always_follows_its_trace_to_the_exporter() {
    let (client, memory) = memory_client();
    let mut ids = Vec::new();
    for round in 0..2_000 {
        let id = client
            .trace("turn")
            .context("round", round)
            .run(|trace| {
                trace.task("step").run(|_| ());
                trace.id()
            })
            .expect("recording");
        client.feedback(id, "csat", 4);
        ids.push(id);
        // A flush hands this thread's records over directly, while the exporter may be
        // collecting the same thread's earlier ones.
        if round % 7 == 0 {
            flushed(&client);
        }
    }
    client.shutdown().expect("shutdown");
    let feedback: Vec<_> = memory
        .records()
        .into_iter()
        .filter_map(|record| match record {
            Record::Feedback(feedback) => Some(feedback),
            _ => None,
        })
        .collect();
    assert_eq!(feedback.len(), ids.len());
    let missed = feedback
        .iter()
        .filter(|f| f.root_span_id.is_none() || f.scope.is_none())
        .count();
    assert_eq!(missed, 0, "late feedback exported before its trace");
}

/// Feedback given on one thread right after a trace ended on another is completed from
/// that trace: the trace's records, left in the other thread's mailbox, reach the exporter
/// thread first.
#[test]
fn late_feedback_from_another_thread_follows_the_trace() {
    let (client, memory) = memory_client();
    // This thread records first, so that its mailbox is the older one.
    client.trace("earlier").run(|trace| trace.task("step").run(|_| ()));
    let (ended, trace_ended) = std::sync::mpsc::channel();
    let (done, finish) = std::sync::mpsc::channel::<()>();
    let other = {
        let client = client.clone();
        std::thread::spawn(move || {
            let id = client
                .trace("turn")
                .context("tenant", "acme")
                .run(|trace| {
                    trace.task("step").run(|_| ());
                    trace.id()
                })
                .expect("recording");
            let _ = ended.send(id);
            // Alive and quiet: its records wait in its mailbox.
            let _ = finish.recv();
        })
    };
    let id = trace_ended.recv().expect("the other thread ended its trace");
    client.feedback(id, "csat", 4);
    flushed(&client);
    let trace = memory
        .traces()
        .into_iter()
        .find(|t| t.trace_id == id)
        .expect("the trace");
    let feedback = memory
        .records()
        .into_iter()
        .find_map(|record| match record {
            Record::Feedback(feedback) if feedback.trace_id == id => Some(feedback),
            _ => None,
        })
        .expect("the feedback");
    assert_eq!(feedback.root_span_id, Some(trace.span_id), "completed from the trace");
    assert!(feedback.scope.is_some(), "with the trace's scope");
    done.send(()).expect("the other thread waits");
    other.join().expect("the other thread ends");
}

#[test]
fn traces_of_one_name_keep_their_own_ids_and_fields_between_plain_ones() {
    // Traces with nothing but a name share their scope; one with a user between them
    // must keep its own, and lend it to no other.
    let (client, memory) = memory_client();
    let run = |trace: mv37::TraceBuilder| trace.run(|trace| trace.task("step").run(|_| ()));
    run(client.trace("turn"));
    run(client.trace("turn").user_id("u1"));
    run(client.trace("turn"));
    run(client.trace("other"));
    run(client.trace("turn").session_id("s1"));
    run(client.trace("turn"));
    run(client.trace("turn").context("tenant", "acme"));
    run(client.trace("turn"));
    flushed(&client);
    let traces = memory.traces();
    let contexts: Vec<Option<serde_json::Value>> = traces
        .iter()
        .map(|t| t.context.as_ref().map(|c| serde_json::Value::Object((**c).clone())))
        .collect();
    let mut expected = vec![None; 8];
    expected[6] = Some(serde_json::json!({"tenant": "acme"}));
    assert_eq!(contexts, expected, "only the trace given a context has one");
    let traces = &traces[..6];
    let fields: Vec<(&str, Option<&str>, Option<&str>)> = traces
        .iter()
        .map(|t| (t.name.as_ref(), t.user_id.as_deref(), t.session_id.as_deref()))
        .collect();
    assert_eq!(
        fields,
        [
            ("turn", None, None),
            ("turn", Some("u1"), None),
            ("turn", None, None),
            ("other", None, None),
            ("turn", None, Some("s1")),
            ("turn", None, None),
        ]
    );
    let mut ids: Vec<_> = traces.iter().map(|t| t.trace_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 6, "every trace has its own id");
    let spans = memory.spans();
    assert_eq!(spans.len(), 8);
    for (span, trace) in spans.iter().zip(traces) {
        assert_eq!(span.trace_id, trace.trace_id);
        assert_eq!(span.parent_span_id, Some(trace.span_id));
        let scope = span.scope.as_ref().expect("a span carries its trace's scope");
        assert_eq!(
            (
                scope.name.as_ref(),
                scope.user_id.as_deref(),
                scope.session_id.as_deref()
            ),
            (
                trace.name.as_ref(),
                trace.user_id.as_deref(),
                trace.session_id.as_deref()
            )
        );
    }
}

#[test]
fn a_span_gets_nothing_of_the_extras_an_earlier_span_on_its_thread_had() {
    // A span that captured only its input and output gives its emptied extras box back
    // for the thread's next span; nothing of it may show on that span.
    let (client, memory) = memory_client();
    client.trace("turn").run(|trace| {
        trace.task("first").run(|span| {
            span.record_input(&serde_json::json!({"q": "first"}));
            span.record_output(&"first answer");
        });
        trace.task("bare").run(|_| ());
        trace.llm("second").model("gpt-4.1-mini").run(|span| {
            span.record_output(&"second answer");
        });
        trace.task("third").run(|span| span.record_input(&3));
    });
    flushed(&client);
    let first = memory.span("first").expect("first");
    assert_eq!(
        first.input.as_ref().map(|p| p.as_json().to_owned()),
        Some(r#"{"q":"first"}"#.to_owned())
    );
    assert_eq!(
        first.output.as_ref().map(|p| p.as_json().to_owned()),
        Some(r#""first answer""#.to_owned())
    );
    let bare = memory.span("bare").expect("bare");
    assert!(
        bare.input.is_none() && bare.output.is_none() && bare.model.is_none(),
        "{bare:?}"
    );
    let second = memory.span("second").expect("second");
    assert!(second.input.is_none(), "{second:?}");
    assert_eq!(
        second.output.as_ref().map(|p| p.as_json().to_owned()),
        Some(r#""second answer""#.to_owned())
    );
    assert_eq!(second.model.as_deref(), Some("gpt-4.1-mini"));
    let third = memory.span("third").expect("third");
    assert_eq!(
        third.input.as_ref().map(|p| p.as_json().to_owned()),
        Some("3".to_owned())
    );
    assert!(third.output.is_none() && third.model.is_none(), "{third:?}");
}
