//! `mv37 ui` over HTTP, without a browser: the JSON API behind the pages (list filters,
//! search, sorting, paging, one trace, sessions, stats), following appended and
//! replaced files, and the safety rules (read-only, loopback host names only, CSP).

#![allow(clippy::panic, clippy::unwrap_used)]

mod ui_support;

use std::time::{Duration, Instant};

use serde_json::Value;
use ui_support::*;

fn fixture_server(name: &str) -> (Server, std::path::PathBuf) {
    let dir = temp_dir(name);
    let file = dir.join("traces.jsonl");
    append(&file, &(agent_trace() + &refund_trace() + &batch_traces(30)));
    let server = Server::start(&[file.to_str().unwrap()]);
    (server, file)
}

fn names(page: &Value) -> Vec<String> {
    page["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_list_filters_searches_sorts_and_pages() {
    let (server, _) = fixture_server("list");
    let all = server.json("/api/traces");
    assert_eq!(all["total"], 32);
    assert_eq!(all["traces"].as_array().unwrap().len(), 32);
    // Newest first by default.
    assert_eq!(names(&all)[0], "batch_job");
    assert_eq!(*names(&all).last().unwrap(), "support_agent");

    let failed = server.json("/api/traces?status=error");
    assert_eq!(
        ids(&failed),
        [AGENT_TRACE, REFUND_TRACE]
            .map(str::to_owned)
            .iter()
            .rev()
            .cloned()
            .collect::<Vec<_>>()
    );
    let refund = &failed["traces"][0];
    assert_eq!(
        (refund["user"].as_str(), refund["status"].as_str()),
        (Some("cus_7"), Some("error"))
    );

    assert_eq!(ids(&server.json("/api/traces?user=cus_42")), [AGENT_TRACE]);
    assert_eq!(server.json("/api/traces?session=sess_1")["total"], 31);
    assert_eq!(server.json("/api/traces?name=refund_flow")["total"], 1);
    assert_eq!(server.json("/api/traces?name=nothing_like_it")["total"], 0);
    assert_eq!(ids(&server.json("/api/traces?kind=agent")), [AGENT_TRACE]);
    assert_eq!(server.json("/api/traces?kind=task")["total"], 30);

    // Search: values of inputs, outputs, messages and documents, in any case; not keys.
    assert_eq!(ids(&server.json("/api/traces?q=dhl")), [AGENT_TRACE]);
    assert_eq!(ids(&server.json("/api/traces?q=Plan%3A%20look")), [AGENT_TRACE]);
    assert_eq!(ids(&server.json("/api/traces?q=2-3%20days")), [AGENT_TRACE]);
    assert_eq!(ids(&server.json("/api/traces?q=CARD%20DECLINED")), [REFUND_TRACE]);
    assert_eq!(server.json("/api/traces?q=ticket")["total"], 0);
    assert_eq!(server.json("/api/traces?q=batch%20output&status=ok")["total"], 30);
    assert_eq!(server.json("/api/traces?q=batch%20output%2017")["total"], 1);

    let slowest = server.json("/api/traces?sort=latency&limit=1");
    assert_eq!(names(&slowest), ["support_agent"]);
    let cheapest_first = server.json("/api/traces?sort=cost&order=asc");
    assert_eq!(ids(&cheapest_first).last().unwrap(), AGENT_TRACE);
    let page = server.json("/api/traces?limit=10&offset=25");
    assert_eq!((page["total"].as_u64(), page["offset"].as_u64()), (Some(32), Some(25)));
    assert_eq!(page["traces"].as_array().unwrap().len(), 7);
}

#[test]
fn a_trace_comes_back_whole_with_its_spans_messages_feedback_and_signals() {
    let (server, _) = fixture_server("trace");
    let trace = server.json(&format!("/api/traces/{AGENT_TRACE}"));
    assert_eq!(trace["summary"]["name"], "support_agent");
    assert_eq!(trace["summary"]["tokens"], 876 + 1240);
    assert_eq!(trace["trace"]["user_id"], "cus_42");
    let spans: Vec<&str> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        spans,
        [
            "openai.chat",
            "lookup_order",
            "search_kb",
            "openai.chat",
            "triage_agent"
        ]
    );
    assert_eq!(
        trace["spans"][0]["messages"][0]["content"][0]["text"].as_str().unwrap(),
        format!("Where is my order? {SCRIPT_TEXT}")
    );
    assert_eq!(trace["spans"][3]["output"]["mv37.truncated"], true);
    assert_eq!(trace["feedback"][0]["comment"], "fast and right");
    assert_eq!(trace["signals"][0]["name"], "escalated");
    assert_eq!(
        (trace["unreadable"].as_u64(), trace["omitted"].as_u64()),
        (Some(0), Some(0))
    );

    assert_eq!(server.get("/api/traces/ffffffffffffffffffffffffffffffff").0, 404);
    assert_eq!(server.get("/api/traces/not-an-id").0, 404);
}

#[test]
fn sessions_group_traces_and_stats_give_percentiles_and_buckets() {
    let (server, _) = fixture_server("sessions");
    let sessions = server.json("/api/sessions");
    assert_eq!(sessions["total"], 2);
    let first = &sessions["sessions"][0];
    assert_eq!(
        (first["session"].as_str(), first["traces"].as_u64()),
        (Some("sess_1"), Some(31))
    );
    assert_eq!(first["conversations"], 2);
    let detail = server.json("/api/sessions/sess_1");
    assert_eq!(detail["total"], 31);
    assert_eq!(detail["conversations"][0]["conversation"], "conv_1");
    assert_eq!(detail["conversations"][0]["traces"][0]["id"], AGENT_TRACE);
    assert_eq!(detail["conversations"][1]["conversation"], Value::Null);
    assert_eq!(detail["conversations"][1]["traces"].as_array().unwrap().len(), 30);
    assert_eq!(server.get("/api/sessions/nope").0, 404);

    let stats = server.json("/api/stats");
    assert_eq!(
        (stats["traces"].as_u64(), stats["errors"].as_u64()),
        (Some(32), Some(2))
    );
    let chat = stats["span_names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "openai.chat")
        .unwrap();
    assert_eq!((chat["count"].as_u64(), chat["errors"].as_u64()), (Some(2), Some(1)));
    let p99 = chat["p99"].as_u64().unwrap() as f64;
    assert!((p99 - 330e6).abs() / 330e6 < 0.02, "{p99}");
    let buckets = stats["buckets"].as_array().unwrap();
    let counted: u64 = buckets.iter().map(|b| b["traces"].as_u64().unwrap()).sum();
    assert_eq!(counted, 32);
}

#[test]
fn appended_traces_and_new_files_are_indexed_while_it_runs() {
    let dir = temp_dir("follow");
    let file = dir.join("a.jsonl");
    append(&file, &refund_trace());
    let server = Server::start(&[dir.to_str().unwrap()]);
    assert_eq!(server.json("/api/traces")["total"], 1);
    let agent = agent_trace();
    // Half a line first: it waits for the rest.
    let (head, tail) = agent.split_at(agent.len() - 40);
    append(&file, head);
    wait_for(&server, |page| {
        page["traces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == AGENT_TRACE && t["status"] == "open")
    });
    append(&file, tail);
    wait_for(&server, |page| {
        page["traces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == AGENT_TRACE && t["status"] == "ok")
    });
    append(&dir.join("b.jsonl"), &batch_traces(3));
    wait_for(&server, |page| page["total"] == 5);
    assert_eq!(server.json("/api/progress")["files"], 2);
    assert_eq!(server.json("/api/progress")["lines"]["malformed"], 0);

    // A file replaced by a shorter one: everything is read again.
    std::fs::write(&file, refund_trace()).unwrap();
    wait_for(&server, |page| page["total"] == 4);
    assert_eq!(server.json(&format!("/api/traces/{REFUND_TRACE}"))["unreadable"], 0);
}

fn wait_for(server: &Server, done: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = server.json("/api/traces");
        if done(&page) {
            return;
        }
        assert!(Instant::now() < deadline, "gave up waiting; the list is {page}");
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn only_reads_from_loopback_host_names_are_answered() {
    let (server, _) = fixture_server("safety");
    let address = &server.address;
    let (status, response) = server.raw(&format!(
        "GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(status, 200);
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{response}"
    );
    assert!(lower.contains("x-content-type-options: nosniff"));
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let (status, _) = server.raw(&format!(
            "{method} /api/traces HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(status, 405, "{method}");
    }
    // A page on another site that rebinds its name to 127.0.0.1 sends its own host name.
    let (status, _) = server.raw("GET /api/traces HTTP/1.1\r\nHost: attacker.example:80\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 403);
    let (status, _) = server.raw(&format!(
        "GET /api/traces HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        address.rsplit(':').next().unwrap()
    ));
    assert_eq!(status, 200);
}

#[test]
fn a_gzip_file_or_a_missing_file_is_refused_with_a_reason() {
    let dir = temp_dir("refused");
    let gz = dir.join("t.jsonl.gz");
    std::fs::write(&gz, b"\x1f\x8b").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args(["ui", gz.to_str().unwrap(), "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("gunzip it first"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args(["ui", dir.join("missing.jsonl").to_str().unwrap(), "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args(["ui", "--port", "0"])
        .env_remove("MV37_JSONL_PATH")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("set MV37_JSONL_PATH"));
}

#[test]
fn a_port_in_use_is_an_error_naming_it() {
    let (server, file) = fixture_server("port");
    let port = server.address.rsplit(':').next().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mv37"))
        .args(["ui", file.to_str().unwrap(), "--port", port])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}
