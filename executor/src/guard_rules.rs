//! The red lines: rules that refuse a plan for what it is or what it touches, whatever happened before.
use medic_core::{ActionSpec, Mode, ModesConfig, Plan, Risk};

use crate::actions::Written;
use crate::guard::GuardRule;
use crate::guard_facts::Facts;

/// The namespace's mode (the strictest among the namespaces a plan changes, a node plan's being those of
/// the pods it moves): nothing is written in observe mode, and only approved plans in propose mode.
#[derive(Debug, Clone)]
pub struct NamespaceModes(pub ModesConfig);

impl GuardRule for NamespaceModes {
    fn name(&self) -> &'static str {
        "namespace-mode"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        let namespaces = facts.namespaces(plan);
        let (mode, by) = self.0.strictest(namespaces.iter().map(String::as_str));
        let whose = by.map_or_else(|| "the default mode".to_string(), |ns| format!("namespace {ns}"));
        match mode {
            Mode::Observe => {
                Some(format!("{whose} is in observe mode: medic diagnoses and reports, it writes nothing"))
            }
            Mode::Propose if facts.approved_by.is_none() => {
                Some(format!("{whose} is in propose mode: plan {} waits for a human's approval", plan.id))
            }
            _ => None,
        }
    }
}

/// A plan whose playbook asks for approval, or whose risk is high, runs only once a human approved it.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalRequired;

impl GuardRule for ApprovalRequired {
    fn name(&self) -> &'static str {
        "approval-required"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        if facts.approved_by.is_some() {
            return None;
        }
        if plan.risk == Risk::High {
            return Some(format!("playbook {} is high-risk: it always needs a human approval first", plan.playbook));
        }
        plan.requires_approval
            .then(|| format!("playbook {} (risk {:?}) needs a human approval first", plan.playbook, plan.risk))
    }
}

/// Never write in these namespaces (a drain leaves their pods where they are).
#[derive(Debug, Clone)]
pub struct ProtectedNamespaces(pub Vec<String>);

impl GuardRule for ProtectedNamespaces {
    fn name(&self) -> &'static str {
        "protected-namespace"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        plan.steps.iter().enumerate().find_map(|(i, step)| {
            let touched = facts.steps.get(i).into_iter().flat_map(|s| &s.touched);
            step.namespace()
                .into_iter()
                .chain(touched.filter_map(|t| t.object.namespace.as_deref()))
                .find(|ns| self.0.iter().any(|p| p == ns))
                .map(|ns| format!("{step}: medic never writes in namespace {ns}"))
        })
    }
}

/// Never delete or evict objects of these kinds: judged on what each step declares it touches, and again
/// on what the API server's dry run says it would delete.
#[derive(Debug, Clone)]
pub struct NeverDelete(pub Vec<String>);

impl NeverDelete {
    fn protects(&self, kind: &str) -> bool {
        self.0.iter().any(|k| k.eq_ignore_ascii_case(kind))
    }
}

impl GuardRule for NeverDelete {
    fn name(&self) -> &'static str {
        "never-delete"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        plan.steps.iter().zip(&facts.steps).find_map(|(step, step_facts)| {
            let t = step_facts.touched.iter().find(|t| t.effect.removes() && self.protects(t.object.kind.as_str()))?;
            Some(format!("{step}: it would remove {}; medic never deletes a {}", t.object, t.object.kind))
        })
    }
    fn check_written(&self, plan: &Plan, step: usize, written: &[Written]) -> Option<String> {
        written.iter().filter(|w| w.operation == "DELETE").find_map(|w| {
            let kind = w.object.get("kind").and_then(|k| k.as_str())?;
            let name = w.object.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("?");
            self.protects(kind).then(|| {
                let what = plan.steps.get(step).map(ToString::to_string).unwrap_or_default();
                format!("{what}: the API server says it would delete {kind} {name}; medic never deletes a {kind}")
            })
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
        plan.steps.iter().zip(&facts.steps).find_map(|(step, step_facts)| {
            let t = step_facts.touched.iter().find(|t| t.labels.contains_key(&self.0))?;
            Some(format!("{step}: {} is labelled {} and medic leaves it alone", t.object, self.0))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::guard::Guard;
    use crate::guard_facts::{Effect, StepFacts, Touched};
    use medic_core::ports::Labels;
    use medic_core::{IncidentUid, ObjectKind, ObjectRef, PlanId, RootCauseClass, VerifySpec};
    use serde_json::json;
    use std::collections::BTreeMap;

    pub(crate) fn plan(steps: Vec<ActionSpec>) -> Plan {
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

    pub(crate) fn scale(ns: &str, replicas: i32) -> ActionSpec {
        ActionSpec::Scale { namespace: ns.into(), deployment: "cart".into(), replicas }
    }

    fn drain() -> ActionSpec {
        ActionSpec::Drain { node: "n1".into() }
    }

    /// An object a test step touches: the object, its labels, the effect.
    type Touch<'a> = (ObjectRef, &'a [(&'a str, &'a str)], Effect);

    /// Facts where step 0 touches `touched` (pods counted per namespace).
    fn touching(touched: Vec<Touch<'_>>) -> Facts {
        let mut step = StepFacts::default();
        for (object, labels, effect) in touched {
            if object.kind == ObjectKind::Pod {
                *step.pods.entry(object.namespace.clone().unwrap_or_default()).or_default() += 1;
            }
            let labels: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            step.touched.push(Touched::new(object, labels, effect));
        }
        Facts { steps: vec![step], ..Facts::default() }
    }

    fn approved(mut facts: Facts) -> Facts {
        facts.approved_by = Some("api:alice".into());
        facts
    }

    /// One rule, many plans: (what, plan, facts, expected part of the reason or None).
    fn check_table(rule: &dyn GuardRule, cases: Vec<(&str, Plan, Facts, Option<&str>)>) {
        for (what, plan, facts, expected) in cases {
            match (rule.check(&plan, &facts), expected) {
                (None, None) => {}
                (Some(reason), Some(part)) => assert!(reason.contains(part), "{}: {what}: {reason}", rule.name()),
                (got, want) => panic!("{}: {what}: got {got:?}, want {want:?}", rule.name()),
            }
        }
    }

    #[test]
    fn namespace_modes() {
        let modes = ModesConfig {
            default: Mode::Act,
            namespaces: BTreeMap::from([("payments".into(), Mode::Propose), ("ledger".into(), Mode::Observe)]),
        };
        let rule = NamespaceModes(modes);
        let evicts = |ns: &str| touching(vec![(ObjectRef::pod(ns, "p"), &[], Effect::Evict)]);
        let mut node_plan = plan(vec![drain()]);
        node_plan.target = ObjectRef::node("n1");
        check_table(
            &rule,
            vec![
                ("act", plan(vec![scale("shop", 3)]), Facts::default(), None),
                (
                    "propose, unapproved",
                    plan(vec![scale("payments", 3)]),
                    Facts::default(),
                    Some("namespace payments is in propose mode"),
                ),
                ("propose, approved", plan(vec![scale("payments", 3)]), approved(Facts::default()), None),
                (
                    "observe",
                    plan(vec![scale("ledger", 3)]),
                    Facts::default(),
                    Some("namespace ledger is in observe mode"),
                ),
                ("observe, approved", plan(vec![scale("ledger", 3)]), approved(Facts::default()), Some("observe mode")),
                ("drain moving only act pods", node_plan.clone(), evicts("shop"), None),
                ("drain moving a propose pod", node_plan.clone(), evicts("payments"), Some("payments is in propose")),
                ("drain moving an observe pod", node_plan.clone(), evicts("ledger"), Some("ledger is in observe")),
                ("drain moving no pod", node_plan, Facts::default(), None),
            ],
        );
        let observe_all = NamespaceModes(ModesConfig { default: Mode::Observe, ..ModesConfig::default() });
        let mut cordon = plan(vec![ActionSpec::Cordon { node: "n1".into(), unschedulable: true }]);
        cordon.target = ObjectRef::node("n1");
        check_table(
            &observe_all,
            vec![(
                "a node plan under an observe default",
                cordon,
                Facts::default(),
                Some("the default mode is in observe mode"),
            )],
        );
    }

    #[test]
    fn approval_required() {
        let mut needs = plan(vec![scale("shop", 3)]);
        needs.requires_approval = true;
        let mut high = plan(vec![scale("shop", 3)]);
        high.risk = Risk::High;
        check_table(
            &ApprovalRequired,
            vec![
                ("no approval needed", plan(vec![scale("shop", 3)]), Facts::default(), None),
                ("playbook asks", needs.clone(), Facts::default(), Some("needs a human approval first")),
                ("playbook asks, approved", needs, approved(Facts::default()), None),
                ("high risk, whatever the playbook says", high.clone(), Facts::default(), Some("is high-risk")),
                ("high risk, approved", high, approved(Facts::default()), None),
            ],
        );
    }

    #[test]
    fn protected_namespaces() {
        let rule = ProtectedNamespaces(vec!["kube-system".into(), "kube-public".into(), "kube-node-lease".into()]);
        check_table(
            &rule,
            vec![
                ("shop", plan(vec![scale("shop", 3)]), Facts::default(), None),
                (
                    "kube-system",
                    plan(vec![scale("kube-system", 3)]),
                    Facts::default(),
                    Some("never writes in namespace kube-system"),
                ),
                (
                    "kube-node-lease",
                    plan(vec![ActionSpec::DeletePod { namespace: "kube-node-lease".into(), pod: "x".into() }]),
                    Facts::default(),
                    Some("kube-node-lease"),
                ),
                (
                    "kube-public",
                    plan(vec![ActionSpec::Unquarantine { namespace: "kube-public".into(), policy: "q".into() }]),
                    Facts::default(),
                    Some("kube-public"),
                ),
                (
                    "a node step touching a protected pod",
                    plan(vec![drain()]),
                    touching(vec![(ObjectRef::pod("kube-system", "dns"), &[], Effect::Evict)]),
                    Some("kube-system"),
                ),
            ],
        );
    }

    #[test]
    fn never_delete() {
        let rule = NeverDelete(ExecutorConfigKinds::default().0);
        let removes = |kind: ObjectKind, effect: Effect| {
            let object = if kind.is_cluster_scoped() {
                ObjectRef { kind, namespace: None, name: "x".into() }
            } else {
                ObjectRef::new(kind, "shop", "x")
            };
            touching(vec![(object, &[], effect)])
        };
        check_table(
            &rule,
            vec![
                ("deleting a pod", plan(vec![drain()]), removes(ObjectKind::Pod, Effect::Delete), None),
                ("writing a node", plan(vec![drain()]), removes(ObjectKind::Node, Effect::Write), None),
                (
                    "deleting a node",
                    plan(vec![drain()]),
                    removes(ObjectKind::Node, Effect::Delete),
                    Some("never deletes a Node"),
                ),
                (
                    "deleting a namespace",
                    plan(vec![drain()]),
                    removes(ObjectKind::Namespace, Effect::Delete),
                    Some("never deletes a Namespace"),
                ),
                (
                    "evicting a node",
                    plan(vec![drain()]),
                    removes(ObjectKind::Node, Effect::Evict),
                    Some("would remove Node/x"),
                ),
            ],
        );
        // What the dry run says it would delete (kinds the plan's vocabulary cannot even name).
        let p = plan(vec![ActionSpec::Unquarantine { namespace: "shop".into(), policy: "q".into() }]);
        let cases = [
            (Written::delete(json!({"kind": "NetworkPolicy", "metadata": {"name": "q"}})), None),
            (
                Written::delete(json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "data"}})),
                Some("PersistentVolumeClaim data"),
            ),
            (
                Written::delete(json!({"kind": "CustomResourceDefinition", "metadata": {"name": "x.io"}})),
                Some("never deletes a CustomResourceDefinition"),
            ),
            (Written::delete(json!({"kind": "Namespace", "metadata": {"name": "shop"}})), Some("Namespace shop")),
            (Written::update(json!({}), json!({"kind": "Namespace", "metadata": {"name": "shop"}})), None),
        ];
        for (written, expected) in cases {
            let got = rule.check_written(&p, 0, std::slice::from_ref(&written));
            match (got, expected) {
                (None, None) => {}
                (Some(reason), Some(part)) => assert!(reason.contains(part), "{reason}"),
                (got, want) => panic!("{written:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// The default kinds, as the executor's configuration has them.
    struct ExecutorConfigKinds(Vec<String>);
    impl Default for ExecutorConfigKinds {
        fn default() -> Self {
            Self(crate::config::ExecutorConfig::default().never_delete_kinds)
        }
    }

    #[test]
    fn replica_counts() {
        check_table(
            &NeverScaleToZero,
            vec![
                ("3", plan(vec![scale("shop", 3)]), Facts::default(), None),
                ("0", plan(vec![scale("shop", 0)]), Facts::default(), Some("scaling to zero")),
                ("-1", plan(vec![scale("shop", -1)]), Facts::default(), Some("scaling to zero")),
            ],
        );
        check_table(
            &ScaleBounds { min: 1, max: 10 },
            vec![
                ("10", plan(vec![scale("shop", 10)]), Facts::default(), None),
                (
                    "11",
                    plan(vec![scale("shop", 11)]),
                    Facts::default(),
                    Some("11 replicas is outside the allowed 1..=10"),
                ),
            ],
        );
    }

    #[test]
    fn ignore_label() {
        let rule = IgnoreLabel("medic.io/ignore".into());
        let labelled = [("medic.io/ignore", "true")];
        check_table(
            &rule,
            vec![
                (
                    "unlabelled",
                    plan(vec![scale("shop", 3)]),
                    touching(vec![(ObjectRef::deployment("shop", "cart"), &[("app", "cart")], Effect::Write)]),
                    None,
                ),
                (
                    "the deployment",
                    plan(vec![scale("shop", 3)]),
                    touching(vec![(ObjectRef::deployment("shop", "cart"), &labelled, Effect::Write)]),
                    Some("Deployment/shop/cart is labelled medic.io/ignore"),
                ),
                (
                    "a pod a drain would evict",
                    plan(vec![drain()]),
                    touching(vec![
                        (ObjectRef::pod("shop", "a"), &[], Effect::Evict),
                        (ObjectRef::pod("shop", "b"), &[("medic.io/ignore", "")], Effect::Evict),
                    ]),
                    Some("Pod/shop/b is labelled"),
                ),
            ],
        );
    }

    #[test]
    fn a_refusal_names_its_rule() {
        let guard = Guard::default().with_rule(NeverScaleToZero).with_rule(IgnoreLabel("medic.io/ignore".into()));
        let refusal = guard.check(&plan(vec![scale("shop", 0)]), &Facts::default()).unwrap();
        assert_eq!(refusal.rule, "never-scale-to-zero");
        assert!(guard.check(&plan(vec![scale("shop", 2)]), &Facts::default()).is_none());
    }
}
