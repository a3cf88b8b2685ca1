//! Doc comments and attributes on the fn are kept: `missing_docs` is satisfied,
//! `#[must_use]` still applies, and inner attributes still govern the body.
#![deny(missing_docs, unused_must_use, warnings)]

/// Plans the next step.
#[mv37::task]
#[must_use = "the plan is the point"]
#[inline]
pub fn plan(step: u32) -> u32 {
    #![allow(clippy::identity_op)]
    step + 0
}

fn main() {
    let _ = plan(1);
}
