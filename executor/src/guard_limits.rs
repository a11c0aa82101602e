//! The limits: rules that refuse a plan for how much it does, alone or on top of what medic already did
//! (the history the store keeps, so a restart resets none of them).
use jiff::SignedDuration;
use medic_core::Plan;

use crate::guard::GuardRule;
use crate::guard_facts::{Facts, RATE_WINDOW};

/// Pods touched (deleted, evicted, replaced by a rollout, created or removed by a scale, isolated): at most
/// `per_action` by one step, at most `per_incident` by all the plans of an incident together.
#[derive(Debug, Clone, Copy)]
pub struct BlastRadius {
    pub per_action: u32,
    pub per_incident: u32,
}

impl GuardRule for BlastRadius {
    fn name(&self) -> &'static str {
        "blast-radius"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        let mut total = 0u64;
        for (step, step_facts) in plan.steps.iter().zip(&facts.steps) {
            let pods = step_facts.pods_total();
            if pods > u64::from(self.per_action) {
                return Some(format!("{step} touches {pods} pods; at most {} per action", self.per_action));
            }
            total += pods;
        }
        let before = facts.history.incident_pods;
        (before + total > u64::from(self.per_incident)).then(|| {
            format!(
                "the incident would touch {} pods ({before} before this plan, {total} by it); at most {} per incident",
                before + total,
                self.per_incident
            )
        })
    }
}

/// At most `per_namespace_per_hour` steps started in a namespace in any hour, this plan's included.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_namespace_per_hour: u32,
}

impl GuardRule for RateLimit {
    fn name(&self) -> &'static str {
        "rate-limit"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        let mut planned = std::collections::BTreeMap::<&str, u32>::new();
        for i in 0..plan.steps.len() {
            for ns in facts.step_namespaces(plan, i) {
                *planned.entry(ns).or_default() += 1;
            }
        }
        planned.into_iter().find_map(|(ns, steps)| {
            let before = facts.history.actions_last_hour.get(ns).copied().unwrap_or(0);
            (before + steps > self.per_namespace_per_hour).then(|| {
                format!(
                    "namespace {ns} already had {before} action(s) in the last {} min and this plan adds {steps}; at \
                     most {} per hour",
                    RATE_WINDOW.as_mins(),
                    self.per_namespace_per_hour
                )
            })
        })
    }
}

/// After `failures` failed verifications in a row in a namespace, medic stops acting there. The breaker
/// stays open for `cooldown` after the last failure; then it is half-open: plans run again, and the next
/// verification closes it (verified) or opens it for another cool-down (failed). The store keeps the
/// verifications, so a restart does not close it.
#[derive(Debug, Clone, Copy)]
pub struct CircuitBreaker {
    pub failures: u32,
    pub cooldown: SignedDuration,
}

impl GuardRule for CircuitBreaker {
    fn name(&self) -> &'static str {
        "circuit-breaker"
    }
    fn check(&self, plan: &Plan, facts: &Facts) -> Option<String> {
        facts.namespaces(plan).into_iter().find_map(|ns| {
            let streak = facts.history.streaks.get(&ns)?;
            if streak.failures < self.failures {
                return None;
            }
            let last = streak.last_failure_at?;
            let since = facts.now.duration_since(last);
            (since < self.cooldown).then(|| {
                let reopens = self.cooldown - since;
                format!(
                    "the circuit breaker of namespace {ns} is open: {} failed verifications in a row, the last {}s ago; \
                     medic tries again in {}s",
                    streak.failures,
                    since.as_secs().max(0),
                    reopens.as_secs().max(1)
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard_facts::{Effect, History, StepFacts, Touched};
    use crate::guard_rules::tests::{plan, scale};
    use jiff::Timestamp;
    use medic_core::{ActionSpec, ObjectRef};
    use medic_store::FailureStreak;
    use std::collections::BTreeMap;

    fn step(pods: &[(&str, u32)]) -> StepFacts {
        StepFacts {
            touched: vec![Touched::new(ObjectRef::deployment("shop", "cart"), Default::default(), Effect::Write)],
            pods: pods.iter().map(|(ns, n)| (ns.to_string(), *n)).collect(),
        }
    }

    fn facts(steps: Vec<StepFacts>, history: History) -> Facts {
        Facts { steps, history, now: "2026-11-22T14:00:00Z".parse().unwrap(), ..Facts::default() }
    }

    fn check(rule: &dyn GuardRule, plan: &Plan, facts: &Facts, expected: Option<&str>) {
        match (rule.check(plan, facts), expected) {
            (None, None) => {}
            (Some(reason), Some(part)) => assert!(reason.contains(part), "{}: {reason}", rule.name()),
            (got, want) => panic!("{}: got {got:?}, want {want:?}", rule.name()),
        }
    }

    #[test]
    fn blast_radius() {
        let rule = BlastRadius { per_action: 10, per_incident: 15 };
        let two = plan(vec![scale("shop", 3), scale("shop", 4)]);
        let drain = plan(vec![ActionSpec::Drain { node: "n1".into() }]);
        let earlier = |pods: u64| History { incident_pods: pods, ..History::default() };
        // (plan, per-step pods, pods the incident touched before, expected)
        let cases: Vec<(&Plan, Vec<StepFacts>, u64, Option<&str>)> = vec![
            (&two, vec![step(&[("shop", 4)]), step(&[("shop", 6)])], 0, None),
            (
                &two,
                vec![step(&[("shop", 4)]), step(&[("shop", 11)])],
                0,
                Some("scale deployment shop/cart to 4 touches 11 pods; at most 10 per action"),
            ),
            (&drain, vec![step(&[("shop", 6), ("payments", 5)])], 0, Some("drain node n1 touches 11 pods")),
            (&drain, vec![step(&[("shop", 6), ("payments", 4)])], 0, None),
            (&two, vec![step(&[("shop", 4)]), step(&[("shop", 6)])], 5, None),
            (
                &two,
                vec![step(&[("shop", 4)]), step(&[("shop", 6)])],
                6,
                Some("the incident would touch 16 pods (6 before this plan, 10 by it); at most 15"),
            ),
        ];
        for (p, steps, before, expected) in cases {
            check(&rule, p, &facts(steps, earlier(before)), expected);
        }
    }

    #[test]
    fn rate_limit() {
        let rule = RateLimit { per_namespace_per_hour: 3 };
        let one = plan(vec![scale("shop", 3)]);
        let two = plan(vec![scale("shop", 3), scale("shop", 4)]);
        let mut drain = plan(vec![ActionSpec::Drain { node: "n1".into() }]);
        drain.target = ObjectRef::node("n1");
        let done = |pairs: &[(&str, u32)]| History {
            actions_last_hour: pairs.iter().map(|(ns, n)| (ns.to_string(), *n)).collect(),
            ..History::default()
        };
        let cases: Vec<(&Plan, Vec<StepFacts>, History, Option<&str>)> = vec![
            (&one, vec![step(&[("shop", 2)])], done(&[]), None),
            (&one, vec![step(&[("shop", 2)])], done(&[("shop", 2)]), None),
            (
                &one,
                vec![step(&[("shop", 2)])],
                done(&[("shop", 3)]),
                Some(
                    "namespace shop already had 3 action(s) in the last 60 min and this plan adds 1; at most 3 per hour",
                ),
            ),
            (&two, vec![step(&[]), step(&[])], done(&[("shop", 2)]), Some("this plan adds 2")),
            (&one, vec![step(&[("shop", 2)])], done(&[("payments", 9)]), None),
            // A drain counts in every namespace whose pods it moves.
            (&drain, vec![step(&[("shop", 1), ("payments", 2)])], done(&[("payments", 3)]), Some("namespace payments")),
            (&drain, vec![step(&[])], done(&[("payments", 3)]), None),
        ];
        for (p, steps, history, expected) in cases {
            check(&rule, p, &facts(steps, history), expected);
        }
    }

    #[test]
    fn circuit_breaker_opens_after_n_failures_and_half_opens_after_the_cool_down() {
        let rule = CircuitBreaker { failures: 3, cooldown: SignedDuration::from_mins(30) };
        let p = plan(vec![scale("shop", 3)]);
        let now: Timestamp = "2026-11-22T14:00:00Z".parse().unwrap();
        let streak = |failures: u32, minutes_ago: i64| History {
            streaks: BTreeMap::from([(
                "shop".to_string(),
                FailureStreak { failures, last_failure_at: Some(now - SignedDuration::from_mins(minutes_ago)) },
            )]),
            ..History::default()
        };
        let cases = [
            (History::default(), None),
            (streak(2, 1), None),
            (
                streak(3, 1),
                Some(
                    "the circuit breaker of namespace shop is open: 3 failed verifications in a row, the last 60s ago; medic tries again in 1740s",
                ),
            ),
            (streak(5, 29), Some("is open")),
            (streak(3, 30), None),
            (streak(7, 45), None),
        ];
        for (history, expected) in cases {
            check(&rule, &p, &facts(vec![step(&[("shop", 1)])], history), expected);
        }
    }
}
