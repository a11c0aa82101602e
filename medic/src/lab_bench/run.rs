//! Running one scenario: a fresh lab and medic (the rig), the topology brought up and left to settle,
//! the steps played at their moments in virtual time, the application's health sampled throughout, and
//! — once medic has settled every incident, or the scenario's time is up — what medic did, read back
//! from its store and audit trail.
use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use medic_core::decision::{DecisionRecord, RankedHypothesis};
use medic_core::{ActionSpec, AuditKind, IncidentUid};
use medic_store::IncidentFilter;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::alert;
use super::health::{HealthProbe, Sample};
use super::scenario::{Scenario, Step};
use crate::lab_rig::{Rig, RigConfig};

/// How the bench runs scenarios.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Virtual seconds per real second.
    pub speed: f64,
    /// The lab's seed (names, addresses, which phrasing each log line uses).
    pub seed: u64,
    /// Keep each scenario's working directory (medic's store: incidents, timelines, audit trail) under
    /// this folder, one subfolder per scenario, instead of a temporary one.
    pub keep: Option<PathBuf>,
}

/// The application must look healthy this long before the first step.
const SETTLE: SignedDuration = SignedDuration::from_secs(30);
/// After the last step and the last change to an incident, how long nothing may happen before the run
/// ends.
const QUIET: SignedDuration = SignedDuration::from_secs(75);
/// With no incident at all, how long after the last step the alert rules get to fire.
const DETECTION_WAIT: SignedDuration = SignedDuration::from_secs(180);
/// Beyond the scenario's longest acceptable MTTR, how long the run may go on.
const OVERTIME: SignedDuration = SignedDuration::from_secs(240);

/// What happened in one run, as raw facts (scored in `score`).
#[derive(Debug, Clone)]
pub struct Observation {
    /// When the application had settled and the first step could start.
    pub ready_at: Timestamp,
    /// When the first step that changes something ran.
    pub fault_at: Option<Timestamp>,
    pub ended_at: Timestamp,
    pub samples: Vec<Sample>,
    pub incidents: Vec<IncidentTrace>,
    pub writes: Vec<Write>,
    /// Steps that could not be carried out.
    pub step_errors: Vec<String>,
}

/// One incident, from its audit entries.
#[derive(Debug, Clone)]
pub struct IncidentTrace {
    pub uid: IncidentUid,
    pub title: String,
    pub opened_at: Timestamp,
    pub status: String,
    /// Decisions with their records (a decision to follow another incident's fix has none).
    pub decisions: Vec<DecisionRecord>,
    pub followed: bool,
    /// The competing hypotheses of each escalation.
    pub escalations: Vec<Vec<RankedHypothesis>>,
    /// medic asked a human to approve a plan.
    pub approval_requested: bool,
}

/// One write medic made to the cluster.
#[derive(Debug, Clone)]
pub struct Write {
    pub at: Timestamp,
    pub incident: Option<IncidentUid>,
    pub action: ActionSpec,
    pub playbook: Option<String>,
}

/// A step's moment, in virtual time after the application settled.
#[derive(Debug, Clone)]
#[allow(dead_code, reason = "the cycle is read through Debug, in the run log and the schedule test")]
enum Event {
    Step(usize),
    Fire { step: usize, cycle: u32 },
    Resolve { step: usize, cycle: u32 },
}

fn schedule(steps: &[Step]) -> Vec<(Duration, Event)> {
    let mut at = Duration::ZERO;
    let mut events = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Wait(d) => at += *d,
            Step::Alert(a) => {
                for cycle in 0..a.times {
                    let start = at + a.every * cycle;
                    events.push((start, Event::Fire { step: i, cycle }));
                    if let Some(firing) = a.firing {
                        events.push((start + firing, Event::Resolve { step: i, cycle }));
                    }
                }
                at += a.every * (a.times - 1) + a.firing.unwrap_or_default();
            }
            _ => events.push((at, Event::Step(i))),
        }
    }
    events.sort_by_key(|(at, _)| *at);
    events
}

/// Runs `scenario` in a fresh rig and reports what happened.
pub async fn run(scenario: &Scenario, options: &RunOptions) -> Result<Observation> {
    let scratch = Scratch::new(options.keep.as_deref(), &scenario.name)?;
    let topology = scratch.path().join("topology.yaml");
    std::fs::write(&topology, &scenario.topology_yaml).context("writing the scenario's topology")?;
    let config = RigConfig {
        speed: options.speed,
        seed: options.seed,
        topology: Some(topology),
        lab_alerts: true,
        workdir: Some(scratch.path().join("rig")),
        ..RigConfig::default()
    };
    let rig = Rig::start(config, |_| {}).await.with_context(|| format!("starting the rig of {}", scenario.name))?;
    let result = drive(&rig, scenario).await;
    rig.stop().await;
    result.with_context(|| format!("running scenario {}", scenario.name))
}

/// A scenario's working directory: temporary, or kept for inspection after the run.
enum Scratch {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl Scratch {
    fn new(keep: Option<&Path>, scenario: &str) -> Result<Self> {
        let Some(root) = keep else {
            return Ok(Self::Temporary(tempfile::tempdir().context("creating the scenario's directory")?));
        };
        let dir = root.join(scenario);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self::Kept(dir))
    }

    fn path(&self) -> &Path {
        match self {
            Self::Temporary(dir) => dir.path(),
            Self::Kept(dir) => dir,
        }
    }
}

fn sleep_virtual(rig: &Rig, virtual_secs: f64) -> tokio::time::Sleep {
    tokio::time::sleep(
        Duration::from_secs_f64(virtual_secs / rig.clock.speed().max(0.1)).max(Duration::from_millis(20)),
    )
}

async fn drive(rig: &Rig, scenario: &Scenario) -> Result<Observation> {
    let namespace = scenario.namespace.as_str();
    rig.wait_healthy(namespace, Duration::from_secs(15 * 60)).await?;
    let mut probe = HealthProbe::default();
    let mut samples: Vec<Sample> = Vec::new();
    let settle_deadline = rig.clock.now() + SignedDuration::from_secs(600);
    loop {
        let sample = probe.sample(&rig.lab, namespace);
        let stretch = samples.iter().rposition(|s| !s.healthy()).map_or(0, |i| i + 1);
        let settled =
            sample.healthy() && samples.get(stretch).is_some_and(|s| sample.at.duration_since(s.at) >= SETTLE);
        if sample.at > settle_deadline {
            anyhow::bail!("the application did not settle: {}", sample.problems.join("; "));
        }
        samples.push(sample);
        if settled {
            break;
        }
        sleep_virtual(rig, 1.0).await;
    }
    let ready_at = rig.clock.now();
    samples.clear();

    let events = schedule(&scenario.steps);
    let mut next = 0;
    let mut fault_at = None;
    let mut last_event_at = ready_at;
    let mut step_errors = Vec::new();
    let mut fired: Vec<Option<Timestamp>> = vec![None; scenario.steps.len()];
    let deadline_after_fault = SignedDuration::try_from(scenario.expect.max_mttr)? + OVERTIME;
    loop {
        let now = rig.clock.now();
        let elapsed = now.duration_since(ready_at).unsigned_abs();
        while next < events.len() && events[next].0 <= elapsed {
            let (_, event) = &events[next];
            next += 1;
            last_event_at = now;
            let step_index = match event {
                Event::Step(i) | Event::Fire { step: i, .. } | Event::Resolve { step: i, .. } => *i,
            };
            if fault_at.is_none() && scenario.steps[step_index].is_fault() {
                fault_at = Some(now);
            }
            if let Err(e) = perform(rig, scenario, event, &mut fired).await {
                step_errors.push(format!("{}: {e:#}", scenario.steps[step_index].describe()));
            }
        }
        samples.push(probe.sample(&rig.lab, namespace));
        if next >= events.len()
            && finished(rig, scenario, fault_at.unwrap_or(ready_at), last_event_at, &samples, deadline_after_fault)
                .await?
        {
            break;
        }
        sleep_virtual(rig, 1.0).await;
    }
    let ended_at = rig.clock.now();
    let (incidents, writes) = read_back(rig).await?;
    Ok(Observation { ready_at, fault_at, ended_at, samples, incidents, writes, step_errors })
}

/// Whether the run is over: time is up, or medic has settled every incident, nothing changed for a while,
/// and the application's health has held still.
async fn finished(
    rig: &Rig,
    scenario: &Scenario,
    fault_at: Timestamp,
    last_event_at: Timestamp,
    samples: &[Sample],
    deadline_after_fault: SignedDuration,
) -> Result<bool> {
    let now = rig.clock.now();
    if now.duration_since(fault_at) >= deadline_after_fault {
        return Ok(true);
    }
    let incidents = rig.medic.store.incidents(IncidentFilter::default().limit(10_000)).await?;
    if incidents.iter().any(|i| i.status.is_open()) {
        return Ok(false);
    }
    let last_change = incidents.iter().map(|i| i.updated_at).max().unwrap_or(last_event_at).max(last_event_at);
    let to_repair = scenario.expect.outcome == super::scenario::Outcome::Repaired;
    if to_repair && samples.iter().all(|s| s.healthy()) {
        // A slow fault (a leak) has not shown yet: an early, unrelated incident settling is no reason to stop.
        return Ok(false);
    }
    if incidents.is_empty() {
        let expected = scenario.expect.outcome != super::scenario::Outcome::Quiet;
        // A fault nobody noticed yet: wait for the deadline; noise that raised nothing: a while.
        return Ok(!expected && now.duration_since(last_event_at) >= DETECTION_WAIT);
    }
    let steady = match samples.last() {
        Some(last) => {
            let changed = samples.iter().rposition(|s| s.healthy() != last.healthy()).map_or(0, |i| i + 1);
            now.duration_since(samples[changed].at) >= SignedDuration::from_secs(60)
        }
        None => false,
    };
    Ok(steady && now.duration_since(last_change) >= QUIET)
}

async fn perform(rig: &Rig, scenario: &Scenario, event: &Event, fired: &mut [Option<Timestamp>]) -> Result<()> {
    let namespace = scenario.namespace.as_str();
    match *event {
        Event::Step(i) => perform_step(rig, namespace, &scenario.steps[i]).await,
        Event::Fire { step, .. } | Event::Resolve { step, .. } => {
            let Step::Alert(a) = &scenario.steps[step] else { return Ok(()) };
            let mut labels = a.labels.clone();
            labels.entry("namespace".into()).or_insert_with(|| namespace.to_string());
            let now = rig.clock.now();
            let (starts_at, ended) = match event {
                Event::Fire { .. } => {
                    fired[step] = Some(now);
                    (now, None)
                }
                _ => (fired[step].unwrap_or(now), Some(now)),
            };
            let body = alert::body(&a.name, &labels, &a.summary, starts_at, ended);
            let url = format!("{}/v1/webhooks/alertmanager", rig.medic.url());
            alert::post(&url, &rig.token, &body).await
        }
    }
}

async fn perform_step(rig: &Rig, namespace: &str, step: &Step) -> Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await?, namespace);
    match step {
        Step::Apply { yaml, .. } => rig.apply(yaml).map(drop),
        Step::SetImage { deployment, container, image } => {
            let name = match container {
                Some(c) => c.clone(),
                None => first_container(&deployments, deployment).await?,
            };
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}}});
            deployments.patch(deployment, &PatchParams::default(), &Patch::Strategic(patch)).await?;
            Ok(())
        }
        Step::SetEnv { deployment, container, env } => {
            // As `kubectl set env`: each variable gets a literal value, replacing a ConfigMap reference.
            let current = deployments.get(deployment).await?;
            let mut containers =
                serde_json::to_value(current.spec.template.spec.map(|s| s.containers).unwrap_or_default())?;
            let list = containers.as_array_mut().context("the deployment has no containers")?;
            let index = match container {
                Some(c) => list
                    .iter()
                    .position(|x| x["name"] == c.as_str())
                    .with_context(|| format!("{deployment} has no container {c}"))?,
                None => 0,
            };
            let vars = list[index]["env"].as_array().cloned().unwrap_or_default();
            let mut vars: Vec<Value> =
                vars.into_iter().filter(|v| !env.contains_key(v["name"].as_str().unwrap_or(""))).collect();
            vars.extend(env.iter().map(|(k, v)| json!({"name": k, "value": v})));
            list[index]["env"] = Value::Array(vars);
            let patch = json!({"spec": {"template": {"spec": {"containers": containers}}}});
            deployments.patch(deployment, &PatchParams::default(), &Patch::Merge(patch)).await?;
            Ok(())
        }
        Step::Patch { deployment, patch } => {
            deployments.patch(deployment, &PatchParams::default(), &Patch::Strategic(patch.clone())).await?;
            Ok(())
        }
        Step::Delete { kind, name } => {
            let kind = medic_lab::store::Kind::from_kind_name(kind).context("unknown kind")?;
            let namespace = kind.namespaced().then_some(namespace);
            rig.lab.store().delete(kind, namespace, name).map(drop).map_err(Into::into)
        }
        Step::Alert(_) | Step::Wait(_) => Ok(()),
    }
}

async fn first_container(deployments: &Api<Deployment>, name: &str) -> Result<String> {
    let d = deployments.get(name).await?;
    d.spec
        .template
        .spec
        .and_then(|s| s.containers.first().map(|c| c.name.clone()))
        .with_context(|| format!("{name} has no containers"))
}

/// The incidents and the writes, from medic's store and audit trail.
async fn read_back(rig: &Rig) -> Result<(Vec<IncidentTrace>, Vec<Write>)> {
    let store = &rig.medic.store;
    let mut incidents: Vec<IncidentTrace> = store
        .incidents(IncidentFilter::default().limit(10_000))
        .await?
        .into_iter()
        .map(|i| IncidentTrace {
            uid: i.uid,
            title: i.title,
            opened_at: i.opened_at,
            status: i.status.as_str().to_string(),
            decisions: Vec::new(),
            followed: false,
            escalations: Vec::new(),
            approval_requested: false,
        })
        .collect();
    incidents.sort_by_key(|i| i.opened_at);
    let mut writes = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_after(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in page {
            let entry = record.entry;
            let trace = entry.incident.and_then(|uid| incidents.iter_mut().find(|i| i.uid == uid));
            match entry.kind {
                AuditKind::Decision => {
                    if let Some(t) = trace {
                        match serde_json::from_value::<DecisionRecord>(entry.detail) {
                            Ok(record) => t.decisions.push(record),
                            Err(_) => t.followed = true,
                        }
                    }
                }
                AuditKind::Escalated => {
                    if let Some(t) = trace {
                        t.escalations.push(serde_json::from_value(entry.detail).unwrap_or_default());
                    }
                }
                AuditKind::ApprovalRequested => {
                    if let Some(t) = trace {
                        t.approval_requested = true;
                    }
                }
                AuditKind::ActionApplied if entry.detail["changed"] == json!(true) => {
                    if let Ok(action) = serde_json::from_value::<ActionSpec>(entry.detail["action"].clone()) {
                        let playbook = trace.and_then(|t| t.decisions.last()).and_then(|d| match &d.decision {
                            medic_core::Decision::Act { plan } => Some(plan.playbook.clone()),
                            _ => None,
                        });
                        writes.push(Write { at: entry.at, incident: entry.incident, action, playbook });
                    }
                }
                _ => {}
            }
        }
    }
    Ok((incidents, writes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab_bench::scenario::SyntheticAlert;

    #[test]
    fn steps_are_scheduled_after_their_waits_and_alerts_flap() {
        let steps = vec![
            Step::Wait(Duration::from_secs(10)),
            Step::Delete { kind: "PodChaos".into(), name: "x".into() },
            Step::Alert(SyntheticAlert {
                name: "A".into(),
                labels: Default::default(),
                summary: String::new(),
                firing: Some(Duration::from_secs(20)),
                times: 2,
                every: Duration::from_secs(60),
            }),
            Step::Delete { kind: "PodChaos".into(), name: "y".into() },
        ];
        let at: Vec<(u64, String)> =
            schedule(&steps).into_iter().map(|(d, e)| (d.as_secs(), format!("{e:?}"))).collect();
        let expected = [
            (10, "Step(1)"),
            (10, "Fire { step: 2, cycle: 0 }"),
            (30, "Resolve { step: 2, cycle: 0 }"),
            (70, "Fire { step: 2, cycle: 1 }"),
            (90, "Resolve { step: 2, cycle: 1 }"),
            (90, "Step(3)"),
        ];
        assert_eq!(at, expected.map(|(s, e)| (s, e.to_string())));
    }
}
