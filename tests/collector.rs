//! The loopback collector the network tests share (tests/support/collector.rs): an
//! outage keeps its port, refuses requests without recording them, and ends on the
//! same port.

// Tests fail by panicking.
#![allow(clippy::panic)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use support::collector::{Collector, Reply};

/// Sends one small POST and returns what came back (empty when the connection was closed
/// or reset unanswered).
fn post(addr: SocketAddr) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let request = "POST /v1/traces HTTP/1.1\r\nHost: collector\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the collector neither answered nor closed the connection: {error}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_paused_collector_keeps_its_port_so_nothing_else_can_take_it() {
    let mut collector = Collector::start(|_| Reply::Ok);
    let addr = collector.addr();
    collector.pause();
    match TcpListener::bind(addr) {
        Ok(_) => panic!("the port of a paused collector was free: another process could take it"),
        Err(error) => assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}"),
    }
    collector.resume();
    assert_eq!(collector.addr(), addr);
    assert!(
        post(addr).starts_with("HTTP/1.1 200"),
        "answered again on the same port"
    );
}

#[test]
fn a_paused_collector_answers_and_records_nothing_until_it_resumes() {
    let mut collector = Collector::start(|_| Reply::Ok);
    let addr = collector.addr();
    assert!(post(addr).starts_with("HTTP/1.1 200"));
    collector.pause();
    assert_eq!(post(addr), "", "no answer during the outage");
    assert_eq!(post(addr), "");
    assert_eq!(collector.received().len(), 1, "requests of the outage are not recorded");
    assert_eq!(collector.refused(), 2);
    collector.resume();
    assert!(post(addr).starts_with("HTTP/1.1 200"));
    let received = collector.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.path == "/v1/traces" && r.body == b"hi"));
    assert_eq!(collector.accepted().len(), 2);
}
