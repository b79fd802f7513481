//! Timestamps on the wire: RFC 3339, UTC, with `Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use std::cell::RefCell;

pub fn rfc3339(at: DateTime<Utc>) -> String {
    // A pass stamps tens of thousands of rows and events with one instant:
    // each thread formats an instant once and copies the text after that.
    thread_local! {
        static LAST: RefCell<Option<(DateTime<Utc>, String)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((instant, text)) if *instant == at => text.clone(),
            _ => {
                let text = at.to_rfc3339_opts(SecondsFormat::Micros, true);
                *last = Some((at, text.clone()));
                text
            }
        }
    })
}

/// An RFC 3339 timestamp in UTC, or `None` when `text` is not one.
pub fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// Serde adapter so every stored and sent timestamp has the same shape.
pub mod serde_utc {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&super::super::rfc3339(*at)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| {
                    DateTime::parse_from_rfc3339(&text)
                        .map(|at| at.with_timezone(&Utc))
                        .map_err(serde::de::Error::custom)
                })
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn utc_with_z() {
        let at = Utc.with_ymd_and_hms(2026, 6, 8, 12, 0, 0).unwrap();
        assert_eq!(rfc3339(at), "2026-06-08T12:00:00.000000Z");
    }

    #[test]
    fn each_instant_gets_its_own_text_however_they_alternate() {
        let a = Utc.with_ymd_and_hms(2026, 6, 8, 12, 0, 0).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        for _ in 0..2 {
            assert_eq!(rfc3339(a), "2026-06-08T12:00:00.000000Z");
            assert_eq!(rfc3339(a), "2026-06-08T12:00:00.000000Z");
            assert_eq!(rfc3339(b), "2026-06-08T12:00:00.000001Z");
        }
    }
}
