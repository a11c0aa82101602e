//! The actor that runs one specialist: answers `Investigate` with a `FindingReport`.
use actix::{Actor, Context, Handler, MessageResult};
use medic_core::FindingReport;
use medic_core::messages::Investigate;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info_span, warn};

use crate::specialist::Specialist;

/// Wraps a specialist in a mailbox. A specialist that panics answers with an error in its report instead
/// of taking the pipeline down.
pub struct SpecialistActor {
    specialist: Arc<dyn Specialist>,
}

impl SpecialistActor {
    pub fn new(specialist: Arc<dyn Specialist>) -> Self {
        Self { specialist }
    }
}

impl Actor for SpecialistActor {
    type Context = Context<Self>;
}

impl Handler<Investigate> for SpecialistActor {
    type Result = MessageResult<Investigate>;

    fn handle(&mut self, msg: Investigate, _ctx: &mut Self::Context) -> Self::Result {
        let name = self.specialist.name();
        let _span = info_span!("investigate", incident = %msg.incident, specialist = name).entered();
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.specialist.analyse(&msg.context)));
        let (hypotheses, error) = match outcome {
            Ok(hypotheses) => (hypotheses, None),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                warn!(error = %what, "specialist failed");
                (Vec::new(), Some(format!("{name} specialist failed: {what}")))
            }
        };
        MessageResult(FindingReport {
            incident: msg.incident,
            specialist: name.to_string(),
            hypotheses,
            error,
            elapsed: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::Actor;
    use medic_core::testkit::ContextBuilder;
    use medic_core::{Hypothesis, IncidentContext, IncidentUid};

    struct Panicking;
    impl Specialist for Panicking {
        fn name(&self) -> &'static str {
            "panicking"
        }
        fn analyse(&self, _: &IncidentContext) -> Vec<Hypothesis> {
            panic!("index out of bounds")
        }
    }

    #[actix::test]
    async fn a_panicking_specialist_reports_an_error_and_keeps_serving() {
        let addr = SpecialistActor::new(Arc::new(Panicking)).start();
        let incident = IncidentUid::new();
        let msg = Investigate { incident, context: Arc::new(ContextBuilder::new().build()) };
        let report = addr.send(msg.clone()).await.unwrap();
        assert_eq!(report.incident, incident);
        assert!(report.error.as_deref().unwrap().contains("index out of bounds"));
        assert!(report.hypotheses.is_empty());
        // The mailbox still answers.
        assert!(addr.send(msg).await.is_ok());
    }
}
