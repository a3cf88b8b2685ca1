//! `async fn` of every kind; the futures stay `Send` when the bodies are.
#![deny(warnings)]

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[mv37::trace(user_id = user)]
async fn agent(user: String) -> Result<String, std::io::Error> {
    let docs = search(&user).await;
    let answer = answer(docs).await?;
    Ok(answer)
}

#[mv37::span("retrieval")]
async fn search(query: &str) -> Vec<String> {
    vec![query.to_owned()]
}

#[mv37::llm(model = "m", provider = "p")]
async fn answer(docs: Vec<String>) -> Result<String, std::io::Error> {
    if docs.is_empty() {
        return Err(std::io::Error::other("no docs"));
    }
    Ok(docs.join(","))
}

struct Service;

impl Service {
    #[mv37::task]
    async fn handle(&self, request: u32) -> u32 {
        request
    }
}

fn main() {
    let _ = assert_send(agent("u".to_owned()));
    let _ = assert_send(Service.handle(1));
}
