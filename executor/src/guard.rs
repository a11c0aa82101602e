//! The guard: medic's red lines, checked before anything is written. Each rule is a component with one
//! refusal reason; the policy gate (Kyverno policies over the object as it will be) runs later, on the
//! API server's dry-run answer, in `policy_gate`.
use medic_core::ports::{ClusterRead, Labels};
use medic_core::{ActionSpec, ObjectKind, ObjectRef, Plan};
use std::collections::BTreeMap;

use crate::config::ExecutorConfig;
use crate::error::Result;

/// What the rules need to know about the objects a plan touches, read through `ClusterRead`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Per step: the objects it writes or removes (for a drain, the node and the pods it would evict;
    /// for a quarantine, the pods it would isolate), with their labels.
    pub touched: BTreeMap<usize, Vec<(ObjectRef, Labels)>>,
}

impl Facts {
    pub async fn gather(reader: &dyn ClusterRead, plan: &Plan) -> Result<Self> {
        let mut touched = BTreeMap::new();
        for (i, step) in plan.steps.iter().enumerate() {
            let mut objects = Vec::new();
            match step {
                ActionSpec::DeletePod { namespace, pod } => {
                    if let Some(p) = reader.pod(namespace, pod).await? {
                        objects.push((ObjectRef::pod(namespace, pod), p.labels));
                    }
                }
                ActionSpec::RolloutRestart { namespace, deployment }
                | ActionSpec::Scale { namespace, deployment, .. }
                | ActionSpec::PatchResources { namespace, deployment, .. }
                | ActionSpec::RollbackDeployment { namespace, deployment, .. } => {
                    if let Some(w) = reader.deployment(namespace, deployment).await? {
                        objects.push((w.workload.clone(), w.labels));
                    }
                }
                ActionSpec::Cordon { node, .. } | ActionSpec::Drain { node } => {
                    if let Some(n) = reader.nodes().await?.into_iter().find(|n| &n.name == node) {
                        objects.push((ObjectRef::node(node), n.labels));
                    }
                    if matches!(step, ActionSpec::Drain { .. }) {
                        // The pods a drain evicts: not DaemonSet or mirror pods, not those already leaving.
                        for p in reader.pods_on_node(node).await? {
                            let stays = p
                                .owner
                                .as_ref()
                                .is_some_and(|o| matches!(o.kind, ObjectKind::DaemonSet | ObjectKind::Node));
                            if !stays && !p.deleting {
                                objects.push((ObjectRef::pod(&p.namespace, &p.name), p.labels));
                            }
                        }
                    }
                }
                ActionSpec::Quarantine { namespace, pod_selector, .. } => {
                    for p in reader.pods(namespace, pod_selector).await? {
                        objects.push((ObjectRef::pod(&p.namespace, &p.name), p.labels));
                    }
                }
                ActionSpec::Unquarantine { .. } => {}
            }
            touched.insert(i, objects);
        }
        Ok(Self { touched })
    }
}

/// Why the guard refused a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: String,
    pub reason: String,
}

/// One red line.
pub trait GuardRule: Send + Sync + std::fmt::Debug {
    /// A stable kebab-case name, shown in refusals and the audit trail.
    fn name(&self) -> &'static str;
    /// Why the plan must not run, if it must not.
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String>;
}

/// Never write in these namespaces (a drain skips their pods).
#[derive(Debug, Clone)]
pub struct ProtectedNamespaces(pub Vec<String>);

impl GuardRule for ProtectedNamespaces {
    fn name(&self) -> &'static str {
        "protected-namespace"
    }
    fn check(&self, plan: &Plan, _: &Facts) -> Option<String> {
        plan.steps.iter().find_map(|step| {
            let ns = step.namespace()?;
            self.0.iter().any(|p| p == ns).then(|| format!("{step}: medic never writes in namespace {ns}"))
        })
    }
}

/// Never scale a workload to zero.
#[derive(Debug, Clone, Copy)]
pub struct NeverScaleToZero;

impl GuardRule for NeverScaleToZero {
    fn name(&self) -> &'static str {
        "never-scale-to-zero"
    }
    fn check(&self, plan: &Plan, _: &Facts) -> Option<String> {
        plan.steps.iter().find_map(|step| match step {
            ActionSpec::Scale { replicas, .. } if *replicas <= 0 => {
                Some(format!("{step}: scaling to zero would take the workload down"))
            }
            _ => None,
        })
    }
}

/// Keep replica counts within the configured bounds.
#[derive(Debug, Clone, Copy)]
pub struct ScaleBounds {
    pub min: i32,
    pub max: i32,
}

impl GuardRule for ScaleBounds {
    fn name(&self) -> &'static str {
        "scale-bounds"
    }
    fn check(&self, plan: &Plan, _: &Facts) -> Option<String> {
        plan.steps.iter().find_map(|step| match step {
            ActionSpec::Scale { replicas, .. } if *replicas < self.min || *replicas > self.max => {
                Some(format!("{step}: {replicas} replicas is outside the allowed {}..={}", self.min, self.max))
            }
            _ => None,
        })
    }
}

/// Leave alone every object that carries the ignore label.
#[derive(Debug, Clone)]
pub struct IgnoreLabel(pub String);

impl GuardRule for IgnoreLabel {
    fn name(&self) -> &'static str {
        "ignore-label"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        plan.steps.iter().enumerate().find_map(|(i, step)| {
            let (object, _) = facts.touched.get(&i)?.iter().find(|(_, labels)| labels.contains_key(&self.0))?;
            Some(format!("{step}: {object} is labelled {} and medic leaves it alone", self.0))
        })
    }
}

/// The red lines, checked in order; the first refusal wins.
#[derive(Debug, Default)]
pub struct Guard {
    rules: Vec<Box<dyn GuardRule>>,
}

impl Guard {
    /// medic's standard rules from the configuration.
    pub fn from_config(config: &ExecutorConfig) -> Self {
        Guard::default()
            .with_rule(ProtectedNamespaces(config.protected_namespaces.clone()))
            .with_rule(NeverScaleToZero)
            .with_rule(ScaleBounds { min: config.min_replicas, max: config.max_replicas })
            .with_rule(IgnoreLabel(config.ignore_label.clone()))
    }

    pub fn with_rule(mut self, rule: impl GuardRule + 'static) -> Self {
        self.rules.push(Box::new(rule));
        self
    }

    pub fn rule_names(&self) -> Vec<&'static str> {
        self.rules.iter().map(|r| r.name()).collect()
    }

    pub fn check(&self, plan: &Plan, facts: &Facts) -> Option<Refusal> {
        self.rules
            .iter()
            .find_map(|rule| rule.check(plan, facts).map(|reason| Refusal { rule: rule.name().to_string(), reason }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::{IncidentUid, PlanId, Risk, RootCauseClass, VerifySpec};

    fn plan(steps: Vec<ActionSpec>) -> Plan {
        Plan {
            id: PlanId::new(),
            incident: IncidentUid::new(),
            class: RootCauseClass::CpuSaturation,
            target: ObjectRef::deployment("shop", "cart"),
            playbook: "p".into(),
            playbook_version: "1.0.0".into(),
            steps,
            verify: VerifySpec { checks: Vec::new(), timeout_secs: 60, stable_secs: 0 },
            rollback_on_failure: true,
            risk: Risk::Low,
            requires_approval: false,
            rationale: String::new(),
        }
    }

    fn scale(ns: &str, replicas: i32) -> ActionSpec {
        ActionSpec::Scale { namespace: ns.into(), deployment: "cart".into(), replicas }
    }

    #[test]
    fn each_rule_refuses_with_its_own_reason() {
        let guard = Guard::from_config(&ExecutorConfig { max_replicas: 10, ..Default::default() });
        let ignored = Facts {
            touched: BTreeMap::from([(
                0,
                vec![(
                    ObjectRef::deployment("shop", "cart"),
                    Labels::from([("medic.io/ignore".into(), "true".into())]),
                )],
            )]),
        };
        // (steps, facts, expected (rule, part of the reason))
        type Case = (Vec<ActionSpec>, Facts, Option<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (vec![scale("shop", 3)], Facts::default(), None),
            (
                vec![scale("kube-system", 3)],
                Facts::default(),
                Some(("protected-namespace", "never writes in namespace kube-system")),
            ),
            (
                vec![ActionSpec::DeletePod { namespace: "kube-node-lease".into(), pod: "x".into() }],
                Facts::default(),
                Some(("protected-namespace", "kube-node-lease")),
            ),
            (vec![scale("shop", 0)], Facts::default(), Some(("never-scale-to-zero", "scaling to zero"))),
            (
                vec![scale("shop", 11)],
                Facts::default(),
                Some(("scale-bounds", "11 replicas is outside the allowed 1..=10")),
            ),
            (
                vec![scale("shop", 3)],
                ignored,
                Some(("ignore-label", "Deployment/shop/cart is labelled medic.io/ignore")),
            ),
            (vec![ActionSpec::Cordon { node: "n1".into(), unschedulable: true }], Facts::default(), None),
        ];
        for (steps, facts, expected) in cases {
            let refusal = guard.check(&plan(steps.clone()), &facts);
            match (refusal, expected) {
                (None, None) => {}
                (Some(r), Some((rule, reason))) => {
                    assert_eq!(r.rule, rule, "{steps:?}");
                    assert!(r.reason.contains(reason), "{steps:?}: {}", r.reason);
                }
                (got, want) => panic!("{steps:?}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(guard.rule_names(), ["protected-namespace", "never-scale-to-zero", "scale-bounds", "ignore-label"]);
    }
}
