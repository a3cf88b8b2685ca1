//! Support for the attribute macros of `mv37-macros` (reached through `mv37::__private`).
