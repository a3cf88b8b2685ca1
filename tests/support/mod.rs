//! Helpers shared by the integration tests; each test binary uses some of them.
#![allow(dead_code)]

pub mod collector;
pub mod fixtures;
#[cfg(any(feature = "async-openai", feature = "reqwest-middleware"))]
pub mod llm_server;
pub mod memory;
#[cfg(feature = "otlp")]
pub mod otlp;

/// A fresh, empty directory under the system's temporary directory, named after the test
/// binary's process so that parallel runs do not collide.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mv37-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
