//! Protocol v1 lines and the [`Command`] enum, both ways. A line is one
//! JSON object: `op` names the command, operator commands put their own
//! name in `command` and their author in `operator`, and every other key is
//! a field. serde's derive spells a variant as an outer key instead, so
//! [`decode`] nests a line into that shape and [`encode`] flattens it back;
//! neither knows any command by name, so a new command is only a new
//! variant. Errors name the field serde tripped on.

use super::command::{Action, Command};
use super::decoder::{Frame, MAX_DEPTH, MAX_LINE, depth_exceeds};
use super::unique::{REPEATED, Unique};
use crate::error::Error;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use strum::VariantNames;

pub const PROTOCOL_VERSION: u32 = 1;

/// Ops about the connection itself, answered without the engine.
pub const CONNECTION_OPS: [&str; 2] = ["hello", "subscribe"];

/// Every op a line may carry.
pub static OPS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    CONNECTION_OPS
        .iter()
        .chain(Command::VARIANTS)
        .copied()
        .collect()
});

/// Every operator command (`op: command`).
pub const OPERATOR_COMMANDS: &[&str] = Action::VARIANTS;

/// Every reason a line (or a connection) can be refused; each is also a
/// counter's name.
pub const REJECT_CODES: [&str; 10] = [
    "line_too_long",
    "not_utf8",
    "too_deep",
    "bad_json",
    "bad_request",
    "unknown_op",
    "missing_field",
    "bad_field",
    "too_many_connections",
    "accept_failed",
];

/// Why a line was refused before it reached the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ProtocolError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn field(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// What a line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Hello,
    Subscribe,
    Command(Box<Command>),
}

/// A parsed line: its id (echoed back), its op, and what it asks or why
/// it is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub id: Value,
    pub op: String,
    pub request: Result<Request, ProtocolError>,
}

fn refused(error: ProtocolError) -> Parsed {
    Parsed {
        id: Value::Null,
        op: String::new(),
        request: Err(error),
    }
}

pub fn parse_frame(frame: Frame) -> Parsed {
    match frame {
        Frame::TooLong => refused(ProtocolError::new(
            "line_too_long",
            format!("a line may be at most {MAX_LINE} bytes; this one was discarded"),
        )),
        Frame::Line(bytes) => parse_line(&bytes),
    }
}

pub fn parse_line(bytes: &[u8]) -> Parsed {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return refused(ProtocolError::new(
            "not_utf8",
            "the line is not valid UTF-8",
        ));
    };
    if depth_exceeds(text, MAX_DEPTH) {
        return refused(ProtocolError::new(
            "too_deep",
            format!("JSON nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let value: Value = match serde_json::from_str::<Unique>(text) {
        Ok(Unique(v)) => v,
        Err(e) => {
            let message = e.to_string();
            if let Some(key) = message.strip_prefix(REPEATED) {
                let key = key.split(" at line").next().unwrap_or(key);
                return refused(ProtocolError::field(
                    "bad_request",
                    key,
                    format!("key {key} is given twice; give it once"),
                ));
            }
            return refused(ProtocolError::new(
                "bad_json",
                format!("not valid JSON: {message}"),
            ));
        }
    };
    let Value::Object(line) = value else {
        return refused(ProtocolError::new(
            "bad_request",
            "a request must be a JSON object",
        ));
    };
    let id = line.get("id").cloned().unwrap_or(Value::Null);
    let op = line
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Parsed {
        id,
        op,
        request: decode(line),
    }
}

/// A line (already a JSON object) as a request.
pub fn decode(mut line: Map<String, Value>) -> Result<Request, ProtocolError> {
    // Null and absent are the same thing on this wire.
    line.retain(|_, v| !v.is_null());
    line.remove("id");
    let op = match line.remove("op") {
        None => {
            return Err(ProtocolError::field(
                "missing_field",
                "op",
                "field op is required",
            ));
        }
        Some(Value::String(op)) => op,
        Some(_) => {
            return Err(ProtocolError::field(
                "bad_field",
                "op",
                "field op must be a string",
            ));
        }
    };
    match op.as_str() {
        "hello" => return Ok(Request::Hello),
        "subscribe" => return Ok(Request::Subscribe),
        _ if !OPS.contains(&op.as_str()) => {
            return Err(ProtocolError::field(
                "unknown_op",
                "op",
                format!("unknown op '{op}' (expected one of {})", OPS.join(", ")),
            ));
        }
        _ => {}
    }
    let body = if op == "command" {
        nest_operator_command(line)?
    } else {
        Value::Object(line)
    };
    let nested = json!({ op: body });
    serde_path_to_error::deserialize(nested)
        .map(|command| Request::Command(Box::new(command)))
        .map_err(|e| field_error(&e))
}

/// `{command, operator, ...fields}` as serde spells an [`Operator`]:
/// `{operator, command: {name: {...fields}}}`.
///
/// [`Operator`]: super::command::Operator
fn nest_operator_command(mut line: Map<String, Value>) -> Result<Value, ProtocolError> {
    let name = match line.remove("command") {
        None => {
            return Err(ProtocolError::field(
                "missing_field",
                "command",
                "field command is required",
            ));
        }
        Some(Value::String(name)) => name,
        Some(_) => {
            return Err(ProtocolError::field(
                "bad_field",
                "command",
                format!(
                    "field command must be one of {}",
                    OPERATOR_COMMANDS.join(", ")
                ),
            ));
        }
    };
    let mut body = Map::new();
    if let Some(operator) = line.remove("operator") {
        body.insert("operator".into(), operator);
    }
    body.insert("command".into(), json!({ name: line }));
    Ok(Value::Object(body))
}

/// `fields` as `T` (a body that is not a socket op, such as the old HTTP
/// API's request models), refused naming the field as the socket is.
pub fn from_fields<T: serde::de::DeserializeOwned>(
    mut fields: Map<String, Value>,
) -> Result<T, ProtocolError> {
    fields.retain(|_, v| !v.is_null());
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| field_error(&e))
}

/// serde's complaint, with the field it was about.
fn field_error(error: &serde_path_to_error::Error<serde_json::Error>) -> ProtocolError {
    let message = error.inner().to_string();
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return ProtocolError::field("missing_field", name, format!("field {name} is required"));
    }
    let field = error.path().iter().rev().find_map(|segment| match segment {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        _ => None,
    });
    match field {
        Some(name) if message.starts_with("must ") => {
            let text = format!("field {name} {message}");
            ProtocolError::field("bad_field", &name, text)
        }
        Some(name) => {
            let text = format!("field {name}: {message}");
            ProtocolError::field("bad_field", &name, text)
        }
        None => ProtocolError::new("bad_request", message),
    }
}

/// The line a client sends for `command`, with `id`.
pub fn encode(command: &Command, id: u64) -> Value {
    let mut line = Map::new();
    line.insert("id".into(), json!(id));
    let Ok(Value::Object(nested)) = serde_json::to_value(command) else {
        return Value::Object(line);
    };
    for (op, body) in nested {
        line.insert("op".into(), json!(op));
        let Value::Object(mut fields) = body else {
            continue;
        };
        if let Some(Value::Object(inner)) = fields.remove("command") {
            for (name, body) in inner {
                line.insert("command".into(), json!(name));
                if let Value::Object(inner_fields) = body {
                    fields.extend(inner_fields);
                }
            }
        }
        line.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
    }
    Value::Object(line)
}

/// Holds a command made in this process (from CLI flags) to the bounds a
/// line from outside is held to: the same refusal, naming the same field.
pub fn check(command: &Command) -> Result<(), ProtocolError> {
    decode(encode(command, 0).as_object().cloned().unwrap_or_default()).map(|_| ())
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
    use crate::domain::control::ControlMode;
    use crate::domain::worker::{Heartbeat, WorkerStatus};
    use crate::wire::command::Completion;
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
            err(r#"{"op": "heartbeat", "node_id": "n1", "worker_id": "w", "active_tasks": "two"}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("bad_field", Some("active_tasks"))
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
        let e = err(r#"{"op": "command", "command": "zap", "operator": "scott"}"#);
        assert_eq!((e.code, e.field.as_deref()), ("bad_field", Some("command")));
        assert!(e.message.contains("approve"), "{}", e.message);
    }

    #[test]
    fn a_key_given_twice_is_refused_naming_it() {
        let e = err(r#"{"op": "heartbeat", "node_id": "n1", "worker_id": "a", "worker_id": "b"}"#);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("bad_request", Some("worker_id"))
        );
        let e =
            err(r#"{"op": "event", "event": {"idempotency_key": "k", "idempotency_key": "j"}}"#);
        assert_eq!(e.field.as_deref(), Some("idempotency_key"));
    }

    #[test]
    fn router_bodies_that_are_not_an_object_are_refused() {
        let e = err(r#"{"op": "command", "command": "tick", "operator": "s", "router": [1]}"#);
        assert_eq!((e.code, e.field.as_deref()), ("bad_field", Some("router")));
    }

    #[test]
    fn an_unknown_control_mode_is_refused_not_paused() {
        let e = err(r#"{"op": "command", "command": "control", "operator": "s", "mode": "off"}"#);
        assert_eq!((e.code, e.field.as_deref()), ("bad_field", Some("mode")));
        assert!(e.message.contains("maintenance"), "{}", e.message);
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
        let Ok(Request::Command(command)) = parsed.request else {
            panic!("{parsed:?}")
        };
        let Command::Heartbeat(hb) = *command else {
            panic!("{command:?}")
        };
        assert_eq!(
            (hb.status, hb.max_concurrent, hb.metrics["load"]),
            (WorkerStatus::Busy, 4, 0.5)
        );
    }

    #[test]
    fn encoded_commands_decode_to_the_same_commands() {
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
                status: Some(Completion::Failure),
                summary: Some("s".into()),
            },
            Command::Release {
                assignment_id: "a".into(),
                worker_id: "w".into(),
                reason: None,
                retry: false,
            },
            Command::by(
                "scott",
                Action::Approve {
                    assignment_id: "a".into(),
                    reason: Some("ok".into()),
                    expected_version: Some(3),
                    expires_in_seconds: None,
                },
            ),
            Command::by(
                "scott",
                Action::Control {
                    mode: ControlMode::Draining,
                    reason: Some("r".into()),
                },
            ),
            Command::by(
                "scott",
                Action::Release {
                    assignment_id: "a".into(),
                    reason: None,
                    retry: false,
                    expected_version: None,
                },
            ),
            Command::by(
                "scott",
                Action::Tick {
                    dry_run: true,
                    candidates: Some(vec![json!({"task_id": "t"})]),
                    router: Some(Map::new()),
                },
            ),
            Command::by(
                "scott",
                Action::ProcessEvents {
                    include_processed: true,
                    dry_run: false,
                    event_type: None,
                    limit: None,
                },
            ),
            Command::by("scott", Action::Dispatch {}),
            Command::by("scott", Action::RetryOutbox { seq: 7 }),
            Command::Event {
                event: json!({"event_type": "x", "idempotency_key": "k"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            },
            Command::Snapshot {},
            Command::Heartbeat(Heartbeat::new("n", "w")),
        ];
        for command in commands {
            let line = encode(&command, 9).to_string();
            let parsed = parse(&line);
            assert_eq!(parsed.id, json!(9));
            assert_eq!(
                parsed.request,
                Ok(Request::Command(Box::new(command.clone()))),
                "{line}"
            );
        }
    }

    #[test]
    fn encoded_lines_are_spelled_as_protocol_v1() {
        let line = encode(
            &Command::by(
                "scott",
                Action::Approve {
                    assignment_id: "a".into(),
                    reason: None,
                    expected_version: None,
                    expires_in_seconds: None,
                },
            ),
            1,
        );
        assert_eq!(
            line,
            json!({"id": 1, "op": "command", "command": "approve", "operator": "scott", "assignment_id": "a"})
        );
    }

    proptest! {
        /// Any lease is either within its range and accepted, or refused
        /// naming `lease_seconds`; never a panic, never a silent clamp.
        #[test]
        fn every_lease_is_in_range_or_refused_by_name(lease in any::<u64>(), signed in any::<i64>()) {
            for value in [json!(lease), json!(signed), json!(lease as f64)] {
                let line = json!({"op": "claim", "assignment_id": "a", "worker_id": "w", "lease_seconds": value});
                match parse_line(line.to_string().as_bytes()).request {
                    Ok(Request::Command(command)) => match *command {
                        Command::Claim { lease_seconds: Some(s), .. } => {
                            prop_assert!((1..=crate::domain::bounded::MAX_LEASE_SECONDS).contains(&s));
                        }
                        other => prop_assert!(false, "{other:?}"),
                    },
                    Ok(other) => prop_assert!(false, "{other:?}"),
                    Err(e) => prop_assert_eq!(e.field.as_deref(), Some("lease_seconds")),
                }
            }
        }

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

    /// docs/protocol.md shows every op and command and explains every code.
    #[test]
    fn protocol_doc_covers_every_op_command_and_code() {
        let doc = include_str!("../../docs/protocol.md");
        for name in OPS.iter().chain(OPERATOR_COMMANDS).chain(&REJECT_CODES) {
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} missing from docs/protocol.md"
            );
        }
    }
}
