//! Back-pressure: while too much waits, new work is deferred, not stored,
//! so a flood of candidates cannot grow the queue (or the cache) without
//! end. The most urgent new candidates take what room is left.

/// How urgent each named priority is (0 most); any other is [`USUAL`].
pub const URGENCY: [(&str, u8); 4] = [
    ("critical", 0),
    ("repo_critical", 1),
    ("interactive", 2),
    ("background", 4),
];
pub const USUAL: u8 = 3;

/// How urgent a priority is (0 most): critical, repo_critical,
/// interactive, then everything else, then background.
pub fn urgency(priority: &str) -> u8 {
    let priority = priority.to_ascii_lowercase();
    URGENCY
        .iter()
        .find(|(name, _)| *name == priority)
        .map_or(USUAL, |(_, level)| *level)
}

/// [`urgency`] as an SQL expression over the column `column`, so a query
/// can order by it without reading every row out.
pub fn urgency_sql(column: &str) -> String {
    let arms: String = URGENCY
        .iter()
        .map(|(name, level)| format!(" WHEN '{name}' THEN {level}"))
        .collect();
    format!("(CASE lower({column}){arms} ELSE {USUAL} END)")
}

/// Which of `new` (their priorities, in the order they came) are let in
/// when `waiting` already wait and at most `limit` may (0: no limit): the
/// most urgent first, ties in arrival order. Returns one flag per item.
pub fn admit(new: &[&str], waiting: u64, limit: u64) -> Vec<bool> {
    if limit == 0 {
        return vec![true; new.len()];
    }
    let room = usize::try_from(limit.saturating_sub(waiting)).unwrap_or(usize::MAX);
    let mut order: Vec<usize> = (0..new.len()).collect();
    order.sort_by_key(|i| (urgency(new[*i]), *i));
    let mut admitted = vec![false; new.len()];
    for i in order.into_iter().take(room) {
        admitted[i] = true;
    }
    admitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_admits_everything() {
        assert_eq!(admit(&["batch"; 3], 1_000_000, 0), vec![true; 3]);
    }

    #[test]
    fn the_most_urgent_take_the_room_left_in_arrival_order() {
        let new = ["batch", "critical", "background", "interactive", "batch"];
        assert_eq!(
            admit(&new, 7, 10),
            vec![true, true, false, true, false],
            "three places: critical, interactive, then the first batch"
        );
        assert_eq!(admit(&new, 10, 10), vec![false; 5], "full");
        assert_eq!(admit(&new, 12, 10), vec![false; 5], "over full");
    }
}
