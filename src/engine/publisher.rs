//! Building snapshots off the engine's thread. The publisher has its own
//! read connection (WAL lets it read while the engine writes) and rebuilds a
//! snapshot when the engine says something changed: at once when quiet, at
//! most every [`PUBLISH_EVERY`] under load (less often when builds are
//! long). Requests never wait behind a snapshot build this way.

use super::counters::Counters;
use super::snapshot::{self, Inputs, Snapshot};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::wire::Reply;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// Snapshots are rebuilt at most this often under load: four a second is
/// what a subscriber is sent and more than an operator can read, and at ten
/// thousand assignments a build is tens of milliseconds of a core that the
/// engine wants. A snapshot asked for (`snapshot`, `subscribe`) is built at
/// once all the same.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Under load a build waits this many times as long as the last one took,
/// when that is longer than [`PUBLISH_EVERY`]: builds then take at most a
/// tenth of a core. At 10,000 assignments a build is 50-70 ms, and four a
/// second were a quarter of one of the two cores, which the socket's
/// threads waited behind (docs/benchmarks.md).
const REST_PER_BUILD: u32 = 9;

enum Request {
    /// Something changed; publish soon.
    Changed(Inputs),
    /// Publish now and answer with the snapshot.
    Fresh(Inputs, oneshot::Sender<Result<Reply>>),
}

#[derive(Clone)]
pub struct Publisher {
    requests: mpsc::Sender<Request>,
}

impl Publisher {
    /// Starts the publisher thread on its own connection to `database`.
    pub fn spawn(
        database: &Path,
        snapshots: watch::Sender<Arc<Snapshot>>,
        rejected: Arc<Counters>,
    ) -> Result<Publisher> {
        let store = Store::open_read_only(database)?;
        let database = database.display().to_string();
        let (requests, inbox) = mpsc::channel();
        super::background::spawn("snapshots", move || {
            run(store, database, rejected, inbox, snapshots)
        })?;
        Ok(Publisher { requests })
    }

    pub fn changed(&self, view: Inputs) {
        let _ = self.requests.send(Request::Changed(view));
    }

    /// Answers `reply` with a snapshot that includes every change committed
    /// before this call.
    pub fn fresh(&self, view: Inputs, reply: oneshot::Sender<Result<Reply>>) {
        let _ = self.requests.send(Request::Fresh(view, reply));
    }
}

fn run(
    store: Store,
    database: String,
    rejected: Arc<Counters>,
    inbox: mpsc::Receiver<Request>,
    snapshots: watch::Sender<Arc<Snapshot>>,
) {
    let mut history = QueueHistory::default();
    let mut last_publish = Instant::now() - PUBLISH_EVERY;
    let mut spacing = PUBLISH_EVERY;
    while let Ok(first) = inbox.recv() {
        // Everything already asked is answered by one build.
        let mut requests = vec![first];
        requests.extend(inbox.try_iter());
        let wants_now = requests.iter().any(|r| matches!(r, Request::Fresh(..)));
        if !wants_now
            && let Some(wait) = (last_publish + spacing).checked_duration_since(Instant::now())
        {
            std::thread::sleep(wait);
            requests.extend(inbox.try_iter());
        }
        let Some(view) = requests
            .iter()
            .rev()
            .map(|r| match r {
                Request::Changed(v) | Request::Fresh(v, _) => v.clone(),
            })
            .next()
        else {
            continue;
        };
        let started = Instant::now();
        let built = snapshot::build(store.conn(), &view).map(|mut snapshot| {
            snapshot.queue_history = history.record(view.now, &snapshot);
            snapshot.database = database.clone();
            snapshot.rejected_lines = rejected.read();
            Arc::new(snapshot)
        });
        last_publish = Instant::now();
        spacing = PUBLISH_EVERY.max((last_publish - started) * REST_PER_BUILD);
        if let Ok(snapshot) = &built {
            snapshots.send_replace(snapshot.clone());
        }
        for request in requests {
            if let Request::Fresh(_, reply) = request {
                let answer = match &built {
                    Ok(snapshot) => Ok(Reply::Snapshot(snapshot.clone())),
                    Err(e) => Err(Error::Io {
                        context: "cannot build a snapshot".into(),
                        source: std::io::Error::other(e.to_string()),
                    }),
                };
                let _ = reply.send(answer);
            }
        }
        if let Err(e) = built {
            tracing::error!("snapshot failed: {e}");
        }
    }
}

/// Waiting assignments per minute over the last hour (kept in memory).
#[derive(Debug, Default)]
struct QueueHistory {
    minutes: VecDeque<(i64, u64)>,
}

impl QueueHistory {
    fn record(&mut self, now: DateTime<Utc>, snapshot: &Snapshot) -> Vec<u64> {
        let waiting = snapshot.waiting();
        let minute = now.timestamp() / 60;
        match self.minutes.back_mut() {
            Some((m, value)) if *m == minute => *value = waiting,
            _ => self.minutes.push_back((minute, waiting)),
        }
        while self.minutes.front().is_some_and(|(m, _)| *m <= minute - 60) {
            self.minutes.pop_front();
        }
        self.minutes.iter().map(|(_, v)| *v).collect()
    }
}
