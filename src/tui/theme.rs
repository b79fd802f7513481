//! Themes: named colour slots read from TOML. The four built-in themes are
//! the files in `themes/`, compiled in so the binary needs nothing beside it.

use crate::error::{Error, Result};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::path::Path;

const BUILT_IN: [(&str, &str); 4] = [
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Slots {
    name: String,
    text: String,
    muted: String,
    accent: String,
    title: String,
    border: String,
    header_fg: String,
    header_bg: String,
    selected_fg: String,
    selected_bg: String,
    marked: String,
    ok: String,
    warn: String,
    error: String,
    badge_fg: String,
    badge_bg: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub text: Style,
    pub muted: Style,
    pub accent: Style,
    pub title: Style,
    pub border: Style,
    pub header: Style,
    pub selected: Style,
    pub marked: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub badge: Style,
    /// Without colour, selection is shown in reverse video.
    monochrome: bool,
}

impl Theme {
    /// A built-in theme by name, or a TOML file by path. `no_color` (the
    /// `NO_COLOR` convention) always gives the monochrome theme.
    pub fn load(name_or_path: &str, no_color: bool, truecolor: bool) -> Result<Theme> {
        let (text, name) = if no_color {
            (BUILT_IN[3].1.to_string(), "mono")
        } else if let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            (text.to_string(), *name)
        } else if Path::new(name_or_path).is_file() {
            let text = std::fs::read_to_string(name_or_path)
                .map_err(|e| Error::bad_input(format!("theme {name_or_path}"), e.to_string()))?;
            let stem = Path::new(name_or_path)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("custom");
            (text, stem)
        } else {
            let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
            return Err(Error::bad_input(
                "--theme",
                format!(
                    "'{name_or_path}' is neither a built-in theme ({}) nor a file",
                    names.join(", ")
                ),
            ));
        };
        Theme::parse(&text, name, truecolor)
            .map_err(|e| Error::bad_input(format!("theme {name_or_path}"), e))
    }

    /// A theme file need only name the slots it changes: the others come
    /// from the default theme, and its name from the file's when it has none.
    fn parse(text: &str, name: &str, truecolor: bool) -> std::result::Result<Theme, String> {
        let own: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let mut merged: toml::Table =
            toml::from_str(BUILT_IN[0].1).map_err(|e| e.message().to_string())?;
        merged.insert("name".into(), toml::Value::String(name.into()));
        merged.extend(own);
        let slots =
            Slots::deserialize(toml::Value::Table(merged)).map_err(|e| e.message().to_string())?;
        let c = |slot: &str, value: &str| {
            color(value, truecolor).map_err(|e| format!("slot {slot}: {e}"))
        };
        let fg = |slot: &str, value: &str| -> std::result::Result<Style, String> {
            Ok(Style::new().fg(c(slot, value)?))
        };
        let monochrome = slots.name == "mono";
        let selected = if monochrome {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
                .fg(c("selected_fg", &slots.selected_fg)?)
                .bg(c("selected_bg", &slots.selected_bg)?)
        };
        let emphasis = |style: Style| {
            if monochrome {
                style.add_modifier(Modifier::BOLD)
            } else {
                style
            }
        };
        Ok(Theme {
            text: fg("text", &slots.text)?,
            muted: fg("muted", &slots.muted)?,
            accent: fg("accent", &slots.accent)?,
            title: fg("title", &slots.title)?.add_modifier(Modifier::BOLD),
            border: fg("border", &slots.border)?,
            header: if monochrome {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
                    .fg(c("header_fg", &slots.header_fg)?)
                    .bg(c("header_bg", &slots.header_bg)?)
            },
            selected,
            marked: emphasis(fg("marked", &slots.marked)?),
            ok: fg("ok", &slots.ok)?,
            warn: emphasis(fg("warn", &slots.warn)?),
            error: emphasis(fg("error", &slots.error)?),
            badge: if monochrome {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                Style::new()
                    .fg(c("badge_fg", &slots.badge_fg)?)
                    .bg(c("badge_bg", &slots.badge_bg)?)
            },
            name: slots.name,
            monochrome,
        })
    }

    pub fn is_monochrome(&self) -> bool {
        self.monochrome
    }
}

/// A colour name of the 16 ANSI colours, `reset`, or `#rrggbb` (used as is
/// only when the terminal says it has truecolor; otherwise the nearest of
/// the 16).
fn color(value: &str, truecolor: bool) -> std::result::Result<Color, String> {
    const NAMED: [(&str, Color, (u8, u8, u8)); 16] = [
        ("black", Color::Black, (0, 0, 0)),
        ("red", Color::Red, (205, 0, 0)),
        ("green", Color::Green, (0, 205, 0)),
        ("yellow", Color::Yellow, (205, 205, 0)),
        ("blue", Color::Blue, (0, 0, 238)),
        ("magenta", Color::Magenta, (205, 0, 205)),
        ("cyan", Color::Cyan, (0, 205, 205)),
        ("gray", Color::Gray, (229, 229, 229)),
        ("darkgray", Color::DarkGray, (127, 127, 127)),
        ("lightred", Color::LightRed, (255, 0, 0)),
        ("lightgreen", Color::LightGreen, (0, 255, 0)),
        ("lightyellow", Color::LightYellow, (255, 255, 0)),
        ("lightblue", Color::LightBlue, (92, 92, 255)),
        ("lightmagenta", Color::LightMagenta, (255, 0, 255)),
        ("lightcyan", Color::LightCyan, (0, 255, 255)),
        ("white", Color::White, (255, 255, 255)),
    ];
    let lower = value.trim().to_ascii_lowercase();
    if lower == "reset" {
        return Ok(Color::Reset);
    }
    if let Some((_, color, _)) = NAMED.iter().find(|(n, _, _)| *n == lower) {
        return Ok(*color);
    }
    let hex = lower
        .strip_prefix('#')
        .filter(|h| h.len() == 6)
        .and_then(|h| u32::from_str_radix(h, 16).ok());
    let Some(rgb) = hex else {
        return Err(format!(
            "'{value}' is not a colour (an ANSI name such as cyan or lightred, reset, or #rrggbb)"
        ));
    };
    let (r, g, b) = ((rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8);
    if truecolor {
        return Ok(Color::Rgb(r, g, b));
    }
    let distance = |(x, y, z): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(x, r) + d(y, g) + d(z, b)
    };
    Ok(NAMED
        .iter()
        .min_by_key(|(_, _, rgb)| distance(*rgb))
        .map(|(_, c, _)| *c)
        .unwrap_or(Color::Reset))
}

/// Whether the terminal announces 24-bit colour.
pub fn terminal_has_truecolor() -> bool {
    std::env::var("COLORTERM").is_ok_and(|v| v == "truecolor" || v == "24bit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_loads() {
        for (name, _) in BUILT_IN {
            let theme = Theme::load(name, false, false).unwrap();
            assert_eq!(theme.name, name);
        }
    }

    /// ANSI 7 (gray) is faint on a light background; the light theme's
    /// muted text and borders must be readable there.
    #[test]
    fn the_light_theme_never_draws_light_gray_text() {
        let theme = Theme::load("light", false, false).unwrap();
        for style in [theme.muted, theme.border, theme.text] {
            assert_ne!(style.fg, Some(Color::Gray), "{style:?}");
            assert_ne!(style.fg, Some(Color::White), "{style:?}");
        }
    }

    #[test]
    fn no_color_forces_mono() {
        assert!(Theme::load("default", true, true).unwrap().is_monochrome());
    }

    #[test]
    fn hex_colours_need_truecolor() {
        assert_eq!(color("#ff0000", true), Ok(Color::Rgb(255, 0, 0)));
        assert_eq!(color("#ff0000", false), Ok(Color::LightRed));
        assert!(
            color("chartreuse", false)
                .unwrap_err()
                .contains("chartreuse")
        );
    }

    #[test]
    fn a_bad_theme_file_names_the_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let text = include_str!("../../themes/default.toml")
            .replace("accent = \"cyan\"", "accent = \"sky\"");
        std::fs::write(&path, text).unwrap();
        let err = Theme::load(path.to_str().unwrap(), false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("slot accent"), "{err}");
        assert!(Theme::load("nonexistent-theme", false, false).is_err());
        std::fs::write(&path, "acent = \"red\"\n").unwrap();
        let err = Theme::load(path.to_str().unwrap(), false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("acent"), "{err}");
    }

    #[test]
    fn a_partial_theme_inherits_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, "accent = \"magenta\"\n").unwrap();
        let theme = Theme::load(path.to_str().unwrap(), false, false).unwrap();
        let default = Theme::load("default", false, false).unwrap();
        assert_eq!(theme.name, "mine");
        assert_eq!(theme.accent.fg, Some(Color::Magenta));
        assert_eq!(theme.ok, default.ok);
        assert_eq!(theme.header, default.header);
    }
}
