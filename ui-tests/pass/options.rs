//! Every option, including `crate = path` through a re-export and `usage = path`.
#![deny(warnings)]

mod reexport {
    pub use mv37 as observability;
}

#[derive(serde::Serialize)]
struct Response {
    tokens: u64,
}

fn usage_of(response: &Response) -> mv37::Usage {
    mv37::Usage {
        output_tokens: Some(response.tokens),
        ..mv37::Usage::default()
    }
}

#[mv37::llm(
    name = "chat",
    model = model,
    provider = "openai",
    usage = usage_of,
    skip(model),
    fields(temperature = 0.2, "gen_ai.system" = "openai"),
    crate = reexport::observability,
)]
fn chat(model: &str, prompt: &str) -> Result<Response, String> {
    Ok(Response {
        tokens: prompt.len() as u64,
    })
}

#[mv37::task(input = serde_json::json!({ "n": n * 2 }), skip_output)]
fn doubled(n: u32) -> u32 {
    n * 2
}

fn main() {
    let _ = chat("gpt", "hi");
    doubled(2);
}
