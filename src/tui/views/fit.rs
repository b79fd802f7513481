//! Fitting a table's columns to the width it has: each column as wide as
//! what it shows on screen, ids and statuses never cut, free text cut with
//! an ellipsis, and statuses written short when the full words would
//! squeeze the text out. Pure: widths in, widths out.

use unicode_width::UnicodeWidthStr;

/// How a column gives way when the table is too narrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Ids, numbers, lanes, times: never cut.
    Whole,
    /// Never cut, but left out when the table does not fit comfortably
    /// (a figure another column already gives, such as an age beside a time).
    Extra,
    /// A status word: never cut, written short ([`SHORT_STATUS`]) when space runs out.
    Status,
    /// Free text: cut with `…`, down to `min` before statuses are shortened
    /// and further only when nothing else gives.
    Text { min: u16 },
    /// Like `Text`, and it takes whatever width is left over.
    Grow { min: u16 },
}

/// Every status word and how it is written when space is short: one
/// table for every pane, listed in the help.
pub const SHORT_STATUS: [(&str, &str); 20] = [
    ("recommended", "rec"),
    ("approval_required", "appr"),
    ("approved", "apvd"),
    ("claimed", "clmd"),
    ("running", "run"),
    ("done", "done"),
    ("failed", "fail"),
    ("released", "rlsd"),
    ("expired", "exp"),
    ("blocked", "blkd"),
    ("pending", "pend"),
    ("delivered", "dlvd"),
    ("conflict", "conf"),
    ("dead_letter", "dead"),
    ("ready", "rdy"),
    ("sleeping", "slp"),
    ("busy", "busy"),
    ("degraded", "degr"),
    ("draining", "drn"),
    ("refused", "rfsd"),
];

/// `cell` with each status word in it written short.
pub fn shorten_status(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let short = SHORT_STATUS
            .iter()
            .find(|(long, _)| long == word)
            .map_or(word.as_str(), |(_, short)| short);
        out.push_str(short);
        word.clear();
    };
    for c in cell.chars() {
        if c.is_ascii_lowercase() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

pub fn width(text: &str) -> u16 {
    u16::try_from(text.width()).unwrap_or(u16::MAX)
}

/// `text` cut to `max` columns, ending in `…` when cut.
pub fn cut(text: &str, max: u16) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0u16;
    for c in text.chars() {
        let w = u16::try_from(unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// The widths chosen, and whether statuses are written short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    pub widths: Vec<u16>,
    pub short_status: bool,
}

/// Widths for columns `fits` headed `names`, showing `rows`, in `room`
/// columns (a column left out has width 0; `room` counts one space before
/// each column shown).
pub fn fit(fits: &[Fit], names: &[&str], rows: &[Vec<String>], room: u16) -> Fitted {
    let natural = |short: bool| -> Vec<u16> {
        fits.iter()
            .zip(names)
            .enumerate()
            .map(|(i, (fit, name))| {
                if short && *fit == Fit::Extra {
                    return 0;
                }
                let cells = rows.iter().filter_map(|r| r.get(i)).map(|c| {
                    if short && *fit == Fit::Status {
                        width(&shorten_status(c))
                    } else {
                        width(c)
                    }
                });
                // One more for the space before it.
                cells.chain([width(name)]).max().unwrap_or(0) + 1
            })
            .collect()
    };
    // Comfortable first: text no narrower than its minimum, statuses whole;
    // then statuses short and extras left out; then text down to half its
    // minimum; then to a single character.
    let min = |fit: &Fit| match fit {
        Fit::Text { min } | Fit::Grow { min } => *min + 1,
        _ => 0,
    };
    let comfortable = &min as &dyn Fn(&Fit) -> u16;
    let half = &|fit: &Fit| (min(fit) / 2).max(4);
    let last = &|_: &Fit| 2;
    for (short, floor) in [
        (false, comfortable),
        (true, comfortable),
        (true, half),
        (true, last),
    ] {
        let mut widths = natural(short);
        if squeeze(fits, &mut widths, room, floor) {
            grow(fits, &mut widths, room);
            return Fitted {
                widths: widths.into_iter().map(|w| w.saturating_sub(1)).collect(),
                short_status: short,
            };
        }
    }
    // Nothing gives enough: text at a character, the rest clipped on the right.
    Fitted {
        widths: natural(true)
            .into_iter()
            .zip(fits)
            .map(|(w, fit)| match fit {
                Fit::Text { .. } | Fit::Grow { .. } => 1,
                _ => w.saturating_sub(1),
            })
            .collect(),
        short_status: true,
    }
}

/// Narrows the widest text column, one column at a time, until the table
/// fits in `room` or every text column is at its floor.
fn squeeze(fits: &[Fit], widths: &mut [u16], room: u16, floor: &dyn Fn(&Fit) -> u16) -> bool {
    loop {
        let total: u32 = widths.iter().map(|w| u32::from(*w)).sum();
        if total <= u32::from(room) {
            return true;
        }
        let widest = widths
            .iter()
            .zip(fits)
            .enumerate()
            .filter(|(_, (w, fit))| {
                matches!(fit, Fit::Text { .. } | Fit::Grow { .. }) && **w > floor(fit)
            })
            .max_by_key(|(i, (w, _))| (**w, std::cmp::Reverse(*i)))
            .map(|(i, _)| i);
        match widest {
            Some(i) => widths[i] -= 1,
            None => return false,
        }
    }
}

/// Gives what is left over to the growing column.
fn grow(fits: &[Fit], widths: &mut [u16], room: u16) {
    let total: u16 = widths.iter().sum();
    if let Some(i) = fits.iter().position(|f| matches!(f, Fit::Grow { .. })) {
        widths[i] += room.saturating_sub(total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FITS: [Fit; 4] = [Fit::Whole, Fit::Grow { min: 12 }, Fit::Status, Fit::Whole];
    const NAMES: [&str; 4] = ["TASK", "TITLE", "STATUS", "AGE"];

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec![
                "T0001".into(),
                "Summarize the quarterly incident reports".into(),
                "approval_required".into(),
                "3m05s".into(),
            ],
            vec![
                "T0002".into(),
                "Draft".into(),
                "running".into(),
                "12s".into(),
            ],
        ]
    }

    /// The room `widths` take, a space before each.
    fn room(widths: &[u16]) -> u16 {
        widths.iter().map(|w| w + 1).sum()
    }

    #[test]
    fn wide_enough_everything_whole_and_the_title_takes_the_rest() {
        let fitted = fit(&FITS, &NAMES, &rows(), 100);
        assert_eq!(fitted.widths, vec![5, 100 - 4 - 5 - 17 - 5, 17, 5]);
        assert!(!fitted.short_status);
    }

    #[test]
    fn text_gives_way_first_then_statuses_shorten() {
        // The title squeezed to 20: statuses whole.
        let fitted = fit(&FITS, &NAMES, &rows(), room(&[5, 20, 17, 5]));
        assert_eq!(fitted.widths, vec![5, 20, 17, 5]);
        assert!(!fitted.short_status);
        // Below the title's minimum: statuses short, the title gets it back.
        let fitted = fit(&FITS, &NAMES, &rows(), room(&[5, 11, 17, 5]));
        assert!(fitted.short_status);
        assert_eq!(fitted.widths, vec![5, 11 + 17 - 6, 6, 5]);
    }

    #[test]
    fn ids_are_never_cut() {
        let fitted = fit(&FITS, &NAMES, &rows(), 20);
        assert_eq!(fitted.widths[0], 5);
        assert_eq!(fitted.widths[3], 5);
    }

    #[test]
    fn an_extra_column_is_left_out_before_text_is_cut_short() {
        let fits = [Fit::Whole, Fit::Extra, Fit::Grow { min: 12 }];
        let names = ["TIME", "AGE", "DETAIL"];
        let rows = vec![vec![
            "14:21:36".to_string(),
            "3m05s".to_string(),
            "a detail of twenty ch".to_string(),
        ]];
        let wide = fit(&fits, &names, &rows, room(&[8, 5, 21]));
        assert_eq!(wide.widths, vec![8, 5, 21]);
        let narrow = fit(&fits, &names, &rows, room(&[8, 5, 10]));
        assert_eq!(narrow.widths, vec![8, 0, 10 + 6]);
    }

    #[test]
    fn cutting_ends_in_an_ellipsis() {
        assert_eq!(cut("Summarize the reports", 10), "Summarize…");
        assert_eq!(cut("short", 10), "short");
        assert_eq!(width(&cut("日本語のタイトル", 7)), 7);
    }

    #[test]
    fn status_words_shorten_inside_a_cell() {
        assert_eq!(shorten_status("approval_required"), "appr");
        assert_eq!(shorten_status("✖ STALE (sleeping)"), "✖ STALE (slp)");
        assert_eq!(shorten_status("T0001"), "T0001");
        // Every short form is distinct.
        let mut shorts: Vec<&str> = SHORT_STATUS.iter().map(|(_, s)| *s).collect();
        shorts.sort_unstable();
        shorts.dedup();
        assert_eq!(shorts.len(), SHORT_STATUS.len());
    }
}
