//! The socket protocol, version 1: one JSON object per line in, exactly one
//! reply per request out. Each op's fields are declared in [`fields_of`], so
//! a missing or ill-typed field is named in the error, and docs/protocol.md
//! can be checked against the same table.

use super::decoder::{Frame, MAX_DEPTH, MAX_LINE, depth_exceeds};
use crate::domain::control::ControlMode;
use crate::domain::worker::{Heartbeat, WorkerStatus};
use crate::engine::Command;
use crate::error::Error;
use serde_json::{Map, Value, json};

pub const PROTOCOL_VERSION: u32 = 1;

pub const OPS: [&str; 11] = [
    "hello",
    "heartbeat",
    "claim",
    "complete",
    "fail",
    "progress",
    "release",
    "event",
    "command",
    "snapshot",
    "subscribe",
];

pub const OPERATOR_COMMANDS: [&str; 10] = [
    "approve",
    "reject",
    "release",
    "tick",
    "control",
    "process_events",
    "evaluate",
    "record_refusal",
    "dispatch",
    "reconcile",
];

/// Why a line was refused before it reached the engine. The code is also
/// the name of its counter in the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ProtocolError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            field: None,
        }
    }

    fn field(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// Every reason a line can be refused, for the counters.
pub const REJECT_CODES: [&str; 9] = [
    "line_too_long",
    "not_utf8",
    "too_deep",
    "bad_json",
    "bad_request",
    "unknown_op",
    "missing_field",
    "bad_field",
    "unavailable",
];

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Hello,
    Snapshot,
    Subscribe,
    /// Engine commands to apply in order; the reply is the last one's.
    Engine(Vec<Command>),
}

/// A parsed line: its id (echoed back), its op, and what it asks or why
/// it is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub id: Value,
    pub op: String,
    pub request: Result<Request, ProtocolError>,
}

impl Parsed {
    fn refused(id: Value, op: &str, error: ProtocolError) -> Parsed {
        Parsed {
            id,
            op: op.into(),
            request: Err(error),
        }
    }
}

pub fn parse_frame(frame: Frame) -> Parsed {
    match frame {
        Frame::TooLong => Parsed::refused(
            Value::Null,
            "",
            ProtocolError::new(
                "line_too_long",
                format!("a line may be at most {MAX_LINE} bytes; this one was discarded"),
            ),
        ),
        Frame::Line(bytes) => parse_line(&bytes),
    }
}

pub fn parse_line(bytes: &[u8]) -> Parsed {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Parsed::refused(
            Value::Null,
            "",
            ProtocolError::new("not_utf8", "the line is not valid UTF-8"),
        );
    };
    if depth_exceeds(text, MAX_DEPTH) {
        return Parsed::refused(
            Value::Null,
            "",
            ProtocolError::new(
                "too_deep",
                format!("JSON nested deeper than {MAX_DEPTH} levels"),
            ),
        );
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Parsed::refused(
                Value::Null,
                "",
                ProtocolError::new("bad_json", format!("not valid JSON: {e}")),
            );
        }
    };
    let Value::Object(obj) = value else {
        return Parsed::refused(
            Value::Null,
            "",
            ProtocolError::new("bad_request", "a request must be a JSON object"),
        );
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let op = match obj.get("op") {
        None => {
            return Parsed::refused(
                id,
                "",
                ProtocolError::field("missing_field", "op", "field op is required"),
            );
        }
        Some(Value::String(op)) => op.clone(),
        Some(_) => {
            return Parsed::refused(
                id,
                "",
                ProtocolError::field("bad_field", "op", "field op must be a string"),
            );
        }
    };
    let request = parse_op(&op, &obj);
    Parsed { id, op, request }
}

/// The type a field must have.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    Whole,
    Integer,
    Number,
    Bool,
    Texts,
    Numbers,
    Object,
    List,
    OneOf(&'static [&'static str]),
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::Text => "a non-empty string".into(),
            Kind::Whole => "a whole number of at least 0".into(),
            Kind::Integer => "a whole number".into(),
            Kind::Number => "a number".into(),
            Kind::Bool => "true or false".into(),
            Kind::Texts => "a list of strings".into(),
            Kind::Numbers => "an object of numbers".into(),
            Kind::Object => "an object".into(),
            Kind::List => "a list".into(),
            Kind::OneOf(values) => format!("one of {}", values.join(", ")),
        }
    }

    fn accepts(self, value: &Value) -> bool {
        match (self, value) {
            (Kind::Text, Value::String(s)) => !s.trim().is_empty(),
            (Kind::Whole, v) => v.as_u64().is_some(),
            (Kind::Integer, v) => v.as_i64().is_some(),
            (Kind::Number, v) => v.as_f64().is_some_and(f64::is_finite),
            (Kind::Bool, Value::Bool(_)) => true,
            (Kind::Texts, Value::Array(items)) => items.iter().all(Value::is_string),
            (Kind::Numbers, Value::Object(map)) => map.values().all(|v| v.as_f64().is_some()),
            (Kind::Object, Value::Object(_)) => true,
            (Kind::List, Value::Array(_)) => true,
            (Kind::OneOf(values), Value::String(s)) => values.contains(&s.as_str()),
            _ => false,
        }
    }
}

const REQUIRED: bool = true;
const OPTIONAL: bool = false;

const WORKER_STATUSES: &[&str] = &[
    "ready", "sleeping", "busy", "degraded", "draining", "offline",
];
const MODES: &[&str] = &["enabled", "paused", "draining", "maintenance"];

/// The fields each op (or operator command) takes: name, kind, required.
pub fn fields_of(op: &str) -> &'static [(&'static str, Kind, bool)] {
    match op {
        "heartbeat" => &[
            ("node_id", Kind::Text, REQUIRED),
            ("worker_id", Kind::Text, REQUIRED),
            ("assignment_id", Kind::Text, OPTIONAL),
            ("correlation_id", Kind::Text, OPTIONAL),
            ("heartbeat_id", Kind::Text, OPTIONAL),
            ("status", Kind::OneOf(WORKER_STATUSES), OPTIONAL),
            ("lanes", Kind::Texts, OPTIONAL),
            ("capabilities", Kind::Texts, OPTIONAL),
            ("owner", Kind::Text, OPTIONAL),
            ("max_concurrent", Kind::Whole, OPTIONAL),
            ("metrics", Kind::Numbers, OPTIONAL),
            ("services", Kind::Texts, OPTIONAL),
        ],
        "claim" => &[
            ("assignment_id", Kind::Text, REQUIRED),
            ("worker_id", Kind::Text, REQUIRED),
            ("node_id", Kind::Text, OPTIONAL),
            ("lease_seconds", Kind::Whole, OPTIONAL),
            ("correlation_id", Kind::Text, OPTIONAL),
        ],
        "complete" => &[
            ("assignment_id", Kind::Text, REQUIRED),
            ("worker_id", Kind::Text, REQUIRED),
            ("status", Kind::OneOf(&["success", "failure"]), OPTIONAL),
            ("summary", Kind::Text, OPTIONAL),
        ],
        "fail" => &[
            ("assignment_id", Kind::Text, REQUIRED),
            ("worker_id", Kind::Text, REQUIRED),
            ("reason", Kind::Text, OPTIONAL),
            ("retryable", Kind::Bool, OPTIONAL),
        ],
        "progress" => &[
            ("assignment_id", Kind::Text, REQUIRED),
            ("worker_id", Kind::Text, REQUIRED),
            ("message", Kind::Text, OPTIONAL),
            ("percent", Kind::Number, OPTIONAL),
        ],
        "release" => &[
            ("assignment_id", Kind::Text, REQUIRED),
            ("worker_id", Kind::Text, REQUIRED),
            ("reason", Kind::Text, OPTIONAL),
            ("retry", Kind::Bool, OPTIONAL),
        ],
        "event" => &[("event", Kind::Object, REQUIRED)],
        "command" => &[
            ("command", Kind::OneOf(&OPERATOR_COMMANDS), REQUIRED),
            ("operator", Kind::Text, REQUIRED),
        ],
        "command:approve" | "command:reject" => &[
            ("assignment_id", Kind::Text, REQUIRED),
            ("reason", Kind::Text, OPTIONAL),
            ("expected_version", Kind::Integer, OPTIONAL),
        ],
        "command:release" => &[
            ("assignment_id", Kind::Text, REQUIRED),
            ("reason", Kind::Text, OPTIONAL),
            ("retry", Kind::Bool, OPTIONAL),
            ("expected_version", Kind::Integer, OPTIONAL),
        ],
        "command:tick" => &[
            ("dry_run", Kind::Bool, OPTIONAL),
            ("candidates", Kind::List, OPTIONAL),
            ("router", Kind::Object, OPTIONAL),
        ],
        "command:control" => &[
            ("mode", Kind::OneOf(MODES), REQUIRED),
            ("reason", Kind::Text, OPTIONAL),
        ],
        "command:process_events" => &[
            ("include_processed", Kind::Bool, OPTIONAL),
            ("dry_run", Kind::Bool, OPTIONAL),
        ],
        "command:evaluate" => &[("candidates", Kind::List, REQUIRED)],
        "command:record_refusal" => &[
            ("action", Kind::Text, REQUIRED),
            ("subject", Kind::Text, OPTIONAL),
            ("reason", Kind::Text, REQUIRED),
        ],
        _ => &[],
    }
}

/// Checks `obj` against the op's fields.
fn check(op: &str, obj: &Map<String, Value>) -> Result<(), ProtocolError> {
    for &(name, kind, required) in fields_of(op) {
        match obj.get(name) {
            None | Some(Value::Null) if required => {
                return Err(ProtocolError::field(
                    "missing_field",
                    name,
                    format!("field {name} is required"),
                ));
            }
            None | Some(Value::Null) => {}
            Some(value) if !kind.accepts(value) => {
                return Err(ProtocolError::field(
                    "bad_field",
                    name,
                    format!("field {name} must be {}", kind.describe()),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Typed reads of fields already checked.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(Value::as_str).map(str::to_string)
    }
    fn req(&self, name: &str) -> String {
        self.text(name).unwrap_or_default()
    }
    fn whole(&self, name: &str) -> Option<u64> {
        self.0.get(name).and_then(Value::as_u64)
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }
    fn number(&self, name: &str) -> Option<f64> {
        self.0.get(name).and_then(Value::as_f64)
    }
    fn flag(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(Value::as_bool)
    }
    fn texts(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
    fn value(&self, name: &str) -> Option<Value> {
        self.0.get(name).filter(|v| !v.is_null()).cloned()
    }
}

fn parse_op(op: &str, obj: &Map<String, Value>) -> Result<Request, ProtocolError> {
    if !OPS.contains(&op) {
        return Err(ProtocolError::field(
            "unknown_op",
            "op",
            format!("unknown op '{op}' (expected one of {})", OPS.join(", ")),
        ));
    }
    check(op, obj)?;
    let f = Fields(obj);
    let one = |c: Command| Ok(Request::Engine(vec![c]));
    match op {
        "hello" => Ok(Request::Hello),
        "snapshot" => Ok(Request::Snapshot),
        "subscribe" => Ok(Request::Subscribe),
        "heartbeat" => {
            let mut hb = Heartbeat::new(&f.req("node_id"), &f.req("worker_id"));
            hb.assignment_id = f.text("assignment_id");
            hb.correlation_id = f.text("correlation_id");
            hb.heartbeat_id = f.text("heartbeat_id");
            hb.status = f
                .text("status")
                .and_then(|s| s.parse::<WorkerStatus>().ok())
                .unwrap_or_default();
            hb.lanes = f.texts("lanes");
            hb.capabilities = f.texts("capabilities");
            hb.owner = f.text("owner");
            hb.max_concurrent = match f.whole("max_concurrent") {
                Some(n) => u32::try_from(n).map_err(|_| {
                    ProtocolError::field(
                        "bad_field",
                        "max_concurrent",
                        "field max_concurrent is too large",
                    )
                })?,
                None => 1,
            };
            hb.metrics = obj
                .get("metrics")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_f64().map(|n| (k.clone(), n)))
                        .collect()
                })
                .unwrap_or_default();
            hb.services = f.texts("services");
            one(Command::Heartbeat(hb))
        }
        "claim" => one(Command::Claim {
            assignment_id: f.req("assignment_id"),
            worker_id: f.req("worker_id"),
            node_id: f.text("node_id"),
            lease_seconds: f.whole("lease_seconds"),
            correlation_id: f.text("correlation_id"),
        }),
        "complete" => one(Command::Complete {
            assignment_id: f.req("assignment_id"),
            worker_id: f.req("worker_id"),
            success: f.text("status").map(|s| s == "success"),
            summary: f.text("summary"),
        }),
        "fail" => one(Command::Fail {
            assignment_id: f.req("assignment_id"),
            worker_id: f.req("worker_id"),
            reason: f.text("reason"),
            retryable: f.flag("retryable").unwrap_or(true),
        }),
        "progress" => one(Command::Progress {
            assignment_id: f.req("assignment_id"),
            worker_id: f.req("worker_id"),
            message: f.text("message"),
            percent: f.number("percent"),
        }),
        "release" => one(Command::Release {
            assignment_id: f.req("assignment_id"),
            by: f.text("worker_id"),
            worker_id: f.text("worker_id"),
            reason: f.text("reason"),
            retry: f.flag("retry").unwrap_or(true),
            expected_version: None,
        }),
        "event" => one(Command::IngestEvent {
            event: f.value("event").unwrap_or(Value::Null),
        }),
        _ => parse_operator_command(obj, &f),
    }
}

fn parse_operator_command(obj: &Map<String, Value>, f: &Fields) -> Result<Request, ProtocolError> {
    let command = f.req("command");
    check(&format!("command:{command}"), obj)?;
    let operator = f.text("operator");
    let commands = match command.as_str() {
        "approve" => vec![Command::Approve {
            assignment_id: f.req("assignment_id"),
            by: operator,
            reason: f.text("reason"),
            expected_version: f.int("expected_version"),
        }],
        "reject" => vec![Command::Reject {
            assignment_id: f.req("assignment_id"),
            by: operator,
            reason: f.text("reason"),
            expected_version: f.int("expected_version"),
        }],
        "release" => vec![Command::Release {
            assignment_id: f.req("assignment_id"),
            by: operator,
            worker_id: None,
            reason: f.text("reason"),
            retry: f.flag("retry").unwrap_or(true),
            expected_version: f.int("expected_version"),
        }],
        "tick" => {
            let mut commands = Vec::new();
            if let Some(bodies) = f.value("router") {
                commands.push(Command::SetRouter { bodies });
            }
            let candidates = f.value("candidates").and_then(|v| v.as_array().cloned());
            commands.push(Command::Tick {
                dry_run: f.flag("dry_run").unwrap_or(false),
                candidates,
            });
            commands
        }
        "control" => vec![Command::SetControl {
            mode: f
                .req("mode")
                .parse::<ControlMode>()
                .unwrap_or(ControlMode::Paused),
            reason: f.text("reason"),
            by: operator,
        }],
        "process_events" => vec![Command::ProcessEvents {
            include_processed: f.flag("include_processed").unwrap_or(false),
            dry_run: f.flag("dry_run").unwrap_or(false),
        }],
        "record_refusal" => vec![Command::RecordRefusal {
            actor: operator.unwrap_or_default(),
            action: f.req("action"),
            subject: f.text("subject"),
            reason: f.req("reason"),
        }],
        "evaluate" => vec![Command::Evaluate {
            candidates: f
                .value("candidates")
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default(),
        }],
        other => {
            return Err(ProtocolError::field(
                "unavailable",
                "command",
                format!(
                    "command {other} needs the AssistX sync layer, which this build does not have; nothing was done"
                ),
            ));
        }
    };
    Ok(Request::Engine(commands))
}

/// The request line a client sends for an engine command.
pub fn request_for(command: &Command, id: u64, operator: &str) -> Value {
    let mut value = serde_json::to_value(command).unwrap_or(Value::Null);
    let Some(obj) = value.as_object_mut() else {
        return Value::Null;
    };
    let op = obj
        .remove("op")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    obj.retain(|_, v| !v.is_null());
    let (wire_op, command_name) = match (op.as_str(), command) {
        (
            "release",
            Command::Release {
                worker_id: Some(_), ..
            },
        ) => ("release", None),
        ("heartbeat" | "claim" | "fail" | "progress", _) => (op.as_str(), None),
        ("complete", _) => {
            if let Some(success) = obj.remove("success").and_then(|v| v.as_bool()) {
                obj.insert(
                    "status".into(),
                    json!(if success { "success" } else { "failure" }),
                );
            }
            ("complete", None)
        }
        ("ingest_event", _) => ("event", None),
        ("set_control", _) => ("command", Some("control")),
        (other, _) => ("command", Some(other)),
    };
    if let Some(name) = command_name {
        obj.remove("by");
        obj.insert("command".into(), json!(name));
        obj.insert(
            "operator".into(),
            json!(operator_of(command).unwrap_or(operator)),
        );
    }
    obj.insert("op".into(), json!(wire_op));
    obj.insert("id".into(), json!(id));
    value
}

fn operator_of(command: &Command) -> Option<&str> {
    match command {
        Command::Approve { by, .. }
        | Command::Reject { by, .. }
        | Command::Release { by, .. }
        | Command::SetControl { by, .. } => by.as_deref(),
        Command::RecordRefusal { actor, .. } => Some(actor),
        _ => None,
    }
}

pub fn ok_reply(id: &Value, op: &str, result: Value) -> Value {
    json!({"id": id, "ok": true, "op": op, "result": result})
}

pub fn error_reply(id: &Value, error: &ProtocolError) -> Value {
    let mut body = json!({"code": error.code, "message": error.message});
    if let Some(field) = &error.field {
        body["field"] = json!(field);
    }
    json!({"id": id, "ok": false, "error": body})
}

/// An engine refusal as a protocol error; bad input names its field.
pub fn engine_error(error: &Error) -> ProtocolError {
    let field = match error {
        Error::BadInput { what, .. } if !what.contains(' ') => Some(what.clone()),
        Error::NotHeld { .. } | Error::NotFound { .. } | Error::StaleVersion { .. } => {
            Some("assignment_id".into())
        }
        _ => None,
    };
    ProtocolError {
        code: error.code(),
        message: error.to_string(),
        field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Parsed {
        parse_line(text.as_bytes())
    }

    fn err(text: &str) -> ProtocolError {
        parse(text).request.unwrap_err()
    }

    #[test]
    fn bad_lines_name_their_problem() {
        assert_eq!(
            parse_line(&[0xff, 0xfe]).request.unwrap_err().code,
            "not_utf8"
        );
        assert_eq!(err("{nope").code, "bad_json");
        assert_eq!(err("[1]").code, "bad_request");
        assert_eq!(err(&"[".repeat(100)).code, "too_deep");
        let e = err(r#"{"id": 1}"#);
        assert_eq!((e.code, e.field.as_deref()), ("missing_field", Some("op")));
        assert_eq!(err(r#"{"op": 7}"#).code, "bad_field");
        let e = err(r#"{"op": "fly"}"#);
        assert_eq!(e.code, "unknown_op");
        assert!(e.message.contains("fly"));
    }

    #[test]
    fn missing_and_ill_typed_fields_are_named() {
        let e = err(r#"{"op": "heartbeat", "node_id": "n1"}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("missing_field", Some("worker_id"))
        );
        let e =
            err(r#"{"op": "heartbeat", "node_id": "n1", "worker_id": "w", "max_concurrent": -1}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("bad_field", Some("max_concurrent"))
        );
        let e =
            err(r#"{"op": "heartbeat", "node_id": "n1", "worker_id": "w", "status": "napping"}"#);
        assert_eq!(e.field.as_deref(), Some("status"));
        assert!(e.message.contains("sleeping"));
        let e = err(r#"{"op": "claim", "assignment_id": "a", "worker_id": ""}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("bad_field", Some("worker_id"))
        );
        let e = err(r#"{"op": "command", "command": "approve", "operator": "scott"}"#);
        assert_eq!(e.field.as_deref(), Some("assignment_id"));
        let e = err(r#"{"op": "command", "command": "approve", "assignment_id": "a"}"#);
        assert_eq!(e.field.as_deref(), Some("operator"));
    }

    #[test]
    fn ids_are_echoed_even_on_errors() {
        assert_eq!(parse(r#"{"id": "x-1", "op": "fly"}"#).id, json!("x-1"));
        assert_eq!(parse(r#"{"op": "hello"}"#).id, Value::Null);
    }

    #[test]
    fn heartbeat_fields_reach_the_command() {
        let parsed = parse(
            r#"{"op": "heartbeat", "id": 3, "node_id": "n1", "worker_id": "w1", "status": "busy", "lanes": ["local_only"], "max_concurrent": 4, "metrics": {"load": 0.5}}"#,
        );
        let Ok(Request::Engine(commands)) = parsed.request else {
            panic!("{parsed:?}")
        };
        let Command::Heartbeat(hb) = &commands[0] else {
            panic!()
        };
        assert_eq!(
            (hb.status, hb.max_concurrent, hb.metrics["load"]),
            (WorkerStatus::Busy, 4, 0.5)
        );
    }

    #[test]
    fn dispatch_and_reconcile_say_they_are_unavailable() {
        let e = err(r#"{"op": "command", "command": "dispatch", "operator": "scott"}"#);
        assert_eq!(e.code, "unavailable");
    }

    #[test]
    fn client_requests_parse_back_into_the_same_commands() {
        let commands = vec![
            Command::Claim {
                assignment_id: "a".into(),
                worker_id: "w".into(),
                node_id: Some("n".into()),
                lease_seconds: Some(60),
                correlation_id: None,
            },
            Command::Complete {
                assignment_id: "a".into(),
                worker_id: "w".into(),
                success: Some(false),
                summary: Some("s".into()),
            },
            Command::Approve {
                assignment_id: "a".into(),
                by: Some("scott".into()),
                reason: Some("ok".into()),
                expected_version: Some(3),
            },
            Command::SetControl {
                mode: ControlMode::Draining,
                reason: Some("r".into()),
                by: Some("scott".into()),
            },
            Command::Release {
                assignment_id: "a".into(),
                by: Some("scott".into()),
                worker_id: None,
                reason: None,
                retry: false,
                expected_version: None,
            },
            Command::Tick {
                dry_run: true,
                candidates: None,
            },
            Command::ProcessEvents {
                include_processed: true,
                dry_run: false,
            },
            Command::IngestEvent {
                event: json!({"event_type": "x", "idempotency_key": "k"}),
            },
            Command::Heartbeat(Heartbeat::new("n", "w")),
        ];
        for command in commands {
            let line = request_for(&command, 9, "scott").to_string();
            let parsed = parse(&line);
            assert_eq!(parsed.id, json!(9));
            assert_eq!(
                parsed.request,
                Ok(Request::Engine(vec![command.clone()])),
                "{line}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse_line(&bytes);
        }

        #[test]
        fn valid_looking_requests_never_panic(
            op in prop_oneof![Just("hello"), Just("heartbeat"), Just("claim"), Just("complete"), Just("fail"), Just("progress"), Just("release"), Just("event"), Just("command"), Just("snapshot"), Just("zap")],
            keys in proptest::collection::vec(prop_oneof![Just("node_id"), Just("worker_id"), Just("assignment_id"), Just("status"), Just("command"), Just("operator"), Just("mode"), Just("max_concurrent"), Just("metrics"), Just("lanes"), Just("event"), Just("candidates"), Just("percent")], 0..8),
            values in proptest::collection::vec(prop_oneof![
                Just(json!(null)), Just(json!(true)), Just(json!(-1)), Just(json!(u64::MAX)), Just(json!(1.5)),
                Just(json!("")), Just(json!("approve")), Just(json!("busy")), Just(json!([1, "a"])), Just(json!({"a": "b"})), Just(json!(["x"]))
            ], 0..8),
        ) {
            let mut obj = Map::new();
            obj.insert("op".into(), json!(op));
            for (k, v) in keys.iter().zip(values) {
                obj.insert((*k).into(), v);
            }
            let parsed = parse_line(Value::Object(obj).to_string().as_bytes());
            if let Err(e) = parsed.request {
                prop_assert!(REJECT_CODES.contains(&e.code), "{}", e.code);
            }
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use super::{OPERATOR_COMMANDS, OPS, REJECT_CODES};

    /// docs/protocol.md shows every op and command and explains every code.
    #[test]
    fn protocol_doc_covers_every_op_command_and_code() {
        let doc = include_str!("../../docs/protocol.md");
        for name in OPS.iter().chain(&OPERATOR_COMMANDS).chain(&REJECT_CODES) {
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} missing from docs/protocol.md"
            );
        }
    }
}
