// The span of an instrumented fn begins before its body runs, so on `main` it begins
// before `mv37::init()` has installed the client: `main` would record nothing and each
// span under it would open a trace of its own. Rejected, with the fix in the message.
#[tokio::main]
#[mv37::trace]
async fn main() {
    let _mv37 = mv37::init();
    step().await;
}

#[mv37::task]
async fn step() {}
