//! The lane scorer (contract A4). Reason codes and texts are part of the
//! contract: operators and AssistX read them.

use super::candidate::Candidate;
use super::control::ControlMode;
use super::decision::{Decision, Skip, Text};
use super::ids;
use super::lane::Lane;
use super::lifecycle::Status;
use super::router::RouterSnapshot;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

const TERMINAL: [&str; 6] = [
    "done",
    "cancelled",
    "failed_terminal",
    "terminal",
    "complete",
    "completed",
];
const ACTIVE: [&str; 5] = [
    "reserved",
    "dispatched",
    "running",
    "claimed",
    "claimed_passive",
];
/// The boosted priorities with their reason texts, written out so the hot
/// path borrows them instead of formatting them.
const BOOSTED_PRIORITIES: [(&str, &str); 3] = [
    ("critical", "priority boost applied for critical"),
    ("repo_critical", "priority boost applied for repo_critical"),
    ("interactive", "priority boost applied for interactive"),
];

/// The retry reasons of the first attempts, for the same reason.
const RETRY_REASONS: [&str; 10] = [
    "retry penalty applied: 0",
    "retry penalty applied: 1",
    "retry penalty applied: 2",
    "retry penalty applied: 3",
    "retry penalty applied: 4",
    "retry penalty applied: 5",
    "retry penalty applied: 6",
    "retry penalty applied: 7",
    "retry penalty applied: 8",
    "retry penalty applied: 9",
];

/// The tunable numbers of scoring (contract A10).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringPolicy {
    pub base_scores: BTreeMap<Lane, f64>,
    pub local_only_boost: f64,
    pub priority_boost: f64,
    pub retry_penalty_per_attempt: f64,
    pub retry_penalty_max: f64,
    pub direct_workers_enabled: bool,
}

impl Default for ScoringPolicy {
    fn default() -> Self {
        ScoringPolicy {
            base_scores: BTreeMap::from([
                (Lane::LocalOnly, 0.78),
                (Lane::RouterModel, 0.66),
                (Lane::FreeApi, 0.55),
                (Lane::DirectWorker, 0.20),
            ]),
            local_only_boost: 0.10,
            priority_boost: 0.05,
            retry_penalty_per_attempt: 0.05,
            retry_penalty_max: 0.20,
            direct_workers_enabled: false,
        }
    }
}

/// Everything besides the candidate that a decision depends on.
#[derive(Debug, Clone)]
pub struct DecisionContext<'a> {
    pub policy: &'a ScoringPolicy,
    pub router: &'a RouterSnapshot,
    pub control: ControlMode,
    /// Overrides the candidate's own lane list (`--lanes`).
    pub lanes: Option<&'a [Lane]>,
    /// Lanes for a candidate that names none.
    pub default_lanes: &'a [Lane],
    /// AssistX/Neo4j's status for the task, when known; overrides the
    /// candidate's own `canonical_status`.
    pub canonical_status: Option<&'a str>,
    pub now: DateTime<Utc>,
    pub lease_seconds: u64,
    /// Decisions stay in the local cache (write-back disabled).
    pub cache_only: bool,
}

/// Decides one candidate: rules 1–6 of contract A4, with assignment control
/// first.
pub fn decide(candidate: &Candidate, ctx: &DecisionContext) -> Decision {
    let lanes = lanes_for(candidate, ctx);
    if !ctx.control.allows_new_work() {
        let mode = ctx.control.as_str();
        let text =
            format!("assignment control mode is {mode}; new assignment decisions are paused");
        let mut decision = skeleton(candidate, ctx, Some(mode));
        block_everywhere(
            &mut decision,
            lanes,
            format!("assignment_control_{mode}"),
            text,
        );
        return decision;
    }
    let canonical = ctx
        .canonical_status
        .or(candidate.canonical_status.as_deref());
    let mut decision = skeleton(candidate, ctx, canonical);
    let d = &mut decision;
    if let Some(canonical) = canonical {
        let is = |set: &[&str]| set.iter().any(|s| s.eq_ignore_ascii_case(canonical));
        if is(&TERMINAL) {
            let text = format!("AssistX/Neo4j reports terminal state: {canonical}");
            block_everywhere(d, lanes, "canonical_terminal_state", text);
            return decision;
        }
        if is(&ACTIVE) {
            let text = format!("AssistX/Neo4j reports active assignment state: {canonical}");
            block_everywhere(d, lanes, "duplicate_active_assignment", text);
            return decision;
        }
    }
    if candidate.awaits_review() {
        let text = "AssistX marks the task REVIEW; a human must look before it is recommended";
        block_everywhere(d, lanes, "awaiting_review", text);
    } else if candidate.approval_required || candidate.is_high_risk() {
        block_everywhere_with(
            d,
            lanes,
            "approval_required",
            "approval is required before assignment can dispatch",
            "approval required",
        );
        d.status = Status::ApprovalRequired;
        d.approval_required = true;
    } else {
        select_lane(d, candidate, ctx, lanes);
    }
    decision
}

/// Rules 4–6 alone: the lane an approved task goes to, the gates of rules
/// 1–3 having been answered by the operator.
pub fn decide_approved(candidate: &Candidate, ctx: &DecisionContext, approval: &str) -> Decision {
    let lanes = lanes_for(candidate, ctx);
    let canonical = ctx
        .canonical_status
        .or(candidate.canonical_status.as_deref());
    let mut decision = skeleton(candidate, ctx, canonical);
    select_lane(&mut decision, candidate, ctx, lanes);
    decision.approval_required = true;
    decision.reasons.insert(0, approval.to_string().into());
    decision
}

fn lanes_for<'a>(candidate: &'a Candidate, ctx: &'a DecisionContext) -> &'a [Lane] {
    ctx.lanes
        .or(candidate.allowed_lanes.as_deref())
        .unwrap_or(ctx.default_lanes)
}

/// A blocked decision with ids and keys filled in, for the caller to shape.
fn skeleton(candidate: &Candidate, ctx: &DecisionContext, canonical: Option<&str>) -> Decision {
    let key = ids::decision_key(&candidate.task_id, &candidate.status, canonical);
    Decision {
        assignment_id: ids::assignment_id(&candidate.task_id, canonical),
        task_id: candidate.task_id.clone(),
        decision_id: ids::decision_id(&key, ctx.router.revision.as_deref()),
        status: Status::Blocked,
        selected_lane: Lane::Blocked,
        selected_target: None,
        score: 0.0,
        approval_required: false,
        lease_expires_at: None,
        reasons: Vec::new(),
        skipped_lanes: Vec::new(),
        context_revision: ctx.router.revision.clone(),
        idempotency_key: key,
        canonical_status: canonical.map(str::to_string),
        cache_only: ctx.cache_only,
        created_at: ctx.now,
    }
}

fn block_everywhere(
    decision: &mut Decision,
    lanes: &[Lane],
    code: impl Into<Text>,
    text: impl Into<Text>,
) {
    let text = text.into();
    block_everywhere_with(decision, lanes, code, text.clone(), text);
}

fn block_everywhere_with(
    decision: &mut Decision,
    lanes: &[Lane],
    code: impl Into<Text>,
    reason: impl Into<Text>,
    skip_text: impl Into<Text>,
) {
    let (code, skip_text) = (code.into(), skip_text.into());
    decision.reasons = vec![reason.into()];
    decision.skipped_lanes = lanes
        .iter()
        .map(|&lane| skip(lane, code.clone(), skip_text.clone()))
        .collect();
}

fn skip(lane: Lane, code: impl Into<Text>, text: impl Into<Text>) -> Skip {
    Skip {
        lane,
        reason_code: code.into(),
        reason: text.into(),
    }
}

/// What rules 4 and 5 ask of a candidate, worked out once per decision.
struct Traits {
    sensitive: bool,
    local_only: bool,
    cloud_denied: bool,
}

impl Traits {
    fn of(candidate: &Candidate) -> Traits {
        Traits {
            sensitive: candidate.is_sensitive(),
            local_only: candidate.is_local_only(),
            cloud_denied: !candidate.allow_cloud,
        }
    }
}

/// Rule 4: the skips that apply to one lane, in contract order.
fn lane_skips(lane: Lane, traits: &Traits, ctx: &DecisionContext) -> Vec<Skip> {
    let Traits {
        sensitive,
        local_only,
        cloud_denied,
    } = *traits;
    let mut skips = Vec::new();
    if lane == Lane::FreeApi && (sensitive || local_only || cloud_denied) {
        skips.push(skip(
            lane,
            "privacy_cloud_denied",
            "sensitive, local-only, or cloud-disallowed work cannot use hosted/free API lanes",
        ));
    }
    if lane == Lane::Paperclip {
        skips.push(skip(
            lane,
            "deprecated_execution_lane",
            "deprecated execution lane; use router_model, local_only, or free_api",
        ));
    }
    if lane == Lane::RouterModel && (local_only || cloud_denied) {
        skips.push(skip(
            lane,
            "router_cloud_denied",
            "router model lane is skipped because the task is local-only or cloud-disallowed",
        ));
    }
    if lane == Lane::DirectWorker && !ctx.policy.direct_workers_enabled {
        skips.push(skip(
            lane,
            "direct_workers_disabled",
            "direct worker lane is disabled by configuration",
        ));
    }
    let uses_router = matches!(lane, Lane::FreeApi | Lane::RouterModel);
    if uses_router && !ctx.router.reachable {
        skips.push(skip(
            lane,
            "router_unavailable",
            "router snapshot is unavailable; cloud/router lanes are conservatively blocked",
        ));
    }
    if lane == Lane::FreeApi && ctx.router.preserves_quota() {
        skips.push(skip(
            lane,
            "quota_preserve_mode",
            "quota is in preserve mode for higher-priority traffic",
        ));
    }
    skips
}

/// Rule 5: an eligible lane's score; with `reasons`, also the reasons that
/// built it (only the winner's are kept, so only the winner's are written).
fn lane_score(
    lane: Lane,
    candidate: &Candidate,
    traits: &Traits,
    ctx: &DecisionContext,
    mut reasons: Option<&mut Vec<Text>>,
) -> f64 {
    let mut say = |text: Text| {
        if let Some(reasons) = reasons.as_deref_mut() {
            reasons.push(text);
        }
    };
    let policy = ctx.policy;
    let mut score = policy.base_scores.get(&lane).copied().unwrap_or(0.0);
    if lane == Lane::LocalOnly && (traits.sensitive || traits.local_only) {
        score += policy.local_only_boost;
        say("local-only lane preferred for sensitive or local-only work".into());
    }
    match lane {
        Lane::RouterModel => {
            say("router model lane is available for planning/drafting/review".into())
        }
        Lane::FreeApi => {
            say("free API lane is eligible and does not violate reserve policy".into())
        }
        Lane::DirectWorker => say("direct worker lane is available for local execution".into()),
        _ => {}
    }
    if let Some((_, reason)) = BOOSTED_PRIORITIES
        .iter()
        .find(|(p, _)| *p == candidate.priority)
    {
        score += policy.priority_boost;
        say(Text::Static(reason));
    }
    if candidate.retry_count > 0 {
        let penalty = (policy.retry_penalty_per_attempt * f64::from(candidate.retry_count))
            .min(policy.retry_penalty_max);
        score -= penalty;
        say(match RETRY_REASONS.get(candidate.retry_count as usize) {
            Some(reason) => Text::Static(reason),
            None => join(
                "retry penalty applied: ",
                &candidate.retry_count.to_string(),
            ),
        });
    }
    match (&ctx.router.revision_reason, &ctx.router.revision) {
        (Some(reason), _) => say(Text::Shared(reason.clone())),
        (None, Some(revision)) => say(join("router context revision used: ", revision)),
        (None, None) => {}
    }
    score.max(0.0)
}

/// `prefix` + `value` without the formatting machinery (a hot path).
fn join(prefix: &'static str, value: &str) -> Text {
    let mut text = String::with_capacity(prefix.len() + value.len());
    text.push_str(prefix);
    text.push_str(value);
    Text::Owned(text)
}

/// Rules 4–6 over the lane list.
fn select_lane(
    decision: &mut Decision,
    candidate: &Candidate,
    ctx: &DecisionContext,
    lanes: &[Lane],
) {
    let traits = Traits::of(candidate);
    let mut best: Option<(Lane, f64)> = None;
    for &lane in lanes {
        let skips = lane_skips(lane, &traits, ctx);
        if !skips.is_empty() {
            decision.skipped_lanes.extend(skips);
            continue;
        }
        let score = lane_score(lane, candidate, &traits, ctx, None);
        if best.is_none_or(|(_, top)| score > top) {
            best = Some((lane, score));
        }
    }
    match best {
        None => {
            decision.reasons = vec!["no eligible lane available".into()];
        }
        Some((lane, score)) => {
            let mut reasons = Vec::with_capacity(4);
            lane_score(lane, candidate, &traits, ctx, Some(&mut reasons));
            decision.status = Status::Recommended;
            decision.selected_lane = lane;
            decision.selected_target = lane.target().map(Text::Static);
            decision.score = (score * 10_000.0).round() / 10_000.0;
            decision.reasons = reasons;
            decision.lease_expires_at = Some(ctx.now + Duration::seconds(ctx.lease_seconds as i64));
        }
    }
}

#[cfg(test)]
mod tests {
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
                    .all(|s| s.reason_code == format!("assignment_control_{mode}")
                        && s.reason == text)
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
        let candidate =
            Candidate::from_json(&json!({"task_id": "T1", "risk_level": "high"})).unwrap();
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
}
