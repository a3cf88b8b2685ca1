//! Headless Chromium through chromedriver, for the browser tests of `mv37 ui`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

/// Set (to anything but `0`) to make a missing chromedriver a failure instead of a skip.
pub const REQUIRE: &str = "MV37_REQUIRE_BROWSER";

fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The chromedriver to use; `None` (after saying why) when the test must be skipped.
pub fn chromedriver() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .or_else(|| on_path("chromedriver"));
    if found.is_none() {
        if std::env::var(REQUIRE).is_ok_and(|value| !value.is_empty() && value != "0") {
            panic!("{REQUIRE} is set but no chromedriver was found on the PATH or in CHROMEDRIVER");
        }
        eprintln!(
            "SKIPPED: the browser tests of `mv37 ui` need chromedriver and Chromium \
             (apt-get install chromium chromium-driver); set {REQUIRE}=1 to make their absence a failure"
        );
    }
    found
}

/// A chromedriver process and a headless Chromium session on it.
pub struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub client: Client,
}

impl Browser {
    pub async fn start(driver: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut process = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--hide-scrollbars"]
        });
        if let Some(binary) = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|b| on_path(b))
        {
            options["binary"] = json!(binary);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => {
                    let _ = process.kill();
                    panic!("cannot start a Chromium session through chromedriver: {error}");
                }
            }
        };
        Browser {
            driver: process,
            client,
        }
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub async fn wait_for(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.js(script, args.clone()).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false)) && value != json!(0) && value != json!("");
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let text = self
                    .js("return document.getElementById('main').innerText", vec![])
                    .await;
                panic!(
                    "gave up waiting for {what}; the page shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let value = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())",
                vec![json!(selector)],
            )
            .await;
        serde_json::from_value(value).unwrap()
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Script errors the page caught (`MV37.errors`).
    pub async fn page_errors(&self) -> Value {
        self.js("return window.MV37 ? MV37.errors : ['the app did not load']", vec![])
            .await
    }
}

impl Drop for Browser {
    /// Stops chromedriver also when a test fails half-way.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
