// `skip` takes the names of the arguments, not their patterns: `&self`, `&mut self` and
// `mut name` are each reported with the fix, all at once.
struct Db;

struct Agent;

impl Agent {
    #[mv37::task(skip(&self))]
    fn plan(&self, step: u32) -> u32 {
        step
    }

    #[mv37::task(skip(&mut self, db))]
    fn load(&mut self, db: &Db, user: &str) -> usize {
        let _ = db;
        user.len()
    }

    #[mv37::task(skip(self, mut db))]
    fn store(&self, mut db: Vec<u8>) {
        db.push(1);
    }
}

fn main() {
    Agent.plan(1);
    Agent.load(&Db, "u");
    Agent.store(Vec::new());
}
