//! The lane scorer (contract A4). Reason codes and texts are part of the
//! contract: operators and AssistX read them.

use super::candidate::Candidate;
use super::control::ControlMode;
use super::decision::{Decision, Skip, Text, WorkerChoice};
use super::fleet::pool::Pool;
use super::fleet::{Need, Selection};
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
/// Whether a canonical status blocks a decision (A4 rules 1 and 2):
/// terminal or active. Only such a status is worth carrying into a
/// decision: any other leaves the ids as they are without one.
pub fn canonical_status_blocks(status: &str) -> bool {
    TERMINAL
        .iter()
        .chain(ACTIVE.iter())
        .any(|s| s.eq_ignore_ascii_case(status))
}

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
        worker: Default::default(),
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
    let ranked = rank(candidate, &traits, ctx, lanes, &mut decision.skipped_lanes);
    match ranked.first() {
        None => {
            decision.reasons = vec!["no eligible lane available".into()];
        }
        Some(&(lane, score)) => settle(decision, candidate, &traits, ctx, lane, score),
    }
}

/// The eligible lanes, best first (the first listed wins a tie); the
/// skips of the others go to `skipped`.
fn rank(
    candidate: &Candidate,
    traits: &Traits,
    ctx: &DecisionContext,
    lanes: &[Lane],
    skipped: &mut Vec<Skip>,
) -> Vec<(Lane, f64)> {
    let mut ranked = Vec::with_capacity(lanes.len());
    for &lane in lanes {
        let skips = lane_skips(lane, traits, ctx);
        if skips.is_empty() {
            ranked.push((lane, lane_score(lane, candidate, traits, ctx, None)));
        } else {
            skipped.extend(skips);
        }
    }
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
}

/// Recommends `lane`, with its score's reasons.
fn settle(
    decision: &mut Decision,
    candidate: &Candidate,
    traits: &Traits,
    ctx: &DecisionContext,
    lane: Lane,
    score: f64,
) {
    let mut reasons = Vec::with_capacity(4);
    lane_score(lane, candidate, traits, ctx, Some(&mut reasons));
    decision.status = Status::Recommended;
    decision.selected_lane = lane;
    decision.selected_target = lane.target().map(Text::Static);
    decision.score = (score * 10_000.0).round() / 10_000.0;
    decision.reasons = reasons;
    decision.lease_expires_at = Some(ctx.now + Duration::seconds(ctx.lease_seconds as i64));
}

/// Names the worker of a recommended decision (contract C): the best
/// worker of the best lane that has a usable one, reserved in `pool`; not
/// the worker it just `failed_on` while another can take it (failover). A
/// lane passed over for want of a worker is a skip; with no usable worker
/// anywhere the decision keeps its lane and says the task waits for
/// capacity. Without workers in the pool, the decision stays A4's.
pub fn place(
    decision: &mut Decision,
    candidate: &Candidate,
    ctx: &DecisionContext,
    failed_on: Option<&str>,
    pool: &mut Pool,
) {
    if decision.status != Status::Recommended || pool.is_empty() {
        return;
    }
    let traits = Traits::of(candidate);
    let ranked = rank(
        candidate,
        &traits,
        ctx,
        lanes_for(candidate, ctx),
        &mut Vec::new(),
    );
    let lanes: Vec<Lane> = ranked.iter().map(|(lane, _)| *lane).collect();
    let need = Need {
        capabilities: candidate.required_capabilities.clone(),
        owner: candidate.owner.clone(),
        failed_on: failed_on.map(str::to_string),
    };
    let placement = pool.place(&lanes, &need);
    let Some(lane) = placement.lane else {
        let waits = format!(
            "no usable worker on lane {}: waits for capacity ({})",
            decision.selected_lane.as_str(),
            placement.selection.summary()
        );
        decision.reasons.push(waits.into());
        fill(&mut decision.worker, placement.selection);
        return;
    };
    for (passed, refused) in &placement.passed_over {
        decision.skipped_lanes.push(Skip {
            lane: *passed,
            reason_code: "no_usable_worker".into(),
            reason: format!(
                "no usable worker on lane {} ({})",
                passed.as_str(),
                refused.summary()
            )
            .into(),
        });
    }
    if lane != decision.selected_lane {
        let passed = decision.selected_lane;
        let score = ranked
            .iter()
            .find(|(l, _)| *l == lane)
            .map_or(0.0, |(_, s)| *s);
        settle(decision, candidate, &traits, ctx, lane, score);
        let why = format!(
            "lane {} has no usable worker: fell back to {}",
            passed.as_str(),
            lane.as_str()
        );
        decision.reasons.insert(0, why.into());
    }
    let chosen = placement.selection.chosen.clone();
    if let Some(chosen) = &chosen {
        decision
            .reasons
            .extend(chosen.reasons.iter().map(|r| Text::Owned(r.clone())));
    }
    fill(&mut decision.worker, placement.selection);
}

fn fill(worker: &mut WorkerChoice, selection: Selection) {
    if let Some(chosen) = selection.chosen {
        worker.selected_worker = Some(chosen.worker_id);
        worker.selected_node = Some(chosen.node_id);
        worker.worker_score = Some(chosen.score);
    }
    worker.rejected_workers = selection.rejected;
    worker.unlisted_workers = selection.unlisted;
}

#[cfg(test)]
mod tests;
