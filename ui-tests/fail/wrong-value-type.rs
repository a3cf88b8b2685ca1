#[mv37::task(name = 5)]
fn named(step: u32) -> u32 {
    step
}

#[mv37::task(output = "no")]
fn quiet(step: u32) -> u32 {
    step
}

#[mv37::task(skip = step)]
fn skipped(step: u32) -> u32 {
    step
}

#[mv37::task(skip_all = true)]
fn all_skipped(step: u32) -> u32 {
    step
}

#[mv37::llm(usage = |r: &u32| *r)]
fn counted(step: u32) -> u32 {
    step
}

#[mv37::trace(user_id = vec![1])]
fn agent(step: u32) -> u32 {
    step
}

fn main() {
    named(1);
    quiet(1);
    skipped(1);
    all_skipped(1);
    counted(1);
    agent(1);
}
