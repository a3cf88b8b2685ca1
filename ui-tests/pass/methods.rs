//! `self`, `&self` and `&mut self` in inherent and trait impls.
#![deny(warnings)]

struct Agent {
    turns: u32,
}

impl Agent {
    #[mv37::task]
    fn turn(&mut self, message: &str) -> usize {
        self.turns += 1;
        message.len()
    }

    #[mv37::task]
    fn turns(&self) -> &u32 {
        &self.turns
    }

    #[mv37::task]
    fn finish(self) -> u32 {
        self.turns
    }
}

trait Tool {
    fn call(&self, input: &str) -> String;
    fn reset(&mut self);
}

impl Tool for Agent {
    #[mv37::tool]
    fn call(&self, input: &str) -> String {
        input.to_owned()
    }

    #[mv37::tool]
    fn reset(&mut self) {
        self.turns = 0;
    }
}

fn main() {
    let mut agent = Agent { turns: 0 };
    agent.turn("hi");
    let _ = agent.turns();
    agent.call("x");
    agent.reset();
    agent.finish();
}
