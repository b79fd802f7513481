//! The graph writer: the outbox's second destination. It takes the events
//! after the graph's cursor in queue order, with the cache rows they touch,
//! writes them to Neo4j in one transaction per batch, and reports the
//! outcome to the engine, which moves the cursor. It runs whenever Neo4j
//! is configured, independently of AssistX write-back: one being down
//! never holds the other back.
//!
//! It also reconciles (`reconcile.rs`) at start and when asked.

use super::provenance::{self, Current, Touched};
use super::{Graph, GraphError, reconcile};
use crate::config::Settings;
use crate::domain::delivery::Verdict;
use crate::engine::EngineHandle;
use crate::engine::SyncReport;
use crate::engine::snapshot::{Health, HealthState};
use crate::error::Result;
use crate::store::graph_delivery::{self, GraphOutcome};
use crate::store::outbox::{self, OutboxEvent};
use crate::store::{Store, approvals, assignments, control, workers};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long the writer sleeps when nothing is due and nobody wakes it.
const IDLE: Duration = Duration::from_secs(1);

/// The writer's loop, to run on the sync edge's thread; `reconcile` asks
/// for a reconcile now.
pub fn run(
    settings: &Settings,
    engine: EngineHandle,
    reconcile: Arc<Notify>,
) -> Result<impl Future<Output = ()> + Send + 'static> {
    let neo4j = settings
        .neo4j
        .clone()
        .ok_or_else(|| crate::error::Error::Unavailable {
            what: "the graph writer needs AUTO_ASSIGN_NEO4J_URI".into(),
        })?;
    let writer = Writer {
        database: engine.database().to_path_buf(),
        engine,
        batch_size: settings.graph_batch_size,
        retry_cap: Duration::from_secs(
            settings
                .outbox_backoff_max_seconds
                .min(graph_delivery::GRAPH_RETRY_MAX_SECONDS),
        ),
        last_success: None,
        ahead: None,
    };
    Ok(async move {
        let Ok(graph) = Graph::connect(&neo4j)
            .await
            .map_err(|e| tracing::warn!("{e}"))
        else {
            return;
        };
        writer.run(graph, reconcile).await
    })
}

/// Events for the graph, with the cache rows they touch.
type Batched = (Vec<OutboxEvent>, Current);

struct Writer {
    engine: EngineHandle,
    database: PathBuf,
    batch_size: usize,
    /// The longest wait between two attempts (as for a batch).
    retry_cap: Duration,
    /// The next batch, read while the last one was written.
    ahead: Option<Batched>,
    last_success: Option<DateTime<Utc>>,
}

impl Writer {
    async fn run(mut self, graph: Graph, reconcile: Arc<Notify>) {
        // The constraints first: a MERGE without them could make two nodes
        // of one key under concurrent writers.
        let mut wait = Duration::from_secs(1).min(self.retry_cap);
        while let Err(e) = graph.ensure_constraints().await {
            let failed = GraphOutcome::Failed(e.to_string());
            if self
                .report(Some(failed), Vec::new(), Err(&e))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.retry_cap);
        }
        let mut reconcile_due = true;
        loop {
            if reconcile_due {
                reconcile_due = false;
                if let Err(e) = self.reconcile(&graph).await {
                    tracing::warn!("reconcile: {e}");
                }
            }
            let wrote = match self.write_due(&graph).await {
                Ok(wrote) => wrote,
                Err(e) => {
                    tracing::warn!("graph writer: {e}");
                    false
                }
            };
            if self.engine.is_closed() {
                return;
            }
            if !wrote {
                tokio::select! {
                    _ = reconcile.notified() => reconcile_due = true,
                    _ = tokio::time::sleep(IDLE) => {}
                }
            }
        }
    }

    /// One batch: read, write, report. Whether anything was written.
    /// While a batch is written the next one is read (the events after it,
    /// with their rows), and kept for the next round if the write succeeds:
    /// a drain then costs the graph's time, not the graph's plus ours.
    async fn write_due(&mut self, graph: &Graph) -> Result<bool> {
        let (events, current) = match self.ahead.take() {
            Some(ahead) => ahead,
            None => self.read(None).await?,
        };
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(false);
        };
        let batch = provenance::batch(&events, &current);
        let (written, ahead) = tokio::join!(graph.write(&batch), self.read(Some(last)));
        let outcome = match written {
            Ok(()) => {
                self.ahead = ahead.ok().filter(|(events, _)| !events.is_empty());
                GraphOutcome::Written {
                    through: last,
                    refused: batch.refused,
                }
            }
            // One event the graph will not take must not hold back the
            // others: the batch is written again one event at a time.
            Err(GraphError::Refused(_)) => self.one_by_one(graph, &events, &current).await,
            Err(e) => GraphOutcome::Failed(e.to_string()),
        };
        let written = matches!(outcome, GraphOutcome::Written { .. });
        let seen = match &outcome {
            GraphOutcome::Failed(why) => Err(GraphError::Unavailable(why.clone())),
            GraphOutcome::Written { .. } => Ok(()),
        };
        self.report(Some(outcome), Vec::new(), seen.as_ref().map(|_| ()))
            .await?;
        Ok(written)
    }

    /// A batch with its rows: the events after queue position `after`, or
    /// (`None`) the events due at the graph's cursor, unless a failed
    /// attempt's backoff still runs.
    async fn read(&self, after: Option<i64>) -> Result<Batched> {
        let (limit, database) = (self.batch_size, self.database.clone());
        blocking(move || {
            let store = Store::open_read_only(&database)?;
            let events = match after {
                Some(seq) => outbox::after(store.conn(), seq, limit)?,
                None => graph_delivery::due(store.conn(), Utc::now(), limit)?,
            };
            let current = current_rows(&store, &provenance::touched(&events))?;
            Ok((events, current))
        })
        .await
    }

    /// Each event alone; those the graph refuses are listed, and an outage
    /// stops the round where it happened.
    async fn one_by_one(
        &self,
        graph: &Graph,
        events: &[OutboxEvent],
        current: &Current,
    ) -> GraphOutcome {
        let mut through = None;
        let mut refused = Vec::new();
        for event in events {
            let one = std::slice::from_ref(event);
            let batch = provenance::batch(one, current);
            match graph.write(&batch).await {
                Ok(()) => refused.extend(batch.refused),
                Err(GraphError::Refused(why)) => refused.push((event.seq, why)),
                Err(e) if through.is_none() => return GraphOutcome::Failed(e.to_string()),
                Err(_) => break,
            }
            through = Some(event.seq);
        }
        match through {
            Some(through) => GraphOutcome::Written { through, refused },
            None => GraphOutcome::Failed("no event of the batch could be written".into()),
        }
    }

    /// Reconciles, and reports what it found (or why it could not look).
    async fn reconcile(&mut self, graph: &Graph) -> Result<()> {
        let database = self.database.clone();
        let pending = blocking(move || reconcile::pending(&database)).await?;
        match graph.recorded(&reconcile::keys(&pending)).await {
            Ok((recorded, conflicts)) => {
                let found = reconcile::verdicts(pending, &recorded, &conflicts);
                tracing::info!(found = found.len(), "reconcile against Neo4j");
                self.report(None, found, Ok(())).await
            }
            Err(e) => self.report(None, Vec::new(), Err(&e)).await,
        }
    }

    async fn report(
        &mut self,
        graph: Option<GraphOutcome>,
        deliveries: Vec<(OutboxEvent, Verdict)>,
        seen: std::result::Result<(), &GraphError>,
    ) -> Result<()> {
        let (state, error) = match seen {
            Ok(()) => (HealthState::Ok, None),
            Err(e) => (HealthState::Down, Some(e.to_string())),
        };
        let health = Health::seen("neo4j", state, error, &mut self.last_success);
        self.engine
            .report(SyncReport {
                deliveries,
                health: Some(health),
                graph,
            })
            .await
    }
}

/// The cache's current rows for what a batch touched.
pub fn current_rows(store: &Store, touched: &Touched) -> Result<Current> {
    let conn = store.conn();
    let mut current = Current::default();
    for id in &touched.assignments {
        match assignments::get(conn, id) {
            Ok(a) => current.assignments.push(a),
            Err(crate::error::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        current.approvals.extend(approvals::get(conn, id)?);
    }
    if !touched.workers.is_empty() {
        current.workers = workers::list(conn)?
            .into_iter()
            .filter(|w| {
                touched
                    .workers
                    .contains(&(w.node_id.clone(), w.worker_id.clone()))
            })
            .collect();
    }
    if touched.control {
        current.control = Some(control::get(conn)?);
    }
    Ok(current)
}

/// Store reads off the runtime's thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::error::Error::Io {
            context: "a store read of the graph writer failed".into(),
            source: std::io::Error::other(e),
        })?
}
