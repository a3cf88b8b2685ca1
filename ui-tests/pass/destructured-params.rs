//! Patterns in parameters: the bound names are captured.
#![deny(warnings)]

use serde::Serialize;

#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
}

#[mv37::task]
fn distance((a, b): (i32, i32), Point { x, y }: Point, [first, ..]: [u8; 2]) -> i32 {
    (a - x).abs() + (b - y).abs() + i32::from(first)
}

#[mv37::task(skip(b))]
fn only_a((a, b): (i32, i32)) -> i32 {
    a + b
}

fn main() {
    distance((0, 0), Point { x: 1, y: 1 }, [1, 2]);
    only_a((1, 2));
}
