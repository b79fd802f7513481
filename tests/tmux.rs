//! End to end in a real terminal: the built binary inside tmux, driven with
//! send-keys and read with capture-pane. It approves a task by keyboard,
//! quits, and checks the terminal was given back (cooked mode, no
//! alternate screen). scripts/test installs tmux when it is missing.

mod common;

use common::{Daemon, Sandbox, eventually, json_lines, ok};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    server: String,
}

impl Tmux {
    fn start(shell_command: &str) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "tmux is not installed: run scripts/test, which installs it"
        );
        // One tmux server per test: tests run in parallel in one process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let server = format!("aa-test-{}-{n}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &server,
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "32",
                "sh",
                "-c",
                shell_command,
            ])
            .status()
            .unwrap();
        assert!(status.success());
        Tmux { server }
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            Command::new("tmux")
                .args(["-L", &self.server, "send-keys", key])
                .status()
                .unwrap();
            // Typing speed: each key lands on the screen its predecessor made.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.server, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Tmux {
    /// Whether the pane shows the alternate screen.
    fn alternate_on(&self) -> bool {
        let out = Command::new("tmux")
            .args(["-L", &self.server, "display", "-p", "#{alternate_on}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    fn kill_session(&self) {
        Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .status()
            .unwrap();
    }
}

/// The room in its own sandbox inside a shell (so Ctrl-z has a job control
/// to go back to); its socket and log paths.
fn room_in_a_shell(sb: &Sandbox) -> (Tmux, std::path::PathBuf, std::path::PathBuf) {
    let socket = sb.path("run/engine.sock");
    let log = sb.path("room.log");
    let room = format!(
        "cd {dir} && XDG_CONFIG_HOME={dir}/config AUTO_ASSIGN_DATABASE_URL={db} AUTO_ASSIGN_SOCKET_PATH={socket} AUTO_ASSIGN_LOG_FILE={log} {binary}",
        dir = sb.dir.path().display(),
        db = sb.db().display(),
        socket = socket.display(),
        log = log.display(),
        binary = env!("CARGO_BIN_EXE_auto-assign"),
    );
    let tmux = Tmux::start("exec bash --norc -i");
    tmux.keys(&[&room, "Enter"]);
    tmux.wait_for("1:Queue");
    (tmux, socket, log)
}

fn pid_of_room(socket: &std::path::Path) -> u32 {
    let reply = common::Conn::open(&socket.to_path_buf()).ask(serde_json::json!({"op": "hello"}));
    reply["result"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid in {reply}")) as u32
}

/// Ctrl-z gives the shell back with a sane terminal; `fg` brings the room
/// back, redrawn and answering keys. SIGINT then ends it cleanly.
#[test]
fn ctrl_z_suspends_fg_resumes_and_sigint_restores_the_terminal() {
    let sb = Sandbox::new();
    let (tmux, socket, log) = room_in_a_shell(&sb);
    assert!(tmux.alternate_on());
    tmux.keys(&["C-z"]);
    tmux.wait_for("Stopped");
    assert!(!tmux.alternate_on(), "the shell has its screen back");
    tmux.keys(&["clear", "Enter", "fg", "Enter"]);
    tmux.wait_for("1:Queue");
    assert!(tmux.alternate_on(), "back in the room");
    tmux.keys(&["5"]);
    tmux.wait_for("last error (assistx)");
    // A SIGTSTP from outside (`kill -TSTP`) suspends it the same way.
    let pid = pid_of_room(&socket);
    common::send_signal(pid, "TSTP");
    tmux.wait_for("Stopped");
    tmux.keys(&["clear", "Enter", "fg", "Enter"]);
    tmux.wait_for("1:Queue");
    common::send_signal(pid, "INT");
    eventually(
        "the room gone",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || (!socket.exists()).then_some(()),
    );
    assert!(!tmux.alternate_on(), "the terminal is given back");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("the control room ends: SIGINT"), "{logged}");
}

/// A terminal that goes away (tmux kill-session, an SSH drop) ends the room
/// cleanly: the reason in the log, the socket removed.
#[test]
fn a_killed_session_ends_the_room_with_its_socket_removed_and_the_reason_logged() {
    let sb = Sandbox::new();
    let (tmux, socket, log) = room_in_a_shell(&sb);
    assert!(socket.exists());
    tmux.kill_session();
    eventually(
        "the socket removed",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || (!socket.exists()).then_some(()),
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("the control room ends: SIGHUP") || logged.contains("the terminal is gone"),
        "{logged}"
    );
}

/// TERM=dumb cannot draw a full screen: the room says so instead of
/// drawing garbage.
#[test]
fn term_dumb_is_told_what_to_use_instead() {
    let sb = Sandbox::new();
    let script = format!(
        "cd {dir} && TERM=dumb AUTO_ASSIGN_DATABASE_URL={db} {binary}; echo EXIT-$?; sleep 30",
        dir = sb.dir.path().display(),
        db = sb.db().display(),
        binary = env!("CARGO_BIN_EXE_auto-assign"),
    );
    let tmux = Tmux::start(&script);
    let screen = tmux.wait_for("EXIT-");
    assert!(
        screen.contains("TERM is dumb") && screen.contains("EXIT-2"),
        "{screen}"
    );
    assert!(!tmux.alternate_on());
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .status();
    }
}

#[test]
fn approve_in_the_control_room_then_quit_and_the_terminal_is_restored() {
    let sb = Sandbox::new();
    sb.write(
        "backlog.json",
        r#"[{"task_id": "RISKY", "title": "push to prod", "risk_level": "critical"}]"#,
    );
    ok(&sb.run(&["tick", "--task-file", "backlog.json"]));
    let binary = env!("CARGO_BIN_EXE_auto-assign");
    let stty = sb.path("stty.txt");
    let script = format!(
        "cd {dir} && XDG_CONFIG_HOME={dir}/config AUTO_ASSIGN_DATABASE_URL={db} AUTO_ASSIGN_SOCKET_PATH={dir}/run/engine.sock AUTO_ASSIGN_LOG_FILE={dir}/room.log {binary} --operator tmux-op; code=$?; stty -a > {stty}; echo RESTORED-$code; sleep 30",
        dir = sb.dir.path().display(),
        db = sb.db().display(),
        stty = stty.display(),
    );
    let tmux = Tmux::start(&script);
    tmux.wait_for("Recommendations");
    tmux.keys(&["3"]);
    tmux.wait_for("push to prod");
    tmux.keys(&["a", "o", "k", "Enter"]);
    tmux.wait_for("Really approve RISKY?");
    tmux.keys(&["y"]);
    tmux.wait_for("approve RISKY: done (1)");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("RESTORED-0");
    assert!(
        !screen.contains("Recommendations"),
        "the alternate screen is gone:\n{screen}"
    );
    let modes = std::fs::read_to_string(&stty).unwrap();
    assert!(
        modes.contains(" icanon") && modes.contains(" echo"),
        "the terminal is back in cooked mode: {modes}"
    );
    let approved = json_lines(&ok(&sb.run(&[
        "assignments",
        "--status",
        "approved",
        "--json",
    ])));
    assert_eq!(approved.len(), 1);
    let audit = json_lines(&ok(&sb.run(&["audit", "--operators", "--json"])));
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "approve" && e["actor"] == "tmux-op")
    );
}

fn room_script(sb: &Sandbox, flags: &str, stty: &std::path::Path) -> String {
    format!(
        "cd {dir} && XDG_CONFIG_HOME={dir}/config AUTO_ASSIGN_DATABASE_URL={db} AUTO_ASSIGN_SOCKET_PATH={dir}/run/engine.sock AUTO_ASSIGN_LOG_FILE={dir}/room.log {binary} {flags}; code=$?; stty -a > {stty}; echo RESTORED-$code; sleep 30",
        dir = sb.dir.path().display(),
        db = sb.db().display(),
        binary = env!("CARGO_BIN_EXE_auto-assign"),
        stty = stty.display(),
    )
}

fn room_pid(sb: &Sandbox) -> String {
    // The room's own process: the binary running in this sandbox's folder.
    eventually(
        "the control room's process",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let out = Command::new("sh")
                .args(["-c", &format!("for p in $(pgrep -f '{}'); do if [ \"$(readlink /proc/$p/cwd)\" = '{}' ]; then echo $p; fi; done", env!("CARGO_BIN_EXE_auto-assign"), sb.dir.path().display())])
                .output()
                .unwrap();
            let pids = String::from_utf8_lossy(&out.stdout).trim().to_string();
            pids.lines().last().map(str::to_string)
        },
    )
}

#[test]
fn sigterm_restores_the_terminal() {
    let sb = Sandbox::new();
    let stty = sb.path("stty.txt");
    let tmux = Tmux::start(&room_script(&sb, "", &stty));
    tmux.wait_for("Recommendations");
    let pid = room_pid(&sb);
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let screen = tmux.wait_for("RESTORED-");
    assert!(!screen.contains("Recommendations"), "{screen}");
    let modes = std::fs::read_to_string(&stty).unwrap();
    assert!(
        modes.contains(" icanon") && modes.contains(" echo"),
        "{modes}"
    );
}

#[test]
fn attached_to_a_daemon_it_shows_a_lost_daemon_and_reconnects() {
    let sb = Sandbox::new();
    let daemon = Daemon::start(&sb);
    let socket = daemon.socket.clone();
    let stty = sb.path("stty.txt");
    let tmux = Tmux::start(&room_script(&sb, "--attach", &stty));
    tmux.wait_for("attached");
    drop(daemon); // SIGKILL: the socket file stays behind
    tmux.wait_for("DISCONNECTED");
    let _ = std::fs::remove_file(&socket);
    let daemon = Daemon::start(&sb);
    let screen = tmux.wait_for("attached");
    assert!(!screen.contains("DISCONNECTED"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("RESTORED-0");
    drop(daemon);
}

/// A control room whose own engine stops (here: its database deleted
/// under it) restores the terminal and exits non-zero, instead of showing
/// a frozen world.
#[test]
fn a_room_whose_engine_stops_restores_the_terminal_and_exits_non_zero() {
    let sb = Sandbox::new();
    let stty = sb.path("stty.txt");
    let data = sb.path("data");
    let script = format!(
        "cd {dir} && XDG_CONFIG_HOME={dir}/config AUTO_ASSIGN_DATABASE_URL={dir}/data/cache.sqlite3 AUTO_ASSIGN_SOCKET_PATH={dir}/run/engine.sock AUTO_ASSIGN_LOG_FILE={dir}/room.log {binary}; code=$?; stty -a > {stty}; echo RESTORED-$code; sleep 30",
        dir = sb.dir.path().display(),
        binary = env!("CARGO_BIN_EXE_auto-assign"),
        stty = stty.display(),
    );
    let tmux = Tmux::start(&script);
    tmux.wait_for("Recommendations");
    std::fs::remove_dir_all(&data).unwrap();
    let socket = sb.path("run/engine.sock");
    let database = data.join("cache.sqlite3");
    let out = sb.run_env(
        &["heartbeat", "--node", "n1", "--worker", "w1"],
        &[
            ("AUTO_ASSIGN_SOCKET_PATH", socket.to_str().unwrap()),
            ("AUTO_ASSIGN_DATABASE_URL", database.to_str().unwrap()),
        ],
    );
    assert!(!out.status.success(), "the write was refused");
    let screen = tmux.wait_for("RESTORED-1");
    assert!(!screen.contains("Recommendations"), "{screen}");
    let modes = std::fs::read_to_string(&stty).unwrap();
    assert!(
        modes.contains(" icanon") && modes.contains(" echo"),
        "{modes}"
    );
}
