fn main() {
    let _ = mv37::traced!("agent", user = "u", |trace| trace.id());
    let _ = mv37::traced!("agent", user_id "u", |trace| trace.id());
    let _ = mv37::traced!("agent", attributes(channel), |trace| trace.id());
    let _ = mv37::traced!("agent", user_id = "a", user_id = "b", |trace| trace.id());
    let _ = mv37::traced!("agent", user_id = "u");
}
