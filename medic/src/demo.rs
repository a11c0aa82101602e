//! `medic demo`: the lab and medic in one process; the shop broken by a few faults one after another;
//! live progress per incident; a closing summary. Exit status 0 when every fault was repaired.
use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use medic_core::{AuditKind, IncidentUid};
use medic_store::{IncidentFilter, IncidentStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::lab_rig::{Rig, RigConfig};

/// How a demo step breaks the shop.
#[derive(Debug, Clone)]
pub enum Breakage {
    /// Apply a manifest (a Chaos Mesh experiment or a lab fault), delete it afterwards.
    Manifest { kind: &'static str, name: &'static str, yaml: &'static str },
    /// A strategic merge patch of a deployment, as `kubectl set image` sends it.
    Patch { deployment: &'static str, patch: &'static str },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub what: &'static str,
    pub breakage: Breakage,
}

/// The faults the demo injects, one per root-cause class the pipeline handles end to end.
pub fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "cart-memory-stress",
            what: "Chaos Mesh StressChaos: 256 MB of memory pressure inside the cart's containers",
            breakage: Breakage::Manifest {
                kind: "StressChaos",
                name: "cart-memory-stress",
                yaml: include_str!("../../chaos-tests/experiments/cart-memory-stress.yaml"),
            },
        },
        Step {
            name: "redis-pod-failure",
            what: "Chaos Mesh PodChaos pod-failure: the cart's Redis stops serving",
            breakage: Breakage::Manifest {
                kind: "PodChaos",
                name: "redis-pod-failure",
                yaml: include_str!("../../chaos-tests/experiments/redis-pod-failure.yaml"),
            },
        },
        Step {
            name: "catalog-pod-failure-one",
            what: "Chaos Mesh PodChaos pod-failure, mode one: a single catalog replica stops serving",
            breakage: Breakage::Manifest {
                kind: "PodChaos",
                name: "catalog-pod-failure-one",
                yaml: include_str!("../../chaos-tests/experiments/catalog-pod-failure-one.yaml"),
            },
        },
        Step {
            name: "frontend-missing-tag",
            what: "kubectl set image: the frontend to a tag the registry does not have",
            breakage: Breakage::Patch {
                deployment: "frontend",
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"frontend","image":"ghcr.io/medic-lab/shop-frontend:1.8.3"}]}}}}"#,
            },
        },
        Step {
            name: "worker-node-failure",
            what: "lab fault: node lab-worker-2 stops heartbeating",
            breakage: Breakage::Manifest {
                kind: "LabFault",
                name: "worker-node-failure",
                yaml: include_str!("../../chaos-tests/experiments/worker-node-failure.yaml"),
            },
        },
    ]
}

/// What one step came to.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub step: &'static str,
    pub incidents: usize,
    pub root_cause: String,
    pub target: String,
    pub action: String,
    pub repaired: bool,
    /// Fault applied → the acting incident resolved, in lab seconds.
    pub repair_secs: Option<f64>,
}

/// Runs the demo and returns the summary rows.
pub async fn run(config: RigConfig, out: &mut dyn std::io::Write) -> Result<Vec<StepResult>> {
    let rig = Rig::start(config.clone(), |c| c.telemetry.filter = "warn".into()).await?;
    writeln!(
        out,
        "medic demo: lab at {} (speed {}x, seed {}), medic at {}",
        rig.lab.url(),
        config.speed,
        config.seed,
        rig.medic.url()
    )?;
    writeln!(
        out,
        "  store {} · KUBECONFIG={}",
        rig.workdir.join("medic.db").display(),
        rig.lab.kubeconfig_path().display()
    )?;
    write!(out, "waiting for the shop to come up ... ")?;
    rig.wait_healthy("shop", Duration::from_secs(900)).await?;
    writeln!(out, "healthy")?;
    let mut results = Vec::new();
    let all = steps();
    for (i, step) in all.iter().enumerate() {
        writeln!(out, "\n[{}/{}] {} — {}", i + 1, all.len(), step.name, step.what)?;
        let result = run_step(&rig, step, out).await?;
        results.push(result);
    }
    writeln!(out, "\n{}", summary(&results))?;
    rig.stop().await;
    Ok(results)
}

async fn run_step(rig: &Rig, step: &Step, out: &mut dyn std::io::Write) -> Result<StepResult> {
    let before: BTreeSet<IncidentUid> =
        rig.medic.store.incidents(IncidentFilter::default().limit(1000)).await?.into_iter().map(|i| i.uid).collect();
    let started = rig.clock.now();
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await?, "shop");
    match &step.breakage {
        Breakage::Manifest { yaml, .. } => {
            rig.apply(yaml)?;
        }
        Breakage::Patch { deployment, patch } => {
            let patch: serde_json::Value = serde_json::from_str(patch)?;
            deployments.patch(deployment, &PatchParams::default(), &Patch::Strategic(patch)).await?;
        }
    }
    let elapsed = |rig: &Rig| rig.clock.now().duration_since(started).as_secs_f64();
    let mut printed: BTreeMap<IncidentUid, i64> = BTreeMap::new();
    let deadline = Duration::from_secs(30 * 60);
    let mut settled_since: Option<f64> = None;
    loop {
        let incidents: Vec<_> = rig
            .medic
            .store
            .incidents(IncidentFilter::default().limit(1000))
            .await?
            .into_iter()
            .filter(|i| !before.contains(&i.uid))
            .collect();
        for incident in &incidents {
            let seen = printed.entry(incident.uid).or_insert(0);
            for record in rig.medic.store.timeline(incident.uid).await? {
                if record.seq <= *seen {
                    continue;
                }
                *seen = record.seq;
                let shown = matches!(
                    record.entry.kind,
                    AuditKind::IncidentOpened
                        | AuditKind::Decision
                        | AuditKind::ActionApplied
                        | AuditKind::Verified
                        | AuditKind::VerificationFailed
                        | AuditKind::RolledBack
                        | AuditKind::GuardRefused
                        | AuditKind::Escalated
                        | AuditKind::IncidentClosed
                );
                if shown {
                    let t = record.entry.at.duration_since(started).as_secs_f64().max(0.0);
                    writeln!(
                        out,
                        "  t+{t:>5.0}s  {}  {:<15} {}",
                        incident.uid.short(),
                        record.entry.kind.as_str(),
                        crate::timeline::truncate(&record.entry.summary, 110)
                    )?;
                }
            }
        }
        let all_settled = !incidents.is_empty() && incidents.iter().all(|i| !i.status.is_open());
        settled_since = match (all_settled, settled_since) {
            (true, None) => Some(elapsed(rig)),
            (true, since) => since,
            (false, _) => None,
        };
        // Settled, and no new incident for a minute of lab time: the step is over.
        if settled_since.is_some_and(|since| elapsed(rig) - since > 60.0) || elapsed(rig) > deadline.as_secs_f64() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The experiment is over: remove it, as `kubectl delete -f` would.
    if let Breakage::Manifest { kind, name, .. } = &step.breakage
        && let Some(kind) = medic_lab::store::Kind::from_kind_name(kind)
    {
        rig.lab.store().delete(kind, Some("shop"), name).ok();
    }
    let result = conclude(rig, step, &before, started).await?;
    rig.wait_healthy("shop", Duration::from_secs(15 * 60)).await.ok();
    Ok(result)
}

async fn conclude(
    rig: &Rig,
    step: &Step,
    before: &BTreeSet<IncidentUid>,
    started: jiff::Timestamp,
) -> Result<StepResult> {
    let incidents: Vec<_> = rig
        .medic
        .store
        .incidents(IncidentFilter::default().limit(1000))
        .await?
        .into_iter()
        .filter(|i| !before.contains(&i.uid))
        .collect();
    let mut acting = None;
    for incident in &incidents {
        let timeline = rig.medic.store.timeline(incident.uid).await?;
        if let Some(applied) = timeline.iter().find(|r| r.entry.kind == AuditKind::ActionApplied) {
            acting = Some((incident.clone(), applied.entry.summary.clone()));
            break;
        }
    }
    let repaired = !incidents.is_empty()
        && acting.as_ref().is_some_and(|(i, _)| i.status == IncidentStatus::Resolved)
        && incidents.iter().all(|i| matches!(i.status, IncidentStatus::Resolved | IncidentStatus::Closed));
    let (root_cause, target, action, repair_secs) = match &acting {
        Some((i, action)) => (
            i.root_cause.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            i.target.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            action.clone(),
            i.resolved_at.map(|at| at.duration_since(started).as_secs_f64()),
        ),
        None => {
            let first = incidents.first();
            (
                first.and_then(|i| i.root_cause).map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                first.and_then(|i| i.target.as_ref()).map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                "none".into(),
                None,
            )
        }
    };
    Ok(StepResult { step: step.name, incidents: incidents.len(), root_cause, target, action, repaired, repair_secs })
}

/// The closing table.
pub fn summary(results: &[StepResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>9}  {:<18} {:<30} {:<9} {:>8}  ACTION",
        "FAULT", "INCIDENTS", "ROOT CAUSE", "TARGET", "OUTCOME", "REPAIR"
    );
    for r in results {
        let _ = writeln!(
            out,
            "{:<24} {:>9}  {:<18} {:<30} {:<9} {:>8}  {}",
            r.step,
            r.incidents,
            r.root_cause,
            r.target,
            if r.repaired { "repaired" } else { "NOT" },
            r.repair_secs.map(|s| format!("{s:.0}s")).unwrap_or_else(|| "-".into()),
            crate::timeline::truncate(&r.action, 70)
        );
    }
    let repaired = results.iter().filter(|r| r.repaired).count();
    let _ = write!(out, "{repaired}/{} faults repaired (times are lab time, fault → incident resolved)", results.len());
    out
}
