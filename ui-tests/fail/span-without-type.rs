#[mv37::span]
fn search(query: &str) -> usize {
    query.len()
}

#[mv37::span(name = "search_docs")]
fn search_docs(query: &str) -> usize {
    query.len()
}

fn main() {
    search("q");
    search_docs("q");
}
