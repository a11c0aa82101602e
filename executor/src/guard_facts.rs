//! What the guard's rules know about a plan before anything is written: the objects each step writes,
//! deletes, evicts or replaces (read through `ClusterRead`), the pods each step touches per namespace, who
//! approved it, and the history the store keeps across restarts (actions per namespace in the last hour,
//! pods the incident already touched, failed verifications in a row per namespace).
use jiff::{SignedDuration, Timestamp};
use medic_core::ports::{ClusterRead, Labels};
use medic_core::{ActionSpec, ObjectKind, ObjectRef, Plan};
use medic_store::{FailureStreak, Store};
use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;

/// The window of the rate limit.
pub const RATE_WINDOW: SignedDuration = SignedDuration::from_hours(1);

/// What a step does to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Patched or created.
    Write,
    /// Deleted.
    Delete,
    /// Evicted through the eviction API (a delete that honours disruption budgets).
    Evict,
    /// Replaced by its controller because its template changed (a rollout).
    Replace,
    /// Cut off from the network.
    Isolate,
}

impl Effect {
    /// The object is gone afterwards.
    pub fn removes(self) -> bool {
        matches!(self, Effect::Delete | Effect::Evict)
    }
}

/// One object a step touches.
#[derive(Debug, Clone, PartialEq)]
pub struct Touched {
    pub object: ObjectRef,
    pub labels: Labels,
    pub effect: Effect,
}

impl Touched {
    pub fn new(object: ObjectRef, labels: Labels, effect: Effect) -> Self {
        Self { object, labels, effect }
    }
}

/// What one step touches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepFacts {
    pub touched: Vec<Touched>,
    /// Pods the step deletes, evicts, replaces, creates or isolates, by namespace.
    pub pods: BTreeMap<String, u32>,
}

impl StepFacts {
    pub fn pods_total(&self) -> u64 {
        self.pods.values().map(|&n| u64::from(n)).sum()
    }
}

/// What the store remembers, for the rules that count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Steps started in each namespace within [`RATE_WINDOW`], not counting this plan's own.
    pub actions_last_hour: BTreeMap<String, u32>,
    /// Pods the incident's other plans touched.
    pub incident_pods: u64,
    /// Failed verifications in a row, per namespace.
    pub streaks: BTreeMap<String, FailureStreak>,
}

/// Everything the rules judge a plan on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Per step, in the plan's order.
    pub steps: Vec<StepFacts>,
    /// Who approved the plan, when someone did.
    pub approved_by: Option<String>,
    /// Now, in the clock medic runs on.
    pub now: Timestamp,
    pub history: History,
}

impl Facts {
    /// Reads the objects the plan's steps touch. A drain leaves the pods of `protected` namespaces in
    /// place, so they are not among the pods it touches.
    pub async fn gather(reader: &dyn ClusterRead, plan: &Plan, protected: &[String]) -> Result<Self> {
        let mut steps = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            steps.push(step_facts(reader, step, protected).await?);
        }
        Ok(Self { steps, ..Self::default() })
    }

    /// Adds the history the store keeps for the namespaces the plan changes.
    pub async fn with_history(mut self, store: &Store, plan: &Plan) -> Result<Self> {
        let since = self.now - RATE_WINDOW;
        for ns in self.namespaces(plan) {
            let actions = store.ledger_actions_since(&ns, since, Some(plan.id)).await?;
            let streak = store.ledger_failure_streak(&ns).await?;
            self.history.actions_last_hour.insert(ns.clone(), actions);
            self.history.streaks.insert(ns, streak);
        }
        self.history.incident_pods = store.ledger_incident_pods(plan.incident, Some(plan.id)).await?;
        Ok(self)
    }

    /// The namespaces step `i` changes: its own, and those of the pods it moves (a drain's).
    pub fn step_namespaces<'a>(&'a self, plan: &'a Plan, i: usize) -> BTreeSet<&'a str> {
        let mut namespaces: BTreeSet<&str> = plan.steps.get(i).and_then(ActionSpec::namespace).into_iter().collect();
        if let Some(step) = self.steps.get(i) {
            namespaces.extend(step.pods.iter().filter(|(_, n)| **n > 0).map(|(ns, _)| ns.as_str()));
        }
        namespaces
    }

    /// Every namespace the plan changes, and its target's.
    pub fn namespaces(&self, plan: &Plan) -> BTreeSet<String> {
        let mut namespaces: BTreeSet<String> = plan.target.namespace.iter().cloned().collect();
        for i in 0..plan.steps.len() {
            namespaces.extend(self.step_namespaces(plan, i).into_iter().map(str::to_string));
        }
        namespaces
    }
}

/// Pods that stay when their node is drained: DaemonSet and mirror pods, and pods already leaving.
fn stays_on_drain(pod: &medic_core::context::PodSnapshot) -> bool {
    pod.deleting || pod.owner.as_ref().is_some_and(|o| matches!(o.kind, ObjectKind::DaemonSet | ObjectKind::Node))
}

fn pod(facts: &mut StepFacts, namespace: &str, name: &str, labels: Labels, effect: Effect) {
    facts.touched.push(Touched::new(ObjectRef::pod(namespace, name), labels, effect));
    *facts.pods.entry(namespace.to_string()).or_default() += 1;
}

async fn step_facts(reader: &dyn ClusterRead, step: &ActionSpec, protected: &[String]) -> Result<StepFacts> {
    let mut facts = StepFacts::default();
    match step {
        ActionSpec::DeletePod { namespace, pod: name } => {
            if let Some(p) = reader.pod(namespace, name).await?
                && !p.deleting
            {
                pod(&mut facts, namespace, name, p.labels, Effect::Delete);
            }
        }
        ActionSpec::RolloutRestart { namespace, deployment }
        | ActionSpec::PatchResources { namespace, deployment, .. }
        | ActionSpec::RollbackDeployment { namespace, deployment, .. } => {
            // A new pod template replaces every replica.
            if let Some(w) = reader.deployment(namespace, deployment).await? {
                facts.pods.insert(namespace.clone(), w.replicas_desired.max(0) as u32);
                facts.touched.push(Touched::new(w.workload.clone(), w.labels, Effect::Write));
            }
        }
        ActionSpec::Scale { namespace, deployment, replicas } => {
            if let Some(w) = reader.deployment(namespace, deployment).await? {
                facts.pods.insert(namespace.clone(), replicas.abs_diff(w.replicas_desired));
                facts.touched.push(Touched::new(w.workload.clone(), w.labels, Effect::Write));
            }
        }
        ActionSpec::Cordon { node, .. } | ActionSpec::Drain { node } => {
            if let Some(n) = reader.nodes().await?.into_iter().find(|n| &n.name == node) {
                facts.touched.push(Touched::new(ObjectRef::node(node), n.labels, Effect::Write));
            }
            if matches!(step, ActionSpec::Drain { .. }) {
                for p in reader.pods_on_node(node).await? {
                    if !stays_on_drain(&p) && !protected.contains(&p.namespace) {
                        pod(&mut facts, &p.namespace, &p.name, p.labels, Effect::Evict);
                    }
                }
            }
        }
        ActionSpec::Quarantine { namespace, policy, pod_selector } => {
            let policy = ObjectRef::new(ObjectKind::NetworkPolicy, namespace, policy);
            facts.touched.push(Touched::new(policy, Labels::new(), Effect::Write));
            for p in reader.pods(namespace, pod_selector).await? {
                pod(&mut facts, &p.namespace, &p.name, p.labels, Effect::Isolate);
            }
        }
        ActionSpec::Unquarantine { namespace, policy } => {
            let object = ObjectRef::new(ObjectKind::NetworkPolicy, namespace, policy);
            facts.touched.push(Touched::new(object, Labels::new(), Effect::Delete));
        }
    }
    Ok(facts)
}
