//! Why an assignment is still waiting, in one line an operator can act on:
//! a gate, the control mode, or what each worker of its lane is doing.

use crate::domain::lifecycle::Status;
use crate::domain::worker::WorkerStatus;
use crate::engine::Snapshot;
use crate::engine::snapshot::{Recommendation, Worker};
use crate::tui::attention::{Heard, heard};
use crate::tui::rows::age_of;
use chrono::{DateTime, Utc};

/// The line, or `None` when the assignment is not waiting.
pub fn why(s: &Snapshot, r: &Recommendation, now: DateTime<Utc>) -> Option<String> {
    match r.status {
        Status::ApprovalRequired => {
            let gate = s
                .approvals
                .iter()
                .find(|a| a.assignment_id == r.assignment_id);
            Some(match gate {
                Some(a) => format!(
                    "an operator's approval ({}), asked {} ago",
                    a.gate,
                    age_of(Some(a.requested_at), now)
                ),
                None => "an operator's approval".into(),
            })
        }
        Status::Blocked => Some("no lane may take it (the reasons below say why)".into()),
        Status::Recommended | Status::Approved => Some(worker_line(s, r, now)),
        _ => None,
    }
}

fn worker_line(s: &Snapshot, r: &Recommendation, now: DateTime<Utc>) -> String {
    if !s.control.mode.allows_new_work() {
        return format!("control is {}: no claim is accepted", s.control.mode);
    }
    let lane = r.lane.as_str();
    let serving: Vec<&Worker> = s
        .workers
        .iter()
        .filter(|w| w.lanes.iter().any(|l| l == lane))
        .collect();
    if serving.is_empty() {
        return format!("no worker serves lane {lane}");
    }
    let stale_after = s.limits.stale_heartbeat_seconds;
    let named = r.target.as_deref().and_then(|target| {
        serving
            .iter()
            .find(|w| w.key() == target && busy_because(w, stale_after, now).is_none())
    });
    if let Some(w) = named {
        return format!("a claim by {}, the worker its decision named", w.key());
    }
    let free: Vec<String> = serving
        .iter()
        .filter(|w| busy_because(w, stale_after, now).is_none())
        .map(|w| w.key())
        .collect();
    if !free.is_empty() {
        return format!(
            "a claim: {} free on {lane} ({})",
            if free.len() == 1 {
                "1 worker is".to_string()
            } else {
                format!("{} workers are", free.len())
            },
            free.join(", ")
        );
    }
    let reasons: Vec<String> = serving
        .iter()
        .filter_map(|w| {
            Some(format!(
                "{} {}",
                w.key(),
                busy_because(w, stale_after, now)?
            ))
        })
        .collect();
    format!("a free {lane} worker: {}", reasons.join(", "))
}

/// Why a worker cannot take more work now, or `None` if it can.
fn busy_because(w: &Worker, stale_after: u64, now: DateTime<Utc>) -> Option<String> {
    if heard(w, stale_after, now) == Heard::Stale {
        return Some("is stale".into());
    }
    if w.drained {
        return Some("is drained".into());
    }
    match w.status {
        WorkerStatus::Degraded | WorkerStatus::Draining | WorkerStatus::Offline => {
            return Some(format!("is {}", w.status));
        }
        WorkerStatus::Ready | WorkerStatus::Sleeping | WorkerStatus::Busy => {}
    }
    (w.active >= w.max_concurrent).then(|| format!("is full ({}/{})", w.active, w.max_concurrent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::control::ControlMode;
    use crate::domain::lane::Lane;
    use crate::tui::fixtures;

    fn waiting(s: &Snapshot) -> Recommendation {
        let mut r = s.recommendations[0].clone();
        r.status = Status::Recommended;
        r.lane = Lane::LocalOnly;
        r.target = None;
        r
    }

    fn fleet(s: &mut Snapshot) {
        let now = fixtures::now();
        for (i, w) in s.workers.iter_mut().enumerate() {
            w.lanes = vec!["local_only".into()];
            w.stale = false;
            w.drained = false;
            w.status = WorkerStatus::Ready;
            w.last_seen = now;
            w.active = 1;
            w.max_concurrent = if i == 0 { 2 } else { 1 };
        }
    }

    #[test]
    fn a_free_worker_means_it_waits_for_a_claim() {
        let mut s = fixtures::busy();
        fleet(&mut s);
        let line = why(&s, &waiting(&s), fixtures::now()).unwrap();
        assert_eq!(line, "a claim: 1 worker is free on local_only (n1/w1)");
    }

    #[test]
    fn the_worker_its_decision_named_comes_first_while_it_is_free() {
        let mut s = fixtures::busy();
        fleet(&mut s);
        let mut r = waiting(&s);
        r.target = Some(s.workers[0].key());
        let line = why(&s, &r, fixtures::now()).unwrap();
        assert_eq!(
            line,
            format!(
                "a claim by {}, the worker its decision named",
                s.workers[0].key()
            )
        );
        s.workers[0].drained = true;
        s.workers[1].active = 0;
        let line = why(&s, &r, fixtures::now()).unwrap();
        assert_eq!(
            line,
            format!(
                "a claim: 1 worker is free on local_only ({})",
                s.workers[1].key()
            )
        );
    }

    #[test]
    fn every_busy_worker_says_why() {
        let mut s = fixtures::busy();
        fleet(&mut s);
        s.workers[0].active = 2;
        s.workers[1].drained = true;
        s.workers[2].stale = true;
        s.workers[3].status = WorkerStatus::Degraded;
        let line = why(&s, &waiting(&s), fixtures::now()).unwrap();
        assert_eq!(
            line,
            "a free local_only worker: n1/w1 is full (2/2), n1/w2 is drained, \
             n2/w3 is stale, n2/w4 is degraded"
        );
    }

    #[test]
    fn no_worker_on_the_lane_or_a_paused_room_say_so() {
        let mut s = fixtures::busy();
        fleet(&mut s);
        let mut r = waiting(&s);
        r.lane = Lane::FreeApi;
        assert_eq!(
            why(&s, &r, fixtures::now()).unwrap(),
            "no worker serves lane free_api"
        );
        s.control.mode = ControlMode::Paused;
        assert_eq!(
            why(&s, &r, fixtures::now()).unwrap(),
            "control is paused: no claim is accepted"
        );
    }

    #[test]
    fn a_gated_one_waits_for_its_approval_and_a_running_one_waits_for_nothing() {
        let s = fixtures::busy();
        let a = &s.approvals[0];
        let mut r = waiting(&s);
        r.assignment_id = a.assignment_id.clone();
        r.status = Status::ApprovalRequired;
        let line = why(&s, &r, fixtures::now()).unwrap();
        assert!(
            line.starts_with(&format!("an operator's approval ({})", a.gate)),
            "{line}"
        );
        r.status = Status::Running;
        assert_eq!(why(&s, &r, fixtures::now()), None);
    }
}
