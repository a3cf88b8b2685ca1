//! Attribute macros of mv37. Placeholder until the macros land; use the `mv37` crate.
