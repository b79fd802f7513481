//! The persisted assignment control mode.

use crate::domain::control::ControlMode;
use crate::domain::time::rfc3339;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ControlState {
    pub mode: ControlMode,
    pub reason: Option<String>,
    pub changed_by: Option<String>,
    pub changed_at: Option<String>,
    pub version: i64,
}

pub fn get(conn: &Connection) -> Result<ControlState> {
    let (mode, reason, changed_by, changed_at, version): (String, _, _, _, _) = conn
        .prepare_cached(
            "SELECT mode, reason, changed_by, changed_at, version FROM control WHERE id = 1",
        )?
        .query_row([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?;
    Ok(ControlState {
        // A hand-edited unknown mode fails safe: no new work.
        mode: mode.parse().unwrap_or(ControlMode::Paused),
        reason,
        changed_by,
        changed_at,
        version,
    })
}

pub fn set(
    conn: &Connection,
    mode: ControlMode,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ControlState> {
    conn.prepare_cached(
        "UPDATE control SET mode = ?1, reason = ?2, changed_by = ?3, changed_at = ?4, version = version + 1 \
         WHERE id = 1",
    )?
    .execute(params![mode.as_str(), reason, by, rfc3339(now)])?;
    get(conn)
}
