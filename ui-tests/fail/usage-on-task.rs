fn usage_of(_: &u32) -> mv37::Usage {
    mv37::Usage::default()
}

#[mv37::task(usage = usage_of)]
fn plan(step: u32) -> u32 {
    step
}

fn main() {
    plan(1);
}
