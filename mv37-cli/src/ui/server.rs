//! The HTTP side: the embedded page and its JSON API, read-only (every route is a `GET`),
//! with progress pushed as server-sent events.
//!
//! Every response forbids inline scripts and framing (`Content-Security-Policy`), and
//! while the server listens on loopback only, requests must name a loopback host in
//! `Host`, so that a web page elsewhere cannot read the traces through DNS rebinding.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLockReadGuard};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use super::assets;
use super::follow::Shared;
use super::index::Index;
use super::query::{self, ListQuery, SearchHits};
use super::sessions::{self, SessionQuery};
use super::stats;
use super::trace;

/// The most recent search, kept so that paging through its results does not search again.
#[derive(Debug)]
struct CachedSearch {
    needle: String,
    epoch: (u64, u64),
    hits: Arc<SearchHits>,
}

/// What every handler reads.
#[derive(Debug)]
pub struct AppState {
    shared: Arc<Shared>,
    /// The host names requests may name, when only loopback is listened on.
    allowed_hosts: Option<Vec<String>>,
    search: Mutex<Option<CachedSearch>>,
}

impl AppState {
    /// The state of a server listening on `address`.
    pub fn new(shared: Arc<Shared>, address: IpAddr, port: u16) -> Self {
        let allowed_hosts = address.is_loopback().then(|| {
            let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()];
            match address {
                IpAddr::V4(v4) => hosts.push(v4.to_string()),
                IpAddr::V6(v6) => hosts.push(format!("[{v6}]")),
            }
            hosts
                .iter()
                .map(|host| format!("{host}:{port}"))
                .chain(hosts.iter().cloned())
                .collect()
        });
        Self {
            shared,
            allowed_hosts,
            search: Mutex::new(None),
        }
    }

    fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.shared
            .index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The traces matching `needle`, from the cache when the index has not changed.
    fn hits(&self, index: &Index, needle: &str) -> std::io::Result<Arc<SearchHits>> {
        let epoch = (index.epoch, index.lines.records);
        let needle = needle.trim().to_lowercase();
        let mut cache = self.search.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = cache.as_ref().filter(|c| c.needle == needle && c.epoch == epoch) {
            return Ok(Arc::clone(&cached.hits));
        }
        let hits = Arc::new(SearchHits::find(index, &needle)?);
        *cache = Some(CachedSearch {
            needle,
            epoch,
            hits: Arc::clone(&hits),
        });
        Ok(hits)
    }
}

/// The router of the whole app.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(assets::INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.css",
            get(|| async { asset(assets::APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { asset(assets::APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/trace.js",
            get(|| async { asset(assets::TRACE_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/stats.js",
            get(|| async { asset(assets::STATS_JS, "text/javascript; charset=utf-8") }),
        )
        .route("/api/progress", get(progress))
        .route("/api/events", get(events))
        .route("/api/facets", get(facets))
        .route("/api/traces", get(traces))
        .route("/api/traces/{id}", get(one_trace))
        .route("/api/sessions", get(all_sessions))
        .route("/api/sessions/{id}", get(one_session))
        .route("/api/stats", get(all_stats))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), guard))
        .with_state(state)
}

/// Refuses foreign `Host` names and anything but reads, and adds the security headers.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(allowed) = &state.allowed_hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("");
        if !allowed.iter().any(|allowed| allowed.eq_ignore_ascii_case(host)) {
            return (
                StatusCode::FORBIDDEN,
                "mv37 ui answers only requests for a loopback host name",
            )
                .into_response();
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "mv37 ui is read-only",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Runs `answer` over the index on a blocking thread (queries scan the index, and a
/// search reads its text file).
async fn with_index(
    state: Arc<AppState>,
    answer: impl FnOnce(&AppState, &Index) -> Response + Send + 'static,
) -> Response {
    let task = tokio::task::spawn_blocking(move || {
        let index = state.index();
        answer(&state, &index)
    });
    task.await
        .unwrap_or_else(|_| (StatusCode::INTERNAL_SERVER_ERROR, "the query failed").into_response())
}

async fn progress(State(state): State<Arc<AppState>>) -> Response {
    let progress = state.shared.progress.borrow().clone();
    json_response(&progress)
}

/// Sends the indexing progress now and whenever the index changes, at most four times a
/// second.
async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.shared.progress.subscribe();
    let stream = futures_util::stream::unfold((receiver, true), |(mut receiver, first)| async move {
        if !first {
            receiver.changed().await.ok()?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let progress = receiver.borrow_and_update().clone();
        let event = Event::default().event("progress").json_data(&progress).ok()?;
        Some((Ok(event), (receiver, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn facets(State(state): State<Arc<AppState>>) -> Response {
    with_index(state, |_, index| json_response(&query::facets(index))).await
}

async fn traces(State(state): State<Arc<AppState>>, Query(list): Query<ListQuery>) -> Response {
    with_index(state, move |state, index| {
        let hits = if list.q.trim().is_empty() {
            None
        } else {
            match state.hits(index, &list.q) {
                Ok(hits) => Some(hits),
                Err(error) => {
                    return (StatusCode::INTERNAL_SERVER_ERROR, format!("search failed: {error}")).into_response()
                }
            }
        };
        json_response(&query::list(index, &list, hits.as_deref()))
    })
    .await
}

async fn one_trace(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_index(state, move |_, index| match trace::load(index, &id) {
        Some(detail) => json_response(&detail),
        None => (StatusCode::NOT_FOUND, "no such trace").into_response(),
    })
    .await
}

async fn all_sessions(State(state): State<Arc<AppState>>, Query(query): Query<SessionQuery>) -> Response {
    with_index(state, move |_, index| json_response(&sessions::sessions(index, &query))).await
}

async fn one_session(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    with_index(state, move |_, index| match sessions::session(index, &id) {
        Some(detail) => json_response(&detail),
        None => (StatusCode::NOT_FOUND, "no such session").into_response(),
    })
    .await
}

async fn all_stats(State(state): State<Arc<AppState>>) -> Response {
    with_index(state, |_, index| json_response(&stats::stats(index))).await
}
