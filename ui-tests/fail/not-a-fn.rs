#[mv37::task]
struct Plan {
    steps: u32,
}

fn main() {
    let plan = Plan { steps: 1 };
    let _ = plan.steps;
}
