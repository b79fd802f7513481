//! A plain HTTP/1.1 client over a TCP socket, so the tests see exactly
//! what goes over the wire (no client library smoothing it over).

use super::{Daemon, Sandbox};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// A port free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon serving HTTP on a free port (`AUTO_ASSIGN_PORT`) with the
/// `extra` settings; the daemon and its port.
pub fn serving(sb: &Sandbox, extra: &[(&str, &str)]) -> (Daemon, u16) {
    let port = free_port();
    let port_text = port.to_string();
    let mut env = vec![("AUTO_ASSIGN_PORT", port_text.as_str())];
    env.extend_from_slice(extra);
    (Daemon::start_env(sb, &env), port)
}

/// One HTTP/1.1 request; the status code and the body.
pub fn request(port: u16, method: &str, path: &str, headers: &[&str]) -> (u16, String) {
    send(port, method, path, headers, "")
}

/// A POST of a JSON body; the status code and the body read as JSON.
pub fn post(port: u16, path: &str, body: Value) -> (u16, Value) {
    let text = body.to_string();
    let (status, reply) = send(
        port,
        "POST",
        path,
        &["Content-Type: application/json"],
        &text,
    );
    (status, serde_json::from_str(&reply).unwrap_or(Value::Null))
}

pub fn send(port: u16, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream.write_all(head.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A GET; the status code and the body read as JSON.
pub fn get(port: u16, path: &str) -> (u16, Value) {
    let (status, body) = request(port, "GET", path, &[]);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// One request written as given; the whole raw reply.
pub fn raw_reply(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}
