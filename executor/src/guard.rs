//! The guard: medic's red lines and limits, checked before anything is written. Each rule is a component
//! with one name that every refusal carries (the audit record, the report, the message people get):
//!
//! | rule | refuses |
//! |---|---|
//! | `namespace-mode` | any write in an observe-mode namespace; an unapproved plan in a propose-mode one |
//! | `approval-required` | an unapproved plan whose playbook asks for approval or whose risk is high |
//! | `protected-namespace` | writes in kube-system, kube-public, kube-node-lease (configurable) |
//! | `never-delete` | deleting or evicting a Namespace, PersistentVolumeClaim, Node or CRD |
//! | `never-scale-to-zero`, `scale-bounds` | replica counts of 0 or outside the configured bounds |
//! | `ignore-label` | touching an object labelled `medic.io/ignore` |
//! | `blast-radius` | more pods per step, or per incident, than configured |
//! | `rate-limit` | more steps per namespace in an hour than configured |
//! | `circuit-breaker` | acting in a namespace after N failed verifications in a row, until the cool-down |
//!
//! The facts the rules judge on are in [`guard_facts`](crate::guard_facts); the rules themselves in
//! [`guard_rules`](crate::guard_rules) and [`guard_limits`](crate::guard_limits). The policy gate (Kyverno
//! policies over the object as it will be) runs later, on the API server's dry-run answer, in `policy_gate`;
//! the guard looks at that answer too ([`GuardRule::check_written`]).
use medic_core::{ModesConfig, Plan};

use crate::actions::Written;
use crate::config::ExecutorConfig;
pub use crate::guard_facts::{Effect, Facts, History, StepFacts, Touched};
use crate::guard_limits::{BlastRadius, CircuitBreaker, RateLimit};
pub use crate::guard_rules::{
    ApprovalRequired, IgnoreLabel, NamespaceModes, NeverDelete, NeverScaleToZero, ProtectedNamespaces, ScaleBounds,
};

/// Why the guard refused a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: String,
    pub reason: String,
}

/// One red line or limit.
pub trait GuardRule: Send + Sync + std::fmt::Debug {
    /// A stable kebab-case name, shown in refusals and the audit trail.
    fn name(&self) -> &'static str;
    /// Why the plan must not run, if it must not.
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String>;
    /// Why step `step` must not run, judged on what the API server's dry run says it would write.
    fn check_written(&self, _plan: &Plan, _step: usize, _written: &[Written]) -> Option<String> {
        None
    }
}

/// The rules, checked in order; the first refusal wins.
#[derive(Debug, Default)]
pub struct Guard {
    rules: Vec<Box<dyn GuardRule>>,
}

impl Guard {
    /// medic's standard rules from the configuration.
    pub fn from_config(config: &ExecutorConfig, modes: &ModesConfig) -> Self {
        Guard::default()
            .with_rule(NamespaceModes(modes.clone()))
            .with_rule(ApprovalRequired)
            .with_rule(ProtectedNamespaces(config.protected_namespaces.clone()))
            .with_rule(NeverDelete(config.never_delete_kinds.clone()))
            .with_rule(NeverScaleToZero)
            .with_rule(ScaleBounds { min: config.min_replicas, max: config.max_replicas })
            .with_rule(IgnoreLabel(config.ignore_label.clone()))
            .with_rule(BlastRadius {
                per_action: config.max_pods_per_action,
                per_incident: config.max_pods_per_incident,
            })
            .with_rule(RateLimit { per_namespace_per_hour: config.max_actions_per_namespace_per_hour })
            .with_rule(CircuitBreaker {
                failures: config.breaker_failures,
                cooldown: jiff::SignedDuration::from_secs(config.breaker_cooldown_secs.min(i64::MAX as u64) as i64),
            })
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

    pub fn check_written(&self, plan: &Plan, step: usize, written: &[Written]) -> Option<Refusal> {
        self.rules.iter().find_map(|rule| {
            rule.check_written(plan, step, written).map(|reason| Refusal { rule: rule.name().to_string(), reason })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard_rules::tests::plan;
    use medic_core::{ActionSpec, Mode};

    #[test]
    fn the_standard_rules_run_in_order_and_the_first_refusal_wins() {
        let modes = ModesConfig { default: Mode::Observe, ..ModesConfig::default() };
        let guard = Guard::from_config(&ExecutorConfig::default(), &modes);
        assert_eq!(
            guard.rule_names(),
            [
                "namespace-mode",
                "approval-required",
                "protected-namespace",
                "never-delete",
                "never-scale-to-zero",
                "scale-bounds",
                "ignore-label",
                "blast-radius",
                "rate-limit",
                "circuit-breaker"
            ]
        );
        // Scaling to zero in kube-system of an observe-mode cluster: the mode speaks first.
        let p = plan(vec![ActionSpec::Scale { namespace: "kube-system".into(), deployment: "x".into(), replicas: 0 }]);
        let refusal = guard.check(&p, &Facts::default()).unwrap();
        assert_eq!(refusal.rule, "namespace-mode");
        let guard = Guard::from_config(&ExecutorConfig::default(), &ModesConfig::default());
        assert_eq!(guard.check(&p, &Facts::default()).unwrap().rule, "protected-namespace");
    }
}
