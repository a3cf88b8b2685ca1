// As `trace-on-main.rs`, with `#[mv37::trace]` above `#[tokio::main]`.
#[mv37::trace]
#[tokio::main]
async fn main() {
    let _mv37 = mv37::init();
}
