//! The loopback OTLP/HTTP receiver of the `agent` case: a plain HTTP/1.1 server on
//! `127.0.0.1:0` in the benchmark's own process that reads each export request, counts
//! its bytes as sent and decompressed, decodes the protobuf `ExportTraceServiceRequest`
//! to count its spans and their attributes, and answers 200 with an empty
//! `ExportTraceServiceResponse`. A request it cannot read or decode is answered 400 and
//! counted as rejected, its spans not counted.
//!
//! The benchmark runs it in a child process ([`crate::remote`]), so that its memory and
//! CPU are not counted as the stack's. The spans are counted before the answer is
//! written, so once the stack's exporter has its answers (after its flush or shutdown),
//! [`Sink::totals`] holds every span it delivered.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use flate2::read::GzDecoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use crate::Wire;

/// The largest request body the receiver reads, compressed or not.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// The running receiver; dropping it stops accepting connections.
#[derive(Debug)]
pub struct Sink {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    requests: AtomicU64,
    bytes: AtomicU64,
    body_bytes: AtomicU64,
    spans: AtomicU64,
    attributes: AtomicU64,
    rejected: AtomicU64,
}

impl Sink {
    /// Binds `127.0.0.1:0` and starts accepting connections on a thread of its own, one
    /// more thread per connection.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept = std::thread::Builder::new().name("otlp-sink".to_owned()).spawn({
            let shared = Arc::clone(&shared);
            move || accept_loop(&listener, &shared)
        })?;
        Ok(Sink {
            address,
            shared,
            accept: Some(accept),
        })
    }

    /// The OTLP/HTTP traces URL to export to: `http://127.0.0.1:PORT/v1/traces`.
    pub fn traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.address)
    }

    /// What it has received so far.
    pub fn totals(&self) -> Wire {
        let load = |counter: &AtomicU64| counter.load(Ordering::Acquire);
        let shared = &self.shared;
        Wire {
            requests: load(&shared.requests),
            bytes: load(&shared.bytes),
            body_bytes: load(&shared.body_bytes),
            spans: load(&shared.spans),
            attributes: load(&shared.attributes),
            rejected: load(&shared.rejected),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the accept loop so that it sees the flag.
        if TcpStream::connect(self.address).is_ok() {
            if let Some(accept) = self.accept.take() {
                let _ = accept.join();
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("otlp-sink-conn".to_owned())
            .spawn(move || serve(stream, &shared));
        if let Err(error) = spawned {
            eprintln!("otlp sink: cannot start a connection thread: {error}");
        }
    }
}

/// Answers the requests of one connection until the peer closes it.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let (status, close) = match read_request(&mut reader) {
            Ok(None) => return,
            Ok(Some(request)) => (shared.receive(&request), request.close),
            Err(_) => {
                shared.rejected.fetch_add(1, Ordering::AcqRel);
                ("400 Bad Request", true)
            }
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n{}\r\n",
            if close { "connection: close\r\n" } else { "" }
        );
        if writer
            .write_all(answer.as_bytes())
            .and_then(|()| writer.flush())
            .is_err()
            || close
        {
            return;
        }
    }
}

impl Shared {
    /// Counts an export request; returns the status line to answer with.
    fn receive(&self, request: &Request) -> &'static str {
        if request.method != "POST" || request.path != "/v1/traces" {
            self.rejected.fetch_add(1, Ordering::AcqRel);
            return "404 Not Found";
        }
        match decode(&request.body, request.gzip) {
            Ok(counted) => {
                self.bytes.fetch_add(request.body.len() as u64, Ordering::AcqRel);
                self.body_bytes.fetch_add(counted.body_bytes, Ordering::AcqRel);
                self.attributes.fetch_add(counted.attributes, Ordering::AcqRel);
                self.spans.fetch_add(counted.spans, Ordering::AcqRel);
                self.requests.fetch_add(1, Ordering::AcqRel);
                "200 OK"
            }
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::AcqRel);
                "400 Bad Request"
            }
        }
    }
}

/// One HTTP/1.1 request as the receiver needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST`, normally.
    pub method: String,
    /// The request target, such as `/v1/traces`.
    pub path: String,
    /// Whether the body is gzip-compressed (`content-encoding: gzip`).
    pub gzip: bool,
    /// Whether the connection closes after this request (`connection: close`, or
    /// HTTP/1.0).
    pub close: bool,
    /// The body as sent (de-chunked, still compressed).
    pub body: Vec<u8>,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// One line without its `\r\n`, or `None` at the end of the stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let trimmed = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(trimmed);
    Ok(Some(line))
}

/// Reads the next request of a connection: `None` when the peer closed it between
/// requests. The body is read by `content-length` or `transfer-encoding: chunked`.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let Some(request_line) = read_line(reader)? else {
        return Ok(None);
    };
    let mut parts = request_line.split_ascii_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(format!("bad request line {request_line:?}")));
    };
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        gzip: false,
        close: version == "HTTP/1.0",
        body: Vec::new(),
    };
    let mut length = None;
    let mut chunked = false;
    loop {
        let line = read_line(reader)?.ok_or_else(|| invalid("the headers end early"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header {line:?}")))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(value.parse::<usize>().map_err(|_| invalid("bad content-length"))?);
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "content-encoding" => request.gzip = value.eq_ignore_ascii_case("gzip"),
            "connection" => request.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(length) = length {
        if length > MAX_BODY_BYTES {
            return Err(invalid(format!("a body of {length} bytes")));
        }
        request.body = vec![0; length];
        reader.read_exact(&mut request.body)?;
    }
    Ok(Some(request))
}

/// A chunked body, de-chunked; trailers are read and ignored.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| invalid("the body ends early"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            while read_line(reader)?.is_some_and(|trailer| !trailer.is_empty()) {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(invalid("a body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if read_line(reader)?.is_none_or(|end| !end.is_empty()) {
            return Err(invalid("a chunk without its line end"));
        }
    }
}

/// What one export request held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// The decompressed body's size.
    pub body_bytes: u64,
    /// Spans in it.
    pub spans: u64,
    /// Attributes on those spans.
    pub attributes: u64,
}

/// Decompresses (when `gzip`) and decodes an `ExportTraceServiceRequest`, and counts it.
pub fn decode(body: &[u8], gzip: bool) -> Result<Counted, String> {
    let body: Cow<'_, [u8]> = if gzip {
        let mut plain = Vec::new();
        GzDecoder::new(body)
            .take(MAX_BODY_BYTES as u64)
            .read_to_end(&mut plain)
            .map_err(|error| format!("cannot gunzip: {error}"))?;
        Cow::Owned(plain)
    } else {
        Cow::Borrowed(body)
    };
    let request = ExportTraceServiceRequest::decode(&*body).map_err(|error| format!("cannot decode: {error}"))?;
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| &scope.spans);
    let mut counted = Counted {
        body_bytes: body.len() as u64,
        ..Counted::default()
    };
    for span in spans {
        counted.spans += 1;
        counted.attributes += span.attributes.len() as u64;
    }
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use flate2::write::GzEncoder;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    /// A request of `spans` spans with two attributes each, encoded.
    fn export_request(spans: usize) -> Vec<u8> {
        let attribute = |key: &str| KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("value".to_owned())),
            }),
            ..KeyValue::default()
        };
        let span = Span {
            name: "step".to_owned(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            attributes: vec![attribute("a"), attribute("b")],
            ..Span::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; spans],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
        .encode_to_vec()
    }

    fn gzip(body: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(body).expect("gzip into memory");
        encoder.finish().expect("gzip into memory")
    }

    fn post(body: &[u8], headers: &str) -> Vec<u8> {
        let mut request = format!(
            "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n{headers}\
             content-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    }

    #[test]
    fn a_gzipped_request_decodes_to_its_spans_and_attributes() {
        let plain = export_request(3);
        let counted = decode(&gzip(&plain), true).expect("decodes");
        assert_eq!(
            counted,
            Counted {
                body_bytes: plain.len() as u64,
                spans: 3,
                attributes: 6
            }
        );
        assert_eq!(decode(&plain, false).expect("decodes").spans, 3);
        assert!(decode(&plain, true).is_err(), "a plain body is not gzip");
        assert!(decode(b"\xff\xff\xff", false).is_err());
    }

    #[test]
    fn requests_are_read_back_to_back_by_length_and_chunked() {
        let body = gzip(&export_request(2));
        let mut stream = post(&body, "content-encoding: gzip\r\n");
        stream
            .extend_from_slice(b"POST /v1/traces HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        stream.extend_from_slice(b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\ntrailer: x\r\n\r\n");
        let mut reader = Cursor::new(stream);
        let first = read_request(&mut reader).expect("reads").expect("a request");
        assert_eq!((first.method.as_str(), first.path.as_str()), ("POST", "/v1/traces"));
        assert!(first.gzip && !first.close);
        assert_eq!(first.body, body);
        let second = read_request(&mut reader).expect("reads").expect("a request");
        assert!(!second.gzip && second.close);
        assert_eq!(second.body, b"abcde");
        assert_eq!(read_request(&mut reader).expect("reads"), None, "the end of the stream");
        let mut cut = Cursor::new(post(&body, "")[..40].to_vec());
        assert!(read_request(&mut cut).is_err(), "headers cut short");
    }

    /// Sends raw requests over one connection and returns the status codes answered.
    fn exchange(sink: &Sink, requests: &[Vec<u8>]) -> Vec<String> {
        let mut stream = TcpStream::connect(sink.address).expect("connects");
        let mut reader = BufReader::new(stream.try_clone().expect("clones"));
        let mut statuses = Vec::new();
        for request in requests {
            stream.write_all(request).expect("sends");
            let status = read_line(&mut reader).expect("reads").expect("an answer");
            statuses.push(status.split(' ').nth(1).unwrap_or_default().to_owned());
            while read_line(&mut reader)
                .expect("reads")
                .is_some_and(|line| !line.is_empty())
            {}
        }
        statuses
    }

    #[test]
    fn the_sink_counts_the_spans_it_accepted_and_rejects_what_it_cannot_decode() {
        let sink = Sink::start().expect("binds loopback");
        assert!(sink.traces_url().starts_with("http://127.0.0.1:"));
        let gzipped = gzip(&export_request(5));
        let statuses = exchange(
            &sink,
            &[
                post(&gzipped, "content-encoding: gzip\r\n"),
                post(&export_request(4), ""),
                post(b"not protobuf", "content-encoding: gzip\r\n"),
            ],
        );
        assert_eq!(statuses, ["200", "200", "400"]);
        let wrong_path = b"POST /v1/logs HTTP/1.1\r\ncontent-length: 0\r\n\r\n".to_vec();
        assert_eq!(exchange(&sink, &[wrong_path]), ["404"]);
        let totals = sink.totals();
        assert_eq!(
            totals,
            Wire {
                requests: 2,
                bytes: (gzipped.len() + export_request(4).len()) as u64,
                body_bytes: (export_request(5).len() + export_request(4).len()) as u64,
                spans: 9,
                attributes: 18,
                rejected: 2,
            }
        );
        assert_eq!(totals.attributes_per_span(), Some(2.0));
    }
}
