//! `mv37 ui` in a real browser: headless Chromium driven over WebDriver (chromedriver,
//! through fantoccini). Opens the list, filters and searches it, opens a trace and
//! checks the tree, the waterfall, the chat transcript and the span details, checks
//! that markup in payloads shows as text, follows a trace appended while the page is
//! open, and saves screenshots under `target/tmp/ui-screenshots/`.
//!
//! Without `chromedriver` on the PATH (or in `CHROMEDRIVER`) these tests are skipped
//! with a message, unless `MV37_REQUIRE_BROWSER` is set (to anything but `0`), as CI
//! sets it: then they fail.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod ui_support;

use std::path::Path;

use fantoccini::Locator;
use serde_json::json;
use ui_support::browser::{chromedriver, Browser};
use ui_support::*;

fn rows_script() -> &'static str {
    "return [...document.querySelectorAll('#traces tr.trace-row')].map(r => r.dataset.traceId)"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_and_a_trace_shows_its_tree_waterfall_chat_and_details() {
    let Some(driver) = chromedriver() else { return };
    let dir = temp_dir("browser-list");
    let file = dir.join("traces.jsonl");
    append(&file, &(agent_trace() + &refund_trace() + &batch_traces(30)));
    let server = Server::start(&[file.to_str().unwrap()]);
    let browser = Browser::start(&driver).await;
    let client = &browser.client;

    // The list, newest first.
    client.goto(&format!("{}/", server.base)).await.unwrap();
    browser
        .wait_for(
            "32 rows",
            "return document.querySelectorAll('#traces tr.trace-row').length === 32",
            vec![],
        )
        .await;
    assert_eq!(browser.texts("#list-summary").await, ["1–32 of 32 traces"]);
    browser.screenshot("list.png").await;

    // Filter by status: the select applies at once.
    client
        .find(Locator::Id("filter-status"))
        .await
        .unwrap()
        .select_by_value("error")
        .await
        .unwrap();
    browser
        .wait_for(
            "the two failed traces",
            "return document.querySelectorAll('#traces tr.trace-row').length === 2",
            vec![],
        )
        .await;
    assert_eq!(
        browser.js(rows_script(), vec![]).await,
        json!([REFUND_TRACE, AGENT_TRACE])
    );

    // Full-text search within the filter.
    let search = client.find(Locator::Id("filter-q")).await.unwrap();
    search.send_keys("DHL\u{E007}").await.unwrap();
    browser
        .wait_for(
            "one search hit",
            "return document.querySelectorAll('#traces tr.trace-row').length === 1",
            vec![],
        )
        .await;
    assert_eq!(browser.js(rows_script(), vec![]).await, json!([AGENT_TRACE]));
    assert!(client.current_url().await.unwrap().as_str().contains("q=DHL"));

    // Open the trace.
    client
        .find(Locator::Css("#traces tr.trace-row td.name a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for(
            "the waterfall",
            "return document.querySelectorAll('#waterfall .span-row').length === 6",
            vec![],
        )
        .await;
    assert_eq!(browser.texts(".trace-head .trace-name").await, ["support_agent"]);

    // The tree: the trace, its agent, and the agent's four children by start time.
    let tree = browser
        .js(
            "return [...document.querySelectorAll('#waterfall .span-row')].map(r => [r.dataset.kind, \
             r.querySelector('.span-name').textContent, parseInt(r.querySelector('.tree-cell').style.paddingLeft)])",
            vec![],
        )
        .await;
    assert_eq!(
        tree,
        json!([
            ["trace", "support_agent", 4],
            ["agent", "triage_agent", 20],
            ["llm", "openai.chat", 36],
            ["tool", "lookup_order", 36],
            ["retrieval", "search_kb", 36],
            ["llm", "openai.chat", 36]
        ])
    );

    // The waterfall: bars on the trace's time axis (910 ms), coloured by kind.
    let bars = browser
        .js(
            "return [...document.querySelectorAll('#waterfall .span-row .bar')].map(b => [parseFloat(b.style.left), \
             parseFloat(b.style.width), getComputedStyle(b).backgroundColor])",
            vec![],
        )
        .await;
    let bar = |row: usize| -> (f64, f64, String) {
        (
            bars[row][0].as_f64().unwrap(),
            bars[row][1].as_f64().unwrap(),
            bars[row][2].as_str().unwrap().to_owned(),
        )
    };
    let (left, width, _) = bar(0);
    assert!((left, width) == (0.0, 100.0), "{bars}");
    let (left, width, colour) = bar(3);
    assert!(
        (left - 350.0 / 9.1).abs() < 0.01 && (width - 170.0 / 9.1).abs() < 0.01,
        "{bars}"
    );
    assert_eq!(colour, "rgb(8, 145, 178)", "tool colour");
    assert_eq!(bar(1).2, "rgb(234, 88, 12)", "agent colour");
    assert_eq!(bar(2).2, "rgb(124, 58, 237)", "llm colour");
    assert_eq!(bar(4).2, "rgb(22, 163, 74)", "retrieval colour");
    let failed = browser
        .js(
            "return document.querySelectorAll('#waterfall .span-row.failed').length",
            vec![],
        )
        .await;
    assert_eq!(failed, json!(1));

    // The chat: every message in time order, the internal one marked, the image shown,
    // the tool call linked to its result.
    let roles = browser
        .js(
            "return [...document.querySelectorAll('#chat .message')].map(m => [m.dataset.role, m.classList.contains('internal')])",
            vec![],
        )
        .await;
    assert_eq!(
        roles,
        json!([
            ["system", false],
            ["user", false],
            ["assistant", true],
            ["assistant", false],
            ["tool", false],
            ["assistant", false]
        ])
    );
    assert_eq!(browser.texts("#chat .internal .internal-badge").await, ["internal"]);
    browser
        .wait_for(
            "the image to load",
            "const i = document.querySelector('#chat img.chat-image'); return i && i.complete && i.naturalWidth === arguments[0]",
            vec![json!(IMAGE_SIZE.0)],
        )
        .await;
    assert_eq!(
        browser.texts("#chat [data-call-id='call_7'] .tool-head strong").await,
        ["lookup_order"]
    );
    client
        .find(Locator::Css("#chat [data-call-id='call_7'] .result-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for(
            "the linked result to flash",
            "return document.querySelector(\"#chat .message[data-result-of='call_7']\").classList.contains('flash')",
            vec![],
        )
        .await;
    let result = browser.texts("#chat .message[data-result-of='call_7'] .text").await;
    assert_eq!(result, ["{\"status\":\"shipped\",\"carrier\":\"DHL\"}"]);
    assert!(browser
        .texts("#chat .message[data-result-of='call_7'] .call-link")
        .await[0]
        .contains("lookup_order (call_7)"));

    // Markup in payloads shows as text and never runs.
    let user_text = browser.texts("#chat .message.role-user .text").await;
    assert_eq!(user_text, [format!("Where is my order? {SCRIPT_TEXT}")]);
    let chat_rows = client.find_all(Locator::Css("#waterfall .span-row")).await.unwrap();
    chat_rows[2].click().await.unwrap();
    browser
        .wait_for(
            "the first model call's details",
            "return document.querySelector('#span-details .block-input')",
            vec![],
        )
        .await;
    let input = browser.texts("#span-details .block-input .json-string").await;
    assert_eq!(input, [format!("Where is my order? {IMG_TEXT}")]);
    let fields = browser.texts("#span-details table.fields tr").await;
    assert!(fields.iter().any(|f| f == "modelgpt-4.1-mini"), "{fields:?}");
    assert!(fields.iter().any(|f| f == "time to first token183 ms"), "{fields:?}");
    assert!(fields.iter().any(|f| f == "cached tokens512"), "{fields:?}");
    let injected = browser
        .js(
            "return [window.__pwned === undefined, document.querySelectorAll('#main script').length, \
             document.querySelectorAll('#main img').length]",
            vec![],
        )
        .await;
    assert_eq!(
        injected,
        json!([true, 0, 1]),
        "[not run, no script element, only the real image]"
    );

    // The failed call: error, usage with cost, and the truncated output's marker.
    chat_rows[5].click().await.unwrap();
    browser
        .wait_for(
            "the failed call's details",
            "return document.querySelector('#span-details .error-box')",
            vec![],
        )
        .await;
    assert_eq!(
        browser.texts("#span-details .error-box").await,
        ["RateLimitError: rate limited, retried"]
    );
    assert_eq!(
        browser.texts("#span-details .block-output .marker-badge").await,
        ["truncated — 70,000 bytes originally"]
    );
    assert!(browser
        .texts("#span-details .block-usage tr")
        .await
        .contains(&"cost$0.00310".to_owned()));

    // Feedback and signals.
    let feedback = browser.texts("#feedback tbody tr").await;
    assert!(
        feedback[0].contains("thumbs") && feedback[0].contains("fast and right"),
        "{feedback:?}"
    );
    assert!(
        feedback[1].contains("escalated") && feedback[1].contains("support_agent"),
        "{feedback:?}"
    );

    // The screenshot for the README (docs/ui-trace.png, rewritten when
    // MV37_UPDATE_SCREENSHOTS is set): the first model call selected, the page in view.
    chat_rows[2].click().await.unwrap();
    client.set_window_size(1400, 1250).await.unwrap();
    browser.js("window.scrollTo(0, 0)", vec![]).await;
    let shot = browser.screenshot("trace.png").await;
    if std::env::var_os("MV37_UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ui-trace.png");
        std::fs::copy(&shot, docs).unwrap();
    }

    // Sessions and stats.
    client.goto(&format!("{}/#/sessions", server.base)).await.unwrap();
    browser
        .wait_for(
            "two sessions",
            "return document.querySelectorAll('#sessions tr.session-row').length === 2",
            vec![],
        )
        .await;
    client.goto(&format!("{}/#/session/sess_1", server.base)).await.unwrap();
    browser
        .wait_for(
            "the session's traces",
            "return document.querySelectorAll('.conversation-trace').length === 31",
            vec![],
        )
        .await;
    browser.screenshot("session.png").await;
    client.goto(&format!("{}/#/stats", server.base)).await.unwrap();
    browser
        .wait_for(
            "the charts",
            "return document.querySelectorAll('#latency-chart rect').length > 0",
            vec![],
        )
        .await;
    let charts = browser
        .js(
            "return ['tokens-chart', 'cost-chart', 'errors-chart'].map(id => document.getElementById(id).querySelectorAll('rect, circle').length > 0)",
            vec![],
        )
        .await;
    assert_eq!(charts, json!([true, true, true]));
    assert!(browser
        .texts("#span-stats tbody tr")
        .await
        .iter()
        .any(|row| row.starts_with("openai.chat")));
    browser.screenshot("stats.png").await;

    assert_eq!(browser.page_errors().await, json!([]));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_written_while_the_page_is_open_appears_without_a_reload() {
    let Some(driver) = chromedriver() else { return };
    let dir = temp_dir("browser-live");
    let file = dir.join("traces.jsonl");
    append(&file, &refund_trace());
    let server = Server::start(&[dir.to_str().unwrap()]);
    let browser = Browser::start(&driver).await;
    let client = &browser.client;
    client.goto(&format!("{}/", server.base)).await.unwrap();
    browser
        .wait_for(
            "one row",
            "return document.querySelectorAll('#traces tr.trace-row').length === 1",
            vec![],
        )
        .await;
    browser.js("window.__sameDocument = true", vec![]).await;

    // The spans arrive first: the trace shows as open.
    let agent = agent_trace();
    let (spans, trace_record) = agent.trim_end().rsplit_once('\n').unwrap();
    append(&file, &format!("{spans}\n"));
    browser
        .wait_for(
            "the open trace's row",
            &format!("const r = document.querySelector(\"tr[data-trace-id='{AGENT_TRACE}']\"); return r && r.querySelector('.status-open')"),
            vec![],
        )
        .await;
    client
        .find(Locator::Css(&format!("tr[data-trace-id='{AGENT_TRACE}'] td.name a")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for(
            "the open trace's page",
            "return document.querySelector('.trace-head .status-open')",
            vec![],
        )
        .await;

    // Then the trace record: the open page completes itself.
    append(&file, &format!("{trace_record}\n"));
    browser
        .wait_for(
            "the trace to end",
            "return document.querySelector('.trace-head .status-ok') && document.querySelector('.trace-head .trace-name').textContent === 'support_agent'",
            vec![],
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#chat .message').length", vec![])
            .await,
        json!(6)
    );

    // A new file in the directory shows in the list.
    client.goto(&format!("{}/#/", server.base)).await.unwrap();
    append(&dir.join("later.jsonl"), &batch_traces(1));
    browser
        .wait_for(
            "three rows",
            "return document.querySelectorAll('#traces tr.trace-row').length === 3",
            vec![],
        )
        .await;
    assert_eq!(
        browser.js("return window.__sameDocument === true", vec![]).await,
        json!(true)
    );
    browser.screenshot("live.png").await;
    assert_eq!(browser.page_errors().await, json!([]));
    browser.close().await;
}
