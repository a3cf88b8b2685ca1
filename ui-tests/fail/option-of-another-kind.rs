#[mv37::task(user_id = "u")]
fn plan(step: u32) -> u32 {
    step
}

fn main() {
    plan(1);
}
