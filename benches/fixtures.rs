//! Shared inputs for the benchmarks: a realistic mix of AssistX candidates.

use serde_json::{Value, json};

/// `n` candidates: mostly plain, some sensitive, some local-only, some
/// gated, some retried, in AssistX's own shapes.
pub fn candidates(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let priority = ["background", "batch", "interactive", "critical"][i % 4];
            let mut item = json!({
                "task_id": format!("task-{i:05}"),
                "title": format!("Task number {i}"),
                "status": if i % 10 == 0 { "REVIEW" } else { "READY" },
                "priority": priority,
                "queue": "backlog",
                "retry_count": i % 3,
                "metadata": {},
            });
            let obj = item.as_object_mut().unwrap();
            match i % 7 {
                0 => {
                    obj.insert("privacy".into(), json!("private"));
                }
                1 => {
                    obj.insert("sensitive".into(), json!(true));
                }
                2 => {
                    obj.insert("risk_level".into(), json!("high"));
                }
                3 => {
                    obj.insert("allow_cloud".into(), json!("false"));
                }
                _ => {}
            }
            item
        })
        .collect()
}

/// A reachable router with a revision.
pub fn router() -> Value {
    json!({"context": {"revision": "rev-bench", "nodes": [{"id": "n1"}], "providers": [], "services": []}, "quota": {"mode": "normal"}})
}
