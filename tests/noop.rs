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
    let started = std::time::Instant::now();
    assert_eq!(mv37::flush(), Ok(()));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "nothing to wait for: {:?}",
        started.elapsed()
    );
    assert!(mv37::client().is_none(), "no call installed a client");
    #[cfg(target_os = "linux")]
    assert_eq!(
        exporter_threads(),
        0,
        "no call started an exporter (a client built behind the user's back)"
    );
}

/// Threads of this process named like the exporter thread of a client.
#[cfg(target_os = "linux")]
fn exporter_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("this process's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "mv37-exporter")
        .count()
}
