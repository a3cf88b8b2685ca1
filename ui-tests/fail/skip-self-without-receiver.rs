// `skip(self)` on a fn that has no `self` names nothing.
#[mv37::task(skip(self))]
fn plan(step: u32) -> u32 {
    step
}

fn main() {
    plan(1);
}
