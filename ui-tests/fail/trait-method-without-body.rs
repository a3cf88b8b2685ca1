trait Tool {
    #[mv37::tool]
    fn call(&self, input: &str) -> String;
}

fn main() {}
