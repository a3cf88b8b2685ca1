//! `#[async_trait]` methods: the attribute goes on the method, as usual.
#![deny(warnings)]

#[async_trait::async_trait]
trait Retriever {
    async fn retrieve(&self, query: &str) -> Result<Vec<String>, String>;
    async fn count(&self) -> usize;
}

struct Docs;

#[async_trait::async_trait]
impl Retriever for Docs {
    #[mv37::span("retrieval")]
    async fn retrieve(&self, query: &str) -> Result<Vec<String>, String> {
        Ok(vec![query.to_owned()])
    }

    #[mv37::task(name = "count_docs")]
    async fn count(&self) -> usize {
        1
    }
}

fn main() {
    let docs: Box<dyn Retriever + Send + Sync> = Box::new(Docs);
    let _ = docs.retrieve("q");
    let _ = docs.count();
}
