//! What every pane's table is made of: rows of cells with a sort key per
//! cell and a tone, built from a snapshot. Pure, so panes are testable
//! without a terminal.

use super::clock::Clock;
use crate::domain::printable::escape;
use chrono::{DateTime, Utc};

/// How a row is painted; stale and failing rows also carry a word or glyph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    Muted,
    Ok,
    Warn,
    Error,
}

/// How a time column reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// How long ago: `12s`, `3m05s`.
    Age,
    /// When, in the room's zone: `14:21:36`.
    Clock,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Num(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Selection, marks and actions refer to this.
    pub id: String,
    /// The version the operator sees (assignments), carried into actions.
    pub version: Option<i64>,
    pub cells: Vec<String>,
    pub keys: Vec<SortKey>,
    /// Time columns: (column, epoch seconds, how shown). Their text is
    /// written when a row is drawn, so rows need not be rebuilt as the clock
    /// moves, nor know the operator's zone.
    pub times: Vec<(usize, i64, Shown)>,
    pub tone: Tone,
}

impl Row {
    pub fn new(id: impl Into<String>, tone: Tone) -> Row {
        Row {
            id: id.into(),
            version: None,
            cells: Vec::new(),
            keys: Vec::new(),
            times: Vec::new(),
            tone,
        }
    }

    pub fn text(mut self, cell: impl Into<String>) -> Row {
        let cell = cell.into();
        let cell = escape(&cell).into_owned();
        self.keys.push(SortKey::Text(cell.to_lowercase()));
        self.cells.push(cell);
        self
    }

    pub fn num(mut self, cell: impl Into<String>, key: f64) -> Row {
        self.cells.push(cell.into());
        self.keys.push(SortKey::Num(key));
        self
    }

    /// An age column: shown as `12s`/`3m`/`2h` at draw time, sorted by age.
    pub fn age(self, since: Option<DateTime<Utc>>) -> Row {
        // Older first when sorted ascending by age: a larger age, a larger key.
        self.time(since, Shown::Age, |e| -(e as f64))
    }

    /// A time of day column, in the room's zone, sorted by time.
    pub fn clock(self, at: Option<DateTime<Utc>>) -> Row {
        self.time(at, Shown::Clock, |e| e as f64)
    }

    fn time(mut self, at: Option<DateTime<Utc>>, shown: Shown, key: fn(i64) -> f64) -> Row {
        let epoch = at.map(|at| at.timestamp());
        if let Some(epoch) = epoch {
            self.times.push((self.cells.len(), epoch, shown));
        }
        self.num("-", epoch.map_or(f64::MIN, key))
    }

    /// The cells as drawn at `now`, times in `clock`'s zone.
    pub fn cells_at(&self, now: DateTime<Utc>, clock: &Clock) -> Vec<String> {
        let mut cells = self.cells.clone();
        for (column, epoch, shown) in &self.times {
            let Some(cell) = cells.get_mut(*column) else {
                continue;
            };
            *cell = match shown {
                Shown::Age => format_age((now.timestamp() - epoch).max(0)),
                Shown::Clock => DateTime::from_timestamp(*epoch, 0)
                    .map_or_else(|| "-".into(), |at| clock.short(at, now)),
            };
        }
        cells
    }
}

/// How long ago `at` was, as the control room writes it (`-` for never).
pub fn age_of(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    at.map_or_else(
        || "-".into(),
        |at| format_age((now - at).num_seconds().max(0)),
    )
}

pub fn format_age(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub fn compare(a: &SortKey, b: &SortKey) -> std::cmp::Ordering {
    match (a, b) {
        (SortKey::Num(x), SortKey::Num(y)) => x.total_cmp(y),
        (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
        (SortKey::Num(_), SortKey::Text(_)) => std::cmp::Ordering::Less,
        (SortKey::Text(_), SortKey::Num(_)) => std::cmp::Ordering::Greater,
    }
}

/// Keeps the rows any cell of which contains `needle` (case-insensitive),
/// or, inverted, those none of whose cells do.
pub fn filter(rows: &mut Vec<Row>, needle: &str, inverted: bool) {
    let needle = needle.to_lowercase();
    if needle.is_empty() {
        return;
    }
    rows.retain(|row| row.cells.iter().any(|c| c.to_lowercase().contains(&needle)) != inverted);
}

pub fn sort(rows: &mut [Row], column: usize, descending: bool) {
    rows.sort_by(|a, b| {
        let order = match (a.keys.get(column), b.keys.get(column)) {
            (Some(x), Some(y)) => compare(x, y),
            _ => std::cmp::Ordering::Equal,
        };
        if descending { order.reverse() } else { order }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_clock() {
        assert_eq!(format_age(5), "5s");
        assert_eq!(format_age(125), "2m05s");
        assert_eq!(format_age(7260), "2h01m");
        assert_eq!(format_age(90_000), "1d01h");
    }

    #[test]
    fn filter_and_invert() {
        let rows = vec![
            Row::new("1", Tone::Normal).text("alpha"),
            Row::new("2", Tone::Normal).text("beta"),
        ];
        let mut kept = rows.clone();
        filter(&mut kept, "ALP", false);
        assert_eq!(kept.len(), 1);
        let mut kept = rows;
        filter(&mut kept, "alp", true);
        assert_eq!(kept[0].id, "2");
    }

    #[test]
    fn numbers_sort_as_numbers() {
        let mut rows = vec![
            Row::new("a", Tone::Normal).num("10", 10.0),
            Row::new("b", Tone::Normal).num("9", 9.0),
        ];
        sort(&mut rows, 0, false);
        assert_eq!(rows[0].id, "b");
        sort(&mut rows, 0, true);
        assert_eq!(rows[0].id, "a");
    }
}
