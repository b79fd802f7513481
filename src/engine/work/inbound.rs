//! Inbound AssistX events: mirrored, then processed once per key.

use super::super::pass;
use super::Work;
use crate::domain::candidate::Candidate;
use crate::domain::envelope::{InboundEvent, InboundWork};
use crate::error::{Error, Result};
use crate::store::events::{self, Mirrored};
use crate::store::runs::RunCounts;
use crate::wire::reply::{Ingested, Processed};
use serde_json::Value;

impl Work<'_> {
    /// Processes the stored inbound events `chosen` (those not processed
    /// yet, or every one with `include_processed`, an explicit replay).
    pub(super) fn process_stored(
        &mut self,
        chosen: events::Chosen,
        limit: usize,
    ) -> Result<Vec<Processed>> {
        let stored = events::list(self.tx, chosen, limit)?;
        let mut out = Vec::with_capacity(stored.len());
        for event in stored {
            let body: Value = serde_json::from_str(&event.body).unwrap_or(Value::Null);
            match InboundEvent::parse(body) {
                Ok(parsed) => out.push(self.process(&parsed)?),
                Err(e) => {
                    tracing::warn!(key = %event.idempotency_key, "unreadable stored event: {e}")
                }
            }
        }
        Ok(out)
    }

    pub(super) fn ingest(&mut self, body: Value) -> Result<Ingested> {
        let event = InboundEvent::parse(body).map_err(|e| Error::bad_input("event", e))?;
        let mirrored = events::mirror(self.tx, &event, self.now)?;
        let processed = match mirrored {
            Mirrored::New => Some(self.process(&event)?),
            Mirrored::Duplicate | Mirrored::Conflict => None,
        };
        Ok(Ingested {
            idempotency_key: event.idempotency_key,
            mirrored,
            processed,
        })
    }

    pub(super) fn process(&mut self, event: &InboundEvent) -> Result<Processed> {
        let work = event.work();
        let (mut action, reason) = work.action();
        let mut reason = reason.map(str::to_string);
        let mut decided = None;
        let detail = match work {
            InboundWork::EvaluateTask(item) => match Candidate::from_json(&item) {
                Err(e) => {
                    action = "skipped";
                    reason = Some("invalid_candidate".into());
                    Some(e)
                }
                Ok(candidate) => {
                    let outcome = self
                        .decide_all(
                            pass::identify_all(vec![candidate]),
                            &mut RunCounts::default(),
                        )?
                        .remove(0);
                    if outcome.result == "decided" {
                        decided = outcome.decision.as_ref().map(|d| d.status);
                    }
                    let status = outcome.decision.map(|d| d.status.to_string());
                    Some(
                        format!("{} {}", outcome.result, status.unwrap_or_default())
                            .trim()
                            .to_string(),
                    )
                }
            },
            InboundWork::Tick => {
                let report = self.tick(false, None)?;
                report.run_id.map(|id| format!("run {id}"))
            }
            InboundWork::MissingTaskId | InboundWork::Ignored => None,
        };
        events::record_processing(
            self.tx,
            &event.idempotency_key,
            action,
            reason.as_deref(),
            detail.as_deref(),
            self.now,
        )?;
        Ok(Processed {
            idempotency_key: event.idempotency_key.clone(),
            event_type: event.event_type.clone(),
            action: action.into(),
            reason,
            detail,
            decided,
        })
    }
}
