// As `trace-on-main.rs`, for a span fn on a sync `main`.
#[mv37::task]
fn main() {
    let _mv37 = mv37::init();
    run();
}

fn run() {}
