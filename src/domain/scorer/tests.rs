//! Contract A4, rule by rule, and the decisions it makes.

use super::*;
use crate::domain::lane::DEFAULT_LANES;
use chrono::TimeZone;
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn router(revision: Option<&str>, quota_mode: Option<&str>) -> RouterSnapshot {
    RouterSnapshot {
        reachable: true,
        revision: revision.map(std::sync::Arc::from),
        quota_mode: quota_mode.map(str::to_string),
        ..Default::default()
    }
}

struct Case {
    policy: ScoringPolicy,
    router: RouterSnapshot,
    control: ControlMode,
    lanes: Option<Vec<Lane>>,
    canonical: Option<String>,
}

impl Case {
    fn new() -> Self {
        Case {
            policy: ScoringPolicy::default(),
            router: router(None, None),
            control: ControlMode::Enabled,
            lanes: None,
            canonical: None,
        }
    }

    fn ctx(&self) -> DecisionContext<'_> {
        DecisionContext {
            policy: &self.policy,
            router: &self.router,
            control: self.control,
            lanes: self.lanes.as_deref(),
            default_lanes: &DEFAULT_LANES,
            canonical_status: self.canonical.as_deref(),
            now: now(),
            lease_seconds: 900,
            cache_only: true,
        }
    }

    fn run(&self, item: Value) -> Decision {
        decide(&Candidate::from_json(&item).unwrap(), &self.ctx())
    }
}

fn codes(d: &Decision) -> Vec<(Lane, &str)> {
    d.skipped_lanes
        .iter()
        .map(|s| (s.lane, s.reason_code.as_ref()))
        .collect()
}

#[test]
fn plain_task_goes_to_local_only_with_default_scores() {
    let d = Case::new().run(json!({"task_id": "T1"}));
    assert_eq!(d.status, Status::Recommended);
    assert_eq!(d.selected_lane, Lane::LocalOnly);
    assert_eq!(d.selected_target.as_deref(), Some("local_only"));
    assert_eq!(d.score, 0.78);
    assert!(d.reasons.is_empty());
    assert!(d.skipped_lanes.is_empty());
    assert_eq!(d.assignment_id, "assign_7f4e620a70c33afa");
    assert_eq!(
        d.idempotency_key,
        "assign.assignment.decision:T1:ready:unknown"
    );
    assert_eq!(d.lease_expires_at, Some(now() + Duration::seconds(900)));
}

#[test]
fn rule1_terminal_canonical_status_blocks_every_lane() {
    let mut case = Case::new();
    case.canonical = Some("DONE".into());
    let d = case.run(json!({"task_id": "T1"}));
    assert_eq!(d.status, Status::Blocked);
    assert_eq!(d.selected_lane, Lane::Blocked);
    assert_eq!(d.selected_target, None);
    assert_eq!(d.score, 0.0);
    assert_eq!(
        d.reasons,
        vec!["AssistX/Neo4j reports terminal state: DONE"]
    );
    assert_eq!(d.skipped_lanes.len(), 3);
    assert!(
        d.skipped_lanes
            .iter()
            .all(|s| s.reason_code == "canonical_terminal_state"
                && s.reason == "AssistX/Neo4j reports terminal state: DONE")
    );
    assert_eq!(d.canonical_status.as_deref(), Some("DONE"));
    assert_eq!(d.lease_expires_at, None);
    for status in [
        "cancelled",
        "failed_terminal",
        "terminal",
        "complete",
        "Completed",
    ] {
        case.canonical = Some(status.into());
        assert_eq!(
            case.run(json!({"task_id": "T1"})).skipped_lanes[0].reason_code,
            "canonical_terminal_state"
        );
    }
}

#[test]
fn rule2_active_canonical_status_is_a_duplicate() {
    let mut case = Case::new();
    for status in [
        "reserved",
        "dispatched",
        "RUNNING",
        "claimed",
        "claimed_passive",
    ] {
        case.canonical = Some(status.into());
        let d = case.run(json!({"task_id": "T1"}));
        assert_eq!(d.status, Status::Blocked, "{status}");
        assert_eq!(
            d.reasons,
            vec![format!(
                "AssistX/Neo4j reports active assignment state: {status}"
            )]
        );
        assert!(
            d.skipped_lanes
                .iter()
                .all(|s| s.reason_code == "duplicate_active_assignment")
        );
    }
}

#[test]
fn rule3_approval_flag_gates() {
    let d = Case::new().run(json!({"task_id": "T1", "approval_required": true}));
    assert_eq!(d.status, Status::ApprovalRequired);
    assert!(d.approval_required);
    assert_eq!(d.selected_lane, Lane::Blocked);
    assert_eq!(d.score, 0.0);
    assert_eq!(
        d.reasons,
        vec!["approval is required before assignment can dispatch"]
    );
    assert_eq!(d.skipped_lanes.len(), 3);
    assert!(
        d.skipped_lanes
            .iter()
            .all(|s| s.reason_code == "approval_required" && s.reason == "approval required")
    );
    assert_eq!(d.event_type(), "assign.assignment.approval_required");
}

#[test]
fn rule3_high_and_critical_risk_gate_in_any_case() {
    for risk in ["high", "CRITICAL", "High"] {
        let d = Case::new().run(json!({"task_id": "T1", "risk_level": risk}));
        assert_eq!(d.status, Status::ApprovalRequired, "{risk}");
    }
    let d = Case::new().run(json!({"task_id": "T1", "risk_level": "medium"}));
    assert_eq!(d.status, Status::Recommended);
}

#[test]
fn rule_order_terminal_before_approval() {
    let mut case = Case::new();
    case.canonical = Some("done".into());
    let d = case.run(json!({"task_id": "T1", "approval_required": true}));
    assert_eq!(d.status, Status::Blocked);
}

#[test]
fn rule4_privacy_cloud_denied_for_sensitive_work_on_free_api() {
    let mut case = Case::new();
    case.lanes = Some(vec![Lane::FreeApi]);
    let d = case.run(json!({"task_id": "T1", "privacy": "voice_auth"}));
    assert_eq!(codes(&d), vec![(Lane::FreeApi, "privacy_cloud_denied")]);
    assert_eq!(
        d.skipped_lanes[0].reason,
        "sensitive, local-only, or cloud-disallowed work cannot use hosted/free API lanes"
    );
    assert_eq!(d.reasons, vec!["no eligible lane available"]);
    assert_eq!(d.status, Status::Blocked);
    assert_eq!(d.event_type(), "assign.assignment.skipped");
    let d = case.run(json!({"task_id": "T1", "allow_cloud": false}));
    assert_eq!(codes(&d), vec![(Lane::FreeApi, "privacy_cloud_denied")]);
}

#[test]
fn rule4_paperclip_is_deprecated() {
    let mut case = Case::new();
    case.lanes = Some(vec![Lane::Paperclip, Lane::LocalOnly]);
    let d = case.run(json!({"task_id": "T1"}));
    assert_eq!(
        codes(&d),
        vec![(Lane::Paperclip, "deprecated_execution_lane")]
    );
    assert_eq!(
        d.skipped_lanes[0].reason,
        "deprecated execution lane; use router_model, local_only, or free_api"
    );
    assert_eq!(d.selected_lane, Lane::LocalOnly);
}

#[test]
fn rule4_router_cloud_denied_for_local_only_work() {
    let d = Case::new().run(json!({"task_id": "T1", "privacy": "private"}));
    assert_eq!(
        codes(&d),
        vec![
            (Lane::RouterModel, "router_cloud_denied"),
            (Lane::FreeApi, "privacy_cloud_denied")
        ]
    );
    assert_eq!(
        d.skipped_lanes[0].reason,
        "router model lane is skipped because the task is local-only or cloud-disallowed"
    );
    assert_eq!(d.selected_lane, Lane::LocalOnly);
    assert_eq!(d.score, 0.88);
    assert_eq!(
        d.reasons,
        vec!["local-only lane preferred for sensitive or local-only work"]
    );
}

#[test]
fn rule4_direct_workers_disabled_by_configuration() {
    let mut case = Case::new();
    case.lanes = Some(vec![Lane::DirectWorker]);
    let d = case.run(json!({"task_id": "T1"}));
    assert_eq!(
        codes(&d),
        vec![(Lane::DirectWorker, "direct_workers_disabled")]
    );
    assert_eq!(
        d.skipped_lanes[0].reason,
        "direct worker lane is disabled by configuration"
    );
    case.policy.direct_workers_enabled = true;
    let d = case.run(json!({"task_id": "T1"}));
    assert_eq!(d.selected_lane, Lane::DirectWorker);
    assert_eq!(d.score, 0.2);
    assert_eq!(
        d.reasons,
        vec!["direct worker lane is available for local execution"]
    );
}

#[test]
fn rule4_router_unavailable_blocks_router_lanes() {
    let mut case = Case::new();
    case.router = RouterSnapshot::unreachable();
    let d = case.run(json!({"task_id": "T1"}));
    assert_eq!(
        codes(&d),
        vec![
            (Lane::RouterModel, "router_unavailable"),
            (Lane::FreeApi, "router_unavailable")
        ]
    );
    assert_eq!(
        d.skipped_lanes[0].reason,
        "router snapshot is unavailable; cloud/router lanes are conservatively blocked"
    );
    assert_eq!(d.selected_lane, Lane::LocalOnly);
}

#[test]
fn rule4_quota_preserve_mode_blocks_free_api() {
    let mut case = Case::new();
    case.router = router(None, Some("preserve"));
    case.lanes = Some(vec![Lane::FreeApi, Lane::RouterModel]);
    let d = case.run(json!({"task_id": "T1"}));
    assert_eq!(codes(&d), vec![(Lane::FreeApi, "quota_preserve_mode")]);
    assert_eq!(
        d.skipped_lanes[0].reason,
        "quota is in preserve mode for higher-priority traffic"
    );
    assert_eq!(d.selected_lane, Lane::RouterModel);
}

#[test]
fn rule4_skips_accumulate_in_contract_order() {
    let mut case = Case::new();
    case.router = RouterSnapshot {
        quota_mode: Some("preserve".into()),
        ..RouterSnapshot::unreachable()
    };
    case.lanes = Some(vec![Lane::FreeApi]);
    let d = case.run(json!({"task_id": "T1", "sensitive": true}));
    assert_eq!(
        codes(&d),
        vec![
            (Lane::FreeApi, "privacy_cloud_denied"),
            (Lane::FreeApi, "router_unavailable"),
            (Lane::FreeApi, "quota_preserve_mode"),
        ]
    );
}

#[test]
fn rule5_reasons_in_order_with_priority_retry_and_revision() {
    let mut case = Case::new();
    case.router = router(Some("rev-1"), None);
    case.lanes = Some(vec![Lane::RouterModel]);
    let d = case.run(json!({"task_id": "T1", "priority": "Interactive", "retry_count": 2}));
    assert_eq!(
        d.reasons,
        vec![
            "router model lane is available for planning/drafting/review",
            "priority boost applied for interactive",
            "retry penalty applied: 2",
            "router context revision used: rev-1",
        ]
    );
    assert_eq!(d.score, 0.61);
    assert_eq!(d.decision_id, "decision_19cae20fb9019307");
    assert_eq!(d.context_revision.as_deref(), Some("rev-1"));
}

#[test]
fn rule5_retry_penalty_is_capped() {
    let mut case = Case::new();
    case.lanes = Some(vec![Lane::LocalOnly]);
    let d = case.run(json!({"task_id": "T1", "retry_count": 9}));
    assert_eq!(d.score, 0.58);
    assert_eq!(d.reasons, vec!["retry penalty applied: 9"]);
}

#[test]
fn rule5_score_never_below_zero() {
    let mut case = Case::new();
    case.policy.base_scores.insert(Lane::LocalOnly, 0.1);
    case.lanes = Some(vec![Lane::LocalOnly]);
    let d = case.run(json!({"task_id": "T1", "retry_count": 4}));
    assert_eq!(d.score, 0.0);
    assert_eq!(d.status, Status::Recommended);
}

#[test]
fn rule5_free_api_reason() {
    let mut case = Case::new();
    case.lanes = Some(vec![Lane::FreeApi]);
    let d = case.run(json!({"task_id": "T1", "priority": "repo_critical"}));
    assert_eq!(
        d.reasons,
        vec![
            "free API lane is eligible and does not violate reserve policy",
            "priority boost applied for repo_critical",
        ]
    );
    assert_eq!(d.score, 0.6);
}

#[test]
fn rule6_ties_go_to_the_earlier_lane() {
    let mut case = Case::new();
    case.policy.base_scores.insert(Lane::FreeApi, 0.66);
    case.lanes = Some(vec![Lane::FreeApi, Lane::RouterModel]);
    assert_eq!(
        case.run(json!({"task_id": "T1"})).selected_lane,
        Lane::FreeApi
    );
    case.lanes = Some(vec![Lane::RouterModel, Lane::FreeApi]);
    assert_eq!(
        case.run(json!({"task_id": "T1"})).selected_lane,
        Lane::RouterModel
    );
}

#[test]
fn rule6_unlisted_lane_scores_zero() {
    let mut case = Case::new();
    case.policy.base_scores.remove(&Lane::RouterModel);
    case.lanes = Some(vec![Lane::RouterModel]);
    let d = case.run(json!({"task_id": "T1"}));
    assert_eq!(d.score, 0.0);
    assert_eq!(d.status, Status::Recommended);
}

#[test]
fn rule6_winner_keeps_every_collected_skip() {
    let d = Case::new().run(json!({"task_id": "T1", "allow_cloud": "no"}));
    assert_eq!(d.selected_lane, Lane::LocalOnly);
    assert_eq!(codes(&d).len(), 2);
}

#[test]
fn control_mode_blocks_with_mode_as_canonical_status() {
    let mut case = Case::new();
    for mode in [
        ControlMode::Paused,
        ControlMode::Draining,
        ControlMode::Maintenance,
    ] {
        case.control = mode;
        let d = case.run(json!({"task_id": "T1", "approval_required": true}));
        assert_eq!(d.status, Status::Blocked);
        assert_eq!(d.canonical_status.as_deref(), Some(mode.as_str()));
        let text =
            format!("assignment control mode is {mode}; new assignment decisions are paused");
        assert_eq!(d.reasons, vec![text.clone()]);
        assert!(
            d.skipped_lanes
                .iter()
                .all(|s| s.reason_code == format!("assignment_control_{mode}") && s.reason == text)
        );
        assert_eq!(
            d.idempotency_key,
            format!("assign.assignment.decision:T1:ready:{mode}")
        );
    }
}

#[test]
fn review_candidates_wait_for_a_human() {
    let d = Case::new().run(json!({"task_id": "T1", "status": "REVIEW"}));
    assert_eq!(d.status, Status::Blocked);
    assert_eq!(d.skipped_lanes[0].reason_code, "awaiting_review");
    assert_eq!(
        d.idempotency_key,
        "assign.assignment.decision:T1:REVIEW:unknown"
    );
}

#[test]
fn approved_task_gets_a_lane_despite_its_gate() {
    let case = Case::new();
    let candidate = Candidate::from_json(&json!({"task_id": "T1", "risk_level": "high"})).unwrap();
    let ctx = case.ctx();
    let d = decide_approved(&candidate, &ctx, "approved by scott: reviewed");
    assert_eq!(d.selected_lane, Lane::LocalOnly);
    assert_eq!(d.reasons[0], "approved by scott: reviewed");
    assert!(d.approval_required);
}

#[test]
fn decision_json_has_the_old_service_fields() {
    let d = Case::new().run(json!({"task_id": "T1"}));
    let v = serde_json::to_value(&d).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for field in [
        "assignment_id",
        "task_id",
        "decision_id",
        "status",
        "selected_lane",
        "selected_target",
        "score",
        "approval_required",
        "lease_expires_at",
        "reasons",
        "skipped_lanes",
        "context_revision",
        "idempotency_key",
        "canonical_status",
        "cache_only",
        "created_at",
    ] {
        assert!(keys.contains(&field), "{field}");
    }
    assert_eq!(v["status"], "recommended");
    assert_eq!(v["created_at"], "2026-11-24T12:00:00.000000Z");
}
