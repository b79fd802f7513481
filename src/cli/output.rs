//! Plain aligned tables and JSON lines for the terminal.

use crate::domain::printable::escape;
use crate::domain::time::rfc3339;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Prints rows under headers, columns padded to their widest cell, every
/// cell terminal-safe (`printable::escape`).
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| escape(cell).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A time as the CLI prints it (RFC 3339, UTC), or `-`.
pub fn at(time: Option<DateTime<Utc>>) -> String {
    time.map_or_else(|| "-".into(), rfc3339)
}

/// One compact JSON document on one line.
pub fn json_line<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("auto-assign: cannot print JSON: {e}"),
    }
}

/// A list as JSON lines, or as a table with one row per item.
pub fn list<T: Serialize>(
    items: &[T],
    json: bool,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) {
    if json {
        items.iter().for_each(json_line);
    } else {
        let rows: Vec<Vec<String>> = items.iter().map(row).collect();
        table(headers, &rows);
    }
}

pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

/// A decision for a human: the verdict on one line, then why.
pub fn decision(d: &crate::domain::decision::Decision) {
    println!(
        "{}  {}  lane {}  target {}  score {}  {}",
        escape(&d.task_id),
        d.status,
        d.selected_lane,
        or_dash(d.selected_target.as_deref()),
        d.score,
        d.assignment_id
    );
    for reason in &d.reasons {
        println!("    reason: {}", escape(reason));
    }
    for skip in &d.skipped_lanes {
        println!(
            "    skipped {}: {} ({})",
            skip.lane, skip.reason_code, skip.reason
        );
    }
    let w = &d.worker;
    if let Some(key) = w.key() {
        println!(
            "    worker {} (score {})",
            escape(&key),
            w.worker_score.unwrap_or_default()
        );
    }
    for r in &w.rejected_workers {
        println!("    not {}: {}", r.reason_code, escape(&r.reason));
    }
    for (code, n) in &w.unlisted_workers {
        println!("    not {code}: {n} more");
    }
}
