//! `decide`: from the specialists' hypotheses, the recalled past and the catalog, to one decision.
//!
//! A pure function (architecture invariant): no clock, no I/O, no randomness; the same inputs give the
//! same record. The steps, in order:
//! 1. weigh each hypothesis by its specialist's track record and merge those on the same (class, target)
//!    (noisy-OR: independent specialists agreeing raise the score);
//! 2. localise: a generic "dependency down" yields to a specific cause on the same workload; hypotheses on
//!    a workload whose dependency or node is itself failing are symptoms and are demoted;
//! 3. recall: a close past incident fixed by the same playbook raises the score (more if a human approved
//!    it); a fix that failed for a close match is not tried first;
//! 4. act only when the best remedy clears the confidence threshold and the margin over the best competing
//!    remedy; otherwise escalate with the competing hypotheses, or observe when nothing is wrong.
//!
//! An escalation for want of confidence still says what medic would do: [`proposal`] is the plan of the
//! best remedy, for a human to approve. Once approved and verified it is remembered with its approver, and
//! step 3 lifts it when the same situation comes back, so the next time is handled without asking.
use medic_core::decision::{Decision, DecisionRecord, RankedHypothesis, Recollection};
use medic_core::{
    FindingReport, Hypothesis, IncidentContext, IncidentUid, ObjectKind, ObjectRef, Plan, RootCauseClass,
};
use medic_playbooks::Catalog;
use std::collections::{BTreeMap, BTreeSet};

/// When the Director may act.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The best remedy's score must reach this.
    pub min_confidence: f64,
    /// ... and exceed the best competing remedy's by this much.
    pub min_margin: f64,
    /// Recollections less similar than this are ignored.
    pub min_similarity: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { min_confidence: 0.6, min_margin: 0.15, min_similarity: 0.8 }
    }
}

/// Everything `decide` looks at.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    pub incident: IncidentUid,
    pub context: &'a IncidentContext,
    pub findings: &'a [FindingReport],
    /// Specialists that failed or did not answer before the deadline.
    pub missing: &'a [String],
    pub recalled: &'a [Recollection],
    pub catalog: &'a Catalog,
    /// Each specialist's weight from its track record (1.0 without history; see `track_record_weight`).
    pub weights: &'a BTreeMap<String, f64>,
    pub thresholds: Thresholds,
}

/// The weight of a specialist from its confirmed and refuted hypotheses: 1.0 without history, towards 1.5
/// for one that is always right, towards 0.5 for one that is always wrong (Laplace-smoothed accuracy + 0.5).
pub fn track_record_weight(confirmed: u32, refuted: u32) -> f64 {
    let accuracy = (f64::from(confirmed) + 1.0) / (f64::from(confirmed + refuted) + 2.0);
    0.5 + accuracy
}

/// Classes that name a specific mechanism, as opposed to "something it needs is down", "it crashed" or a
/// slow path, which other causes explain.
fn is_specific(class: RootCauseClass) -> bool {
    !matches!(
        class,
        RootCauseClass::DependencyDown
            | RootCauseClass::CrashTransient
            | RootCauseClass::NetworkDegraded
            | RootCauseClass::NoFault
    )
}

#[derive(Debug, Clone)]
struct Group {
    hypothesis: Hypothesis,
    score: f64,
    supported_by: Vec<String>,
    notes: Vec<String>,
    /// A close past incident shows this remedy failing.
    failed_before: bool,
    /// What its remedy would do is done already (a node cordoned and drained): it stays a cause that
    /// explains symptoms, but does not compete with, or win over, a cause that still needs a fix.
    remedied: bool,
}

pub fn decide(input: &DecisionInput<'_>) -> DecisionRecord {
    let mut groups = merge(input);
    localise(input.context, &mut groups, input.thresholds.min_confidence);
    recall(input.recalled, &mut groups, input.thresholds.min_similarity);
    mark_remedied(input.context, &mut groups);
    groups.sort_by(|a, b| b.score.total_cmp(&a.score));
    let decision = choose(input, &groups);
    DecisionRecord {
        incident: input.incident,
        decision,
        ranked: groups
            .into_iter()
            .map(|g| RankedHypothesis {
                hypothesis: g.hypothesis,
                score: round(g.score),
                supported_by: g.supported_by,
                notes: g.notes,
            })
            .collect(),
        recalled: input.recalled.to_vec(),
        missing: input.missing.to_vec(),
        min_confidence: input.thresholds.min_confidence,
        min_margin: input.thresholds.min_margin,
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn merge(input: &DecisionInput<'_>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut disbelief: Vec<f64> = Vec::new();
    for report in input.findings.iter().filter(|r| r.error.is_none()) {
        let weight = input.weights.get(&report.specialist).copied().unwrap_or(1.0);
        for h in &report.hypotheses {
            let weighted = (h.confidence * weight).clamp(0.0, 0.99);
            match groups.iter().position(|g| g.hypothesis.class == h.class && g.hypothesis.target == h.target) {
                Some(i) => {
                    let g = &mut groups[i];
                    disbelief[i] *= 1.0 - weighted;
                    if !g.supported_by.contains(&h.specialist) {
                        g.supported_by.push(h.specialist.clone());
                    }
                    for e in &h.evidence {
                        if !g.hypothesis.evidence.contains(e) {
                            g.hypothesis.evidence.push(e.clone());
                        }
                    }
                    for (k, v) in &h.params {
                        g.hypothesis.params.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    if g.hypothesis.playbook.is_none() {
                        g.hypothesis.playbook.clone_from(&h.playbook);
                    }
                }
                None => {
                    groups.push(Group {
                        hypothesis: h.clone(),
                        score: 0.0,
                        supported_by: vec![h.specialist.clone()],
                        notes: Vec::new(),
                        failed_before: false,
                        remedied: false,
                    });
                    disbelief.push(1.0 - weighted);
                }
            }
        }
    }
    for (g, d) in groups.iter_mut().zip(disbelief) {
        g.score = 1.0 - d;
        if g.supported_by.len() > 1 {
            g.notes.push(format!("agreed by {}", g.supported_by.join(" and ")));
        }
    }
    groups
}

/// Workloads with pods on `node`.
/// Whether the failing node explains what is wrong with `workload`: it has pods there, and none of its pods
/// on a Ready node fails on its own (a container waiting for a reason other than starting, or restarting).
/// A bad image pulled on a healthy node is not the dead node's doing.
fn node_explains(context: &IncidentContext, node: &str, workload: &ObjectRef) -> bool {
    let failing_elsewhere = context.pods_of(workload).any(|p| {
        let on_ready_node =
            p.node.as_deref().is_some_and(|n| n != node && context.node(n).is_some_and(|n| n.ready == Some(true)));
        let failing = p.containers.iter().any(|c| {
            let waiting = c.state.reason().is_some_and(|r| !matches!(r, "ContainerCreating" | "PodInitializing"));
            waiting || (c.restart_count > 0 && !c.ready)
        });
        on_ready_node && failing
    });
    !failing_elsewhere && context.pods_of(workload).any(|p| p.node.as_deref() == Some(node))
}

/// What `target` depends on: declared edges, and hypotheses that name it as their `caller`.
fn dependencies(context: &IncidentContext, groups: &[Group], target: &ObjectRef) -> BTreeSet<ObjectRef> {
    let mut deps: BTreeSet<ObjectRef> = context.dependencies_of(target).map(|d| d.to.clone()).collect();
    let caller = target.to_string();
    deps.extend(
        groups
            .iter()
            .filter(|g| g.hypothesis.params.get("caller") == Some(&caller))
            .map(|g| g.hypothesis.target.clone()),
    );
    deps.remove(target);
    deps
}

fn localise(context: &IncidentContext, groups: &mut [Group], min_confidence: f64) {
    // A specific cause on a workload explains a "dependency down" on the same workload.
    for i in 0..groups.len() {
        if groups[i].hypothesis.class != RootCauseClass::DependencyDown {
            continue;
        }
        let target = groups[i].hypothesis.target.clone();
        let down_score = groups[i].score;
        // A pod-scoped crash explains a partial outage too: the workload still has replicas serving.
        let partly_up = context.workload(&target).is_some_and(|w| w.replicas_available > 0);
        let explains =
            |class: RootCauseClass| is_specific(class) || (partly_up && class == RootCauseClass::CrashTransient);
        let specific = groups
            .iter()
            .enumerate()
            .filter(|(j, g)| *j != i && g.hypothesis.target == target && explains(g.hypothesis.class))
            .map(|(j, _)| j)
            .collect::<Vec<_>>();
        if specific.is_empty() {
            continue;
        }
        for j in &specific {
            let g = &mut groups[*j];
            g.score += (1.0 - g.score) * 0.5 * down_score;
            g.notes.push(format!("explains why {} is down for its callers", target.name));
        }
        let best = specific.iter().map(|j| groups[*j].hypothesis.class).next().expect("non-empty");
        groups[i].score *= 0.6;
        groups[i].notes.push(format!("a more specific cause ({best}) on the same workload explains it"));
    }

    // Causes upstream make symptoms downstream.
    let causes: Vec<(ObjectRef, RootCauseClass, f64)> = groups
        .iter()
        .filter(|g| g.score >= min_confidence && g.hypothesis.class != RootCauseClass::NoFault)
        .map(|g| (g.hypothesis.target.clone(), g.hypothesis.class, g.score))
        .collect();
    let mut demotions: Vec<(usize, String)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let target = &g.hypothesis.target;
        if target.kind == ObjectKind::Node {
            continue;
        }
        let deps = dependencies(context, groups, target);
        for (cause, class, score) in &causes {
            if cause == target || *score <= g.score * 0.8 {
                continue;
            }
            let upstream = match cause.kind {
                ObjectKind::Node => node_explains(context, &cause.name, target),
                _ => deps.contains(cause),
            };
            if upstream {
                demotions.push((i, format!("symptom of {class} at {cause}")));
                break;
            }
        }
    }
    for (i, note) in demotions {
        groups[i].score *= 0.5;
        groups[i].notes.push(note);
    }
}

/// A node already cordoned whose workload pods are all gone or going needs no more of medic.
fn mark_remedied(context: &IncidentContext, groups: &mut [Group]) {
    for g in groups.iter_mut().filter(|g| g.hypothesis.target.kind == ObjectKind::Node) {
        let name = &g.hypothesis.target.name;
        let Some(node) = context.node(name) else { continue };
        let drained = context
            .pods
            .iter()
            .filter(|p| p.node.as_deref() == Some(name.as_str()))
            .all(|p| p.deleting || p.owner.as_ref().is_some_and(|o| o.kind == ObjectKind::DaemonSet));
        if node.unschedulable && drained {
            g.remedied = true;
            g.notes.push(format!("node {name} is cordoned and drained already"));
        }
    }
}

fn recall(recalled: &[Recollection], groups: &mut [Group], min_similarity: f64) {
    for r in recalled.iter().filter(|r| r.similarity >= min_similarity) {
        for g in groups.iter_mut() {
            let same_remedy =
                g.hypothesis.class == r.class && g.hypothesis.playbook.is_some() && g.hypothesis.playbook == r.playbook;
            if !same_remedy {
                continue;
            }
            let who = r.approved_by.as_deref().map(|a| format!(", approved by {a}")).unwrap_or_default();
            let playbook = r.playbook.as_deref().unwrap_or("-");
            if r.fix_worked {
                let strength = if r.approved_by.is_some() { 0.8 } else { 0.4 };
                g.score += (1.0 - g.score) * strength * r.similarity;
                g.notes.push(format!(
                    "recalled {} similarity {:.2}, fixed by {playbook}{who}, verified",
                    r.incident.short(),
                    r.similarity
                ));
            } else {
                g.score *= 1.0 - 0.5 * r.similarity;
                g.failed_before = true;
                g.notes.push(format!(
                    "recalled {} similarity {:.2}: {playbook} failed verification there; not trying it first",
                    r.incident.short(),
                    r.similarity
                ));
            }
        }
    }
}

fn choose(input: &DecisionInput<'_>, groups: &[Group]) -> Decision {
    let t = input.thresholds;
    let actionable: Vec<&Group> = groups.iter().filter(|g| g.hypothesis.class != RootCauseClass::NoFault).collect();
    let Some(first) = actionable.first() else {
        return if input.missing.is_empty() {
            Decision::Observe { reason: "no specialist found anything wrong".into() }
        } else {
            Decision::Escalate { reason: format!("no hypothesis, and {} did not answer", input.missing.join(", ")) }
        };
    };
    // A remedy that failed for a close match is not tried first: prefer the best one that did not. A cause
    // remedied already yields to one that still needs a fix and could be acted on.
    let untried = actionable.iter().find(|g| !g.failed_before).copied().unwrap_or(*first);
    let best = if untried.remedied {
        actionable
            .iter()
            .find(|g| !g.failed_before && !g.remedied && g.score >= input.thresholds.min_confidence)
            .copied()
            .unwrap_or(untried)
    } else {
        untried
    };
    let describe = |g: &Group| format!("{} at {} ({:.2})", g.hypothesis.class, g.hypothesis.target, g.score);
    if best.failed_before {
        return Decision::Escalate {
            reason: format!("the only remedy, {}, failed verification for a similar incident", describe(best)),
        };
    }
    if best.score < t.min_confidence {
        return Decision::Escalate {
            reason: format!(
                "best hypothesis {} is below the {:.2} confidence threshold",
                describe(best),
                t.min_confidence
            ),
        };
    }
    let Some(playbook_id) = best.hypothesis.playbook.as_deref() else {
        return Decision::Escalate { reason: format!("no playbook remedies {}", describe(best)) };
    };
    let Some(playbook) = input.catalog.get(playbook_id) else {
        return Decision::Escalate {
            reason: format!("playbook {playbook_id} for {} is not in the catalog", describe(best)),
        };
    };
    let plan = match playbook.plan(&best.hypothesis, input.incident, input.context) {
        Ok(plan) => plan,
        Err(e) => return Decision::Escalate { reason: format!("cannot plan {}: {e}", describe(best)) },
    };
    // The best competitor is a different remedy; a hypothesis whose plan would do the same thing agrees.
    let competitor = actionable.iter().filter(|g| !std::ptr::eq(**g, best) && !g.remedied).find(|g| {
        let same_plan = g
            .hypothesis
            .playbook
            .as_deref()
            .and_then(|id| input.catalog.get(id))
            .and_then(|p| p.plan(&g.hypothesis, input.incident, input.context).ok());
        same_plan.is_none_or(|p| p.steps != plan.steps)
    });
    if let Some(c) = competitor
        && best.score - c.score < t.min_margin
    {
        return Decision::Escalate {
            reason: format!(
                "{} and {} are too close (margin {:.2} < {:.2})",
                describe(best),
                describe(c),
                best.score - c.score,
                t.min_margin
            ),
        };
    }
    let mut plan = plan;
    let support = best.supported_by.join(", ");
    plan.rationale = format!("{} [score {:.2}, from {support}]", plan.rationale, best.score);
    for note in &best.notes {
        plan.rationale.push_str("; ");
        plan.rationale.push_str(note);
    }
    Decision::Act { plan }
}

/// The plan a human is asked to approve when `record` escalates: the best-ranked remedy that did not fail
/// verification for a close match and that its playbook can plan. `None` when the decision is not an
/// escalation or nothing can be planned (no hypothesis, no playbook, or only remedies that failed before).
pub fn proposal(input: &DecisionInput<'_>, record: &DecisionRecord) -> Option<Plan> {
    if !matches!(record.decision, Decision::Escalate { .. }) {
        return None;
    }
    let failed_before = |h: &Hypothesis| {
        input.recalled.iter().any(|r| {
            !r.fix_worked
                && r.similarity >= input.thresholds.min_similarity
                && r.class == h.class
                && h.playbook.is_some()
                && r.playbook == h.playbook
        })
    };
    let best = record
        .ranked
        .iter()
        .filter(|r| r.hypothesis.class != RootCauseClass::NoFault)
        .find(|r| !failed_before(&r.hypothesis))?;
    let playbook = input.catalog.get(best.hypothesis.playbook.as_deref()?)?;
    let mut plan = playbook.plan(&best.hypothesis, input.incident, input.context).ok()?;
    let support = best.supported_by.join(", ");
    plan.rationale = format!("{} [score {:.2}, from {support}]", plan.rationale, best.score);
    for note in &best.notes {
        plan.rationale.push_str("; ");
        plan.rationale.push_str(note);
    }
    Some(plan)
}
