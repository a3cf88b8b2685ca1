//! `traced!`, sync and async, with the builder's fields.
#![deny(warnings)]

async fn run() -> Result<u32, String> {
    mv37::traced!(
        "async_agent",
        user_id = "u",
        async move |trace| -> Result<u32, String> {
            trace.message(mv37::Role::User, "hi");
            Ok(1)
        }
    )
    .await
}

fn main() {
    let client = mv37::Client::disabled();
    let value = mv37::traced!(
        "support_agent",
        client = client,
        user_id = "cus_123",
        session_id = "s",
        conversation_id = "c",
        external_trace_id = "e",
        input = serde_json::json!({ "question": "?" }),
        attributes(channel = "chat"),
        context(tenant = "acme"),
        |trace| {
            trace.message(mv37::Role::User, "hi");
            1
        },
    );
    let _ = value;
    let _ = run();
}
