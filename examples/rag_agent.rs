//! A retrieval-augmented support agent on Anthropic, scripted (no network): an agent span
//! holding a retrieval that returns scored documents, a model call with prompt caching
//! (cache reads and cache writes), request parameters and response fields, and a tool
//! call; then a second turn that fails and gets a thumbs-down, and feedback that arrives
//! after both traces ended.
//!
//! ```text
//! cargo run --example rag_agent
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:6006 MV37_FEEDBACK_BACKEND=phoenix cargo run --example rag_agent
//! ```
//!
//! It writes JSONL to `MV37_JSONL_PATH` (default `mv37-traces.jsonl`), or sends where
//! `MV37_EXPORTER` or `OTEL_EXPORTER_OTLP_ENDPOINT` say (the README's "Send to a
//! backend"), and prints each trace as a tree on standard error.

use mv37::{
    record_anthropic_messages, request_params_from_anthropic, response_info_from_anthropic, usage_from_anthropic,
    Client, ConsoleExporter, Document, Price, PriceTable, RequestParams,
};
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5";

/// The knowledge base the retrieval searches, scored against the question.
fn search(question: &str) -> Vec<Document> {
    let articles = [
        (
            "kb-12",
            "Orders can be refunded within 30 days of delivery.",
            "refund-policy.md",
        ),
        ("kb-31", "Standard shipping takes 3 to 5 business days.", "shipping.md"),
        (
            "kb-47",
            "Refunds go back to the original payment method.",
            "refund-policy.md",
        ),
    ];
    // Word stems of four letters or more: "refunded" finds "Refunds".
    let stems: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 4)
        .map(|w| w.to_lowercase().chars().take(5).collect())
        .collect();
    let mut hits: Vec<Document> = articles
        .iter()
        .map(|(id, text, source)| {
            let matched = stems
                .iter()
                .filter(|s| text.to_lowercase().contains(s.as_str()))
                .count();
            Document::new(*text)
                .id(*id)
                .score(matched as f64 / stems.len().max(1) as f64)
                .metadata("source", *source)
        })
        .filter(|doc| doc.score.is_some_and(|s| s > 0.0))
        .collect();
    hits.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal));
    hits
}

/// The request the agent would send to Anthropic's Messages API.
fn request(question: &str, context: &[Document]) -> Value {
    let context: Vec<&str> = context.iter().map(|d| d.content.as_str()).collect();
    json!({
        "model": MODEL,
        "max_tokens": 1024,
        "temperature": 0.2,
        "stop_sequences": ["\n\nHuman:"],
        "system": [{ "type": "text", "text": format!("Answer from these articles: {}", context.join(" ")),
                     "cache_control": { "type": "ephemeral" } }],
        "messages": [{ "role": "user", "content": question }],
    })
}

/// A canned Anthropic Messages response: the answer, with prompt-cache usage.
fn response() -> Value {
    json!({
        "id": "msg_01RagAgentExample",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            { "type": "text", "text": "Yes: orders can be refunded within 30 days; I'm starting yours." },
            { "type": "tool_use", "id": "toolu_01Refund", "name": "issue_refund", "input": { "order": "4421" } }
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 38,
            "cache_creation_input_tokens": 1200,
            "cache_read_input_tokens": 2400,
            "output_tokens": 96
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // JSONL (or what MV37_EXPORTER or an OTLP endpoint chooses), and a tree on stderr.
    let destination = mv37::Config::from_env()?.destination();
    let client = Client::builder()
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .build()?;
    // USD per million tokens; cache writes cost more than plain input.
    let prices = PriceTable::new().model(
        MODEL,
        Price {
            input: 3.0,
            cached_input: 0.3,
            cache_write_input: Some(3.75),
            output: 15.0,
        },
    );

    let question = "Can my order be refunded?";
    let answered = client
        .trace("rag_agent")
        .user_id("cus_123")
        .session_id("sess_42")
        .tags(["rag", "anthropic"])
        .context("tenant", "acme")
        .input(&json!({ "question": question }))
        .run(|trace| {
            trace
                .agent("support_agent")
                .model(MODEL)
                .provider("anthropic")
                .run(|_| {
                    let docs = trace.retrieval("search_kb").run(|span| {
                        span.record_input(&json!({ "query": question }));
                        let docs = search(question);
                        span.record_documents(&docs);
                        docs
                    });
                    let request = request(question, &docs);
                    trace
                        .llm("anthropic.messages")
                        .model(MODEL)
                        .provider("anthropic")
                        .run(|span| {
                            span.set_request_params(request_params_from_anthropic(&request));
                            span.set_request_params(RequestParams::default().server_url("https://api.anthropic.com"));
                            record_anthropic_messages(span, &request);
                            let response = response();
                            record_anthropic_messages(
                                span,
                                &json!([{ "role": "assistant", "content": response["content"] }]),
                            );
                            span.set_response_info(response_info_from_anthropic(&response));
                            span.set_usage(prices.apply(MODEL, usage_from_anthropic(&response)));
                            span.record_output(&response["content"]);
                        });
                    trace.tool("issue_refund").run(|span| {
                        span.set_attribute("tool_call_id", "toolu_01Refund");
                        span.record_input(&json!({ "order": "4421" }));
                        span.record_output(&json!({ "order": "4421", "status": "refund_started" }));
                    });
                });
            trace.record_output(&json!({ "answer": "Yes: orders can be refunded within 30 days." }));
            trace.feedback("grounded", true).comment("cites kb-12");
            trace.id()
        });

    // The follow-up fails: the carrier API is down. The user gives it a thumbs-down.
    let failed = client
        .trace("rag_agent")
        .user_id("cus_123")
        .session_id("sess_42")
        .tags(["rag", "anthropic"])
        .input(&json!({ "question": "Where is the parcel now?" }))
        .try_run(|trace| {
            trace.feedback("thumbs", "down").comment("no tracking answer");
            trace.tool("track_parcel").try_run(|span| {
                span.record_input(&json!({ "order": "4421" }));
                Err::<Value, _>(std::io::Error::other("carrier API unavailable"))
            })
        });
    if let Err(error) = &failed {
        eprintln!("second turn failed as scripted: {error}");
    }

    // Later, a satisfaction score for the first turn, by trace id.
    if let Some(trace_id) = answered {
        client
            .feedback(trace_id, "csat", 4)
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
