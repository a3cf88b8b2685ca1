//! `skip(self)`, as `tracing`'s `#[instrument(skip(self))]` is written: alone, with other
//! names, on every receiver, in inherent, trait and `async` methods. `self` is never
//! captured, so it changes nothing; it is accepted so that the habit compiles.
#![deny(warnings)]

struct Db;

struct Agent {
    turns: u32,
}

impl Agent {
    #[mv37::task(skip(self))]
    fn turn(&mut self, message: &str) -> usize {
        self.turns += 1;
        message.len()
    }

    #[mv37::task(skip(self, db))]
    fn load(&self, db: &Db, user: &str) -> String {
        let _ = db;
        format!("{user}:{}", self.turns)
    }

    #[mv37::tool(skip(db, self))]
    fn finish(self, db: &Db) -> u32 {
        let _ = db;
        self.turns
    }

    #[mv37::trace(skip(self, db))]
    async fn run(&self, db: &Db, question: String) -> usize {
        let _ = db;
        question.len() + self.turns as usize
    }
}

trait Tool {
    fn call(&self, db: &Db, input: &str) -> String;
}

impl Tool for Agent {
    #[mv37::span("retrieval", skip(self, db))]
    fn call(&self, db: &Db, input: &str) -> String {
        let _ = db;
        input.to_owned()
    }
}

fn main() {
    let mut agent = Agent { turns: 0 };
    agent.turn("hi");
    agent.load(&Db, "ada");
    agent.call(&Db, "x");
    drop(agent.run(&Db, "q".to_owned()));
    agent.finish(&Db);
}
