//! The action journal: intent before the call, applied after, never the same step twice.
use medic_core::{ActionSpec, IncidentUid, PlanId};
use medic_store::{Error, StepIntent, StepState};

use crate::common::TestStore;

fn intent(plan: PlanId, incident: IncidentUid, step: u32, rollback: bool) -> StepIntent {
    StepIntent {
        incident,
        plan,
        step,
        rollback,
        action: ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 3 + step as i32 },
    }
}

#[tokio::test]
async fn a_step_moves_from_intent_to_applied_to_verified() {
    let t = TestStore::new();
    let (plan, incident) = (PlanId::new(), IncidentUid::new());
    let id = t.store.journal_intent(intent(plan, incident, 0, false)).await.unwrap();
    let pending = t.store.pending_steps().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].id, pending[0].state, pending[0].step), (id, StepState::Intent, 0));
    assert_eq!(pending[0].action, intent(plan, incident, 0, false).action);
    assert_eq!(pending[0].intent_at, t.clock_now());
    t.store.journal_mark(id, StepState::Applied, None).await.unwrap();
    t.store.journal_mark(id, StepState::Applied, None).await.unwrap(); // a retried mark is harmless
    assert_eq!(t.store.pending_steps().await.unwrap()[0].state, StepState::Applied);
    t.store.journal_mark(id, StepState::Verified, None).await.unwrap();
    assert!(t.store.pending_steps().await.unwrap().is_empty());
    let steps = t.store.plan_steps(plan).await.unwrap();
    assert_eq!(steps[0].state, StepState::Verified);
    assert!(steps[0].applied_at.is_some() && steps[0].finished_at.is_some());
    assert_eq!(t.store.incident_steps(incident).await.unwrap(), steps);
}

#[tokio::test]
async fn the_same_step_cannot_be_journaled_twice() {
    let mut t = TestStore::new();
    let (plan, incident) = (PlanId::new(), IncidentUid::new());
    let id = t.store.journal_intent(intent(plan, incident, 0, false)).await.unwrap();
    t.reopen().await; // even after a restart
    match t.store.journal_intent(intent(plan, incident, 0, false)).await {
        Err(Error::StepAlreadyJournaled { step: 0, state: StepState::Intent, rollback: false, .. }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Its rollback and the next step are different steps.
    let rollback = t.store.journal_intent(intent(plan, incident, 0, true)).await.unwrap();
    let next = t.store.journal_intent(intent(plan, incident, 1, false)).await.unwrap();
    assert!(rollback > id && next > rollback);
}

#[tokio::test]
async fn the_protocol_refuses_impossible_moves() {
    let t = TestStore::new();
    let (plan, incident) = (PlanId::new(), IncidentUid::new());
    let id = t.store.journal_intent(intent(plan, incident, 0, false)).await.unwrap();
    for to in [StepState::Verified, StepState::RolledBack, StepState::Intent] {
        let from_intent = t.store.journal_mark(id, to, None).await;
        if to == StepState::Intent {
            from_intent.unwrap();
            continue;
        }
        assert!(matches!(from_intent, Err(Error::InvalidStepTransition { from: StepState::Intent, .. })), "{to}");
    }
    t.store.journal_mark(id, StepState::Failed, Some("403 forbidden".into())).await.unwrap();
    assert!(t.store.journal_mark(id, StepState::Applied, None).await.is_err());
    let failed = &t.store.plan_steps(plan).await.unwrap()[0];
    assert_eq!((failed.state, failed.error.as_deref()), (StepState::Failed, Some("403 forbidden")));
    assert!(matches!(t.store.journal_mark(999, StepState::Applied, None).await, Err(Error::JournalEntryNotFound(999))));
}

#[tokio::test]
async fn after_a_restart_pending_steps_are_what_was_left_half_done() {
    let mut t = TestStore::new();
    let (plan, incident) = (PlanId::new(), IncidentUid::new());
    let done = t.store.journal_intent(intent(plan, incident, 0, false)).await.unwrap();
    t.store.journal_mark(done, StepState::Applied, None).await.unwrap();
    t.store.journal_mark(done, StepState::Verified, None).await.unwrap();
    let applied = t.store.journal_intent(intent(plan, incident, 1, false)).await.unwrap();
    t.store.journal_mark(applied, StepState::Applied, None).await.unwrap();
    let in_flight = t.store.journal_intent(intent(plan, incident, 2, false)).await.unwrap();
    t.reopen().await;
    let pending: Vec<_> = t.store.pending_steps().await.unwrap().into_iter().map(|e| (e.id, e.state)).collect();
    assert_eq!(pending, [(applied, StepState::Applied), (in_flight, StepState::Intent)]);
    for state in StepState::ALL {
        assert_eq!(state.as_str().parse::<StepState>().unwrap(), state);
    }
}
