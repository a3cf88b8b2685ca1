//! Compile-time behaviour of the macros: `ui-tests/pass` must build, each case in
//! `ui-tests/fail` must fail with exactly its `.stderr` snapshot.
//!
//! Regenerate snapshots with `TRYBUILD=overwrite cargo test --test ui`, then read them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui-tests/pass/*.rs");
    cases.compile_fail("ui-tests/fail/*.rs");
}
