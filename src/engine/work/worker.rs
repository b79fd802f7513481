//! Worker commands: claim, heartbeat, progress, complete, fail.

use super::Work;
use crate::domain::events::Authored;
use crate::domain::ids;
use crate::domain::lifecycle::{Event, Status};
use crate::domain::time::rfc3339;
use crate::domain::worker::Heartbeat;
use crate::error::{Error, Result};
use crate::store::assignments::{self, Assignment};
use crate::store::workers;
use crate::wire::reply::{HeartbeatReport, Reply};

impl Work<'_> {
    pub(super) fn holder_check(&self, a: &Assignment, worker_id: &str) -> Result<()> {
        if a.status.holds_lease() && a.worker_id.as_deref() == Some(worker_id) {
            Ok(())
        } else {
            Err(Error::NotHeld {
                assignment_id: a.assignment_id.clone(),
                worker_id: worker_id.into(),
            })
        }
    }

    pub(super) fn claim(
        &mut self,
        id: &str,
        worker_id: &str,
        node_id: Option<&str>,
        lease_seconds: Option<u64>,
        correlation_id: Option<String>,
    ) -> Result<Reply> {
        if worker_id.trim().is_empty() {
            return Err(Error::bad_input("worker_id", "must not be empty"));
        }
        if !self.control.mode.allows_new_work() {
            return Err(Error::ControlMode {
                mode: self.control.mode.to_string(),
                action: "claiming".into(),
            });
        }
        let lease_seconds = lease_seconds.unwrap_or(self.settings.default_lease_seconds);
        if lease_seconds == 0 {
            return Err(Error::bad_input("lease_seconds", "must be at least 1"));
        }
        let a = self.load(id, None)?;
        let to = self.check(&a, Event::Claim)?;
        let correlation = match correlation_id {
            Some(c) if ids::is_uuid(&c) => c,
            Some(c) => {
                return Err(Error::bad_input(
                    "correlation_id",
                    format!("'{c}' is not a UUID"),
                ));
            }
            None => ids::task_correlation_id(&a.task_id),
        };
        let node_id = node_id.filter(|n| !n.trim().is_empty()).unwrap_or("local");
        let claim = assignments::Claim {
            assignment_id: id,
            worker_id,
            node_id,
            correlation_id: &correlation,
            lease_seconds,
        };
        assignments::claim(self.tx, &claim, self.now)?;
        self.audit(
            worker_id,
            "claim",
            Some(id),
            Some(a.status),
            Some(to),
            Some(&format!("lease {lease_seconds}s on {node_id}")),
        )?;
        let claimed = assignments::get(self.tx, id)?;
        let event = Authored::Claimed {
            assignment_id: id,
            worker_id,
            node_id,
            correlation_id: &correlation,
            lease_expires_at: claimed.lease_expires_at.as_deref(),
        };
        self.emit(&claimed, &event)?;
        Ok(Reply::Assignment(Box::new(claimed)))
    }

    pub(super) fn heartbeat(&mut self, mut hb: Heartbeat) -> Result<HeartbeatReport> {
        hb.validate()
            .map_err(|(field, message)| Error::bad_input(field, message))?;
        let named = match &hb.assignment_id {
            Some(id) => {
                let a = assignments::get(self.tx, id)?;
                if a.node_id.as_deref() != Some(hb.node_id.as_str()) {
                    return Err(Error::NotHeld {
                        assignment_id: id.clone(),
                        worker_id: hb.worker_id.clone(),
                    });
                }
                self.holder_check(&a, &hb.worker_id)?;
                Some(a)
            }
            None => None,
        };
        // Contract B: a missing (or unusable) correlation id is derived, never fatal.
        if hb
            .correlation_id
            .as_deref()
            .is_none_or(|c| !ids::is_uuid(c))
        {
            hb.correlation_id = Some(match &named {
                Some(a) => ids::task_correlation_id(&a.task_id),
                None => ids::correlation_id("node", &hb.node_id),
            });
        }
        let before =
            workers::record_heartbeat(self.tx, &hb, self.settings.heartbeat_history, self.now)?;
        let (renewed, started) = self.renew_and_start(&hb, named)?;
        let status = hb.status.as_str();
        if before.status.as_deref() != Some(status) || before.stale {
            let subject = hb.key();
            let detail = format!("{} -> {status}", before.status.as_deref().unwrap_or("new"));
            self.audit(
                &hb.worker_id,
                "worker_status",
                Some(&subject),
                None,
                None,
                Some(&detail),
            )?;
            self.emit_about_node(&Authored::WorkerStatus {
                node_id: &hb.node_id,
                worker_id: &hb.worker_id,
                status: hb.status,
                previous: before.status.as_deref(),
                lanes: &hb.lanes,
                capabilities: &hb.capabilities,
                max_concurrent: hb.max_concurrent,
                at: &rfc3339(self.now),
            })?;
        }
        Ok(HeartbeatReport {
            node_id: hb.node_id,
            worker_id: hb.worker_id,
            renewed,
            started,
            recovered_from_stale: before.stale,
        })
    }

    /// What every sign of life from a worker does to its work: renew the
    /// leases it holds (when the control mode allows) and move a named
    /// claimed assignment to running.
    pub(super) fn renew_and_start(
        &mut self,
        hb: &Heartbeat,
        named: Option<Assignment>,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mut renewed = Vec::new();
        if self.control.mode.allows_lease_renewal() {
            for held in assignments::held_by(self.tx, &hb.node_id, &hb.worker_id)? {
                assignments::renew_lease(self.tx, &held, self.now)?;
                renewed.push(held.assignment_id);
            }
        }
        let mut started = Vec::new();
        if let Some(a) = named.filter(|a| a.status == Status::Claimed) {
            self.transition_to(&a, Event::Start, &hb.worker_id, None, true, a.retry_count)?;
            let event = Authored::Started {
                assignment_id: &a.assignment_id,
                worker_id: &hb.worker_id,
                node_id: &hb.node_id,
                heartbeat_id: hb.heartbeat_id.as_deref(),
            };
            self.emit_correlated(&a, &event, hb.correlation_id.clone())?;
            started.push(a.assignment_id);
        }
        Ok((renewed, started))
    }

    /// A progress report is a heartbeat about one assignment: it renews the
    /// worker's leases and starts the work (without touching what the
    /// worker's own heartbeats say about it); a message is audited.
    pub(super) fn progress(
        &mut self,
        id: &str,
        worker_id: &str,
        message: Option<String>,
        percent: Option<f64>,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        self.holder_check(&a, worker_id)?;
        if percent.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
            return Err(Error::bad_input("percent", "must be between 0 and 100"));
        }
        let mut hb = Heartbeat::new(a.node_id.as_deref().unwrap_or("local"), worker_id);
        hb.correlation_id = a.correlation_id.clone();
        self.renew_and_start(&hb, Some(a))?;
        // A message is worth a line in the audit; a bare percentage is not
        // (workers send those every few seconds).
        if let Some(message) = message {
            let detail = match percent {
                Some(p) => format!("{p}%: {message}"),
                None => message,
            };
            self.audit(worker_id, "progress", Some(id), None, None, Some(&detail))?;
        }
        self.reply(id)
    }

    pub(super) fn complete(
        &mut self,
        id: &str,
        worker_id: &str,
        summary: Option<&str>,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        self.holder_check(&a, worker_id)?;
        self.transition_to(
            &a,
            Event::Complete,
            worker_id,
            summary,
            false,
            a.retry_count,
        )?;
        let event = Authored::Completed {
            assignment_id: id,
            worker_id,
            node_id: a.node_id.as_deref(),
            attempt: a.retry_count,
            summary,
        };
        self.emit(&a, &event)?;
        self.reply(id)
    }

    pub(super) fn fail(
        &mut self,
        id: &str,
        worker_id: &str,
        reason: &str,
        retryable: bool,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        self.holder_check(&a, worker_id)?;
        let retry = retryable && a.retry_count < self.settings.max_retries;
        let retry_count = a.retry_count + u32::from(retry);
        self.transition_to(&a, Event::Fail, worker_id, Some(reason), retry, retry_count)?;
        let event = Authored::Failed {
            assignment_id: id,
            worker_id,
            node_id: a.node_id.as_deref(),
            attempt: a.retry_count,
            reason,
            retryable,
            will_retry: retry,
            retry_count,
        };
        self.emit(&a, &event)?;
        if retry {
            self.redecide(&a.task_id)?;
        }
        self.reply(id)
    }
}
