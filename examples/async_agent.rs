//! The seed's async form: traces and spans in async code, context carried across
//! `.await` and into spawned tasks, and `shutdown_async` from the service's shutdown hook.
//!
//! ```text
//! cargo run --example async_agent
//! ```
//!
//! It prints each trace as a tree on standard error, and also sends it where
//! `MV37_EXPORTER` or `OTEL_EXPORTER_OTLP_ENDPOINT` say.

use mv37::{usage_from_openai, Client, ConsoleExporter, FutureExt, Role};

/// Stands in for an HTTP call to a model provider.
async fn responses_create(messages: &serde_json::Value) -> serde_json::Value {
    tokio::task::yield_now().await;
    serde_json::json!({
        "id": "resp_1",
        "model": "gpt-4.1-mini",
        "output_text": format!("You asked {} question(s); your order has shipped.", messages.as_array().map_or(0, Vec::len)),
        "usage": {
            "input_tokens": 812, "output_tokens": 64, "total_tokens": 876,
            "input_tokens_details": { "cached_tokens": 512 },
            "output_tokens_details": { "reasoning_tokens": 0 }
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A tree on stderr, and whatever MV37_EXPORTER or an OTLP endpoint chooses.
    let client = Client::builder()
        .exporter_kinds([])
        .with_env()
        .extra_exporter(ConsoleExporter::stderr())
        .build()?;
    let messages = serde_json::json!([{ "role": "user", "content": "Where is my order?" }]);

    client
        .trace("support_agent")
        .user_id("cus_123")
        .run_async(|trace| async move {
            trace.message(Role::User, "Where is my order?");
            let response = trace
                .llm("openai.responses")
                .model("gpt-4.1-mini")
                .provider("openai")
                .run_async(|span| async move {
                    span.record_input(&serde_json::json!({ "messages": messages }));
                    let response = responses_create(&messages).await;
                    span.record_output(&response);
                    span.set_usage(usage_from_openai(&response));
                    response
                })
                .await;

            // Work spawned onto other tasks joins the span that is open here.
            let lookups = ["order_status", "carrier_eta"].map(|name| {
                tokio::spawn(
                    async move {
                        mv37::current_trace()
                            .tool(name)
                            .run_async(|span| async move {
                                tokio::task::yield_now().await;
                                span.record_output(&"ok");
                            })
                            .await
                    }
                    .in_current_span(),
                )
            });
            for lookup in lookups {
                lookup.await?;
            }
            trace.message(Role::Assistant, response["output_text"].as_str().unwrap_or_default());
            Ok::<_, tokio::task::JoinError>(())
        })
        .await?;

    // In a long-running service, call this from the framework's shutdown hook.
    client.shutdown_async().await?;
    Ok(())
}
