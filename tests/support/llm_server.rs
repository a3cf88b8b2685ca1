//! A local LLM API for the client instrumentation tests: it speaks the OpenAI and
//! Anthropic shapes on 127.0.0.1 (port 0), answering each request with the next queued
//! [`Reply`] (recorded fixtures as JSON or as server-sent events, error statuses, a
//! stream cut mid-way), and keeps what it was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// A recorded fixture from `tests/fixtures`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// The items of a fixture that holds an array (a recorded stream's chunks).
pub fn fixture_items(name: &str) -> Vec<Value> {
    match fixture(name) {
        Value::Array(items) => items,
        other => panic!("{name} is not an array: {other}"),
    }
}

/// What the server answers one request with.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: ReplyBody,
}

#[derive(Debug, Clone)]
enum ReplyBody {
    Json(Value),
    /// Server-sent event frames, each sent as its own chunk; `cut` ends the connection
    /// with an error after that many frames.
    Events {
        frames: Vec<String>,
        cut: Option<usize>,
    },
}

impl Reply {
    /// `200` with a JSON body.
    pub fn json(body: Value) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: ReplyBody::Json(body),
        }
    }

    /// An error status with the OpenAI error shape.
    pub fn error(status: u16, error_type: &str, message: &str) -> Self {
        Self {
            status,
            ..Self::json(
                json!({ "error": { "message": message, "type": error_type, "param": null, "code": error_type } }),
            )
        }
    }

    /// OpenAI chunks (Chat Completions chunks or Responses events) as `data:` events,
    /// ending with `data: [DONE]`.
    pub fn openai_stream(chunks: &[Value]) -> Self {
        let mut frames: Vec<String> = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        frames.push("data: [DONE]\n\n".to_owned());
        Self::events(frames)
    }

    /// Anthropic events, each named by its `type`.
    pub fn anthropic_stream(events: &[Value]) -> Self {
        let frames = events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("message")))
            .collect();
        Self::events(frames)
    }

    fn events(frames: Vec<String>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "text/event-stream".to_owned())],
            body: ReplyBody::Events { frames, cut: None },
        }
    }

    /// Cuts a stream after `frames` frames: the connection ends with an error.
    pub fn cut_after(mut self, frames: usize) -> Self {
        if let ReplyBody::Events { cut, .. } = &mut self.body {
            *cut = Some(frames);
        }
        self
    }

    /// Answers with another status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// A request the server was sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    sent: Mutex<Vec<Sent>>,
}

/// The running server; stops when dropped.
pub struct LlmServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl LlmServer {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Shared::default());
        let router = axum::Router::new().fallback(answer).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, shared, task }
    }

    /// The OpenAI base URL (`…/v1`).
    pub fn v1(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// Queues the answer to the next request.
    pub fn reply(&self, reply: Reply) -> &Self {
        self.shared.replies.lock().expect("replies").push_back(reply);
        self
    }

    /// What the server was sent, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.sent.lock().expect("sent").clone()
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let bytes = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    shared.sent.lock().expect("sent").push(Sent { path, body });
    let reply = shared
        .replies
        .lock()
        .expect("replies")
        .pop_front()
        .unwrap_or_else(|| Reply::error(500, "test_error", "no reply queued"));
    let body = match reply.body {
        ReplyBody::Json(value) => Body::from(value.to_string()),
        ReplyBody::Events { frames, cut } => {
            let sent = cut.unwrap_or(frames.len()).min(frames.len());
            let frames = futures_util::stream::iter(frames.into_iter().take(sent).map(Ok));
            // The cut waits a moment first, so that the frames before it are flushed
            // (an error in the same poll would abort the response before its headers).
            let cut = futures_util::stream::iter(cut).then(|_| async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))
            });
            Body::from_stream(frames.chain(cut))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}
