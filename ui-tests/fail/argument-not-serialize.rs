// One error per argument that is not `Serialize`, at the argument, and nothing else: the
// capture goes through `__private::probe`, which gives a stand-in that is `Serialize` when
// the argument is not, so the input object's own `Serialize` bound cannot fail a second
// time with serde's generic message.
struct Connection;

#[mv37::task]
fn load(db: &Connection, user: &str) -> String {
    let _ = db;
    user.to_owned()
}

#[mv37::task]
fn remember<T: std::fmt::Debug>(item: T, count: u32) -> String {
    format!("{item:?} x{count}")
}

fn main() {
    load(&Connection, "u");
    remember(1, 2);
}
