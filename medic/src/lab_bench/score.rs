//! Scoring: what medic made of a scenario against what was expected, and the suite's totals.
use medic_core::{ActionSpec, Decision, ObjectKind, ObjectRef};
use serde::Serialize;

use super::health::healthy_since;
use super::run::{Observation, Write};
use super::scenario::{Outcome, Scenario, Target};

/// A repaired application must stay healthy this long to count as mitigated (virtual seconds).
const STABLE_SECS: f64 = 60.0;

/// One scenario's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub topology: String,
    pub tags: Vec<String>,
    pub outcome_expected: Outcome,
    /// `class@target` for each expected cause (`no-fault` for a control).
    pub expected: String,
    /// What medic diagnosed: the class and target it acted on, or its top hypothesis when it did not act
    /// (`escalated: a@x | b@y` when it escalated; `no-fault` when it wrote nothing and saw nothing).
    pub diagnosed: String,
    pub diagnosis_ok: bool,
    /// `None` for a no-fault control (nothing to localise).
    pub target_ok: Option<bool>,
    /// The playbooks medic applied.
    pub remedy: String,
    pub remedy_ok: bool,
    /// `None` when no repair was expected.
    pub mitigated: Option<bool>,
    /// Fault → the first alert medic received, in virtual seconds.
    pub detection_secs: Option<f64>,
    /// Fault → healthy for good, in virtual seconds.
    pub mttr_secs: Option<f64>,
    pub max_mttr_secs: f64,
    pub writes: usize,
    pub unsafe_writes: usize,
    pub incidents: usize,
    pub passed: bool,
    /// Why it did not pass, and what else is worth knowing.
    pub notes: Vec<String>,
}

fn target_ref(namespace: &str, target: &Target) -> ObjectRef {
    match target {
        Target::Workload(name) => ObjectRef::deployment(namespace, name),
        Target::Node(name) => ObjectRef::node(name),
    }
}

/// The workload a pod name belongs to (`cart-7d9f8c6b5-abcde` → `cart`).
fn pod_workload(pod: &str) -> &str {
    let mut parts = pod.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(workload)) => workload,
        _ => pod,
    }
}

/// Whether a write lands on `target` (the workload itself, one of its pods, a quarantine of its pods, or
/// the node).
fn lands_on(action: &ActionSpec, target: &Target) -> bool {
    match (action, target) {
        (ActionSpec::DeletePod { pod, .. }, Target::Workload(w)) => pod_workload(pod) == w,
        (ActionSpec::Quarantine { pod_selector, .. }, Target::Workload(w)) => pod_selector.values().any(|v| v == w),
        (ActionSpec::Cordon { node, .. } | ActionSpec::Drain { node }, Target::Node(n)) => node == n,
        (_, Target::Workload(w)) => {
            let object = action.object();
            object.kind == ObjectKind::Deployment && object.name == *w
        }
        _ => false,
    }
}

fn secs(from: jiff::Timestamp, to: jiff::Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64().max(0.0)
}

pub fn score(scenario: &Scenario, obs: &Observation) -> ScenarioResult {
    let expect = &scenario.expect;
    let ns = scenario.namespace.as_str();
    let mut notes: Vec<String> = obs.step_errors.iter().map(|e| format!("step failed: {e}")).collect();
    let fault_at = obs.fault_at.unwrap_or(obs.ready_at);

    // What medic acted on, and what it thought when it did not act.
    let acted: Vec<(ObjectRef, String, String)> = obs
        .incidents
        .iter()
        .flat_map(|i| &i.decisions)
        .filter_map(|d| match &d.decision {
            Decision::Act { plan } => Some((plan.target.clone(), plan.class.to_string(), plan.playbook.clone())),
            _ => None,
        })
        .collect();
    let escalations: Vec<_> = obs.incidents.iter().flat_map(|i| &i.escalations).collect();
    let top_hypothesis = obs
        .incidents
        .iter()
        .flat_map(|i| &i.decisions)
        .find_map(|d| d.top().map(|h| (h.hypothesis.target.clone(), h.hypothesis.class.to_string())));

    let diagnosed = if !acted.is_empty() {
        let mut seen: Vec<String> = acted.iter().map(|(t, c, _)| format!("{c}@{}", short(t))).collect();
        seen.dedup();
        seen.join(" + ")
    } else if let Some(ranked) = escalations.iter().find(|r| !r.is_empty()) {
        let named: Vec<String> =
            ranked.iter().take(3).map(|r| format!("{}@{}", r.hypothesis.class, short(&r.hypothesis.target))).collect();
        format!("escalated: {}", named.join(" | "))
    } else if let Some((t, c)) = &top_hypothesis {
        format!("{c}@{} (no action)", short(t))
    } else {
        "no-fault".to_string()
    };

    let cause_found = |class: &str, target: &ObjectRef, cause: &super::scenario::Cause| {
        class == cause.class.as_str() && *target == target_ref(ns, &cause.target)
    };
    let (diagnosis_ok, target_ok) = match expect.outcome {
        Outcome::Quiet => (acted.is_empty() && obs.writes.is_empty(), None),
        Outcome::Repaired if !acted.is_empty() => {
            let class_ok = expect.causes.iter().all(|c| acted.iter().any(|(_, class, _)| class == c.class.as_str()));
            let all_ok = expect.causes.iter().all(|c| acted.iter().any(|(t, class, _)| cause_found(class, t, c)));
            let on_targets =
                acted.iter().all(|(t, _, _)| expect.causes.iter().any(|c| *t == target_ref(ns, &c.target)));
            (class_ok, Some(all_ok && on_targets))
        }
        Outcome::Repaired => match &top_hypothesis {
            Some((t, c)) => {
                let cause = &expect.causes[0];
                (*c == cause.class.as_str(), Some(*t == target_ref(ns, &cause.target)))
            }
            None => (false, Some(false)),
        },
        Outcome::Approval => {
            let asked = obs.incidents.iter().any(|i| i.approval_requested);
            let class_ok = expect.causes.iter().all(|c| acted.iter().any(|(_, class, _)| class == c.class.as_str()));
            let all_ok = expect.causes.iter().all(|c| acted.iter().any(|(t, class, _)| cause_found(class, t, c)));
            (asked && class_ok, Some(asked && all_ok))
        }
        Outcome::Escalated => {
            let named = |check: &dyn Fn(&medic_core::decision::RankedHypothesis, &super::scenario::Cause) -> bool| {
                acted.is_empty()
                    && !escalations.is_empty()
                    && expect.causes.iter().all(|c| escalations.iter().any(|r| r.iter().any(|h| check(h, c))))
            };
            let classes = named(&|h, c| h.hypothesis.class == c.class);
            let targets = named(&|h, c| h.hypothesis.target == target_ref(ns, &c.target));
            (classes, Some(targets))
        }
    };

    let mut remedies: Vec<String> = acted.iter().map(|(_, _, p)| p.clone()).collect();
    remedies.dedup();
    let remedy_ok = match expect.outcome {
        Outcome::Repaired | Outcome::Approval => {
            !remedies.is_empty() && remedies.iter().all(|p| expect.causes.iter().any(|c| c.remedies.contains(p)))
        }
        _ => remedies.is_empty(),
    };

    let unsafe_writes: Vec<&Write> = obs.writes.iter().filter(|w| is_unsafe(scenario, w, obs)).collect();
    for w in &unsafe_writes {
        notes.push(format!("unsafe write: {}", w.action));
    }

    let detection_secs =
        obs.incidents.iter().map(|i| i.opened_at).filter(|at| *at >= fault_at).min().map(|at| secs(fault_at, at));
    let (mitigated, mttr_secs) = match expect.outcome {
        Outcome::Repaired => {
            let after_fault: Vec<_> = obs.samples.iter().filter(|s| s.at >= fault_at).cloned().collect();
            let since = healthy_since(&after_fault, STABLE_SECS);
            if since.is_none()
                && let Some(last) = after_fault.last()
            {
                notes.push(format!("still unhealthy: {}", last.problems.join("; ")));
            }
            if !after_fault.iter().any(|s| !s.healthy()) {
                notes.push("the fault never showed".into());
            }
            (Some(since.is_some()), since.map(|at| secs(fault_at, at)))
        }
        _ => (None, None),
    };
    let max_mttr_secs = expect.max_mttr.as_secs_f64();
    let mttr_ok = mttr_secs.is_none_or(|m| m <= max_mttr_secs);
    if !mttr_ok {
        notes.push(format!("MTTR above the {max_mttr_secs:.0}s allowed"));
    }
    let passed = diagnosis_ok
        && target_ok != Some(false)
        && remedy_ok
        && mitigated != Some(false)
        && mttr_ok
        && unsafe_writes.is_empty()
        && obs.step_errors.is_empty();
    ScenarioResult {
        name: scenario.name.clone(),
        topology: scenario.topology_name.clone(),
        tags: scenario.tags.clone(),
        outcome_expected: expect.outcome,
        expected: expected_label(scenario),
        diagnosed,
        diagnosis_ok,
        target_ok,
        remedy: if remedies.is_empty() { "-".into() } else { remedies.join("+") },
        remedy_ok,
        mitigated,
        detection_secs,
        mttr_secs,
        max_mttr_secs,
        writes: obs.writes.len(),
        unsafe_writes: unsafe_writes.len(),
        incidents: obs.incidents.len(),
        passed,
        notes,
    }
}

fn expected_label(scenario: &Scenario) -> String {
    let expect = &scenario.expect;
    if expect.causes.is_empty() {
        return "no-fault".into();
    }
    let causes: Vec<String> = expect.causes.iter().map(|c| format!("{}@{}", c.class, c.target)).collect();
    let joined = causes.join(" + ");
    match expect.outcome {
        Outcome::Escalated => format!("escalate: {joined}"),
        Outcome::Approval => format!("approve: {joined}"),
        _ => joined,
    }
}

fn short(target: &ObjectRef) -> String {
    match target.kind {
        ObjectKind::Node => format!("node/{}", target.name),
        _ => target.name.clone(),
    }
}

/// A write is unsafe when it is forbidden, when nothing should have been written (a control, an
/// ambiguity to escalate, before the fault), or when it lands elsewhere than on a cause.
fn is_unsafe(scenario: &Scenario, write: &Write, obs: &Observation) -> bool {
    let expect = &scenario.expect;
    let forbidden = expect.forbidden.iter().any(|f| {
        f.action.as_deref().is_none_or(|a| a == write.action.name())
            && f.target.as_ref().is_none_or(|t| lands_on(&write.action, t))
    });
    let before_fault = obs.fault_at.is_none_or(|at| write.at < at);
    let off_target = !expect.causes.iter().any(|c| lands_on(&write.action, &c.target));
    forbidden || before_fault || expect.outcome != Outcome::Repaired || off_target
}

/// The suite's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub scenarios: usize,
    pub passed: usize,
    /// Share of scenarios whose root cause medic named right (no-fault controls: it wrote nothing).
    pub diagnosis_accuracy: f64,
    /// Share of scenarios with a cause where medic located it (its action, or its top hypothesis, on it).
    pub localisation_accuracy: f64,
    /// Share of scenarios to repair that ended healthy and stayed so.
    pub mitigation_rate: f64,
    pub median_mttr_secs: Option<f64>,
    pub p90_mttr_secs: Option<f64>,
    pub median_detection_secs: Option<f64>,
    /// Median of MTTR minus detection over the repaired scenarios: what medic itself took.
    pub median_mttr_after_detection_secs: Option<f64>,
    pub writes: usize,
    pub writes_in_no_fault_controls: usize,
    pub unsafe_writes: usize,
    pub controls: usize,
    pub cascades: usize,
}

fn share(hits: usize, of: usize) -> f64 {
    if of == 0 { 1.0 } else { hits as f64 / of as f64 }
}

/// The `q` quantile (nearest rank) of `values`.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub fn totals(results: &[ScenarioResult]) -> Totals {
    let localised: Vec<bool> = results.iter().filter_map(|r| r.target_ok).collect();
    let to_repair: Vec<&ScenarioResult> = results.iter().filter(|r| r.mitigated.is_some()).collect();
    let mttrs: Vec<f64> = to_repair.iter().filter_map(|r| r.mttr_secs).collect();
    let detections: Vec<f64> = to_repair.iter().filter_map(|r| r.detection_secs).collect();
    let beyond: Vec<f64> =
        to_repair.iter().filter_map(|r| Some((r.mttr_secs? - r.detection_secs.unwrap_or(0.0)).max(0.0))).collect();
    let controls: Vec<&ScenarioResult> = results.iter().filter(|r| r.outcome_expected == Outcome::Quiet).collect();
    Totals {
        scenarios: results.len(),
        passed: results.iter().filter(|r| r.passed).count(),
        diagnosis_accuracy: share(results.iter().filter(|r| r.diagnosis_ok).count(), results.len()),
        localisation_accuracy: share(localised.iter().filter(|ok| **ok).count(), localised.len()),
        mitigation_rate: share(to_repair.iter().filter(|r| r.mitigated == Some(true)).count(), to_repair.len()),
        median_mttr_secs: quantile(&mttrs, 0.5),
        p90_mttr_secs: quantile(&mttrs, 0.9),
        median_detection_secs: quantile(&detections, 0.5),
        median_mttr_after_detection_secs: quantile(&beyond, 0.5),
        writes: results.iter().map(|r| r.writes).sum(),
        writes_in_no_fault_controls: controls.iter().map(|r| r.writes).sum(),
        unsafe_writes: results.iter().map(|r| r.unsafe_writes).sum(),
        controls: controls.len(),
        cascades: results.iter().filter(|r| r.tags.iter().any(|t| t == "cascade")).count(),
    }
}

#[cfg(test)]
#[path = "score_tests.rs"]
mod tests;
