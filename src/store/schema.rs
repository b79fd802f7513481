//! Versioned migrations. The database records its version in
//! `PRAGMA user_version`; each entry here moves it up by one.
//!
//! Migrations are history: one that shipped is never edited, a change is a
//! new entry.
//!
//! Invariants the database itself enforces, so no code path can break them:
//! - an assignment's `status` column equals the `status` inside its stored
//!   decision (checked on every update; a new row is written by
//!   `assignments::save_decision`, which takes both from one decision);
//! - a delivered (or conflict) outbox row is never rewritten, and no outbox
//!   body changes after it was queued;
//! - the audit is append-only.

pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE candidates (
    task_id     TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE assignments (
    assignment_id    TEXT PRIMARY KEY,
    task_id          TEXT NOT NULL,
    status           TEXT NOT NULL,
    version          INTEGER NOT NULL,
    requeue          INTEGER NOT NULL DEFAULT 1,
    retry_count      INTEGER NOT NULL DEFAULT 0,
    lane             TEXT NOT NULL,
    priority         TEXT NOT NULL,
    decision_id      TEXT NOT NULL,
    decision         TEXT NOT NULL,
    worker_id        TEXT,
    node_id          TEXT,
    correlation_id   TEXT,
    lease_seconds    INTEGER,
    lease_expires_at TEXT,
    claimed_at       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK (json_extract(decision, '$.status') = status)
);
-- Only leased rows are indexed for expiry: a pass that writes ten thousand
-- new decisions pays for no status index.
CREATE INDEX assignments_leases ON assignments(lease_expires_at) WHERE status IN ('claimed', 'running');
CREATE INDEX assignments_task ON assignments(task_id);
-- Partial: most assignments have no worker, and need no entry.
CREATE INDEX assignments_worker ON assignments(node_id, worker_id) WHERE worker_id IS NOT NULL;

CREATE TABLE approvals (
    assignment_id TEXT PRIMARY KEY REFERENCES assignments(assignment_id),
    gate          TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    decision      TEXT,
    decided_by    TEXT,
    reason        TEXT,
    decided_at    TEXT,
    expires_at    TEXT
);

CREATE TABLE inbound_events (
    idempotency_key TEXT PRIMARY KEY,
    event_id        TEXT,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     TEXT NOT NULL
);

CREATE TABLE inbound_processing (
    idempotency_key TEXT PRIMARY KEY REFERENCES inbound_events(idempotency_key),
    action          TEXT NOT NULL,
    reason          TEXT,
    detail          TEXT,
    runs            INTEGER NOT NULL DEFAULT 1,
    processed_at    TEXT NOT NULL
);

CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    destination     TEXT NOT NULL DEFAULT 'assistx',
    subject_id      TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'failed', 'delivered', 'conflict', 'dead_letter')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE TRIGGER outbox_delivered_is_final BEFORE UPDATE ON outbox
    WHEN OLD.status IN ('delivered', 'conflict')
    BEGIN SELECT RAISE(ABORT, 'a delivered outbox event is never rewritten'); END;
CREATE TRIGGER outbox_body_is_final BEFORE UPDATE OF body, event_id, idempotency_key ON outbox
    BEGIN SELECT RAISE(ABORT, 'an outbox body is serialized once, at enqueue'); END;

CREATE TABLE workers (
    node_id        TEXT NOT NULL,
    worker_id      TEXT NOT NULL,
    status         TEXT NOT NULL,
    lanes          TEXT NOT NULL DEFAULT '[]',
    capabilities   TEXT NOT NULL DEFAULT '[]',
    owner          TEXT,
    max_concurrent INTEGER NOT NULL DEFAULT 1,
    metrics        TEXT NOT NULL DEFAULT '{}',
    services       TEXT NOT NULL DEFAULT '[]',
    first_seen     TEXT NOT NULL,
    last_seen      TEXT NOT NULL,
    beats          INTEGER NOT NULL DEFAULT 0,
    samples        INTEGER NOT NULL DEFAULT 0,
    sampled_at     TEXT,
    stale          INTEGER NOT NULL DEFAULT 0,
    drained        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, worker_id)
);

-- A ring per worker of sampled heartbeats (every status change, and one
-- every few seconds otherwise): sample number n lands in slot n % history,
-- so the history stays bounded with one write and no cleanup.
CREATE TABLE heartbeats (
    node_id       TEXT NOT NULL,
    worker_id     TEXT NOT NULL,
    slot          INTEGER NOT NULL,
    beat          INTEGER NOT NULL,
    assignment_id TEXT,
    status        TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (node_id, worker_id, slot)
);

CREATE TABLE scheduler_runs (
    run_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger           TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT NOT NULL,
    candidates        INTEGER NOT NULL,
    recommended       INTEGER NOT NULL,
    approval_required INTEGER NOT NULL,
    blocked           INTEGER NOT NULL,
    unchanged         INTEGER NOT NULL,
    expired           INTEGER NOT NULL,
    stale_workers     INTEGER NOT NULL,
    note              TEXT
);

CREATE TABLE control (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    mode       TEXT NOT NULL,
    reason     TEXT,
    changed_by TEXT,
    changed_at TEXT,
    version    INTEGER NOT NULL
);
INSERT INTO control (id, mode, version) VALUES (1, 'enabled', 0);

CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT,
    from_status TEXT,
    to_status   TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'refused')),
    detail      TEXT
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
"#,
    r#"
-- v2: the same data and rules, cheaper to write in bulk.
--
-- SQLite builds a temporary table for an IN list of three or more values
-- each time a statement evaluates it; in a CHECK that is every insert (a
-- third of an outbox insert's cost), so the outbox status check compares
-- with OR. The decision/status CHECK parsed the decision's JSON on every
-- insert; it is now a trigger on updates. The lease index keys on the
-- lease itself (set only while claimed or running), so an insert does not
-- evaluate a status test for it; the index on task_id goes (its one query
-- gathers the held tasks once instead). The audit drops AUTOINCREMENT, which
-- reads and writes sqlite_sequence on every insert: its triggers forbid
-- deleting a row, so a new row's seq is always past every earlier one.
CREATE TABLE assignments_v2 (
    assignment_id    TEXT PRIMARY KEY,
    task_id          TEXT NOT NULL,
    status           TEXT NOT NULL,
    version          INTEGER NOT NULL,
    requeue          INTEGER NOT NULL DEFAULT 1,
    retry_count      INTEGER NOT NULL DEFAULT 0,
    lane             TEXT NOT NULL,
    priority         TEXT NOT NULL,
    decision_id      TEXT NOT NULL,
    decision         TEXT NOT NULL,
    worker_id        TEXT,
    node_id          TEXT,
    correlation_id   TEXT,
    lease_seconds    INTEGER,
    lease_expires_at TEXT,
    claimed_at       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
INSERT INTO assignments_v2 SELECT * FROM assignments;
DROP TABLE assignments;
ALTER TABLE assignments_v2 RENAME TO assignments;
CREATE INDEX assignments_leases ON assignments(lease_expires_at) WHERE lease_expires_at IS NOT NULL;
CREATE INDEX assignments_worker ON assignments(node_id, worker_id) WHERE worker_id IS NOT NULL;
-- Housekeeping looks for lapsed approvals twice a second: only answered
-- ones have an expiry, and only they are indexed.
CREATE INDEX approvals_expiry ON approvals(expires_at) WHERE expires_at IS NOT NULL;
CREATE TRIGGER assignments_status_agrees BEFORE UPDATE OF status, decision ON assignments
    WHEN json_extract(NEW.decision, '$.status') IS NOT NEW.status
    BEGIN SELECT RAISE(ABORT, 'an assignment''s status and its stored decision must agree'); END;

CREATE TABLE outbox_v2 (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    destination     TEXT NOT NULL DEFAULT 'assistx',
    subject_id      TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status = 'pending' OR status = 'failed' OR status = 'delivered'
                           OR status = 'conflict' OR status = 'dead_letter'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT
);
INSERT INTO outbox_v2 SELECT * FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE TRIGGER outbox_delivered_is_final BEFORE UPDATE ON outbox
    WHEN OLD.status = 'delivered' OR OLD.status = 'conflict'
    BEGIN SELECT RAISE(ABORT, 'a delivered outbox event is never rewritten'); END;
CREATE TRIGGER outbox_body_is_final BEFORE UPDATE OF body, event_id, idempotency_key ON outbox
    BEGIN SELECT RAISE(ABORT, 'an outbox body is serialized once, at enqueue'); END;

CREATE TABLE audit_v2 (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT,
    from_status TEXT,
    to_status   TEXT,
    outcome     TEXT NOT NULL CHECK (outcome = 'ok' OR outcome = 'refused'),
    detail      TEXT
);
INSERT INTO audit_v2 SELECT * FROM audit;
DROP TRIGGER audit_no_delete;
DROP TABLE audit;
ALTER TABLE audit_v2 RENAME TO audit;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
"#,
    // Issue 10, contract D: what AssistX has been told about each
    // assignment. `claims` counts claim attempts (never reset: a claim's key
    // carries it), `heartbeats_sent` numbers the `assignment.heartbeat`
    // events, `told_lease_expires_at` is the lease AssistX last heard of.
    r#"
ALTER TABLE assignments ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN heartbeats_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN told_lease_expires_at TEXT;
"#,
    // Issue 10: the provenance graph is the outbox's second destination,
    // with a delivery state of its own. Its events are written in queue
    // order, so the state is a cursor (every event at or below
    // `delivered_seq` is in the graph, or refused by it and listed in
    // `graph_refused`), not a column per event: a 10,000-event tick writes
    // no second row per event.
    r#"
CREATE TABLE graph_delivery (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    last_success_at TEXT
);
INSERT INTO graph_delivery (id) VALUES (1);
CREATE TABLE graph_refused (
    seq   INTEGER PRIMARY KEY,
    error TEXT NOT NULL,
    at    TEXT NOT NULL
);
"#,
    // Issue 12: each worker's circuit breaker (contract C). Failures and
    // timeouts since its last success, when it opened, and the trial task
    // sent while it is half-open.
    r#"
ALTER TABLE workers ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN breaker_opened_at TEXT;
ALTER TABLE workers ADD COLUMN breaker_trial TEXT;
"#,
    // Issue 12: candidates a pass deferred because the queue was full.
    r#"
ALTER TABLE scheduler_runs ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;
"#,
    // Issue 12: failover. The worker an assignment last failed or timed out
    // on, and when: `next` offers it to another worker first.
    r#"
ALTER TABLE assignments ADD COLUMN failed_on TEXT;
ALTER TABLE assignments ADD COLUMN failed_at TEXT;
"#,
    // Issue 12: the worker (`node/worker`) a decision named. A waiting
    // assignment counts against its worker's limit in the next pass, and
    // `next` gives it to that worker first. And the task's deadline, which
    // raises its urgency as it nears.
    r#"
ALTER TABLE assignments ADD COLUMN target TEXT;
ALTER TABLE assignments ADD COLUMN deadline TEXT;
ALTER TABLE workers ADD COLUMN active_tasks INTEGER;
-- What `next` orders the waiting work by, so it never reads the rows'
-- decisions (these columns come after them in the row).
CREATE INDEX assignments_waiting
    ON assignments(lane, priority, created_at, deadline, target, assignment_id)
    WHERE status IN ('recommended', 'approved');
CREATE INDEX assignments_target ON assignments(target) WHERE target IS NOT NULL;
"#,
    // Issue 10: each dispatcher round asks for every task's first
    // undelivered event. Without the first two it numbered and sorted every
    // waiting row, bodies and all (30-80 ms a round with 10,000 waiting);
    // with them it walks the undelivered in queue order and looks each
    // task's earlier events up (under a millisecond). The third counts the
    // events behind the graph's cursor from small entries instead of the
    // rows (every snapshot asks; 14 ms against 0.3 at 10,000 behind).
    r#"
CREATE INDEX outbox_seq ON outbox(seq);
CREATE INDEX outbox_undelivered ON outbox(seq, next_attempt_at)
    WHERE status IN ('pending', 'failed');
CREATE INDEX outbox_task_order
    ON outbox(COALESCE(json_extract(body, '$.payload.task_id'), subject_id), seq)
    WHERE status IN ('pending', 'failed');
"#,
    // Issue 10: every delivery verdict takes its event out of
    // `outbox_task_order`, and finding the entry parsed the event's body
    // again: a third of a verdict's cost, which a heartbeat waited for
    // during a drain (docs/benchmarks.md). The task key is now stored when
    // the event is queued. Delivered events keep none: they are never
    // ordered again (and never rewritten).
    r#"
ALTER TABLE outbox ADD COLUMN task_key TEXT;
UPDATE outbox SET task_key = COALESCE(json_extract(body, '$.payload.task_id'), subject_id)
    WHERE status NOT IN ('delivered', 'conflict');
DROP INDEX outbox_task_order;
CREATE INDEX outbox_task_order ON outbox(task_key, seq) WHERE status IN ('pending', 'failed');
"#,
];
