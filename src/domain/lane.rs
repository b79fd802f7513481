//! Execution lanes (contract A4): what kind of execution may run a task.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    LocalOnly,
    RouterModel,
    FreeApi,
    DirectWorker,
    /// Deprecated: kept so that candidates naming it get a clear skip.
    Paperclip,
    /// Not an execution lane: the lane of a decision that selected none.
    Blocked,
}

/// Contract A4's default lane list, in evaluation order.
pub const DEFAULT_LANES: [Lane; 3] = [Lane::RouterModel, Lane::LocalOnly, Lane::FreeApi];

/// The lanes whose base score can be configured.
pub const SCORED_LANES: [Lane; 4] = [
    Lane::LocalOnly,
    Lane::RouterModel,
    Lane::FreeApi,
    Lane::DirectWorker,
];

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::LocalOnly => "local_only",
            Lane::RouterModel => "router_model",
            Lane::FreeApi => "free_api",
            Lane::DirectWorker => "direct_worker",
            Lane::Paperclip => "paperclip",
            Lane::Blocked => "blocked",
        }
    }

    /// Any lane by its stored name, `blocked` included.
    pub fn from_name(name: &str) -> Option<Lane> {
        use strum::VariantArray;
        Lane::VARIANTS.iter().copied().find(|l| l.as_str() == name)
    }

    /// Where work on this lane is sent; `None` for the blocked lane.
    pub fn target(self) -> Option<&'static str> {
        match self {
            Lane::LocalOnly => Some("local_only"),
            Lane::RouterModel => Some("auto-router"),
            Lane::FreeApi => Some("auto-router/free_api"),
            Lane::DirectWorker => Some("direct_worker"),
            Lane::Paperclip => Some("paperclip"),
            Lane::Blocked => None,
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lane {
    type Err = String;

    /// Accepts the names a caller may list; `blocked` is an outcome, not a
    /// lane anyone may ask for.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local_only" => Ok(Lane::LocalOnly),
            "router_model" => Ok(Lane::RouterModel),
            "free_api" => Ok(Lane::FreeApi),
            "direct_worker" => Ok(Lane::DirectWorker),
            "paperclip" => Ok(Lane::Paperclip),
            other => Err(format!(
                "unknown lane '{other}' (expected one of local_only, router_model, free_api, direct_worker, paperclip)"
            )),
        }
    }
}

/// Parses a comma-separated lane list such as `router_model,local_only`.
pub fn parse_lane_list(text: &str) -> Result<Vec<Lane>, String> {
    let lanes: Vec<Lane> = text
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if lanes.is_empty() {
        return Err("the lane list is empty".into());
    }
    Ok(lanes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_contract() {
        assert_eq!(Lane::LocalOnly.target(), Some("local_only"));
        assert_eq!(Lane::RouterModel.target(), Some("auto-router"));
        assert_eq!(Lane::FreeApi.target(), Some("auto-router/free_api"));
        assert_eq!(Lane::DirectWorker.target(), Some("direct_worker"));
        assert_eq!(Lane::Blocked.target(), None);
    }

    #[test]
    fn default_lane_order() {
        assert_eq!(
            DEFAULT_LANES,
            [Lane::RouterModel, Lane::LocalOnly, Lane::FreeApi]
        );
    }

    #[test]
    fn unknown_lane_is_named_in_the_error() {
        let err = parse_lane_list("local_only,warp_drive").unwrap_err();
        assert!(err.contains("warp_drive"), "{err}");
        assert!(parse_lane_list("blocked").is_err());
        assert!(parse_lane_list(" , ").is_err());
    }
}
