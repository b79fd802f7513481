//! Neo4j over Bolt (neo4rs): the provenance graph's writes (contract E)
//! and the reads of what AssistX leaves in the graph (A8). Every call
//! gives up after [`CALL_TIMEOUT`]: neo4rs retries some failures on its
//! own for up to a minute, and an outage must show on the badge sooner.
//! The Cypher is the part Neo4j 4.4, 5.x and ArcadeDB all accept: no APOC,
//! no procedures.

pub mod provenance;
pub mod rebuild;
pub mod reconcile;
pub mod writer;

use crate::config::Neo4jSettings;
use neo4rs::{BoltType, ConfigBuilder, Node, Query, query};
use provenance::Batch;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// The longest one Bolt call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Keys or ids asked per read.
const READ_CHUNK: usize = 500;

/// Why a graph call failed, in the two kinds that matter to its caller.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    /// Neo4j took the call and said no (a statement, a constraint): the
    /// same call would fail again.
    #[error("Neo4j refused it: {0}")]
    Refused(String),
    /// Not reached, not in time, or a failure that may pass.
    #[error("{0}")]
    Unavailable(String),
}

impl From<neo4rs::Error> for GraphError {
    fn from(e: neo4rs::Error) -> Self {
        match &e {
            // Only what is about the statement itself: a refused event is
            // passed over for good, so a database that is missing or a
            // permission that is lacking must not count as one.
            neo4rs::Error::Neo4j(inner) if refuses_the_statement(inner.code()) => {
                GraphError::Refused(e.to_string())
            }
            neo4rs::Error::AuthenticationError(why) => {
                GraphError::Unavailable(format!("Neo4j refused the credentials: {why}"))
            }
            _ => GraphError::Unavailable(format!("Neo4j: {e}")),
        }
    }
}

/// `Neo.ClientError.Statement.*` (syntax, types, arguments) and
/// `Neo.ClientError.Schema.*` (a constraint the rows break).
fn refuses_the_statement(code: &str) -> bool {
    ["Neo.ClientError.Statement.", "Neo.ClientError.Schema."]
        .iter()
        .any(|prefix| code.starts_with(prefix))
}

type GraphResult<T> = std::result::Result<T, GraphError>;

/// A Bolt connection pool to one database.
#[derive(Clone)]
pub struct Graph {
    bolt: neo4rs::Graph,
}

impl Graph {
    /// A pool for `settings`; nothing is sent until the first call.
    pub async fn connect(settings: &Neo4jSettings) -> GraphResult<Graph> {
        let mut config = ConfigBuilder::default()
            .uri(settings.uri.as_str())
            .user(settings.user.as_str())
            .password(settings.password.as_str())
            .max_connections(4);
        if !settings.database.is_empty() {
            config = config.db(settings.database.as_str());
        }
        let config = config.build()?;
        let bolt = in_time(neo4rs::Graph::connect(config)).await?;
        Ok(Graph { bolt })
    }

    /// Creates the provenance graph's unique constraints (contract E), each
    /// in a transaction of its own: neo4rs does not retry those by itself,
    /// so an outage is reported at once.
    pub async fn ensure_constraints(&self) -> GraphResult<()> {
        for constraint in provenance::CONSTRAINTS {
            in_time(async {
                let mut txn = self.bolt.start_txn().await?;
                txn.run(query(constraint)).await?;
                txn.commit().await
            })
            .await?;
        }
        Ok(())
    }

    /// Writes a batch in one transaction: all of it or none.
    pub async fn write(&self, batch: &Batch) -> GraphResult<()> {
        in_time(async {
            let mut txn = self.bolt.start_txn().await?;
            for (cypher, rows) in batch.statements() {
                txn.run(with_rows(cypher, rows)?).await?;
            }
            txn.commit().await
        })
        .await
    }

    /// Which of `keys` AssistX has recorded (A8: an `:EventEnvelope` with
    /// that key), and which of those it recorded as a conflict.
    pub async fn recorded(
        &self,
        keys: &[String],
    ) -> GraphResult<(BTreeSet<String>, BTreeSet<String>)> {
        let mut found = [BTreeSet::new(), BTreeSet::new()];
        for (label, into) in ["EventEnvelope", "EventConflict"]
            .into_iter()
            .zip(&mut found)
        {
            for chunk in keys.chunks(READ_CHUNK) {
                let statement = query(&format!(
                    "UNWIND $keys AS k MATCH (e:{label} {{idempotency_key: k}}) \
                     RETURN DISTINCT e.idempotency_key AS key"
                ))
                .param("keys", chunk.to_vec());
                let rows = self.column(statement, "key").await?;
                into.extend(rows.into_iter().filter_map(text));
            }
        }
        let [recorded, conflicts] = found;
        Ok((recorded, conflicts))
    }

    /// The `:Task` nodes of `ids`, by id, with all their properties.
    pub async fn tasks(&self, ids: &[String]) -> GraphResult<HashMap<String, Map<String, Value>>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(READ_CHUNK) {
            let nodes = self
                .nodes(
                    query("UNWIND $ids AS id MATCH (t:Task {id: id}) RETURN t")
                        .param("ids", chunk.to_vec()),
                    "t",
                )
                .await?;
            for task in nodes {
                if let Some(id) = task.get("id").and_then(Value::as_str) {
                    found.insert(id.to_string(), task);
                }
            }
        }
        Ok(found)
    }

    /// AssistX's backlog read from the graph (A8): READY and REVIEW tasks,
    /// oldest first.
    pub async fn backlog(&self, limit: usize) -> GraphResult<Vec<Map<String, Value>>> {
        self.nodes(
            query(
                "MATCH (t:Task) WHERE t.status IN ['READY', 'REVIEW'] \
                 RETURN t ORDER BY t.created_at_ts LIMIT $limit",
            )
            .param("limit", limit as i64),
            "t",
        )
        .await
    }

    /// Every node of a label this program writes, with its properties (the
    /// cache rebuild's reads).
    pub async fn all(&self, label: &str) -> GraphResult<Vec<Map<String, Value>>> {
        // A label cannot be a parameter; only this module's own names reach here.
        debug_assert!(label.chars().all(|c| c.is_ascii_alphanumeric()));
        self.nodes(query(&format!("MATCH (n:{label}) RETURN n")), "n")
            .await
    }

    /// The envelopes AssistX recorded of this program's events (A8): their
    /// `assign.*` and `assignment.*` types.
    pub async fn our_envelopes(&self) -> GraphResult<Vec<Map<String, Value>>> {
        self.nodes(
            query("MATCH (e:EventEnvelope) WHERE e.event_type STARTS WITH 'assign' RETURN e"),
            "e",
        )
        .await
    }

    /// Runs a statement as given: what tests and tools need.
    pub async fn run(&self, statement: Query) -> GraphResult<()> {
        in_time(self.bolt.run(statement)).await
    }

    /// One column of every row, as JSON.
    pub async fn column(&self, statement: Query, name: &str) -> GraphResult<Vec<Value>> {
        self.rows(statement, |row| {
            Some(row.get::<Value>(name).unwrap_or(Value::Null))
        })
        .await
    }

    /// The properties of the node in column `name` of every row.
    async fn nodes(&self, statement: Query, name: &str) -> GraphResult<Vec<Map<String, Value>>> {
        self.rows(statement, |row| {
            row.get::<Node>(name).ok().map(|n| properties(&n))
        })
        .await
    }

    /// What `each` makes of every row, read in a transaction: neo4rs
    /// retries a read outside one for up to a minute, hiding why it fails
    /// (a refused connection read as "no answer in 15 s").
    async fn rows<T>(
        &self,
        statement: Query,
        each: impl Fn(neo4rs::Row) -> Option<T>,
    ) -> GraphResult<Vec<T>> {
        in_time(async {
            let mut txn = self.bolt.start_txn().await?;
            let mut rows = txn.execute(statement).await?;
            let mut out = Vec::new();
            while let Some(row) = rows.next(txn.handle()).await? {
                out.extend(each(row));
            }
            txn.commit().await?;
            Ok(out)
        })
        .await
    }
}

/// A node's properties as JSON; one that does not convert (a spatial
/// value, say) is left out rather than failing the read.
fn properties(node: &Node) -> Map<String, Value> {
    node.keys()
        .into_iter()
        .filter_map(|key| Some((key.to_string(), node.get::<Value>(key).ok()?)))
        .collect()
}

fn text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A statement with its rows as the `$rows` parameter.
fn with_rows(cypher: &str, rows: &[Value]) -> neo4rs::Result<Query> {
    let rows = BoltType::try_from(Value::Array(rows.to_vec()))?;
    Ok(query(cypher).param("rows", rows))
}

async fn in_time<T>(call: impl Future<Output = neo4rs::Result<T>>) -> GraphResult<T> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(GraphError::from),
        Err(_) => Err(GraphError::Unavailable(format!(
            "Neo4j did not answer within {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::refuses_the_statement;

    #[test]
    fn only_a_statement_or_schema_error_refuses_an_event_for_good() {
        for code in [
            "Neo.ClientError.Statement.SyntaxError",
            "Neo.ClientError.Schema.ConstraintValidationFailed",
        ] {
            assert!(refuses_the_statement(code), "{code}");
        }
        for code in [
            "Neo.ClientError.Database.DatabaseNotFound",
            "Neo.ClientError.Security.Unauthorized",
            "Neo.TransientError.Transaction.DeadlockDetected",
            "Neo.DatabaseError.General.UnknownError",
        ] {
            assert!(!refuses_the_statement(code), "{code}");
        }
    }
}
