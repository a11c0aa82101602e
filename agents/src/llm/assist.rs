//! A specialist assisted by a model: its rules answer first, then the model, given the context and the
//! rules' hypotheses, may confirm them (a hypothesis of its own on the same cause, which the Director
//! counts as agreement) or add causes the rules missed. The model never replaces the rules: when it does
//! not answer in time, or its answer does not check out, the report carries the rules' hypotheses alone.
use actix::{Actor, Context, Handler, ResponseFuture};
use medic_core::messages::Investigate;
use medic_core::{FindingReport, Hypothesis};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use crate::llm::reasoner::{Known, Reasoner, Task};
use crate::specialist::Specialist;

pub struct AssistedSpecialist {
    rules: Arc<dyn Specialist>,
    reasoner: Arc<Reasoner>,
    /// How long the model may take before the report goes without it.
    answer_within: Duration,
}

impl AssistedSpecialist {
    pub fn new(rules: Arc<dyn Specialist>, reasoner: Arc<Reasoner>, answer_within: Duration) -> Self {
        Self { rules, reasoner, answer_within }
    }
}

impl Actor for AssistedSpecialist {
    type Context = Context<Self>;
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl Handler<Investigate> for AssistedSpecialist {
    type Result = ResponseFuture<FindingReport>;

    fn handle(&mut self, msg: Investigate, _ctx: &mut Self::Context) -> Self::Result {
        let name = self.rules.name();
        let span = tracing::info_span!("investigate", incident = %msg.incident, specialist = name, assisted = true);
        let started = Instant::now();
        let rules = self.rules.clone();
        let outcome = span.in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(|| rules.analyse(&msg.context))));
        let (mut hypotheses, error) = match outcome {
            Ok(h) => (h, None),
            Err(panic) => {
                let what = panic_text(panic.as_ref());
                tracing::warn!(error = %what, "specialist failed");
                (Vec::new(), Some(format!("{name} specialist failed: {what}")))
            }
        };
        let reasoner = self.reasoner.clone();
        let context = msg.context.clone();
        let known_hypotheses: Vec<Hypothesis> = hypotheses.clone();
        // The consultation runs on its own task: when the report leaves without it, it still finishes, so
        // the watchtower and the router learn how long the model really took.
        let consultation = tokio::spawn(
            async move {
                let known: Vec<Known<'_>> =
                    known_hypotheses.iter().map(|h| Known { hypothesis: h, score: h.confidence }).collect();
                reasoner.consult(Task::Specialist { name }, &context, &known).await
            }
            .instrument(span.clone()),
        );
        let answer_within = self.answer_within;
        Box::pin(
            async move {
                match tokio::time::timeout(answer_within, consultation).await {
                    Ok(Ok(consultation)) => hypotheses.extend(consultation.accepted),
                    Ok(Err(e)) => tracing::warn!(error = %e, "the model consultation failed"),
                    Err(_) => tracing::info!(
                        ?answer_within,
                        "the model did not answer in time; the rules' hypotheses go alone"
                    ),
                }
                hypotheses.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
                FindingReport {
                    incident: msg.incident,
                    specialist: name.to_string(),
                    hypotheses,
                    error,
                    elapsed: started.elapsed(),
                }
            }
            .instrument(span),
        )
    }
}
