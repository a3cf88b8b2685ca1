//! The indexer over a file made here: chunks read newest first, in parallel, and one
//! forward read index the same.

use super::*;

/// A file of `traces` traces: three spans and the trace record each, the spans of
/// neighbouring traces interleaved, some lines ending in CRLF, a malformed line and a
/// line longer than 1000 bytes.
fn fixture(traces: u64) -> String {
    let mut text = String::new();
    let span = |trace: u64, n: u64| {
        let start = 1_000_000 * trace + 10 * n;
        format!(
            r#"{{"v":1,"type":"span","trace_id":"{trace:032x}","span_id":"{:016x}","parent_span_id":"{:016x}","kind":"{}","name":"step {n}","start_time_unix_nano":{start},"end_time_unix_nano":{},"latency_ns":{},"status":"{}","usage":{{"total_tokens":{}}},"input":"Question {trace} of {n}"}}"#,
            trace * 16 + n + 1,
            trace * 16,
            ["llm", "tool", "agent"][n as usize],
            start + 5 + trace,
            5 + trace,
            if trace % 9 == n { "error" } else { "ok" },
            trace + n
        )
    };
    for trace in 1..=traces {
        for n in 0..3 {
            text += &span(trace, n);
            text += if (trace + n) % 7 == 0 { "\r\n" } else { "\n" };
        }
        if trace == 50 {
            text += "not a record\n";
        }
        if trace == 80 {
            text += &format!("{{\"pad\":\"{}\"}}\n", "x".repeat(2_000));
        }
        if trace > 1 {
            text += &format!(
                r#"{{"v":1,"type":"trace","trace_id":"{:032x}","span_id":"{:016x}","name":"job","user_id":"u{}","start_time_unix_nano":{},"end_time_unix_nano":{},"latency_ns":9,"status":"ok"}}"#,
                trace - 1,
                (trace - 1) * 16,
                trace % 5,
                1_000_000 * (trace - 1),
                1_000_000 * (trace - 1) + 9
            );
            text += "\n";
        }
    }
    text
}

/// What the index knows of each trace, by id, and of the lines.
type Snapshot = (
    Vec<(u128, u64, u64, u32, u32, u64, String, bool, u32)>,
    LineCounts,
    usize,
);

fn index(path: &Path, chunk_bytes: usize, parallel_min_bytes: usize) -> Snapshot {
    let shared = Arc::new(Shared {
        index: RwLock::new(Index::new().expect("index")),
        progress: watch::channel(Progress::default()).0,
    });
    let mut follower = Follower::new(
        vec![Source::File(path.to_owned())],
        Arc::clone(&shared),
        1_000,
        Duration::from_millis(1),
    );
    follower.chunk_bytes = chunk_bytes;
    follower.parallel_min_bytes = parallel_min_bytes;
    follower.discover();
    assert!(follower.poll().is_ok());
    let index = shared.index.read().expect("index");
    let mut traces: Vec<_> = index
        .traces()
        .iter()
        .map(|t| {
            let name = index.strings.name(t.name).to_owned();
            (
                t.id,
                t.start,
                t.end,
                t.spans,
                t.failed_spans,
                t.tokens,
                name,
                t.ended(),
                t.records,
            )
        })
        .collect();
    traces.sort_by_key(|t| t.0);
    for trace in &traces {
        let detail = crate::ui::trace::load(&index, &format!("{:032x}", trace.0)).expect("the trace");
        assert_eq!((detail.unreadable, detail.spans.len()), (0, 3), "{:032x}", trace.0);
    }
    let mut hits = 0;
    index.text.search("question 77 of", |_| hits += 1).expect("search");
    (traces, index.lines, hits)
}

#[test]
fn chunks_read_newest_first_index_the_same_as_one_forward_read() {
    let dir = std::env::temp_dir().join(format!("mv37-ui-follow-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("traces.jsonl");
    fs::write(&path, fixture(120)).expect("write");
    let forward = index(&path, 1 << 20, 1 << 20);
    let (traces, lines, hits) = &forward;
    assert_eq!(traces.len(), 120);
    assert_eq!((lines.records, lines.malformed, lines.too_long), (120 * 3 + 119, 1, 1));
    assert_eq!(*hits, 3);
    assert_eq!(traces.iter().filter(|t| t.7).count(), 119, "the last trace is open");
    assert_eq!(traces[0].6, "job");
    // Small chunks, read newest first, some parsed on several threads; lines longer
    // than a chunk.
    for (chunk, parallel) in [(300, 0), (512, 1_024), (4_096, 0)] {
        assert_eq!(index(&path, chunk, parallel), forward, "chunks of {chunk} bytes");
    }
    let _ = fs::remove_dir_all(&dir);
}
