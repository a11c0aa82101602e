//! Alerts as medic sees them, whatever sent them.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSource {
    Alertmanager,
    Goalert,
    Generic,
    /// Raised by medic's own watch of the cluster.
    Watch,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Goalert => "goalert",
            AlertSource::Generic => "generic",
            AlertSource::Watch => "watch",
        }
    }
}

impl fmt::Display for AlertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert, normalised from any source.
///
/// `fingerprint` + `starts_at` identify an alert occurrence: a redelivery carries the same pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub source: AlertSource,
    pub status: AlertStatus,
    /// The sender's stable identity of the alert (Alertmanager's fingerprint, GoAlert's AlertID, ...).
    pub fingerprint: String,
    /// The alert name (`alertname` label for Alertmanager, the summary for GoAlert).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// When the sender says it ended; `None` while firing.
    pub ends_at: Option<Timestamp>,
    /// The sender's grouping key (Alertmanager's groupKey), used to group alerts into one incident.
    pub group_key: Option<String>,
    pub generator_url: Option<String>,
}

impl Alert {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn severity(&self) -> &str {
        self.label("severity").unwrap_or("unknown")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.label("namespace").or_else(|| self.label("exported_namespace"))
    }

    /// A one-line human description: the summary annotation if there is one.
    pub fn summary(&self) -> &str {
        self.annotations
            .get("summary")
            .or_else(|| self.annotations.get("description"))
            .map(String::as_str)
            .unwrap_or(&self.name)
    }
}
