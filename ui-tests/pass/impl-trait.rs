//! `impl Trait` in argument and return position.
#![deny(warnings)]

use serde::Serialize;

#[mv37::task(output = false)]
fn numbers(limit: impl Into<u32> + Serialize) -> impl Iterator<Item = u32> {
    0..limit.into()
}

#[mv37::task]
fn total(values: impl IntoIterator<Item = u32> + Serialize) -> impl Serialize {
    values.into_iter().sum::<u32>()
}

#[mv37::task(skip(format))]
fn shout(format: impl Fn(&str) -> String, text: &str) -> Result<impl Serialize, String> {
    Ok(format(text))
}

fn main() {
    let _ = numbers(3u8).count();
    let _ = total(vec![1, 2]);
    let _ = shout(|t| t.to_uppercase(), "hi");
}
