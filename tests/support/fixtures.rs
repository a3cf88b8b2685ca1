//! The support agent's trace, recorded by the tests that need a realistic one.

use mv37::{Client, ContentPart, Role, Usage};

#[derive(Debug)]
/// Why the fixture's tool call fails.
pub struct Declined;

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

/// The support agent's trace: a user message, a retrieval, and a task holding a model
/// call (with messages, output and usage) and a tool call that fails (`card declined`).
pub fn record_support_trace(client: &Client) {
    client
        .trace("support_agent")
        .user_id("cus_123")
        .session_id("sess_9")
        .conversation_id("thread_123")
        .attribute("plan", "pro")
        .run(|trace| {
            trace.message(Role::User, "Where is my order?");
            trace.retrieval("search_docs").run(|span| {
                span.record_input(&serde_json::json!({"query": "refund policy"}));
                span.record_output(&serde_json::json!({"hits": 2}));
            });
            trace.task("resolve_ticket").run(|_| {
                trace
                    .llm("openai.responses")
                    .model("gpt-4.1-mini")
                    .provider("openai")
                    .run(|span| {
                        span.message(Role::System, "You are a support agent.");
                        span.message(
                            Role::User,
                            vec![
                                ContentPart::text("Refund order 4421"),
                                ContentPart::image_url("https://x/r.png"),
                            ],
                        );
                        span.message(
                            Role::Assistant,
                            ContentPart::tool_call("call_1", "issue_refund", serde_json::json!({"order": "4421"})),
                        );
                        span.record_output(&"Calling issue_refund");
                        span.set_usage(Usage {
                            input_tokens: Some(812),
                            output_tokens: Some(64),
                            cached_tokens: Some(512),
                            reasoning_tokens: Some(16),
                            cost_usd: Some(0.00042),
                            ..Usage::default()
                        });
                    });
                let _: Result<(), Declined> = trace
                    .tool("issue_refund")
                    .arguments(&serde_json::json!({"order": "4421"}))
                    .try_run(|_| Err(Declined));
            });
        });
}
