//! Text from outside made safe to print on a terminal: a task id or title
//! holding `ESC ] 0 ; ... BEL` or `ESC [ 2 J` would otherwise retitle or
//! clear the operator's terminal when a table is printed or a pane drawn.

use std::borrow::Cow;

/// `text` with every control character written as a visible escape
/// (`\x1b`, `\n`, ...); text without one is borrowed as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\n' => "\\n".to_string(),
                '\t' => "\\t".to_string(),
                '\r' => "\\r".to_string(),
                c if c.is_control() => format!("\\x{:02x}", u32::from(c)),
                c => c.to_string(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_and_plain_text_is_untouched() {
        assert!(matches!(escape("plain task"), Cow::Borrowed("plain task")));
        assert_eq!(escape("T1\u{1b}]0;owned\u{7}"), "T1\\x1b]0;owned\\x07");
        assert_eq!(escape("a\u{1b}[2Jb\nc\u{9b}"), "a\\x1b[2Jb\\nc\\x9b");
    }
}
