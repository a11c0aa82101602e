//! The end-to-end harness of medic on the lab: the Chaos Mesh experiments in `experiments/`, and the rig
//! (a lab and a medic wired through the Kubernetes API and the real webhook endpoint) re-exported from
//! `medic::lab_rig`, which `medic demo` runs on too.
use anyhow::{Context, Result};
use std::path::PathBuf;

pub use medic::lab_rig::{Rig, RigConfig};

pub mod prometheus;

/// The Chaos Mesh experiments shipped in `chaos-tests/experiments/`.
pub fn experiment(name: &str) -> Result<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("experiments").join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}
