//! Identifiers. An Incident-UID is a UUID v7: time-ordered, so incidents sort by when they opened.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

use crate::error::Error;

/// The one identifier that ties an alert, every actor message, log line, audit record and cluster write
/// of an incident together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentUid(Uuid);

impl IncidentUid {
    /// A new time-ordered uid.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
    /// The short form shown to humans (`inc-` and the first 8 hex digits of the random part).
    pub fn short(&self) -> String {
        let simple = self.0.simple().to_string();
        format!("inc-{}", &simple[simple.len() - 8..])
    }
}

impl Default for IncidentUid {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for IncidentUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for IncidentUid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self).map_err(|_| Error::InvalidIncidentUid(s.to_string()))
    }
}

/// Identifies a plan (the remediation the Director chose for an incident) so it can be approved or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanId(Uuid);

impl PlanId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    /// A plan id chosen by the caller (a renderer that derives it from the plan's content).
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for PlanId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for PlanId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self).map_err(|_| Error::InvalidIncidentUid(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_uids_are_version_7_and_round_trip() {
        let uid = IncidentUid::new();
        assert_eq!(uid.as_uuid().get_version_num(), 7);
        let parsed: IncidentUid = uid.to_string().parse().unwrap();
        assert_eq!(parsed, uid);
        assert!(uid.short().starts_with("inc-") && uid.short().len() == 12);
    }

    #[test]
    fn later_uids_sort_after_earlier_ones() {
        let a = IncidentUid::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = IncidentUid::new();
        assert!(a < b);
    }

    #[test]
    fn garbage_is_not_a_uid() {
        assert!("inc-123".parse::<IncidentUid>().is_err());
    }
}
