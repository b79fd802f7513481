//! Keys in the control room reach the engine and land in the audit: a real
//! engine on a real SQLite file, the app driven key by key.

use auto_assign::config::{Overrides, load_with};
use auto_assign::engine::{self, Command, Core, EngineHandle, Reply, Snapshot};
use auto_assign::host::Link;
use auto_assign::store::{Store, audit};
use auto_assign::tui::app::{App, Connection, Effect, Level, Mode};
use auto_assign::tui::keymap::Keymap;
use auto_assign::tui::panes::Pane;
use auto_assign::wire::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A snapshot built after everything sent so far.
async fn fresh(engine: &EngineHandle) -> Arc<Snapshot> {
    match engine.send(Command::Snapshot {}).await.unwrap() {
        Reply::Snapshot(snapshot) => snapshot,
        other => panic!("{other:?}"),
    }
}

struct Room {
    engine: EngineHandle,
    app: App,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Room {
    async fn new(read_only: bool) -> Room {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cache.sqlite3");
        let overrides = Overrides {
            database: Some(db.display().to_string()),
            operator: Some("scott".into()),
            ..Default::default()
        };
        let settings = load_with(&overrides, &|_| None).unwrap().settings;
        let (engine, _task) = engine::spawn(Core::open(settings).unwrap()).unwrap();
        let candidates = vec![
            json!({"task_id": "G1", "risk_level": "high", "title": "gated one"}),
            json!({"task_id": "G2", "approval_required": true, "title": "gated two"}),
            json!({"task_id": "P1", "title": "plain"}),
        ];
        engine
            .send(Command::by("scott", Action::Evaluate { candidates }))
            .await
            .unwrap();
        let keymap = Keymap::new(&BTreeMap::new()).unwrap();
        let first = fresh(&engine).await;
        let app = App::new(
            first,
            keymap,
            "scott".into(),
            read_only,
            Connection::InProcess,
        );
        Room {
            engine,
            app,
            db,
            _dir: dir,
        }
    }

    async fn refresh(&mut self) {
        self.app.set_snapshot(fresh(&self.engine).await);
    }

    /// Presses keys; any effect is carried out against the engine, and its
    /// result handed back to the app, as the event loop does.
    async fn press(&mut self, keys: &[KeyCode]) {
        for code in keys {
            if let Some(Effect::Send { label, commands }) =
                self.app.on_key(KeyEvent::new(*code, KeyModifiers::NONE))
            {
                let results = Link::Engine(self.engine.clone())
                    .send_all(commands)
                    .await
                    .into_iter()
                    .map(|r| r.map_err(|e| e.to_string()))
                    .collect();
                self.app.on_results(&label, results);
                self.refresh().await;
            }
        }
    }

    async fn type_text(&mut self, text: &str) {
        let keys: Vec<KeyCode> = text.chars().map(KeyCode::Char).collect();
        self.press(&keys).await;
    }

    fn audit(&self) -> Vec<audit::Entry> {
        audit::recent(Store::open_read_only(&self.db).unwrap().conn(), 100, true).unwrap()
    }

    fn status_of(&self, task: &str) -> String {
        let store = Store::open_read_only(&self.db).unwrap();
        store
            .conn()
            .query_row(
                "SELECT status FROM assignments WHERE task_id = ?1",
                [task],
                |r| r.get(0),
            )
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_by_keyboard_reaches_the_engine_and_the_audit() {
    let mut room = Room::new(false).await;
    room.press(&[KeyCode::Char('3'), KeyCode::Char('a')]).await;
    room.type_text("reviewed").await;
    room.press(&[KeyCode::Enter, KeyCode::Char('y')]).await;
    assert_eq!(room.status_of("G1"), "approved");
    let last = room.audit().pop().unwrap();
    assert_eq!(
        (
            last.actor.as_str(),
            last.action.as_str(),
            last.outcome.as_str()
        ),
        ("scott", "approve", "ok")
    );
    assert_eq!(last.detail.as_deref(), Some("reviewed"));
    assert!(matches!(room.app.flash, Some((ref t, Level::Info)) if t.contains("done (1)")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_by_keyboard() {
    let mut room = Room::new(false).await;
    room.press(&[KeyCode::Char('3'), KeyCode::Char('x')]).await;
    room.type_text("not now").await;
    room.press(&[KeyCode::Enter, KeyCode::Right, KeyCode::Enter])
        .await;
    assert_eq!(room.status_of("G1"), "blocked");
    assert_eq!(room.audit().pop().unwrap().action, "reject");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_approval_of_marked_rows() {
    let mut room = Room::new(false).await;
    room.press(&[
        KeyCode::Char('3'),
        KeyCode::Char(' '),
        KeyCode::Char('j'),
        KeyCode::Char(' '),
        KeyCode::Char('a'),
        KeyCode::Enter,
    ])
    .await;
    match &room.app.mode {
        Mode::Confirm { targets, .. } => {
            assert_eq!(targets.len(), 2, "the confirmation lists both")
        }
        other => panic!("{other:?}"),
    }
    room.press(&[KeyCode::Char('y')]).await;
    assert_eq!(room.status_of("G1"), "approved");
    assert_eq!(room.status_of("G2"), "approved");
    assert_eq!(
        room.audit()
            .iter()
            .filter(|e| e.action == "approve")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_a_workers_lease_by_keyboard() {
    let mut room = Room::new(false).await;
    let id = auto_assign::domain::ids::assignment_id("P1", None);
    room.engine
        .send(Command::Claim {
            assignment_id: id,
            worker_id: "w1".into(),
            node_id: Some("n1".into()),
            lease_seconds: Some(600),
            correlation_id: None,
        })
        .await
        .unwrap();
    room.engine
        .send(Command::Heartbeat(
            auto_assign::domain::worker::Heartbeat::new("n1", "w1"),
        ))
        .await
        .unwrap();
    room.refresh().await;
    room.app.pane = Pane::Workers;
    room.press(&[KeyCode::Char('r'), KeyCode::Enter, KeyCode::Char('y')])
        .await;
    assert_eq!(
        room.status_of("P1"),
        "recommended",
        "released and offered again"
    );
    assert!(
        room.audit()
            .iter()
            .any(|e| e.action == "release" && e.actor == "scott")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_and_the_refusal_is_audited() {
    let mut room = Room::new(true).await;
    room.press(&[KeyCode::Char('3'), KeyCode::Char('a')]).await;
    assert!(matches!(room.app.mode, Mode::Normal), "no reason prompt");
    assert_eq!(room.status_of("G1"), "approval_required");
    let last = room.audit().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("approve", "refused")
    );
    assert_eq!(
        last.detail.as_deref(),
        Some("the control room is read-only")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_row_is_refused_with_the_reason_in_the_flash_line() {
    let mut room = Room::new(false).await;
    // Someone else approves G1 after this control room drew its snapshot.
    let id = auto_assign::domain::ids::assignment_id("G1", None);
    room.engine
        .send(Command::by(
            "other",
            Action::Reject {
                assignment_id: id,
                reason: None,
                expected_version: None,
            },
        ))
        .await
        .unwrap();
    room.press(&[
        KeyCode::Char('3'),
        KeyCode::Char('a'),
        KeyCode::Enter,
        KeyCode::Char('y'),
    ])
    .await;
    match &room.app.flash {
        Some((text, Level::Error)) => assert!(text.contains("stale version"), "{text}"),
        other => panic!("{other:?}"),
    }
    let last = room.audit().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("approve", "refused")
    );
}
