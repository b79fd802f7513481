//! Assignment control modes (contract A9).

use super::names;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use strum::VariantArray;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Default,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ControlMode {
    #[default]
    Enabled,
    Paused,
    Draining,
    Maintenance,
}

impl ControlMode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// New assignment decisions, claims, scheduled ticks and dispatch.
    pub fn allows_new_work(self) -> bool {
        self == ControlMode::Enabled
    }

    /// Lease renewals by heartbeat, and the expiry of leases that were not
    /// renewed: both stop together so a pause never expires work it froze.
    pub fn allows_lease_renewal(self) -> bool {
        matches!(self, ControlMode::Enabled | ControlMode::Draining)
    }
}

impl FromStr for ControlMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        names::parse("control mode", Self::VARIANTS, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a9_table() {
        use ControlMode::*;
        let table = [
            (Enabled, true, true),
            (Paused, false, false),
            (Draining, false, true),
            (Maintenance, false, false),
        ];
        for (mode, new_work, renewals) in table {
            assert_eq!(mode.allows_new_work(), new_work, "{mode}");
            assert_eq!(mode.allows_lease_renewal(), renewals, "{mode}");
        }
    }

    #[test]
    fn parse_modes_and_name_the_bad_one() {
        assert_eq!("Draining".parse::<ControlMode>(), Ok(ControlMode::Draining));
        let err = "off".parse::<ControlMode>().unwrap_err();
        assert!(err.contains("'off'"));
    }
}
