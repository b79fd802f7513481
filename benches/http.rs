//! The HTTP door under load, end to end: an engine and its HTTP API in
//! this process, 8 keep-alive clients on real TCP, state committed to a
//! real SQLite file; and the socket's heartbeat rate alone and while HTTP
//! is loaded. Prints one line per figure for docs/benchmarks.md.
//!
//! `cargo bench --bench http`

#[path = "load.rs"]
mod load;

use load::{heartbeat_line, percentile, read_ok_replies, start_host};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;

/// One keep-alive connection: a POST, and its status.
struct Conn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let writer = TcpStream::connect(("127.0.0.1", port)).unwrap();
        writer.set_nodelay(true).unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Conn { writer, reader }
    }

    fn post(&mut self, path: &str, body: &str) -> u16 {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(request.as_bytes()).unwrap();
        let mut status = 0;
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if status == 0 {
                status = line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            } else if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        status
    }
}

/// `CLIENTS` connections each sending `per_client` requests back to back;
/// the rate and every round trip, sorted.
fn load(
    port: u16,
    per_client: usize,
    request: fn(usize, usize) -> (&'static str, String),
) -> (f64, Vec<Duration>) {
    load_from(port, per_client, request, false)
}

/// [`load`], from client threads at the lowest niceness when `niced`: the
/// stand-in for workers on other machines, whose CPU is not this box's.
fn load_from(
    port: u16,
    per_client: usize,
    request: fn(usize, usize) -> (&'static str, String),
    niced: bool,
) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                if niced {
                    let _ = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    );
                }
                let mut conn = Conn::open(port);
                let mut took = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let (path, body) = request(c, i);
                    let sent = Instant::now();
                    let status = conn.post(path, &body);
                    took.push(sent.elapsed());
                    assert_eq!(status, 200, "{path} {body}");
                }
                took
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

fn heartbeat(client: usize, i: usize) -> (&'static str, String) {
    let body = format!(
        "{{\"node_id\":\"http\",\"worker_id\":\"w{}\",\"status\":\"ready\"}}",
        client * 100 + i % 20
    );
    ("/api/heartbeats", body)
}

fn evaluate(client: usize, i: usize) -> (&'static str, String) {
    let body = format!("{{\"task_id\":\"E{client}-{i}\",\"dry_run\":false}}");
    ("/api/assignments/evaluate", body)
}

fn print(what: &str, rate: f64, took: &[Duration]) {
    println!(
        "{what}: {rate:>8.0} /s, p50 {:?}, p99 {:?}, max {:?}",
        percentile(took, 0.50),
        percentile(took, 0.99),
        took[took.len() - 1]
    );
}

/// One socket client pipelining `n` heartbeats; its committed rate.
fn socket_rate(socket: &Path, n: usize) -> f64 {
    let started = Instant::now();
    let stream = UnixStream::connect(socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let batch: String = (0..n).map(|i| heartbeat_line(i, 5000 + i % 20)).collect();
        writer.write_all(batch.as_bytes()).unwrap();
    });
    read_ok_replies(stream, n);
    sender.join().unwrap();
    n as f64 / started.elapsed().as_secs_f64()
}

/// The same load on the socket: `CLIENTS` connections each sending one
/// heartbeat and waiting for its reply; the rate. What the engine gives
/// requests that are not pipelined, whichever door they come through.
fn socket_one_at_a_time(socket: &Path, per_client: usize) -> f64 {
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let socket = socket.to_path_buf();
            std::thread::spawn(move || {
                let stream = UnixStream::connect(&socket).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                for i in 0..per_client {
                    writer
                        .write_all(heartbeat_line(i, 7000 + c * 100 + i % 20).as_bytes())
                        .unwrap();
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    (CLIENTS * per_client) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{port}");
    let (sock, runtime, host) = start_host(dir.path(), &[("AUTO_ASSIGN_HTTP_BIND", bind.as_str())]);
    let _ = load(port, 500, heartbeat); // warm up
    for _ in 0..3 {
        let (rate, took) = load(port, 5_000, heartbeat);
        print("HTTP heartbeats, 8 keep-alive clients", rate, &took);
    }
    for _ in 0..3 {
        let rate = socket_one_at_a_time(&sock, 5_000);
        println!("socket heartbeats, 8 clients one request at a time: {rate:>8.0} /s");
    }
    for _ in 0..3 {
        let (rate, took) = load(port, 250, evaluate);
        print("HTTP evaluate (stored), 8 keep-alive clients", rate, &took);
    }
    let _ = socket_rate(&sock, 5_000); // warm up
    for niced in [false, true] {
        socket_beside_http(&sock, port, niced);
    }
    runtime.block_on(host.stop()).unwrap();
}

/// The socket's pipelined heartbeat rate alone and with 8 HTTP clients
/// loading heartbeats beside it, interleaved five times so the machine's
/// drift hits both; the clients niced when `niced`.
fn socket_beside_http(sock: &Path, port: u16, niced: bool) {
    let (mut alone, mut loaded) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        alone.push(socket_rate(sock, 120_000));
        let loading = Arc::new(AtomicBool::new(true));
        let background = {
            let loading = loading.clone();
            std::thread::spawn(move || {
                let mut sent = 0;
                while loading.load(Ordering::Relaxed) {
                    sent += load_from(port, 100, heartbeat, niced).1.len();
                }
                sent
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        loaded.push(socket_rate(sock, 120_000));
        let took = started.elapsed().as_secs_f64();
        loading.store(false, Ordering::Relaxed);
        let sent = background.join().unwrap();
        println!(
            "  socket alone {:>7.0} /s; loaded {:>7.0} /s, with about {:.0} HTTP heartbeats/s beside it",
            alone[alone.len() - 1],
            loaded[loaded.len() - 1],
            sent as f64 / (took + 0.2)
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, l) = (median(&mut alone), median(&mut loaded));
    let clients = if niced { "niced" } else { "at normal priority" };
    println!(
        "socket heartbeats (1 pipelining client), median of 5: {a:.0} /s alone, {l:.0} /s while HTTP is loaded by clients {clients}: {:+.0} %",
        (l / a - 1.0) * 100.0
    );
}
