#[mv37::task(input = query, skip(db))]
fn search(db: &str, query: &str) -> usize {
    db.len() + query.len()
}

fn main() {
    search("db", "q");
}
