//! Adjudication by a model: when the rules' hypotheses are close (the decision escalates although
//! something was found), the Director may ask a model for a second opinion. Its answer comes back as one
//! more finding — hypotheses checked against the context, the taxonomy and the catalog before they get
//! here — and `decide` runs again over all the findings: the model can add a hypothesis or back one (which
//! re-ranks them), but the thresholds, the guard and everything after stay the same. Without a model, or
//! when it does not answer in time, the first decision stands.
use futures::future::BoxFuture;
use medic_agents::llm::{Known, Reasoner, Task};
use medic_core::decision::{Decision, DecisionRecord};
use medic_core::{FindingReport, IncidentContext, RootCauseClass};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The name the adjudication's finding carries (its hypotheses carry the model's name).
pub const ADJUDICATOR: &str = "adjudicator";

/// A second opinion on close hypotheses, and what it learns from how the chosen fix went.
pub trait Adjudicator: Send + Sync {
    /// One more finding for `decide`, or `None` when there is nothing to add (no answer in time, nothing
    /// that checked out).
    fn adjudicate<'a>(
        &'a self,
        context: &'a IncidentContext,
        record: &'a DecisionRecord,
    ) -> BoxFuture<'a, Option<FindingReport>>;

    /// The chosen fix was verified (`confirmed`) or not; `supported_by` names who backed it.
    fn credit(&self, supported_by: &[String], confirmed: bool);
}

/// Whether the rules' hypotheses are close enough to ask: the decision escalates, yet something was found
/// (the best is under the confidence threshold, or within the margin of the next).
pub fn is_close(record: &DecisionRecord) -> bool {
    if !matches!(record.decision, Decision::Escalate { .. }) {
        return false;
    }
    let mut faults = record.ranked.iter().filter(|r| r.hypothesis.class != RootCauseClass::NoFault);
    let Some(best) = faults.next() else { return false };
    let below = best.score < record.min_confidence;
    let tied = faults.next().is_some_and(|next| best.score - next.score < record.min_margin);
    below || tied
}

/// The Director's adjudicator backed by the model assist. It also credits the models whose hypotheses
/// the Director acted on (adaptive routing learns from verification), so it is installed whenever a model
/// is configured; it adjudicates only when `[llm] director` says so.
pub struct ModelAdjudicator {
    reasoner: Arc<Reasoner>,
    adjudicates: bool,
    /// How long the Director waits before deciding without it.
    within: Duration,
}

impl ModelAdjudicator {
    pub fn new(reasoner: Arc<Reasoner>) -> Self {
        let within = Duration::from_millis(reasoner.config().adjudicate_within_ms);
        let adjudicates = reasoner.config().director;
        Self { reasoner, adjudicates, within }
    }
}

impl Adjudicator for ModelAdjudicator {
    fn adjudicate<'a>(
        &'a self,
        context: &'a IncidentContext,
        record: &'a DecisionRecord,
    ) -> BoxFuture<'a, Option<FindingReport>> {
        Box::pin(async move {
            if !self.adjudicates {
                return None;
            }
            let started = Instant::now();
            let known: Vec<Known<'_>> =
                record.ranked.iter().map(|r| Known { hypothesis: &r.hypothesis, score: r.score }).collect();
            let consult = self.reasoner.consult(Task::Adjudicate, context, &known);
            let consultation = match tokio::time::timeout(self.within, consult).await {
                Ok(consultation) => consultation,
                Err(_) => {
                    tracing::info!(within = ?self.within, "no adjudication in time; the first decision stands");
                    return None;
                }
            };
            if consultation.accepted.is_empty() {
                return None;
            }
            Some(FindingReport {
                incident: record.incident,
                specialist: ADJUDICATOR.to_string(),
                hypotheses: consultation.accepted,
                error: None,
                elapsed: started.elapsed(),
            })
        })
    }

    fn credit(&self, supported_by: &[String], confirmed: bool) {
        for model in supported_by.iter().filter_map(|s| s.strip_prefix("llm:")) {
            self.reasoner.router().record_outcome(model, confirmed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::decision::RankedHypothesis;
    use medic_core::{Hypothesis, IncidentUid, ObjectRef};

    fn record(decision: Decision, scores: &[(RootCauseClass, f64)]) -> DecisionRecord {
        DecisionRecord {
            incident: IncidentUid::default(),
            decision,
            ranked: scores
                .iter()
                .map(|(class, score)| RankedHypothesis {
                    hypothesis: Hypothesis {
                        class: *class,
                        target: ObjectRef::deployment("shop", "cart"),
                        confidence: *score,
                        evidence: Vec::new(),
                        playbook: None,
                        params: Default::default(),
                        specialist: "compute".into(),
                    },
                    score: *score,
                    supported_by: vec!["compute".into()],
                    notes: Vec::new(),
                })
                .collect(),
            recalled: Vec::new(),
            missing: Vec::new(),
            min_confidence: 0.6,
            min_margin: 0.15,
        }
    }

    #[test]
    fn only_escalations_with_something_found_are_close() {
        let escalate = || Decision::Escalate { reason: "ambiguous".into() };
        let observe = Decision::Observe { reason: "fine".into() };
        use RootCauseClass::*;
        type Case = (Decision, Vec<(RootCauseClass, f64)>, bool);
        let cases: Vec<Case> = vec![
            (escalate(), vec![], false),
            (escalate(), vec![(NoFault, 0.9)], false),
            (escalate(), vec![(OomMemoryLimit, 0.4)], true),
            (escalate(), vec![(OomMemoryLimit, 0.7), (ConfigError, 0.65)], true),
            (escalate(), vec![(OomMemoryLimit, 0.9), (ConfigError, 0.3)], false),
            (observe, vec![(OomMemoryLimit, 0.4)], false),
        ];
        for (i, (decision, scores, close)) in cases.into_iter().enumerate() {
            assert_eq!(is_close(&record(decision, &scores)), close, "case {i}");
        }
    }
}
