//! HTTP delivery shared by the network exporters: one reqwest client on a small tokio
//! runtime owned by the exporter thread, gzip, timeouts, and retries with exponential
//! backoff, jitter, `Retry-After` and a retry budget.
//!
//! Over 500 lines only because of its unit tests (a scripted loopback server that drives
//! every retry branch, kept here because they need the private `HttpTransport`); the code
//! itself is under 450 lines.

use std::io::Write;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use super::ExportError;

pub(crate) use super::net::RetryPolicy;

/// One request to send: the same body is re-sent on every attempt.
pub(crate) struct Request<'a> {
    pub(crate) url: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) content_type: &'static str,
    pub(crate) gzip: bool,
    pub(crate) headers: &'a HeaderMap,
}

/// What happened to one attempt.
enum Attempt {
    Delivered,
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Fail(String),
    /// The shutdown deadline passed while the request was in flight.
    Cancelled,
}

pub(crate) struct HttpTransport {
    exporter: &'static str,
    runtime: Option<tokio::runtime::Runtime>,
    client: Option<reqwest::Client>,
    policy: RetryPolicy,
    tokens: f64,
    deadline: Option<Instant>,
    /// Counters for tests and stats: requests sent and retries made.
    pub(crate) requests: u64,
    pub(crate) retries: u64,
}

impl HttpTransport {
    pub(crate) fn new(exporter: &'static str, policy: RetryPolicy) -> Self {
        Self {
            exporter,
            runtime: None,
            client: None,
            tokens: policy.budget_tokens,
            policy,
            deadline: None,
            requests: 0,
            retries: 0,
        }
    }

    /// From now on, no attempt or backoff goes past `deadline` (shutdown).
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    fn error(&self, message: impl Into<String>) -> ExportError {
        ExportError::new(self.exporter, message)
    }

    fn transient(&self, message: impl Into<String>) -> ExportError {
        ExportError::transient(self.exporter, message)
    }

    /// Built lazily on the exporter thread, so building a client never needs a runtime.
    fn ready(&mut self) -> Result<(&tokio::runtime::Runtime, &reqwest::Client), ExportError> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ExportError::new(self.exporter, format!("cannot start the HTTP runtime: {e}")))?;
            self.runtime = Some(runtime);
        }
        if self.client.is_none() {
            let _entered = self.runtime.as_ref().map(tokio::runtime::Runtime::enter);
            let client = reqwest::Client::builder()
                .connect_timeout(self.policy.connect_timeout)
                .timeout(self.policy.request_timeout)
                .user_agent(concat!("mv37-rust/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| ExportError::new(self.exporter, format!("cannot build the HTTP client: {e}")))?;
            self.client = Some(client);
        }
        match (&self.runtime, &self.client) {
            (Some(runtime), Some(client)) => Ok((runtime, client)),
            _ => Err(self.error("HTTP client unavailable")),
        }
    }

    /// Delivers one request, retrying what is worth retrying.
    pub(crate) fn send(&mut self, request: &Request<'_>) -> Result<(), ExportError> {
        let compressed;
        let body = if request.gzip {
            compressed = gzip(request.body).map_err(|e| self.error(format!("gzip failed: {e}")))?;
            &compressed[..]
        } else {
            request.body
        };
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let timeout = self.remaining(started).min(self.policy.request_timeout);
            if timeout.is_zero() {
                return Err(self.transient("gave up: the delivery deadline passed"));
            }
            self.requests += 1;
            let outcome = self.attempt(request, body, timeout);
            let (reason, retry_after) = match outcome {
                Attempt::Delivered => {
                    self.tokens = (self.tokens + self.policy.budget_refill).min(self.policy.budget_tokens);
                    return Ok(());
                }
                Attempt::Fail(message) => return Err(self.error(message)),
                Attempt::Cancelled => {
                    return Err(
                        self.transient("cancelled: the shutdown deadline passed while the request was in flight")
                    )
                }
                Attempt::Retry { reason, retry_after } => (reason, retry_after),
            };
            if attempt >= self.policy.max_attempts {
                return Err(self.transient(format!("{reason} (gave up after {attempt} attempts)")));
            }
            if self.tokens < 1.0 {
                return Err(self.transient(format!("{reason} (retry budget exhausted: not retried)")));
            }
            let ceiling = self
                .policy
                .initial_backoff
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(self.policy.max_backoff);
            let jittered = ceiling.mul_f64(fastrand::f64());
            let wait = match retry_after {
                Some(asked) if asked > self.policy.max_backoff => {
                    return Err(self.transient(format!(
                        "{reason} (server asked to retry after {asked:?}, longer than the {:?} allowed)",
                        self.policy.max_backoff
                    )));
                }
                Some(asked) => asked.max(jittered),
                None => jittered,
            };
            if wait >= self.remaining(started) {
                return Err(self.transient(format!("{reason} (no time left to retry)")));
            }
            self.tokens -= 1.0;
            self.retries += 1;
            self.back_off(wait);
        }
    }

    fn remaining(&self, started: Instant) -> Duration {
        let budget = self.policy.max_elapsed.saturating_sub(started.elapsed());
        // The deadline set between batches, or the one `shutdown` set while this batch
        // was already being sent.
        match self.deadline.into_iter().chain(super::deadline::current()).min() {
            Some(deadline) => budget.min(deadline.saturating_duration_since(Instant::now())),
            None => budget,
        }
    }

    /// Waits before a retry; cut short by the shutdown deadline.
    fn back_off(&mut self, wait: Duration) {
        match self.ready() {
            Ok((runtime, _)) => runtime.block_on(async {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = super::deadline::reached() => {}
                }
            }),
            Err(_) => std::thread::sleep(wait),
        }
    }

    fn attempt(&mut self, request: &Request<'_>, body: &[u8], timeout: Duration) -> Attempt {
        let gzip = request.gzip;
        let (runtime, client) = match self.ready() {
            Ok(ready) => ready,
            Err(error) => return Attempt::Fail(error.message),
        };
        let mut headers = request.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(request.content_type));
        if gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        // Requests are made inside the runtime: their timers need its reactor. A request
        // still in flight when the shutdown deadline passes is cancelled.
        let exchange = async {
            let call = client
                .post(request.url)
                .headers(headers)
                .timeout(timeout)
                .body(body.to_vec())
                .send();
            let response = match call.await {
                Ok(response) => response,
                Err(error) => {
                    let chain = error_chain(&error);
                    if is_certificate_error(&chain) {
                        // Retrying cannot fix a certificate: fail fast and say why.
                        return Attempt::Fail(format!(
                            "the TLS certificate of {} was rejected (not retried): {chain}",
                            request.url
                        ));
                    }
                    let kind = if error.is_timeout() {
                        "request timed out"
                    } else if error.is_connect() {
                        "cannot connect"
                    } else {
                        "request failed"
                    };
                    return Attempt::Retry {
                        reason: format!("{kind}: {chain}"),
                        retry_after: None,
                    };
                }
            };
            let status = response.status();
            if status.is_success() {
                return Attempt::Delivered;
            }
            let retry_after = response.headers().get(RETRY_AFTER).and_then(parse_retry_after);
            let body = response.text().await.unwrap_or_default();
            let first_line = body.lines().next().unwrap_or("").chars().take(200).collect::<String>();
            let reason = format!("HTTP {status}: {first_line}");
            if is_retryable(status) {
                Attempt::Retry { reason, retry_after }
            } else {
                Attempt::Fail(reason)
            }
        };
        runtime.block_on(async {
            tokio::select! {
                attempt = exchange => attempt,
                () = super::deadline::reached() => Attempt::Cancelled,
            }
        })
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` as delta-seconds (the HTTP-date form is treated as absent).
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    value.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether a request failed because the server's certificate was not accepted (unknown
/// issuer, expired, wrong name): the TLS library's errors say so in their text.
fn is_certificate_error(chain: &str) -> bool {
    let chain = chain.to_ascii_lowercase();
    chain.contains("certificate") || chain.contains("unknownissuer") || chain.contains("notvalidforname")
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(crate) fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), flate2::Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

use secrecy::{ExposeSecret, SecretString};

use crate::config::entries::{header_pair, EntryError};
use crate::config::error::EntryProblem;

/// Builds a header map from pairs, every value marked sensitive; an error names the
/// pair's position and, when it is a valid header name, its key, never its value. (Only
/// the OTLP exporter takes headers from its configuration.)
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn header_map(pairs: &[(String, SecretString)]) -> Result<HeaderMap, EntryError> {
    let mut headers = HeaderMap::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        let (name, value) = header_pair(key, value.expose_secret()).map_err(|problem| EntryError {
            position: index + 1,
            key: (problem != EntryProblem::InvalidHeaderName).then(|| key.clone()),
            problem,
        })?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The retry loop of [`HttpTransport::send`], driven against a scripted HTTP server on
/// loopback: which answers are retried, how long each retry waits, and when it gives up.
#[cfg(test)]
mod delivery_tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// How the server answers one request.
    #[derive(Debug, Clone, Copy)]
    enum Answer {
        Ok,
        Status(u16),
        /// This status with `Retry-After: <seconds>`.
        RetryAfter(u16, u64),
    }

    /// One request as the server received it.
    #[derive(Debug, Clone)]
    struct Arrival {
        at: Instant,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    /// A loopback HTTP server that answers request `n` with `script(n)`, one connection
    /// at a time (the transport sends one request at a time).
    struct Server {
        url: String,
        arrivals: Arc<Mutex<Vec<Arrival>>>,
        stop: Arc<AtomicBool>,
        addr: std::net::SocketAddr,
    }

    impl Server {
        fn start(script: impl Fn(usize) -> Answer + Send + 'static) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            let addr = listener.local_addr().expect("local addr");
            let arrivals = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let (seen, stopped) = (Arc::clone(&arrivals), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    answer(stream, &seen, &script);
                }
            });
            Self {
                url: format!("http://{addr}/v1/traces"),
                arrivals,
                stop,
                addr,
            }
        }

        fn arrivals(&self) -> Vec<Arrival> {
            self.arrivals.lock().expect("lock").clone()
        }

        /// Time between consecutive requests.
        fn gaps(&self) -> Vec<Duration> {
            let arrivals = self.arrivals();
            arrivals.windows(2).map(|pair| pair[1].at - pair[0].at).collect()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
        }
    }

    fn answer(stream: TcpStream, seen: &Mutex<Vec<Arrival>>, script: &impl Fn(usize) -> Answer) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let Ok(mut writer) = stream.try_clone() else { return };
        let mut reader = BufReader::new(stream);
        let mut headers = Vec::new();
        let mut line = String::new();
        // The request line, then headers up to the blank line.
        for _ in 0..100 {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let text = line.trim_end();
            if text.is_empty() {
                break;
            }
            if let Some((key, value)) = text.split_once(':') {
                headers.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(key, _)| key == "content-length")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let index = {
            let mut seen = seen.lock().expect("lock");
            seen.push(Arrival {
                at: Instant::now(),
                headers,
                body,
            });
            seen.len() - 1
        };
        let (code, retry_after) = match script(index) {
            Answer::Ok => (200, None),
            Answer::Status(code) => (code, None),
            Answer::RetryAfter(code, seconds) => (code, Some(seconds)),
        };
        let retry_after = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
        let text = format!("status {code}\nsecond line");
        let response = format!(
            "HTTP/1.1 {code} Scripted\r\n{retry_after}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        let _ = writer.write_all(response.as_bytes());
        let _ = writer.flush();
    }

    /// Quick retries with a large budget; each test changes what it is about.
    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(20),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            budget_tokens: 100.0,
            budget_refill: 1.0,
        }
    }

    const BODY: &[u8] = br#"{"resourceSpans":[]}"#;

    fn send(transport: &mut HttpTransport, server: &Server, gzip: bool) -> Result<(), ExportError> {
        let headers = HeaderMap::new();
        transport.send(&Request {
            url: &server.url,
            body: BODY,
            content_type: "application/json",
            gzip,
            headers: &headers,
        })
    }

    fn header<'a>(arrival: &'a Arrival, name: &str) -> Option<&'a str> {
        arrival
            .headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn a_delivered_request_is_sent_once_gzipped_with_its_content_type() {
        let server = Server::start(|_| Answer::Ok);
        let mut transport = HttpTransport::new("test", policy());
        send(&mut transport, &server, true).expect("delivered");
        let arrivals = server.arrivals();
        assert_eq!(arrivals.len(), 1);
        assert_eq!(header(&arrivals[0], "content-type"), Some("application/json"));
        assert_eq!(header(&arrivals[0], "content-encoding"), Some("gzip"));
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&arrivals[0].body[..])
            .read_to_end(&mut plain)
            .expect("a gzip body");
        assert_eq!(plain, BODY);
        assert_eq!((transport.requests, transport.retries), (1, 0));
    }

    #[test]
    fn without_gzip_the_body_is_sent_as_given() {
        let server = Server::start(|_| Answer::Ok);
        let mut transport = HttpTransport::new("test", policy());
        send(&mut transport, &server, false).expect("delivered");
        let arrivals = server.arrivals();
        assert_eq!(header(&arrivals[0], "content-encoding"), None);
        assert_eq!(arrivals[0].body, BODY);
    }

    #[test]
    fn a_retryable_status_is_retried_until_max_attempts_then_given_up_as_transient() {
        let server = Server::start(|_| Answer::Status(503));
        let mut transport = HttpTransport::new(
            "test",
            RetryPolicy {
                max_attempts: 3,
                ..policy()
            },
        );
        let error = send(&mut transport, &server, false).expect_err("never accepted");
        assert!(error.transient, "{error}");
        assert_eq!(error.exporter, "test");
        assert!(
            error
                .message
                .starts_with("HTTP 503 Service Unavailable: status 503 (gave up after 3 attempts)"),
            "the first line of the answer, then why it gave up: {error}"
        );
        assert_eq!(server.arrivals().len(), 3);
        assert_eq!((transport.requests, transport.retries), (3, 2));
    }

    #[test]
    fn a_client_error_is_not_retried_and_is_permanent() {
        let server = Server::start(|_| Answer::Status(400));
        let mut transport = HttpTransport::new("test", policy());
        let error = send(&mut transport, &server, false).expect_err("rejected");
        assert!(!error.transient, "{error}");
        assert_eq!(error.message, "HTTP 400 Bad Request: status 400");
        assert_eq!(server.arrivals().len(), 1);
        assert_eq!((transport.requests, transport.retries), (1, 0));
    }

    #[test]
    fn each_retry_spends_a_budget_token_and_an_empty_budget_stops_retrying() {
        let server = Server::start(|_| Answer::Status(503));
        let mut transport = HttpTransport::new(
            "test",
            RetryPolicy {
                budget_tokens: 2.0,
                ..policy()
            },
        );
        let error = send(&mut transport, &server, false).expect_err("never accepted");
        assert!(error.transient, "{error}");
        assert!(
            error.message.ends_with("(retry budget exhausted: not retried)"),
            "{error}"
        );
        assert_eq!(server.arrivals().len(), 3, "the first attempt and one retry per token");
        assert_eq!(transport.retries, 2);
        // The budget is not refilled by time: the next batch is not retried at all.
        let error = send(&mut transport, &server, false).expect_err("never accepted");
        assert!(
            error.message.ends_with("(retry budget exhausted: not retried)"),
            "{error}"
        );
        assert_eq!(server.arrivals().len(), 4);
    }

    #[test]
    fn a_success_earns_back_a_budget_token() {
        // Odd requests fail, even ones succeed: with a budget of one token, every batch
        // needs its one retry, which only the success before it pays for.
        let server = Server::start(|n| if n % 2 == 0 { Answer::Status(503) } else { Answer::Ok });
        let mut transport = HttpTransport::new(
            "test",
            RetryPolicy {
                budget_tokens: 1.0,
                budget_refill: 1.0,
                ..policy()
            },
        );
        let outcomes: Vec<_> = (0..3).map(|_| send(&mut transport, &server, false)).collect();
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        assert_eq!(server.arrivals().len(), 6);
        assert_eq!(transport.retries, 3);
    }

    #[test]
    fn retry_after_is_honoured_when_it_is_within_max_backoff() {
        // Jitter alone would wait at most 1 ms; the server asks for one second, exactly
        // the largest wait allowed.
        let server = Server::start(|n| if n == 0 { Answer::RetryAfter(429, 1) } else { Answer::Ok });
        let mut transport = HttpTransport::new("test", policy());
        send(&mut transport, &server, false).expect("delivered on the retry");
        let gaps = server.gaps();
        assert_eq!(gaps.len(), 1);
        assert!(gaps[0] >= Duration::from_secs(1), "retried after {:?}", gaps[0]);
        assert!(gaps[0] < Duration::from_secs(3), "retried after {:?}", gaps[0]);
    }

    #[test]
    fn a_retry_after_longer_than_max_backoff_gives_up_at_once() {
        let server = Server::start(|_| Answer::RetryAfter(503, 2));
        let mut transport = HttpTransport::new(
            "test",
            RetryPolicy {
                max_attempts: 2,
                ..policy()
            },
        );
        let started = Instant::now();
        let error = send(&mut transport, &server, false).expect_err("not waited for");
        assert!(error.transient, "{error}");
        assert!(
            error
                .message
                .ends_with("(server asked to retry after 2s, longer than the 1s allowed)"),
            "{error}"
        );
        assert_eq!(server.arrivals().len(), 1);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn a_retry_that_would_outlast_max_elapsed_is_not_waited_for() {
        let server = Server::start(|_| Answer::RetryAfter(503, 1));
        let mut transport = HttpTransport::new(
            "test",
            RetryPolicy {
                max_backoff: Duration::from_secs(5),
                max_elapsed: Duration::from_millis(500),
                ..policy()
            },
        );
        let started = Instant::now();
        let error = send(&mut transport, &server, false).expect_err("no time left");
        assert!(error.transient, "{error}");
        assert!(error.message.ends_with("(no time left to retry)"), "{error}");
        assert_eq!(server.arrivals().len(), 1);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }

    #[test]
    fn a_passed_deadline_sends_nothing() {
        let server = Server::start(|_| Answer::Ok);
        let mut transport = HttpTransport::new("test", policy());
        transport.set_deadline(Instant::now());
        let error = send(&mut transport, &server, false).expect_err("too late");
        assert!(error.transient, "{error}");
        assert_eq!(error.message, "gave up: the delivery deadline passed");
        assert!(server.arrivals().is_empty());
        assert_eq!(transport.requests, 0);
    }

    #[test]
    fn a_deadline_in_the_future_leaves_delivery_alone() {
        let server = Server::start(|_| Answer::Ok);
        let mut transport = HttpTransport::new("test", policy());
        transport.set_deadline(Instant::now() + Duration::from_secs(60));
        send(&mut transport, &server, false).expect("delivered");
        assert_eq!(server.arrivals().len(), 1);
    }

    /// A seed whose first `n` jitter draws are all at least `low`, so that each backoff is
    /// known to be close to its ceiling.
    fn seed_with_high_draws(n: usize, low: f64) -> (u64, Vec<f64>) {
        for seed in 0..10_000 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let draws: Vec<f64> = (0..n).map(|_| rng.f64()).collect();
            if draws.iter().all(|d| *d >= low) {
                return (seed, draws);
            }
        }
        (0, Vec::new())
    }

    #[test]
    fn the_backoff_doubles_from_the_initial_backoff_with_full_jitter() {
        let (seed, draws) = seed_with_high_draws(3, 0.6);
        assert_eq!(draws.len(), 3, "no seed found");
        // The jitter is drawn on the sending thread: this one.
        fastrand::seed(seed);
        let server = Server::start(|n| if n < 3 { Answer::Status(503) } else { Answer::Ok });
        let initial = Duration::from_millis(100);
        let mut transport = HttpTransport::new(
            "test",
            RetryPolicy {
                initial_backoff: initial,
                max_backoff: Duration::from_secs(10),
                ..policy()
            },
        );
        send(&mut transport, &server, false).expect("delivered on the third retry");
        let gaps = server.gaps();
        assert_eq!(gaps.len(), 3);
        for (retry, (gap, draw)) in gaps.iter().zip(&draws).enumerate() {
            // Retry k waits a uniform fraction of initial × 2^k.
            let expected = (initial * (1 << retry)).mul_f64(*draw);
            assert!(
                *gap >= expected && *gap < expected + Duration::from_millis(150),
                "retry {retry}: waited {gap:?}, expected {expected:?} (gaps {gaps:?})"
            );
        }
    }

    #[test]
    fn the_backoff_never_exceeds_max_backoff() {
        let server = Server::start(|n| if n < 3 { Answer::Status(503) } else { Answer::Ok });
        let mut transport = HttpTransport::new(
            "test",
            RetryPolicy {
                initial_backoff: Duration::from_secs(5),
                max_backoff: Duration::from_millis(50),
                ..policy()
            },
        );
        send(&mut transport, &server, false).expect("delivered on the third retry");
        let gaps = server.gaps();
        assert!(
            gaps.iter().all(|gap| *gap < Duration::from_millis(50 + 150)),
            "{gaps:?}"
        );
    }

    #[test]
    fn what_is_retried_is_timeouts_throttling_and_server_errors() {
        for code in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(is_retryable(status), "{code} is retried");
        }
        for code in [400, 401, 403, 404, 409, 413, 422] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(!is_retryable(status), "{code} is not retried");
        }
    }

    #[test]
    fn retry_after_is_read_as_delta_seconds_only() {
        let parse = |text: &str| parse_retry_after(&HeaderValue::from_str(text).expect("header"));
        assert_eq!(parse("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("1.5"), None);
    }

    #[test]
    fn certificate_errors_are_told_apart_from_network_errors() {
        for text in [
            "error sending request: invalid peer certificate: Expired",
            "error sending request: received fatal alert: UnknownIssuer",
            "error sending request: NotValidForName",
        ] {
            assert!(is_certificate_error(text), "{text}");
        }
        for text in [
            "error sending request: connection refused",
            "error sending request: operation timed out",
            "",
        ] {
            assert!(!is_certificate_error(text), "{text}");
        }
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|layer| layer as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn an_error_is_shown_with_every_cause_in_its_chain() {
        let error = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "tls handshake",
                Some(Box::new(Layer("UnknownIssuer", None))),
            ))),
        );
        assert_eq!(
            error_chain(&error),
            "error sending request: tls handshake: UnknownIssuer"
        );
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }

    #[test]
    fn gzip_output_decompresses_to_its_input() {
        let input = b"mv37 ".repeat(1000);
        let compressed = gzip(&input).expect("gzip");
        assert!(compressed.len() < input.len() / 10, "{} bytes", compressed.len());
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut plain)
            .expect("valid gzip");
        assert_eq!(plain, input);
    }
}
