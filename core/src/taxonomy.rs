//! The root-cause taxonomy. Names are part of medic's interface (playbooks, scenarios, reports):
//! extend the list, never rename an entry.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootCauseClass {
    OomMemoryLimit,
    MemoryLeak,
    BadRollout,
    ImagePull,
    ConfigError,
    CrashTransient,
    CpuSaturation,
    NodeNotReady,
    NetworkDegraded,
    DependencyDown,
    DbConnectionExhaustion,
    SuspiciousEgress,
    NoFault,
}

impl RootCauseClass {
    pub const ALL: [RootCauseClass; 13] = [
        RootCauseClass::OomMemoryLimit,
        RootCauseClass::MemoryLeak,
        RootCauseClass::BadRollout,
        RootCauseClass::ImagePull,
        RootCauseClass::ConfigError,
        RootCauseClass::CrashTransient,
        RootCauseClass::CpuSaturation,
        RootCauseClass::NodeNotReady,
        RootCauseClass::NetworkDegraded,
        RootCauseClass::DependencyDown,
        RootCauseClass::DbConnectionExhaustion,
        RootCauseClass::SuspiciousEgress,
        RootCauseClass::NoFault,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RootCauseClass::OomMemoryLimit => "oom-memory-limit",
            RootCauseClass::MemoryLeak => "memory-leak",
            RootCauseClass::BadRollout => "bad-rollout",
            RootCauseClass::ImagePull => "image-pull",
            RootCauseClass::ConfigError => "config-error",
            RootCauseClass::CrashTransient => "crash-transient",
            RootCauseClass::CpuSaturation => "cpu-saturation",
            RootCauseClass::NodeNotReady => "node-not-ready",
            RootCauseClass::NetworkDegraded => "network-degraded",
            RootCauseClass::DependencyDown => "dependency-down",
            RootCauseClass::DbConnectionExhaustion => "db-connection-exhaustion",
            RootCauseClass::SuspiciousEgress => "suspicious-egress",
            RootCauseClass::NoFault => "no-fault",
        }
    }
}

impl fmt::Display for RootCauseClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RootCauseClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RootCauseClass::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| Error::UnknownRootCause(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for class in RootCauseClass::ALL {
            assert_eq!(class.as_str().parse::<RootCauseClass>().unwrap(), class);
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.as_str()));
        }
        assert!("oom".parse::<RootCauseClass>().is_err());
    }
}
