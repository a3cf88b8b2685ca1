//! A scriptable HTTP collector on loopback for network tests: it records every request
//! (gunzipped) and answers each as the test's script says: success, an error status
//! (with or without `Retry-After`), a dropped connection, or a stall.
//!
//! Its port is bound from [`Collector::start`] until the collector is dropped, outages
//! included: [`Collector::pause`] does not free the port (another process could take it
//! before [`Collector::resume`]), it makes the collector close every connection unread.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the collector answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 200 OK.
    Ok,
    /// This status, with `Retry-After: n` seconds if given.
    Status(u16, Option<u64>),
    /// Close the connection without answering.
    Drop,
    /// Wait this long, then close without answering.
    Stall(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    /// The body, gunzipped if it was sent gzipped.
    pub body: Vec<u8>,
    /// What the collector answered.
    pub reply: Reply,
    /// When the whole request (headers and body) had been read, before the answer.
    pub received_at: Instant,
}

type Script = dyn Fn(usize) -> Reply + Send + Sync;

struct Shared {
    received: Mutex<Vec<Received>>,
    script: Box<Script>,
    count: AtomicUsize,
    /// While set, every connection is closed unread and nothing is recorded.
    paused: AtomicBool,
    /// Connections closed unread because the collector was paused.
    refused: AtomicUsize,
    /// Set when the collector is dropped: the acceptor exits and the port is freed.
    stop: AtomicBool,
}

pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Collector {
    /// Starts a collector on 127.0.0.1, port 0, answering request `n` with `script(n)`.
    pub fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            script: Box::new(script),
            count: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept(listener, shared))
        };
        Self {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The base URL, such as `http://127.0.0.1:34567`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on, for the whole of its life.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An outage: until [`Collector::resume`], every connection is closed without being
    /// read or answered (the client sees a reset or a closed connection) and nothing is
    /// recorded. The port stays bound, so nothing else can take it meanwhile.
    pub fn pause(&mut self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    /// Ends the outage: requests are answered again, on the same port.
    pub fn resume(&mut self) {
        self.shared.paused.store(false, Ordering::SeqCst);
    }

    /// Connections closed unanswered because the collector was paused.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Requests answered with 200.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.reply == Reply::Ok).collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if shared.paused.load(Ordering::SeqCst) {
            refuse(stream, &shared);
            continue;
        }
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || handle(stream, &shared));
    }
}

/// Closes a connection of the outage without reading it.
fn refuse(stream: TcpStream, shared: &Shared) {
    shared.refused.fetch_add(1, Ordering::SeqCst);
    let _ = stream.shutdown(Shutdown::Both);
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    if shared.paused.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
        // The outage began while this request was on its way.
        refuse(stream, shared);
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        let mut plain = Vec::new();
        if flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain).is_err() {
            return;
        }
        body = plain;
    }
    let received_at = Instant::now();
    let index = shared.count.fetch_add(1, Ordering::SeqCst);
    let reply = (shared.script)(index);
    shared.received.lock().expect("lock").push(Received {
        path,
        headers,
        body,
        reply,
        received_at,
    });
    match reply {
        Reply::Ok => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        Reply::Status(code, retry_after) => {
            let retry = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
            let text = format!("collector says {code}\nsecond line");
            let response = format!(
                "HTTP/1.1 {code} Scripted\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
        Reply::Drop => {}
        Reply::Stall(duration) => std::thread::sleep(duration),
    }
    let _ = stream.flush();
}
