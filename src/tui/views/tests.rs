//! Every pane in meaningful states, drawn on a `TestBackend` and compared
//! with the frames in `snapshots/` (insta). Colour-bearing states are also
//! checked cell by cell.

use crate::engine::Snapshot;
use crate::tui::app::{App, Connection, Effect, Mode};
use crate::tui::fixtures;
use crate::tui::keymap::Keymap;
use crate::tui::panes::Pane;
use crate::tui::theme::Theme;
use crate::wire::{Command, Reply};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::sync::Arc;

fn app(snapshot: Snapshot, pane: Pane) -> App {
    let keymap = Keymap::new(&BTreeMap::new()).unwrap();
    let mut app = App::new(
        Arc::new(snapshot),
        keymap,
        "scott".into(),
        false,
        Connection::InProcess,
    );
    app.now = fixtures::now();
    app.pane = pane;
    app.log_path = "./data/control-room.log".into();
    app
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let theme = Theme::load("default", false, false).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| super::draw(f, app, &theme)).unwrap();
    terminal
}

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Twenty recommendations, every one marked.
fn twenty_marked() -> App {
    let mut snapshot = fixtures::busy();
    let template = snapshot.recommendations[0].clone();
    snapshot.recommendations = (0..20)
        .map(|i| {
            let mut r = template.clone();
            r.assignment_id = format!("assign_{i:016x}");
            r.task_id = format!("T{i:04}");
            r
        })
        .collect();
    let mut a = app(snapshot, Pane::Recommendations);
    for _ in 0..20 {
        key(&mut a, KeyCode::Char(' '));
        key(&mut a, KeyCode::Char('j'));
    }
    a
}

#[test]
fn every_pane_empty() {
    for pane in Pane::ALL {
        let t = render(&app(fixtures::empty(), pane), 100, 24);
        insta::assert_snapshot!(format!("empty_{}", pane.command()), t.backend());
    }
}

#[test]
fn every_pane_busy() {
    for pane in Pane::ALL {
        let t = render(&app(fixtures::busy(), pane), 120, 30);
        insta::assert_snapshot!(format!("busy_{}", pane.command()), t.backend());
    }
}

#[test]
fn narrow_80_by_24_still_shows_the_essentials() {
    let t = render(&app(fixtures::busy(), Pane::Workers), 80, 24);
    let text = t.backend().to_string();
    assert!(text.contains("STALE"), "{text}");
    assert!(text.contains("DISCONNECTED") || text.contains("in-process"));
    insta::assert_snapshot!("narrow_workers", t.backend());
}

#[test]
fn wide_screens_get_a_side_column() {
    let t = render(&app(fixtures::busy(), Pane::Recommendations), 200, 50);
    let text = t.backend().to_string();
    assert!(
        text.contains("Queue (3)")
            && text.contains("Approvals (2)")
            && text.contains("Recommendations (12)"),
        "{text}"
    );
}

/// A filter belongs to the pane it was typed in: the side column keeps
/// its own rows, and the filtered pane says how many of how many match.
#[test]
fn a_filter_stays_in_its_pane_and_says_how_much_it_hides() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "zzz-nothing");
    key(&mut a, KeyCode::Enter);
    let text = render(&a, 200, 50).backend().to_string();
    assert!(
        text.contains("Recommendations (filtered 0/12) /zzz-nothing"),
        "{text}"
    );
    assert!(text.contains("no row matches /zzz-nothing"), "{text}");
    assert!(
        text.contains("Queue (3)") && text.contains("Approvals (2)"),
        "{text}"
    );
    // Another pane has no filter; back in this one, Esc clears it.
    key(&mut a, KeyCode::Char('3'));
    assert!(
        render(&a, 200, 50)
            .backend()
            .to_string()
            .contains("Approvals (2)")
    );
    key(&mut a, KeyCode::Char('2'));
    key(&mut a, KeyCode::Esc);
    let text = render(&a, 200, 50).backend().to_string();
    assert!(text.contains("Recommendations (12)"), "{text}");
}

#[test]
fn stale_workers_carry_a_word_and_the_warning_colour() {
    let theme = Theme::load("default", false, false).unwrap();
    let t = render(&app(fixtures::busy(), Pane::Workers), 120, 30);
    let buffer = t.backend().buffer();
    let area = buffer.area;
    let row = (0..area.height)
        .find(|y| {
            (0..area.width)
                .map(|x| buffer[(x, *y)].symbol())
                .collect::<String>()
                .contains("STALE")
        })
        .unwrap();
    let x = (0..area.width)
        .find(|x| buffer[(*x, row)].symbol() == "S")
        .unwrap();
    assert_eq!(buffer[(x, row)].fg, theme.error.fg.unwrap());
}

#[test]
fn degraded_dependencies_show_in_the_header() {
    let t = render(&app(fixtures::busy(), Pane::Queue), 160, 30);
    let header: String = t.backend().to_string().lines().nth(1).unwrap().to_string();
    assert!(header.contains("✖ router 10m00s"), "{header}");
    assert!(header.contains("✔ assistx 4s"), "{header}");
}

#[test]
fn describe_shows_every_reason_skip_id_and_key() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    // The describe view asks the engine for the decision's reasons...
    let effect = a.on_key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::NONE));
    assert!(matches!(a.mode, Mode::Describe { .. }));
    let Some(Effect::Send { label, commands }) = effect else {
        panic!("{effect:?}")
    };
    assert_eq!(
        commands,
        vec![Command::Explain {
            assignment_id: "assign_0000000000000000".into()
        }]
    );
    assert!(
        render(&a, 120, 40)
            .backend()
            .to_string()
            .contains("loading the decision")
    );
    // ...and shows them once they arrive.
    let reply = Reply::Explanation(Box::new(fixtures::explanation(0)));
    a.on_results(&label, vec![Ok(reply)]);
    let t = render(&a, 120, 40);
    let text = t.backend().to_string();
    for needle in [
        "decision_0000000000000000",
        "assign.assignment.decision:T0000:READY:unknown",
        "privacy_cloud_denied",
        "priority boost applied for batch",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    insta::assert_snapshot!("describe_recommendation", t.backend());
}

#[test]
fn help_is_generated_from_the_keymap_and_hides_actions_when_read_only() {
    let mut a = app(fixtures::busy(), Pane::Queue);
    key(&mut a, KeyCode::Char('?'));
    let text = render(&a, 100, 40).backend().to_string();
    assert!(
        text.contains("approve") && text.contains("control-room.log"),
        "{text}"
    );
    let mut a = app(fixtures::busy(), Pane::Queue);
    a.read_only = true;
    key(&mut a, KeyCode::Char('?'));
    let t = render(&a, 100, 40);
    let text = t.backend().to_string();
    assert!(!text.contains("approve (asks"), "{text}");
    assert!(text.contains("READ-ONLY"));
}

/// At 80×24 the keys do not all fit: the help says so and scrolls, and
/// every key can be read.
#[test]
fn a_help_too_long_for_80_by_24_scrolls_to_every_key() {
    let mut a = app(fixtures::busy(), Pane::Queue);
    key(&mut a, KeyCode::Char('?'));
    let first = render(&a, 80, 24).backend().to_string();
    assert!(first.contains("j/k scroll (lines 1–"), "{first}");
    assert!(!first.contains("retry a dead-lettered"), "{first}");
    // Scrolled a line at a time to the end, every line is seen once.
    let mut seen = first;
    for _ in 0..60 {
        key(&mut a, KeyCode::Char('j'));
        seen.push_str(&render(&a, 80, 24).backend().to_string());
    }
    let last = render(&a, 80, 24).backend().to_string();
    assert!(last.contains("rfsd refused"), "the legend ends it: {last}");
    assert!(seen.contains("retry a dead-lettered"), "{seen}");
    assert!(seen.contains("control-room.log"), "{seen}");
    for (_, description) in a.keymap.help(false) {
        let start: String = description.chars().take(20).collect();
        assert!(seen.contains(&start), "{description} never shown");
    }
    // Any other key closes it.
    key(&mut a, KeyCode::Esc);
    assert!(!render(&a, 80, 24).backend().to_string().contains("help —"));
}

/// The highlight follows the task, not the line: a list that re-sorts
/// under it (a new task on top) must not move an action onto another task.
#[test]
fn the_selection_follows_its_task_through_a_re_sort_and_falls_to_the_nearest_row() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Char('j'));
    let picked = a.selected_row().unwrap().id;
    let mut resorted = fixtures::busy();
    let mut newcomer = resorted.recommendations[0].clone();
    newcomer.assignment_id = "assign_newcomer".into();
    newcomer.task_id = "T-NEW".into();
    resorted.recommendations.insert(0, newcomer);
    a.set_snapshot(Arc::new(resorted.clone()));
    assert_eq!(
        a.selected_row().unwrap().id,
        picked,
        "the same task stays selected"
    );
    let text = render(&a, 120, 30).backend().to_string();
    assert!(text.contains("T-NEW"), "{text}");
    // The task leaves the list: the row now where it stood is selected.
    let index = a.selected_index(Pane::Recommendations, &a.rows(Pane::Recommendations));
    resorted
        .recommendations
        .retain(|r| r.assignment_id != picked);
    a.set_snapshot(Arc::new(resorted));
    let rows = a.rows(Pane::Recommendations);
    assert_eq!(a.selected_index(Pane::Recommendations, &rows), index);
    assert_ne!(a.selected_row().unwrap().id, picked);
}

#[test]
fn rows_are_built_again_only_when_what_they_show_changed() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    let before = a.rows(Pane::Recommendations);
    let mut counters = fixtures::busy();
    counters.graph.pending += 1;
    a.set_snapshot(Arc::new(counters.clone()));
    assert!(std::rc::Rc::ptr_eq(&before, &a.rows(Pane::Recommendations)));
    counters.recommendations[0].task_id = "T-MOVED".into();
    a.set_snapshot(Arc::new(counters));
    let after = a.rows(Pane::Recommendations);
    assert!(!std::rc::Rc::ptr_eq(&before, &after));
    assert_eq!(after[0].cells[0], "T-MOVED");
}

#[test]
fn the_confirmation_defaults_to_no() {
    let mut a = app(fixtures::busy(), Pane::Approvals);
    key(&mut a, KeyCode::Char('a'));
    typed(&mut a, "ok");
    key(&mut a, KeyCode::Enter);
    let t = render(&a, 100, 30);
    insta::assert_snapshot!("confirm_approve", t.backend());
    // Enter on the default answer cancels.
    assert!(
        a.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
            .is_none()
    );
    assert!(matches!(a.mode, Mode::Normal));
}

/// The answer to an action names what it acted on, and goes by itself.
#[test]
fn the_flash_names_the_row_and_clears_itself() {
    let mut a = app(fixtures::busy(), Pane::Approvals);
    let task = a.selected_row().unwrap().cells[0].clone();
    key(&mut a, KeyCode::Char('a'));
    typed(&mut a, "ok");
    key(&mut a, KeyCode::Enter);
    let effect = a.on_key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE));
    let Some(crate::tui::app::Effect::Send { label, .. }) = effect else {
        panic!("{effect:?}");
    };
    assert_eq!(label, format!("approve {task}"));
    a.on_results(&label, vec![Ok(crate::wire::Reply::Recorded)]);
    let text = render(&a, 120, 30).backend().to_string();
    assert!(
        text.contains(&format!("approve {task}: done (1)")),
        "{text}"
    );
    let shown = a.now;
    a.tick(shown + chrono::Duration::seconds(4));
    assert!(a.flash.is_some(), "still there after 4 s");
    a.tick(shown + chrono::Duration::seconds(6));
    assert!(a.flash.is_none(), "gone after 5 s");
    assert!(render(&a, 120, 30).backend().to_string().contains("? help"));
}

/// A page is what the pane shows: PgDn/PgUp, Ctrl-d/Ctrl-u, Home/End.
#[test]
fn pages_and_half_pages_move_by_what_the_pane_shows() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    render(&a, 80, 24); // sets the page: the rows the pane shows
    let page = a.page.get();
    assert!(page > 2 && page < 20, "{page}");
    let rows = a.rows(Pane::Recommendations).len();
    let at = |a: &App| a.selected_index(Pane::Recommendations, &a.rows(Pane::Recommendations));
    key(&mut a, KeyCode::PageDown);
    assert_eq!(at(&a), page.min(rows - 1));
    key(&mut a, KeyCode::PageUp);
    assert_eq!(at(&a), 0);
    a.on_key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL));
    assert_eq!(at(&a), page / 2);
    a.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    assert_eq!(at(&a), 0);
    key(&mut a, KeyCode::End);
    assert_eq!(at(&a), rows - 1);
    key(&mut a, KeyCode::Home);
    assert_eq!(at(&a), 0);
    // The help lists them.
    let help: Vec<String> = a.keymap.help(false).into_iter().map(|(k, _)| k).collect();
    for keys in ["PgDn", "PgUp", "Ctrl-d", "Ctrl-u", "g Home", "G End"] {
        assert!(
            help.iter().any(|k| k == keys),
            "{keys} missing from {help:?}"
        );
    }
}

/// A bulk confirmation at 80×24 always shows the verb, the count, the
/// reason and the buttons, however many rows are marked.
#[test]
fn a_bulk_confirm_at_80_by_24_shows_the_count_the_reason_and_the_buttons() {
    let mut a = twenty_marked();
    key(&mut a, KeyCode::Char('r'));
    typed(&mut a, "stuck");
    let prompt = render(&a, 80, 24).backend().to_string();
    assert!(prompt.contains("release 20 rows: why?"), "{prompt}");
    assert!(prompt.contains("reason> stuck"), "{prompt}");
    key(&mut a, KeyCode::Enter);
    let text = render(&a, 80, 24).backend().to_string();
    assert!(text.contains("Really release 20 rows?"), "{text}");
    assert!(
        text.contains("more"),
        "the rows not listed are counted: {text}"
    );
    assert!(text.contains("reason: stuck"), "{text}");
    assert!(
        text.contains("[ No ]") && text.contains("[ Yes ]"),
        "{text}"
    );
}

/// A read-only room refuses `:pause` and `:tick` as it refuses `a`: the
/// refusal is audited, and the help does not offer them.
#[test]
fn read_only_refusals_of_colon_commands_are_audited_and_not_offered() {
    let mut a = app(fixtures::busy(), Pane::Queue);
    a.read_only = true;
    for (command, audited) in [
        ("pause", "control paused"),
        ("tick", "tick"),
        ("drain", "control draining"),
    ] {
        key(&mut a, KeyCode::Char(':'));
        for c in command.chars() {
            key(&mut a, KeyCode::Char(c));
        }
        let effect = a.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        let Some(crate::tui::app::Effect::Send { commands, .. }) = effect else {
            panic!("{command}: {effect:?}");
        };
        let request = serde_json::to_value(&commands[0]).unwrap();
        let refusal = &request["command"]["command"]["record_refusal"];
        assert_eq!(refusal["action"], audited, "{request}");
        assert!(a.flash.as_ref().unwrap().0.contains("read-only"));
    }
    key(&mut a, KeyCode::Char('?'));
    let help = render(&a, 120, 40).backend().to_string();
    assert!(
        !help.contains(":pause") && help.contains(":queue … :alerts, :q"),
        "{help}"
    );
}

/// A capped list says it is capped.
#[test]
fn a_capped_recommendation_list_says_how_many_there_are_in_all() {
    let mut snapshot = fixtures::busy();
    snapshot.recommendations_total = 9_009;
    let text = render(&app(snapshot, Pane::Recommendations), 120, 30)
        .backend()
        .to_string();
    assert!(text.contains("Recommendations (12 of 9009)"), "{text}");
}

#[test]
fn disconnected_is_said_in_the_header() {
    let mut a = app(fixtures::busy(), Pane::Queue);
    a.connection = Connection::Disconnected {
        socket: "/run/auto-assign/engine.sock".into(),
    };
    let t = render(&a, 200, 30);
    let text = t.backend().to_string();
    assert!(
        text.contains("DISCONNECTED from /run/auto-assign/engine.sock, retrying"),
        "{text}"
    );
    // The mode is the last one seen, not shown green as if known.
    assert!(text.contains("control enabled? (last seen)"), "{text}");
    let theme = Theme::load("default", false, false).unwrap();
    let buffer = t.backend().buffer();
    let line: String = (0..buffer.area.width)
        .map(|x| buffer[(x, 0)].symbol())
        .collect();
    let byte = line.find("enabled?").unwrap();
    let x = line[..byte].chars().count() as u16; // a cell per symbol
    assert_ne!(buffer[(x, 0)].fg, theme.ok.fg.unwrap(), "not green");
}

/// Rows cached for one snapshot are never shown for the next, even when
/// the next one lives at the address where the last one was (the row cache
/// was once keyed by the snapshot's address, and a freed snapshot's memory
/// comes back with a later one).
#[test]
fn a_new_snapshot_at_a_reused_address_gets_its_own_rows() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    let ids = |a: &App| a.rows(Pane::Recommendations).len();
    assert!(ids(&a) > 0);
    // The same allocation, emptied: exactly what address reuse looks like.
    let mut reused = a.snapshot().clone();
    a.set_snapshot(Arc::new(fixtures::empty()));
    Arc::get_mut(&mut reused).unwrap().recommendations.clear();
    a.set_snapshot(reused);
    assert_eq!(ids(&a), 0);
}

/// A task id or title holding terminal escapes is drawn escaped.
#[test]
fn escapes_from_outside_are_drawn_escaped() {
    let mut s = fixtures::busy();
    s.recommendations[0].task_id = "T\u{1b}]0;owned\u{7}".into();
    s.recommendations[0].title = Some("clear\u{1b}[2J".into());
    let mut a = app(s, Pane::Recommendations);
    let text = render(&a, 200, 30).backend().to_string();
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'));
    assert!(text.contains("T\\x1b]0;owned"), "{text}");
    key(&mut a, KeyCode::Char('d'));
    let text = render(&a, 200, 40).backend().to_string();
    assert!(
        !text.contains('\u{1b}') && text.contains("T\\x1b]0;owned"),
        "{text}"
    );
}

/// 80×24 sizes columns by what they show: task ids and statuses whole
/// (statuses short, as the help lists them), titles cut with an ellipsis.
#[test]
fn at_80_by_24_ids_and_statuses_stay_whole_and_titles_end_in_an_ellipsis() {
    let mut snapshot = fixtures::busy();
    for r in &mut snapshot.recommendations {
        r.title = Some("Summarize yesterday's incident reports for the team".into());
        r.worker = Some("lmstudio-homelab-1".into());
    }
    let a = app(snapshot.clone(), Pane::Recommendations);
    let t = render(&a, 80, 24);
    let text = t.backend().to_string();
    for r in &snapshot.recommendations {
        assert!(text.contains(&r.task_id), "{} cut: {text}", r.task_id);
    }
    assert!(text.contains("Summarize yesterday"), "{text}");
    assert!(text.contains('…'), "{text}");
    assert!(text.contains(" appr "), "{text}");
    assert!(!text.contains("approval_requ"), "{text}");
    insta::assert_snapshot!("narrow_recs", t.backend());
    // Wide, nothing is cut or shortened.
    let text = render(&a, 200, 50).backend().to_string();
    assert!(text.contains("approval_required"), "{text}");
    assert!(
        text.contains("Summarize yesterday's incident reports for the team"),
        "{text}"
    );
}

#[test]
fn a_bulk_confirm_and_the_help_at_80_by_24_as_drawn() {
    let mut a = twenty_marked();
    key(&mut a, KeyCode::Char('a'));
    typed(&mut a, "reviewed");
    key(&mut a, KeyCode::Enter);
    insta::assert_snapshot!("narrow_bulk_confirm", render(&a, 80, 24).backend());
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Char('?'));
    for _ in 0..5 {
        key(&mut a, KeyCode::Char('j'));
    }
    let text = render(&a, 80, 24).backend().to_string();
    assert!(text.contains("(lines 6–"), "{text}");
    insta::assert_snapshot!("narrow_help_scrolled", render(&a, 80, 24).backend());
}

/// 80×24 has no side column; a filter there says what it hides, and the
/// side column at 200×50 keeps its own rows beside it.
#[test]
fn a_filtered_pane_at_80_by_24_and_beside_the_side_column() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "T0001");
    key(&mut a, KeyCode::Enter);
    let narrow = render(&a, 80, 24);
    assert!(
        narrow
            .backend()
            .to_string()
            .contains("(filtered 1/12) /T0001"),
        "{}",
        narrow.backend()
    );
    insta::assert_snapshot!("narrow_filtered_recs", narrow.backend());
    let wide = render(&a, 200, 50).backend().to_string();
    assert!(
        wide.contains("Queue (3)") && wide.contains("Approvals (2)"),
        "{wide}"
    );
}

/// Times say their zone: the header's clock, the help, the audit's time
/// column and a describe view.
#[test]
fn times_name_their_zone() {
    let mut a = app(fixtures::busy(), Pane::Audit);
    let text = render(&a, 120, 30).backend().to_string();
    assert!(text.contains("12:00:00 UTC"), "{text}");
    assert!(text.contains("TIME"), "{text}");
    key(&mut a, KeyCode::Char('d'));
    let text = render(&a, 120, 30).backend().to_string();
    assert!(text.contains(" UTC ("), "{text}");
    assert!(text.contains(" ago)"), "{text}");
}

fn audit_rows(seqs: std::ops::Range<i64>) -> Vec<crate::engine::snapshot::AuditRow> {
    let template = fixtures::busy().audit[0].clone();
    seqs.map(|seq| crate::engine::snapshot::AuditRow {
        seq,
        subject: Some(format!("assign_{seq:04}")),
        ..template.clone()
    })
    .collect()
}

fn older_request(effect: Option<Effect>) -> (String, Command) {
    let Some(Effect::Send {
        label,
        mut commands,
    }) = effect
    else {
        panic!("no request: {effect:?}");
    };
    (label, commands.remove(0))
}

/// The audit lists the newest 200; End past them fetches older pages until
/// there are no more, and a filter searches past them too.
#[test]
fn the_audit_loads_older_rows_at_its_end_and_a_filter_searches_them() {
    let mut snapshot = fixtures::busy();
    snapshot.audit = audit_rows(1000..1200);
    let mut a = app(snapshot, Pane::Audit);
    let (label, command) = older_request(a.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)));
    assert_eq!(
        command,
        Command::Older {
            log: crate::wire::Log::Audit,
            before: Some(1000),
            contains: None,
            limit: Some(200),
        }
    );
    // Held down, End asks once.
    assert_eq!(
        a.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)),
        None
    );
    a.on_results(
        &label,
        vec![Ok(Reply::AuditRows(
            audit_rows(800..1000).into_iter().rev().collect(),
        ))],
    );
    assert_eq!(a.rows(Pane::Audit).len(), 400);
    assert!(
        a.flash
            .as_ref()
            .unwrap()
            .0
            .contains("200 older audit entries loaded")
    );
    // The newest stay first, the loaded ones after them, in order.
    assert_eq!(a.rows(Pane::Audit)[0].id, "1199");
    assert_eq!(a.rows(Pane::Audit)[399].id, "800");
    let (label, command) = older_request(a.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)));
    assert!(
        matches!(
            command,
            Command::Older {
                before: Some(800),
                ..
            }
        ),
        "{command:?}"
    );
    a.on_results(&label, vec![Ok(Reply::AuditRows(audit_rows(750..800)))]);
    assert_eq!(a.rows(Pane::Audit).len(), 450);
    // Fewer than a page: nothing older is left to ask for.
    assert_eq!(
        a.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)),
        None
    );
    // A new snapshot keeps what was loaded.
    let mut next = fixtures::busy();
    next.audit = audit_rows(1001..1201);
    a.set_snapshot(Arc::new(next));
    assert_eq!(a.rows(Pane::Audit).len(), 451);
    // A filter searches past the snapshot.
    key(&mut a, KeyCode::Char('/'));
    typed(&mut a, "assign_0042");
    let (label, command) =
        older_request(a.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(
        matches!(&command, Command::Older { contains: Some(c), before: Some(1001), .. } if c == "assign_0042"),
        "{command:?}"
    );
    a.on_results(&label, vec![Ok(Reply::AuditRows(audit_rows(42..43)))]);
    let rows = a.rows(Pane::Audit);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, "42");
}

/// A search match far back does not make paging skip the rows between.
#[test]
fn paging_after_a_search_goes_on_from_where_paging_stopped() {
    let mut snapshot = fixtures::busy();
    snapshot.audit = audit_rows(1000..1200);
    let mut a = app(snapshot, Pane::Audit);
    a.on_results("search", vec![Ok(Reply::AuditRows(audit_rows(42..43)))]);
    let (_, command) = older_request(a.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)));
    assert!(
        matches!(
            command,
            Command::Older {
                before: Some(1000),
                ..
            }
        ),
        "{command:?}"
    );
}

/// Attached at 80 columns, a long socket path gives way, never the
/// control mode, the operator or the clock.
#[test]
fn attached_at_80_columns_the_header_keeps_mode_operator_and_clock() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    a.connection = Connection::Attached {
        socket: "/run/user/1000/auto-assign/engine.sock".into(),
    };
    let text = render(&a, 80, 24).backend().to_string();
    let header = text.lines().next().unwrap();
    for part in ["control enabled", "operator scott", "12:00:00 UTC"] {
        assert!(header.contains(part), "{part} missing: {header}");
    }
    let wide = render(&a, 200, 50).backend().to_string();
    assert!(
        wide.contains("attached /run/user/1000/auto-assign/engine.sock"),
        "{wide}"
    );
}

/// Shift+letter sorts, again reverses, and a third time moves on to the
/// next column with that letter, so STATUS is reachable beside SCORE.
#[test]
fn a_sort_letter_shared_by_two_columns_reaches_both() {
    let mut a = app(fixtures::busy(), Pane::Recommendations);
    let shift_s = || KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT);
    let columns = Pane::Recommendations.columns();
    let named = |a: &App| {
        let (column, descending) = a.sort[&Pane::Recommendations];
        (columns[column], descending)
    };
    a.on_key(shift_s());
    assert_eq!(named(&a), ("SCORE", false));
    a.on_key(shift_s());
    assert_eq!(named(&a), ("SCORE", true));
    a.on_key(shift_s());
    assert_eq!(named(&a), ("STATUS", false));
    a.on_key(shift_s());
    a.on_key(shift_s());
    assert_eq!(named(&a), ("SCORE", false));
}

/// A refusal too long for one line of 80 columns is shown whole, on up
/// to three lines.
#[test]
fn a_long_refusal_is_read_whole_at_80_columns() {
    let mut a = app(fixtures::busy(), Pane::Outbox);
    let why = "outbox write-back is off (set AUTO_ASSIGN_DISPATCH_ENABLED=true)";
    a.on_results("dispatch", vec![Err(why.to_string())]);
    let text = render(&a, 80, 24).backend().to_string();
    let joined: String = text
        .lines()
        .map(|l| l.trim_matches('"').trim_end())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        joined.contains("AUTO_ASSIGN_DISPATCH_ENABLED=true)"),
        "{text}"
    );
}

/// `w` in the workers pane drains the selected worker (a reason, then a
/// confirmation), or undrains it when it is drained; elsewhere it says
/// where it works.
#[test]
fn w_drains_or_undrains_the_selected_worker() {
    let mut snapshot = fixtures::busy();
    snapshot.workers[1].drained = true;
    let mut a = app(snapshot, Pane::Workers);
    let first = a.rows(Pane::Workers)[0].id.clone();
    key(&mut a, KeyCode::Char('w'));
    typed(&mut a, "kernel upgrade");
    key(&mut a, KeyCode::Enter);
    let text = render(&a, 80, 24).backend().to_string();
    assert!(text.contains(&format!("Really drain {first}?")), "{text}");
    let Some(Effect::Send { commands, .. }) =
        a.on_key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE))
    else {
        panic!("no command")
    };
    let request = serde_json::to_value(&commands[0]).unwrap();
    assert_eq!(
        request["command"]["command"]["drain"]["worker"],
        first.as_str(),
        "{request}"
    );
    // The drained one reads so, and `w` undrains it.
    let text = render(&a, 120, 30).backend().to_string();
    assert!(text.contains("DRAINED"), "{text}");
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Char('w'));
    key(&mut a, KeyCode::Enter);
    let Some(Effect::Send { commands, .. }) =
        a.on_key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE))
    else {
        panic!("no command")
    };
    let request = serde_json::to_value(&commands[0]).unwrap();
    assert!(
        request["command"]["command"].get("undrain").is_some(),
        "{request}"
    );
    a.pane = Pane::Queue;
    key(&mut a, KeyCode::Char('w'));
    assert!(a.flash.as_ref().unwrap().0.contains("workers pane"));
}

/// A worker whose breaker is open says so in words and in the error
/// colour, and the header counts it; half-open reads TRIAL.
#[test]
fn an_open_breaker_shows_in_the_workers_pane_and_the_header() {
    let mut snapshot = fixtures::busy();
    snapshot.limits.breaker_cooldown_seconds = 300;
    snapshot.workers[0].breaker.failures = 3;
    snapshot.workers[0].breaker.opened_at = Some(snapshot.taken_at);
    snapshot.workers[3].breaker.opened_at =
        Some(snapshot.taken_at - chrono::Duration::seconds(301));
    // The header's count is the engine's alerts.
    snapshot.alerts = [0, 3]
        .iter()
        .map(|&i| crate::engine::snapshot::Alert {
            code: "breaker_open".into(),
            subject: Some(snapshot.workers[i].key()),
            text: format!("{}'s circuit breaker is open", snapshot.workers[i].key()),
            since: snapshot.taken_at,
        })
        .collect();
    let mut a = app(snapshot, Pane::Workers);
    let text = render(&a, 120, 30).backend().to_string();
    assert!(text.contains("⚡ BREAKER OPEN"), "{text}");
    assert!(text.contains("⚡ TRIAL"), "{text}");
    assert!(text.contains("2 breakers open"), "{text}");
    // The Alerts pane (7) says each in full.
    key(&mut a, KeyCode::Char('7'));
    let text = render(&a, 120, 30).backend().to_string();
    assert!(text.contains("Alerts (2)"), "{text}");
    assert!(text.contains("circuit breaker is open"), "{text}");
}
