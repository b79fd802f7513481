//! How the control room writes a time: in the operator's zone, or in UTC,
//! always with the zone named so a time is never ambiguous.

use super::rows::format_age;
use crate::config::UiTime;
use chrono::{DateTime, Utc};
use jiff::tz::TimeZone;

#[derive(Debug, Clone)]
pub struct Clock {
    zone: TimeZone,
}

impl Clock {
    /// The system's zone (`TZ`, else `/etc/localtime`) or UTC. A zone that
    /// cannot be read is UTC, and says so.
    pub fn new(choice: UiTime) -> Clock {
        let zone = match choice {
            UiTime::Local => TimeZone::try_system().unwrap_or(TimeZone::UTC),
            UiTime::Utc => TimeZone::UTC,
        };
        Clock { zone }
    }

    pub fn utc() -> Clock {
        Clock::new(UiTime::Utc)
    }

    fn zoned(&self, at: DateTime<Utc>) -> Option<jiff::ZonedDateTime> {
        let stamp = jiff::Timestamp::from_second(at.timestamp()).ok()?;
        Some(stamp.to_zoned_datetime(self.zone.clone()))
    }

    fn format(&self, at: DateTime<Utc>, pattern: &str) -> String {
        self.zoned(at)
            .map_or_else(|| "-".into(), |z| z.strftime(pattern).to_string())
    }

    /// The header's clock: `14:21:36 EST`.
    pub fn time(&self, at: DateTime<Utc>) -> String {
        self.format(at, "%H:%M:%S %Z")
    }

    /// The zone's name at `at`: `EST`, `UTC`.
    pub fn zone_name(&self, at: DateTime<Utc>) -> String {
        self.format(at, "%Z")
    }

    /// A describe view's time: `2026-11-30 14:21:36 EST`.
    pub fn stamp(&self, at: DateTime<Utc>) -> String {
        self.format(at, "%Y-%m-%d %H:%M:%S %Z")
    }

    /// A table's time: `14:21:36` today (in this zone), `11-29 14:21:36`
    /// before; the header names the zone.
    pub fn short(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let (Some(then), Some(today)) = (self.zoned(at), self.zoned(now)) else {
            return "-".into();
        };
        if then.date() == today.date() {
            then.strftime("%H:%M:%S").to_string()
        } else {
            then.strftime("%m-%d %H:%M:%S").to_string()
        }
    }
}

/// The moment a view is drawn, and the zone to write times in.
#[derive(Debug, Clone, Copy)]
pub struct Now<'a> {
    pub at: DateTime<Utc>,
    pub clock: &'a Clock,
}

impl Now<'_> {
    /// `2026-11-30 14:21:36 EST (3m05s ago)`, or `(in 4m00s)` ahead.
    pub fn when(&self, at: DateTime<Utc>) -> String {
        let seconds = (self.at - at).num_seconds();
        let relative = if seconds >= 0 {
            format!("{} ago", format_age(seconds))
        } else {
            format!("in {}", format_age(-seconds))
        };
        format!("{} ({relative})", self.clock.stamp(at))
    }

    /// [`Now::when`], or `-` for never.
    pub fn when_opt(&self, at: Option<DateTime<Utc>>) -> String {
        at.map_or_else(|| "-".into(), |at| self.when(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap()
    }

    #[test]
    fn a_describe_time_says_when_and_how_long_ago() {
        let clock = Clock::utc();
        let now = Now {
            at: at(19, 0, 0),
            clock: &clock,
        };
        assert_eq!(
            now.when(at(18, 56, 55)),
            "2026-11-30 18:56:55 UTC (3m05s ago)"
        );
        assert_eq!(now.when(at(19, 4, 0)), "2026-11-30 19:04:00 UTC (in 4m00s)");
    }

    #[test]
    fn utc_is_labelled() {
        let clock = Clock::utc();
        assert_eq!(clock.time(at(19, 21, 36)), "19:21:36 UTC");
        assert_eq!(clock.stamp(at(19, 21, 36)), "2026-11-30 19:21:36 UTC");
    }

    #[test]
    fn a_zone_names_itself_and_moves_the_date() {
        let clock = Clock {
            // A POSIX rule, so the test needs no zoneinfo files.
            zone: TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap(),
        };
        assert_eq!(clock.time(at(19, 21, 36)), "14:21:36 EST");
        // 02:00 UTC on the 30th is the evening of the 29th in New York.
        assert_eq!(clock.short(at(2, 0, 0), at(19, 0, 0)), "11-29 21:00:00");
        assert_eq!(clock.short(at(18, 0, 0), at(19, 0, 0)), "13:00:00");
    }
}
