//! Running the built binary in isolation: its own database, its own config
//! folder, and none of the caller's AUTO_ASSIGN_* variables.
#![allow(dead_code)]

pub mod http;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("cache.sqlite3")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The binary with a clean environment pointing at this sandbox.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_auto-assign"));
        for (key, _) in std::env::vars() {
            if key.starts_with("AUTO_ASSIGN_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("AUTO_ASSIGN_DATABASE_URL", self.db())
            .env("AUTO_ASSIGN_OPERATOR", "tester")
            .env_remove("RUST_BACKTRACE")
            .current_dir(self.dir.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args).stdin(Stdio::null()).output().unwrap()
    }

    pub fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code 0, or a failure that shows what the binary said.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Exit code 2 with a one-line message containing `needle`, and no panic.
pub fn bad_input(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(out)
    );
    assert!(
        err.contains(needle),
        "expected {needle:?} in stderr:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected:\n{err}"
    );
}

pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// Asks `probe` every `every` until it answers, for at most `within`; the
/// answer, or a failure naming what never happened.
pub fn eventually<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(answer) = probe() {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(every);
    }
}

/// Each thread's scheduling policy (`/proc/PID/task/*/stat`, field 41)
/// by its name: 0 normal, 2 round-robin, 5 idle.
pub fn thread_policies(pid: u32) -> Vec<(String, u32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            // After the name the fields start at the third.
            let policy = rest.split(' ').nth(41 - 3)?.parse().ok()?;
            Some((name.to_string(), policy))
        })
        .collect()
}

/// A process's resident memory, in KiB (`VmRSS` of `/proc/PID/status`).
pub fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// `auto-assign daemon` on a sandbox, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Daemon {
    pub fn start(sb: &Sandbox) -> Daemon {
        Self::start_env(sb, &[])
    }

    /// Starts the daemon and returns once its socket answers.
    pub fn start_env(sb: &Sandbox, env: &[(&str, &str)]) -> Daemon {
        let socket = sb.path("run/engine.sock");
        let mut cmd = sb.command();
        cmd.env("AUTO_ASSIGN_SOCKET_PATH", &socket)
            .args(["daemon"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        eventually(
            "the daemon's start",
            Duration::from_secs(20),
            Duration::from_millis(20),
            || UnixStream::connect(&socket).ok(),
        );
        Daemon { child, socket }
    }

    /// SIGTERM, then the exit status and what it logged.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        send_signal(self.child.id(), "TERM");
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn send_signal(pid: u32, signal: &str) {
    Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
}

/// A client of the engine's socket for tests: raw lines in, JSON out.
pub trait Connect {
    fn connect(&self) -> Conn;
}

impl Connect for Daemon {
    fn connect(&self) -> Conn {
        Conn::open(&self.socket)
    }
}

pub struct Conn {
    pub reader: BufReader<UnixStream>,
    pub writer: UnixStream,
}

impl Conn {
    pub fn open(path: &PathBuf) -> Conn {
        let stream = UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    pub fn read(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    pub fn ask(&mut self, request: Value) -> Value {
        self.send_raw(format!("{request}\n").as_bytes());
        self.read()
    }
}

/// Decides one task through the socket; its assignment id.
pub fn evaluate(c: &mut Conn, task: &str) -> String {
    let reply = c.ask(json!({"op": "command", "command": "evaluate", "operator": "t", "candidates": [{"task_id": task}]}));
    assert_eq!(reply["ok"], true, "{reply}");
    reply["result"]["data"][0]["decision"]["assignment_id"]
        .as_str()
        .unwrap()
        .to_string()
}
