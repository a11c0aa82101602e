//! The `Specialist` trait and the configuration that builds specialists (validated, then built).
use medic_core::{Evidence, Hypothesis, IncidentContext, ObjectRef, RootCauseClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::compute::{Compute, ComputeConfig};
use crate::database::{Database, DatabaseConfig};
use crate::error::Result;
use crate::network::{Network, NetworkConfig};

/// Turns an incident's context into ranked hypotheses. Pure and synchronous: a specialist reads only the
/// context it is given, so it can be tested without a cluster and run on any thread.
pub trait Specialist: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Hypotheses, best first. Each cites the evidence it rests on. Empty when nothing in the context is
    /// this specialist's business.
    fn analyse(&self, context: &IncidentContext) -> Vec<Hypothesis>;
}

/// One specialist's configuration, as written in medic.toml (`[[specialists]] type = "compute"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SpecialistConfig {
    Compute(ComputeConfig),
    Network(NetworkConfig),
    Database(DatabaseConfig),
}

impl SpecialistConfig {
    pub fn validate(&self) -> Result<()> {
        match self {
            SpecialistConfig::Compute(c) => c.validate(),
            SpecialistConfig::Network(c) => c.validate(),
            SpecialistConfig::Database(c) => c.validate(),
        }
    }

    pub fn build(&self) -> Result<Box<dyn Specialist>> {
        self.validate()?;
        Ok(match self {
            SpecialistConfig::Compute(c) => Box::new(Compute::new(c.clone())),
            SpecialistConfig::Network(c) => Box::new(Network::new(c.clone())),
            SpecialistConfig::Database(c) => Box::new(Database::new(c.clone())),
        })
    }
}

/// The specialists medic runs when the configuration names none.
pub fn default_specialists() -> Vec<SpecialistConfig> {
    vec![
        SpecialistConfig::Network(NetworkConfig::default()),
        SpecialistConfig::Database(DatabaseConfig::default()),
        SpecialistConfig::Compute(ComputeConfig::default()),
    ]
}

/// Collects hypotheses, keeping the best per (class, target).
#[derive(Debug)]
pub(crate) struct Findings {
    specialist: &'static str,
    hypotheses: Vec<Hypothesis>,
}

impl Findings {
    pub fn new(specialist: &'static str) -> Self {
        Self { specialist, hypotheses: Vec::new() }
    }

    pub fn add(
        &mut self,
        class: RootCauseClass,
        target: ObjectRef,
        confidence: f64,
        evidence: Vec<Evidence>,
        playbook: Option<&str>,
        params: BTreeMap<String, String>,
    ) {
        if evidence.is_empty() {
            return;
        }
        let confidence = confidence.clamp(0.0, 1.0);
        if let Some(existing) = self.hypotheses.iter_mut().find(|h| h.class == class && h.target == target) {
            if existing.confidence >= confidence {
                return;
            }
            *existing = Hypothesis {
                class,
                target,
                confidence,
                evidence,
                playbook: playbook.map(str::to_string),
                params,
                specialist: self.specialist.to_string(),
            };
            return;
        }
        self.hypotheses.push(Hypothesis {
            class,
            target,
            confidence,
            evidence,
            playbook: playbook.map(str::to_string),
            params,
            specialist: self.specialist.to_string(),
        });
    }

    /// Best first; ties keep the order they were found in.
    pub fn ranked(mut self) -> Vec<Hypothesis> {
        self.hypotheses.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        self.hypotheses
    }
}

/// `key=value` pairs as a parameter map.
pub(crate) fn params<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
