#[mv37::task(name = "a", name = "b")]
fn plan(step: u32) -> u32 {
    step
}

#[mv37::task(output = false, skip_output)]
fn quiet(step: u32) -> u32 {
    step
}

fn main() {
    plan(1);
    quiet(1);
}
