//! Helpers shared by the integration tests; each test binary uses some of them.
#![allow(dead_code)]

pub mod collector;
pub mod memory;
