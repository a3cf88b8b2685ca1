//! With no client installed, every call is a no-op (its own test binary, so that no
//! other test installs a client in this process).

use mv37::{Role, SpanKind, Usage};

#[test]
fn every_call_is_a_no_op_when_no_client_is_installed() {
    assert!(mv37::client().is_none());
    let value = mv37::trace("nothing").user_id("u").run(|trace| {
        assert!(!trace.is_recording());
        trace.message(Role::User, "hi").internal();
        trace.feedback("f", 1).comment("c");
        trace.signal("s", 1);
        let span = mv37::span(SpanKind::Llm).model("m").start();
        span.record_input(&"in");
        span.set_usage(Usage::default());
        assert!(!span.is_recording());
        assert!(!mv37::current_span().is_recording());
        assert!(mv37::current_trace().id().is_none());
        42
    });
    assert_eq!(value, 42);
    assert!(mv37::flush().is_ok());
}
