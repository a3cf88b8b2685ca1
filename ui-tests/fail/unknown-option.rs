#[mv37::task(nmae = "plan")]
fn plan(step: u32) -> u32 {
    step
}

fn main() {
    plan(1);
}
