//! Generic fns with bounds and where clauses; lifetimes and borrowed arguments.
#![deny(warnings)]

use serde::Serialize;

#[mv37::task]
fn first<'a, T: Serialize>(items: &'a [T]) -> Option<&'a T> {
    items.first()
}

#[mv37::task]
fn render<K, V>(key: K, value: &V) -> String
where
    K: std::fmt::Display + Serialize,
    V: std::fmt::Debug + Serialize + ?Sized,
{
    format!("{key}={value:?}")
}

#[mv37::task]
fn append(log: &mut Vec<String>, line: &str) -> usize {
    log.push(line.to_owned());
    log.len()
}

#[mv37::task]
fn elided(text: &str) -> &str {
    text.trim()
}

fn main() {
    let _ = first(&[1, 2]);
    let _ = render("k", "v");
    let mut log = Vec::new();
    append(&mut log, "line");
    let _ = elided(" x ");
}
