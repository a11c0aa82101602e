//! What specialists produce: ranked hypotheses about the root cause, each with its evidence.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::ids::IncidentUid;
use crate::taxonomy::RootCauseClass;
use crate::workload::ObjectRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceSource {
    PodStatus,
    Event,
    Log,
    Metric,
    Rollout,
    Node,
    Topology,
    NetworkPolicy,
    Memory,
    Model,
}

/// One observed fact that supports a hypothesis, quoted as the cluster gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub source: EvidenceSource,
    /// The object the fact is about (`Pod/shop/cart-7d9f-abcde`).
    pub object: Option<ObjectRef>,
    /// The fact itself: a status reason, an event message, a log line, a metric value.
    pub detail: String,
}

impl Evidence {
    pub fn new(source: EvidenceSource, object: Option<ObjectRef>, detail: impl Into<String>) -> Self {
        Self { source, object, detail: detail.into() }
    }
}

/// "The root cause is `class`, located at `target`; `playbook` fixes it."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub class: RootCauseClass,
    /// Where the cause is: the failing dependency, not the workload that shows the symptom.
    pub target: ObjectRef,
    /// In [0, 1].
    pub confidence: f64,
    pub evidence: Vec<Evidence>,
    /// The id of the playbook that remedies it (`None` when nothing should be done, e.g. no-fault).
    pub playbook: Option<String>,
    /// Parameters for the playbook (`container`, `memory_limit`, `to_revision`, ...).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The specialist that proposed it.
    pub specialist: String,
}

/// A specialist's answer to `Investigate`. A failing specialist answers with `error` set rather than
/// crashing the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingReport {
    pub incident: IncidentUid,
    pub specialist: String,
    /// Best first.
    pub hypotheses: Vec<Hypothesis>,
    pub error: Option<String>,
    #[serde(with = "duration_millis")]
    pub elapsed: Duration,
}

pub(crate) mod duration_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}
