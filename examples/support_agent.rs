//! The seed's support agent, scripted: one `support_agent` trace with messages, a
//! retrieval span, a task with an llm call and a tool call, and feedback.
//!
//! ```text
//! cargo run --example support_agent
//! MV37_JSONL_PATH=/tmp/traces.jsonl cargo run --example support_agent
//! ```
//!
//! It writes JSONL to `MV37_JSONL_PATH` (default `mv37-traces.jsonl`), or sends where
//! `MV37_EXPORTER` or `OTEL_EXPORTER_OTLP_ENDPOINT` say (the README's "Send to a
//! backend"), and prints each trace as a tree on standard error.

use mv37::{Client, ConsoleExporter, ContentPart, Role, Usage};
use serde::Serialize;

#[derive(Serialize)]
struct Doc {
    id: &'static str,
    title: &'static str,
}

#[derive(Serialize)]
struct Refund {
    order: &'static str,
    amount_usd: f64,
    status: &'static str,
}

fn search(query: &str) -> Vec<Doc> {
    let docs = [
        Doc {
            id: "kb-12",
            title: "Refund policy",
        },
        Doc {
            id: "kb-31",
            title: "Shipping times",
        },
    ];
    docs.into_iter()
        .filter(|d| d.title.to_lowercase().contains(query.split(' ').next().unwrap_or("")))
        .collect()
}

fn run_refund(order: &'static str) -> Refund {
    Refund {
        order,
        amount_usd: 42.5,
        status: "refunded",
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // JSONL (or what MV37_EXPORTER or an OTLP endpoint chooses), and a tree on stderr.
    let destination = mv37::Config::from_env()?.destination();
    let client = Client::builder()
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .build()?;

    let trace_id = client
        .trace("support_agent")
        .conversation_id("thread_123")
        .user_id("cus_123")
        .attribute("channel", "chat")
        .context("tenant", "acme")
        .run(|trace| {
            trace.message(Role::User, "Where is my order? I'd like a refund.");
            trace.message(
                Role::User,
                vec![
                    ContentPart::text("Here is the receipt:"),
                    ContentPart::image_url("https://example.com/receipt-4421.png"),
                ],
            );

            trace.retrieval("search_docs").run(|span| {
                span.record_input(&serde_json::json!({ "query": "refund policy" }));
                let docs = search("refund policy");
                span.record_output(&serde_json::json!({ "hits": docs.len(), "docs": docs }));
            });

            trace.task("resolve_ticket").run(|task| {
                task.record_input(&serde_json::json!({ "ticket_id": "T-42" }));
                trace
                    .llm("openai.responses")
                    .model("gpt-4.1-mini")
                    .provider("openai")
                    .run(|span| {
                        span.record_input(&serde_json::json!({ "messages": [
                            { "role": "user", "content": "Where is my order? I'd like a refund." }
                        ]}));
                        span.record_output(&serde_json::json!({
                            "output_text": "Calling issue_refund for order 4421.",
                            "tool_calls": [{ "id": "call_1", "name": "issue_refund" }],
                        }));
                        span.set_usage(Usage {
                            input_tokens: Some(812),
                            output_tokens: Some(64),
                            cached_tokens: Some(512),
                            reasoning_tokens: Some(16),
                            cost_usd: Some(0.000_42),
                            context_window_tokens: Some(1_047_576),
                            context_used_tokens: Some(876),
                            ..Usage::default()
                        });
                    });
                let refund = trace
                    .tool("issue_refund")
                    .arguments(&serde_json::json!({ "order": "4421" }))
                    .run(|call| {
                        let refund = run_refund("4421");
                        call.record_output(&refund);
                        refund
                    });
                trace
                    .message(Role::Tool, serde_json::to_string(&refund).unwrap_or_default())
                    .tool_call_id("call_1");
                task.record_output(&serde_json::json!({ "resolved": true }));
            });

            trace
                .message(Role::Assistant, "Checking the refund rules first.")
                .internal();
            trace.message(Role::Assistant, "Your order has shipped, and I've refunded $42.50.");
            trace.signal("refund_issued", true);
            trace.feedback("helpfulness", 1.0).comment("quick and correct");
            trace.id()
        });

    // Feedback often arrives later, after the trace ended: attach it by trace id.
    if let Some(trace_id) = trace_id {
        client
            .feedback(trace_id, "csat", 5)
            .comment("from the follow-up survey");
    }

    client.shutdown()?;
    let stats = client.stats();
    println!(
        "mv37: {} records exported to {destination} ({} dropped, {} queued)",
        stats.exported,
        stats.dropped.total(),
        stats.queued
    );
    Ok(())
}
