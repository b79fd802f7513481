//! What a `:Task` node (contract A8: its properties, with JSON held in
//! `payload_json` and `metadata_json`) tells about a backlog candidate:
//! the fields AssistX's backlog items leave out (contract D, "Intake"),
//! a canonical status worth deciding on, and the whole item when the
//! backlog is read from the graph. Pure: the sync edge does the reading.

use serde_json::{Map, Value};

/// What a backlog item may leave out and a task can tell.
pub const FROM_TASK: [&str; 4] = [
    "risk_level",
    "approval_required",
    "required_capabilities",
    "owner",
];

/// The task's status in Neo4j, when it is one that blocks a decision (A4
/// rules 1 and 2): a task AssistX still lists but the graph says is
/// claimed or done is not recommended again. A READY or REVIEW status is
/// left out, so an assignment's id does not depend on whether the graph
/// was read.
pub fn add_canonical_status(item: &mut Map<String, Value>, task: &Map<String, Value>) {
    if let Some(status) = task.get("status").and_then(Value::as_str)
        && crate::domain::scorer::canonical_status_blocks(status)
        && !item.contains_key("canonical_status")
    {
        item.insert("canonical_status".into(), Value::String(status.to_string()));
    }
}

/// A `:Task` read from the graph as a backlog item (A5 normalizes it):
/// its properties, with what AssistX's backlog call would have taken from
/// its `payload_json` and `metadata_json`.
pub fn item_of_task(task: &Map<String, Value>) -> Value {
    let mut item: Map<String, Value> = task
        .iter()
        .filter(|(k, _)| !k.ends_with("_json"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(id) = task.get("id") {
        item.insert("task_id".into(), id.clone());
    }
    for key in [
        "queue",
        "queue_class",
        "privacy",
        "local_only",
        "sensitive",
        "allow_cloud",
        "prompt",
    ] {
        if item.contains_key(key) {
            continue;
        }
        if let Some(value) =
            nested(task, "payload_json", key).or_else(|| nested(task, "metadata_json", key))
        {
            item.insert(key.into(), value);
        }
    }
    if !item.contains_key("queue")
        && let Some(class) = item.get("queue_class").cloned()
    {
        item.insert("queue".into(), class);
    }
    enrich(&mut item, task);
    Value::Object(item)
}

/// `key` of the JSON held in the task's `field` (a string, A8).
fn nested(task: &Map<String, Value>, field: &str, key: &str) -> Option<Value> {
    let object = match task.get(field)? {
        Value::String(text) => serde_json::from_str::<Map<String, Value>>(text).ok()?,
        Value::Object(map) => map.clone(),
        _ => return None,
    };
    object.get(key).filter(|v| !v.is_null()).cloned()
}

/// Fills what `item` leaves out from `task`: its own properties first,
/// then its `payload_json` and `metadata_json` (JSON held in strings, A8).
/// What the item says is kept.
pub fn enrich(item: &mut Map<String, Value>, task: &Map<String, Value>) {
    for key in FROM_TASK {
        if item.contains_key(key) {
            continue;
        }
        let found = task
            .get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .or_else(|| nested(task, "payload_json", key))
            .or_else(|| nested(task, "metadata_json", key));
        if let Some(value) = found {
            item.insert(key.into(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn an_item_is_completed_from_its_task_and_keeps_what_it_says() {
        let mut item = object(json!({"task_id": "T1", "priority": "batch", "owner": "ann"}));
        let task = object(json!({
            "id": "T1",
            "required_capabilities": ["gpu"],
            "owner": "bob",
            "payload_json": "{\"risk_level\": \"high\"}",
            "metadata_json": "{\"approval_required\": true, \"risk_level\": \"low\"}"
        }));
        enrich(&mut item, &task);
        assert_eq!(
            item["risk_level"], "high",
            "payload_json before metadata_json"
        );
        assert_eq!(item["approval_required"], true);
        assert_eq!(item["required_capabilities"], json!(["gpu"]));
        assert_eq!(item["owner"], "ann", "the item's own word stands");
    }

    #[test]
    fn a_task_from_the_graph_reads_as_a_backlog_item() {
        let task = object(json!({
            "id": "T9",
            "status": "READY",
            "priority": "interactive",
            "created_at_ts": 17,
            "payload_json": "{\"queue_class\": \"backlog\", \"local_only\": true, \"risk_level\": \"high\"}",
            "metadata_json": "{\"privacy\": \"private\", \"local_only\": false}"
        }));
        let item = item_of_task(&task);
        assert_eq!(item["task_id"], "T9");
        assert_eq!(item["queue"], "backlog");
        assert_eq!(
            item["local_only"], true,
            "payload_json before metadata_json"
        );
        assert_eq!(item["privacy"], "private");
        assert_eq!(item["risk_level"], "high");
        assert!(item.get("payload_json").is_none());
        let candidate = crate::domain::candidate::Candidate::from_json(&item).unwrap();
        assert_eq!(candidate.task_id, "T9");
        assert!(candidate.local_only_flag);
    }

    #[test]
    fn only_a_blocking_canonical_status_is_carried() {
        for (status, carried) in [
            ("CLAIMED", true),
            ("DONE", true),
            ("READY", false),
            ("REVIEW", false),
        ] {
            let mut item = object(json!({"task_id": "T1"}));
            add_canonical_status(&mut item, &object(json!({"status": status})));
            assert_eq!(item.contains_key("canonical_status"), carried, "{status}");
        }
    }

    #[test]
    fn unreadable_nested_json_is_skipped() {
        let mut item = object(json!({"task_id": "T1"}));
        let task = object(json!({"payload_json": "{not json", "metadata_json": 7}));
        enrich(&mut item, &task);
        assert_eq!(item, object(json!({"task_id": "T1"})));
    }
}
