//! Enums that travel as their snake_case names (statuses, modes). strum
//! derives their names and their list; this parses one back, with an error
//! that names the text and every choice.

/// `text` (any case, spaces around ignored) as one of `choices`.
pub fn parse<T: Copy + Into<&'static str>>(
    what: &str,
    choices: &[T],
    text: &str,
) -> Result<T, String> {
    let name = |choice: T| -> &'static str { choice.into() };
    choices
        .iter()
        .copied()
        .find(|c| name(*c).eq_ignore_ascii_case(text.trim()))
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|c| name(*c)).collect();
            format!(
                "unknown {what} '{text}' (expected one of {})",
                names.join(", ")
            )
        })
}
