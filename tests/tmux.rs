//! End to end in a real terminal: the built binary inside tmux, driven with
//! send-keys and read with capture-pane. It approves a task by keyboard,
//! quits, and checks the terminal was given back (cooked mode, no
//! alternate screen). scripts/test installs tmux when it is missing.

mod common;

use common::{Sandbox, json_lines, ok};
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
        let server = format!("aa-test-{}", std::process::id());
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
        "cd {dir} && XDG_CONFIG_HOME={dir}/config AUTO_ASSIGN_DATABASE_URL={db} AUTO_ASSIGN_SOCKET_PATH={dir}/run/e.sock AUTO_ASSIGN_LOG_FILE={dir}/room.log {binary} --operator tmux-op; stty -a > {stty}; echo RESTORED-$?; sleep 30",
        dir = sb.dir.path().display(),
        db = sb.db().display(),
        stty = stty.display(),
    );
    let tmux = Tmux::start(&script);
    tmux.wait_for("Recommendations");
    tmux.keys(&["3"]);
    tmux.wait_for("push to prod");
    tmux.keys(&["a", "o", "k", "Enter"]);
    tmux.wait_for("Really approve?");
    tmux.keys(&["y"]);
    tmux.wait_for("approve: done (1)");
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
