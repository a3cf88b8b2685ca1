//! Context across real thread hops: a traced future polled on one thread and finished on
//! another keeps its parents (and leaves both threads' own context alone); on a
//! multi-thread tokio runtime, awaits that move the task to another worker keep them too;
//! `spawn_blocking` joins the parent through a captured `Context`; a task spawned
//! without `in_current_span` starts with no context, as documented; and an instrumented
//! future polled after its thread dropped its context (from a thread-local destructor)
//! is still recorded and ended.

// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

use mv37::{Context, FutureExt, SpanKind};
use support::memory::{flushed, memory_client};

/// Pending at its first poll (it wakes itself at once), ready at the next.
struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn yield_once() -> YieldOnce {
    YieldOnce { yielded: false }
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut TaskContext::from_waker(Waker::noop()))
}

#[test]
fn a_future_polled_on_one_thread_and_finished_on_another_keeps_its_parents() {
    let (client, memory) = memory_client();
    let traced = client.trace("hop").run_async(|trace| async move {
        trace
            .task("outer")
            .run_async(|_| async {
                let before = thread::current().id();
                mv37::current_trace().tool("before_hop").run(|_| ());
                yield_once().await;
                let after = thread::current().id();
                mv37::current_trace().llm("after_hop").run(|_| ());
                mv37::span(SpanKind::Tool).name("free_fn_after_hop").run(|_| ());
                (before, after)
            })
            .await
    });
    let mut traced: Pin<Box<dyn Future<Output = (ThreadId, ThreadId)> + Send>> = Box::pin(traced);

    // Thread A polls it once: it stops at the yield, in the middle of `outer`.
    let (mut traced, first_thread) = thread::spawn(move || {
        assert!(poll_once(traced.as_mut()).is_pending(), "stopped at the yield");
        assert!(
            mv37::current_trace().id().is_none(),
            "the future's context is not left behind on the thread that polled it"
        );
        (traced, thread::current().id())
    })
    .join()
    .expect("thread A");

    // Thread B, inside a trace of its own, finishes it.
    let (hopped, second_thread) = {
        let client = client.clone();
        thread::spawn(move || {
            let outcome = client.trace("thread_b").run(|_| {
                let outcome = (0..10).find_map(|_| match poll_once(traced.as_mut()) {
                    Poll::Ready(threads) => Some(threads),
                    Poll::Pending => None,
                });
                mv37::span(SpanKind::Task).name("b_after_poll").run(|_| ());
                outcome
            });
            (outcome.expect("finished within ten polls"), thread::current().id())
        })
        .join()
        .expect("thread B")
    };
    let (before, after) = hopped;
    assert_ne!(first_thread, second_thread);
    assert_eq!(before, first_thread, "the first half ran on thread A");
    assert_eq!(after, second_thread, "the second half ran on thread B: a real hop");

    flushed(&client);
    let hop = memory.trace("hop").expect("hop trace");
    let b_trace = memory.trace("thread_b").expect("thread B's trace");
    let outer = memory.span("outer").expect("outer");
    assert_eq!(outer.parent_span_id, Some(hop.span_id));
    for name in ["before_hop", "after_hop", "free_fn_after_hop"] {
        let span = memory.span(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(span.parent_span_id, Some(outer.span_id), "{name}");
        assert_eq!(span.trace_id, hop.trace_id, "{name}");
    }
    let b_after = memory.span("b_after_poll").expect("b_after_poll");
    assert_eq!(
        b_after.parent_span_id,
        Some(b_trace.span_id),
        "thread B's own context is back after the poll"
    );
    assert_ne!(b_trace.trace_id, hop.trace_id);
}

/// Moves the running task to another worker of a multi-thread runtime: while the
/// closure blocks, `block_in_place` hands this worker's queue to a new thread, and this
/// thread stops being a worker once the task yields.
async fn hop_worker() {
    tokio::task::block_in_place(|| thread::sleep(Duration::from_millis(2)));
    tokio::task::yield_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaits_that_move_the_task_to_another_worker_keep_the_parents() {
    const STEPS: usize = 20;
    let (client, memory) = memory_client();
    let traced = client.trace("worker_hops").run_async(|trace| async move {
        let mut hops = 0;
        for step in 0..STEPS {
            let hopped = trace
                .task(format!("step_{step}"))
                .run_async(|_| async move {
                    let before = thread::current().id();
                    hop_worker().await;
                    let hopped = thread::current().id() != before;
                    mv37::current_trace()
                        .llm(format!("call_{step}"))
                        .run_async(|_| async {
                            hop_worker().await;
                            mv37::span(SpanKind::Tool).name(format!("tool_{step}")).run(|_| ());
                        })
                        .await;
                    hopped
                })
                .await;
            hops += usize::from(hopped);
        }
        hops
    });
    let hops = tokio::spawn(traced).await.expect("task");
    assert!(hops > 0, "the task changed threads ({hops} of {STEPS} steps)");

    flushed(&client);
    let root = memory.traces()[0].clone();
    assert_eq!(memory.spans().len(), 3 * STEPS);
    for step in 0..STEPS {
        let task = memory.span(&format!("step_{step}")).expect("step");
        let call = memory.span(&format!("call_{step}")).expect("call");
        let tool = memory.span(&format!("tool_{step}")).expect("tool");
        assert_eq!(task.parent_span_id, Some(root.span_id), "step {step}");
        assert_eq!(call.parent_span_id, Some(task.span_id), "step {step}");
        assert_eq!(tool.parent_span_id, Some(call.span_id), "step {step}");
        assert!(
            [&task, &call, &tool].iter().all(|s| s.trace_id == root.trace_id),
            "step {step}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_joins_the_parent_through_a_captured_context() {
    let (client, memory) = memory_client();
    client
        .trace("blocking")
        .run_async(|trace| async move {
            trace
                .task("parent")
                .run_async(|_| async {
                    let here = thread::current().id();
                    let elsewhere = tokio::task::spawn_blocking(Context::current().wrap(|| {
                        mv37::span(SpanKind::Tool).name("wrapped").run(|_| ());
                        thread::current().id()
                    }))
                    .await
                    .expect("blocking task");
                    assert_ne!(elsewhere, here, "the closure ran on the blocking pool");
                    let context = Context::current();
                    tokio::task::spawn_blocking(move || {
                        let _entered = context.enter();
                        mv37::current_trace().retrieval("entered").run(|_| ());
                    })
                    .await
                    .expect("blocking task");
                    // Without a captured context the blocking thread has none.
                    tokio::task::spawn_blocking(|| {
                        assert!(mv37::current_trace().id().is_none());
                        mv37::span(SpanKind::Tool).name("no_context").run(|_| ());
                    })
                    .await
                    .expect("blocking task");
                })
                .await;
        })
        .await;
    flushed(&client);
    let parent = memory.span("parent").expect("parent");
    for name in ["wrapped", "entered"] {
        let span = memory.span(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(span.parent_span_id, Some(parent.span_id), "{name}");
        assert_eq!(span.trace_id, parent.trace_id, "{name}");
    }
    assert!(memory.span("no_context").is_none(), "records nothing, silently");
    assert!(client.stats().is_balanced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_spawned_without_in_current_span_starts_with_no_context() {
    let (client, memory) = memory_client();
    let spawned_client = client.clone();
    client
        .trace("parent_trace")
        .run_async(|trace| async move {
            trace
                .task("spawner")
                .run_async(|_| async {
                    tokio::spawn(async move {
                        tokio::task::yield_now().await;
                        // Nothing is open here: these record nothing...
                        assert!(mv37::current_trace().id().is_none());
                        assert!(!mv37::current_span().is_recording());
                        mv37::current_trace().tool("detached_tool").run(|_| ());
                        mv37::span(SpanKind::Tool).name("detached_span").run(|_| ());
                        // ...and a trace begun here is a new root.
                        spawned_client
                            .trace("own_trace")
                            .run_async(|trace| async move {
                                trace.tool("inside_own_trace").run(|_| ());
                            })
                            .await;
                    })
                    .await
                    .expect("task");
                })
                .await;
        })
        .await;
    flushed(&client);
    assert!(memory.span("detached_tool").is_none());
    assert!(memory.span("detached_span").is_none());
    let traces = memory.traces();
    let parent = traces.iter().find(|t| t.name == "parent_trace").expect("parent");
    let own = traces.iter().find(|t| t.name == "own_trace").expect("own");
    assert_ne!(own.trace_id, parent.trace_id, "its own trace");
    assert_eq!(own.parent_span_id, None, "a root, not a child of the spawner");
    assert_eq!(
        memory.span("inside_own_trace").expect("inside").parent_span_id,
        Some(own.span_id)
    );
    // With `in_current_span` the same code joins the spawner (see tests/runtime.rs).
    let joined = client.trace("joined").run_async(|trace| async move {
        trace
            .task("spawner")
            .run_async(|_| async {
                tokio::spawn(
                    async {
                        tokio::task::yield_now().await;
                        mv37::span(SpanKind::Tool).name("joined_span").run(|_| ());
                    }
                    .in_current_span(),
                )
                .await
                .expect("task");
            })
            .await;
    });
    joined.await;
    flushed(&client);
    let joined = memory.trace("joined").expect("joined");
    assert_eq!(
        memory.span("joined_span").expect("joined_span").trace_id,
        joined.trace_id
    );
}

/// An instrumented async fn that yields once.
#[mv37::task]
async fn finished_while_its_thread_exits(n: u32) -> u32 {
    yield_once().await;
    n + 1
}

/// A future a thread-local destructor polls to its end.
struct PolledAtExit(std::cell::RefCell<Option<Pin<Box<dyn Future<Output = u32>>>>>);

impl Drop for PolledAtExit {
    fn drop(&mut self) {
        if let Some(mut future) = self.0.borrow_mut().take() {
            // Bounded: the future is ready at its second poll.
            for _ in 0..10 {
                if poll_once(future.as_mut()).is_ready() {
                    return;
                }
            }
        }
    }
}

thread_local! {
    static POLLED_AT_EXIT: PolledAtExit = const { PolledAtExit(std::cell::RefCell::new(None)) };
}

/// A trace handle on which a thread-local destructor runs a plain span.
struct SpanAtExit(std::cell::RefCell<Option<mv37::Trace>>);

impl Drop for SpanAtExit {
    fn drop(&mut self) {
        if let Some(trace) = self.0.borrow_mut().take() {
            trace.task("run_at_exit").run(|span| span.record_output(&"done"));
        }
    }
}

thread_local! {
    static SPAN_AT_EXIT: SpanAtExit = const { SpanAtExit(std::cell::RefCell::new(None)) };
}

/// A plain span (`trace.task("..").run(..)`, which goes to the context stack by its own
/// path) run where the thread has no context stack left is run all the same, and kept.
#[test]
fn a_plain_span_run_after_its_thread_dropped_its_context_is_still_recorded() {
    let (client, memory) = memory_client();
    let trace_id = {
        let client = client.clone();
        thread::spawn(move || {
            // Touched first, so destroyed after mv37's thread state.
            SPAN_AT_EXIT.with(|_| {});
            client.trace("exiting_thread").run(|trace| {
                SPAN_AT_EXIT.with(|slot| *slot.0.borrow_mut() = Some(trace.clone()));
                trace.id()
            })
        })
        .join()
        .expect("the thread")
    };
    flushed(&client);
    let span = memory.span("run_at_exit").expect("the span run at exit was exported");
    assert_eq!(Some(span.trace_id), trace_id);
    assert_eq!(
        span.parent_span_id,
        Some(memory.trace("exiting_thread").expect("trace").span_id)
    );
    assert_eq!(span.output.map(|o| o.to_value()), Some(serde_json::json!("done")));
    assert!(client.stats().is_balanced(), "{:?}", client.stats());
}

#[test]
fn an_async_span_polled_after_its_thread_dropped_its_context_is_still_recorded_and_ended() {
    let (client, memory) = memory_client();
    let trace_id = {
        let client = client.clone();
        thread::spawn(move || {
            // Touched first, so destroyed after mv37's thread state (destructors of
            // thread locals run in the reverse order of their first use): the future is
            // then polled with no context stack on the thread.
            POLLED_AT_EXIT.with(|_| {});
            client.trace("exiting_thread").run(|trace| {
                let mut future: Pin<Box<dyn Future<Output = u32>>> = Box::pin(finished_while_its_thread_exits(1));
                assert!(poll_once(future.as_mut()).is_pending(), "stopped at the yield");
                POLLED_AT_EXIT.with(|slot| *slot.0.borrow_mut() = Some(future));
                trace.id()
            })
        })
        .join()
        .expect("the thread")
    };
    flushed(&client);
    let span = memory
        .span("finished_while_its_thread_exits")
        .expect("the span polled at exit was exported");
    let root = memory.trace("exiting_thread").expect("the trace");
    assert_eq!(Some(span.trace_id), trace_id);
    assert_eq!(span.parent_span_id, Some(root.span_id));
    assert_eq!(span.output.map(|o| o.to_value()), Some(serde_json::json!(2)));
    assert_eq!(span.status, mv37::Status::Ok);
    assert!(client.stats().is_balanced(), "{:?}", client.stats());
}
