#![deny(unused_variables, dead_code)]

#[mv37::task]
fn never_called(step: u32) -> u32 {
    let unused = step * 2;
    step
}

#[mv37::task]
fn called(step: u32) -> u32 {
    step
}

fn main() {
    called(1);
}
