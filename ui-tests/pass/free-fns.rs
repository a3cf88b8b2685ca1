//! Every attribute on free fns, sync, with and without options.
#![deny(warnings)]

#[mv37::trace(user_id = user, session_id = "s", conversation_id = format!("c-{user}"), external_trace_id = 1)]
fn agent(user: &str) -> String {
    plan(user.len());
    answer("q");
    let _ = refund(1);
    search("q");
    user.to_owned()
}

#[mv37::task(name = "make_plan", fields(steps = steps))]
fn plan(steps: usize) -> Vec<usize> {
    (0..steps).collect()
}

#[mv37::llm(model = "gpt-4.1-mini", provider = "openai")]
fn answer(prompt: &str) -> String {
    prompt.to_owned()
}

#[mv37::tool(skip_all)]
fn refund(order: u32) -> Result<u32, std::io::Error> {
    Ok(order)
}

#[mv37::span("retrieval", output = false)]
fn search(query: &str) -> Vec<String> {
    vec![query.to_owned()]
}

fn main() {
    agent("cus_123");
}
