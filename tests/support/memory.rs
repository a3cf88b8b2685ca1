//! A client that exports into memory, for tests that read back what was recorded.

use mv37::{Client, MemoryExporter};

pub fn memory_client() -> (Client, MemoryExporter) {
    let memory = MemoryExporter::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .build()
        .expect("a client with a memory exporter builds");
    (client, memory)
}

pub fn flushed(client: &Client) {
    client.flush().expect("flush completes");
}
