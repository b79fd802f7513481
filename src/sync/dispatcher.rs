//! The outbox dispatcher: delivers due events to AssistX, several tasks at
//! once (up to `dispatch_concurrency`), one event at a time per task and in
//! order, and hands each verdict to the engine. It runs only when
//! `dispatch_enabled` is on; the operator's `dispatch` wakes it at once.
//! AssistX's health is asked every [`HEALTH_EVERY`] and reported the same
//! way.

use super::SyncReport;
use super::assistx::AssistX;
use crate::config::Settings;
use crate::domain::delivery::{Verdict, judge};
use crate::engine::EngineHandle;
use crate::engine::snapshot::{Health, HealthState};
use crate::error::Result;
use crate::store::Store;
use crate::store::outbox::{self, OutboxEvent};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How often AssistX's health is asked.
const HEALTH_EVERY: Duration = Duration::from_secs(10);

/// How long the dispatcher sleeps when nothing is due and nobody wakes it.
const IDLE: Duration = Duration::from_secs(1);

/// Events read per round (each about another task), posted
/// `dispatch_concurrency` at a time and reported together: a
/// round's read and its commit cost the same for 4 events or 256, and a
/// drain after an outage read the outbox 2,500 times for 10,000 events when
/// a round was 4 (100 events/s, and a heartbeat's p99 four times its own).
const ROUND: usize = 256;

/// The dispatcher's loop, to run on the sync edge's thread; `wake` makes it
/// look at once.
pub fn run(
    settings: &Settings,
    engine: EngineHandle,
    wake: Arc<Notify>,
) -> Result<impl Future<Output = ()> + Send + 'static> {
    let dispatcher = Dispatcher {
        assistx: AssistX::new(settings)?,
        database: engine.database().to_path_buf(),
        engine,
        concurrency: settings.dispatch_concurrency,
        last_success: None,
    };
    Ok(dispatcher.run(wake))
}

struct Dispatcher {
    assistx: AssistX,
    engine: EngineHandle,
    database: PathBuf,
    concurrency: usize,
    last_success: Option<DateTime<Utc>>,
}

impl Dispatcher {
    async fn run(mut self, wake: Arc<Notify>) {
        let mut next_health = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_health {
                next_health = tokio::time::Instant::now() + HEALTH_EVERY;
                let (state, error) = self.assistx.health().await;
                if self.report(Vec::new(), Some((state, error))).await.is_err() {
                    return; // the engine stopped
                }
            }
            let sent = match self.deliver_due().await {
                Ok(sent) => sent,
                Err(e) => {
                    tracing::warn!("outbox dispatch: {e}");
                    0
                }
            };
            if self.engine.is_closed() {
                return;
            }
            if sent == 0 {
                let _ = tokio::time::timeout(IDLE, wake.notified()).await;
            }
        }
    }

    /// One round: every subject's due event posted, the verdicts recorded.
    /// How many were posted.
    async fn deliver_due(&mut self) -> Result<usize> {
        let database = self.database.clone();
        let due = tokio::task::spawn_blocking(move || {
            let store = Store::open_read_only(&database)?;
            outbox::due_heads(store.conn(), Utc::now(), ROUND)
        })
        .await
        .map_err(|e| crate::error::Error::Io {
            context: "the outbox reader failed".into(),
            source: std::io::Error::other(e),
        })??;
        if due.is_empty() {
            return Ok(0);
        }
        // At most `concurrency` posts in flight; each is about another task,
        // so their order does not matter.
        let mut posts = JoinSet::new();
        let mut deliveries: Vec<(OutboxEvent, Verdict)> = Vec::with_capacity(due.len());
        for event in due {
            if posts.len() >= self.concurrency
                && let Some(Ok(done)) = posts.join_next().await
            {
                deliveries.push(done);
            }
            let assistx = self.assistx.clone();
            posts.spawn(async move {
                let verdict = judge(&assistx.post_event(&event.body).await);
                (event, verdict)
            });
        }
        deliveries.extend(posts.join_all().await);
        let posted = deliveries.len();
        // One report for the round: the engine records it a verdict at a
        // time between commands, so its size holds no heartbeat up.
        let health = verdicts_health(&deliveries);
        self.report(deliveries, health).await?;
        Ok(posted)
    }

    async fn report(
        &mut self,
        deliveries: Vec<(OutboxEvent, Verdict)>,
        seen: Option<(HealthState, Option<String>)>,
    ) -> Result<()> {
        let health = seen
            .map(|(state, error)| Health::seen("assistx", state, error, &mut self.last_success));
        self.engine
            .report(SyncReport {
                deliveries,
                health,
                graph: None,
            })
            .await
    }
}

/// What a round of posts says of AssistX: down when it refused our
/// credentials (sending stops being useful until they are fixed) or could
/// not be reached, ok when it accepted something; nothing otherwise.
fn verdicts_health(deliveries: &[(OutboxEvent, Verdict)]) -> Option<(HealthState, Option<String>)> {
    let unauthorized = deliveries.iter().find_map(|(_, v)| match v {
        Verdict::Unauthorized(why) => Some(why.clone()),
        _ => None,
    });
    if let Some(why) = unauthorized {
        return Some((HealthState::Down, Some(why)));
    }
    if deliveries
        .iter()
        .any(|(_, v)| matches!(v, Verdict::Delivered | Verdict::Conflict(_)))
    {
        return Some((HealthState::Ok, None));
    }
    deliveries.iter().find_map(|(_, v)| match v {
        Verdict::Retry(why) => Some((HealthState::Down, Some(why.clone()))),
        _ => None,
    })
}
