struct Connection;

#[mv37::task]
fn load(db: &Connection, user: &str) -> String {
    let _ = db;
    user.to_owned()
}

fn main() {
    load(&Connection, "u");
}
