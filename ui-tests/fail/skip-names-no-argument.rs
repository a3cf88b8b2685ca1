#[mv37::task(skip(db, qurey))]
fn search(db: &str, query: &str) -> usize {
    db.len() + query.len()
}

fn main() {
    search("db", "q");
}
