struct Connection;

#[mv37::task]
fn connect(url: &str) -> Connection {
    let _ = url;
    Connection
}

#[mv37::task]
fn try_connect(url: &str) -> Result<Connection, String> {
    let _ = url;
    Ok(Connection)
}

fn main() {
    connect("u");
    let _ = try_connect("u");
}
