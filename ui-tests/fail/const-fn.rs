#[mv37::task]
const fn double(n: u32) -> u32 {
    n * 2
}

const FOUR: u32 = double(2);

fn main() {
    let _ = FOUR;
}
