#[derive(Debug)]
struct Failure;

#[mv37::task]
fn step(n: u32) -> Result<u32, Failure> {
    if n == 0 {
        return Err(Failure);
    }
    Ok(n)
}

fn main() {
    let _ = step(1);
}
