//! Running one plan: the guard, then every step dry-run and checked by the policy gate before any is
//! applied, then the steps applied in order — each journaled before and after its write — then
//! verification, then (when the plan says so and verification failed, or a step failed) the rollback of
//! what was changed.
//!
//! A plan the journal already knows was interrupted (medic was killed): steps journaled `applied` are not
//! applied again, a step journaled `intent` is dry-run first and applied only if the cluster does not show
//! it yet, and verification (and rollback, with the undo information the audit trail kept) takes over from
//! there. A plan an earlier run saw fail is not run again.
use medic_core::audit::{AuditEntry, AuditKind};
use medic_core::execution::{ExecutionOutcome, ExecutionReport, StepRecord, VerificationRecord};
use medic_core::messages::Execute;
use medic_core::ports::{AuditSink, Clock, ClusterRead};
use medic_core::{IncidentUid, Plan};
use medic_store::{LedgerEntry, StepState, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use crate::actions::{self, Action, Applied, Undo, WriteContext};
use crate::api::{Calls, KubeApi};
use crate::config::ExecutorConfig;
use crate::guard::{Facts, Guard};
use crate::policy_gate::{PolicyGate, PolicyVerdict};
use crate::run_journal::{PlanJournal, recorded_undo};
use crate::verify::Verifier;

const ACTOR: &str = "executor";

/// Everything a plan run needs; shared by the concurrent runs of the Executor actor.
pub struct Runner {
    pub api: KubeApi,
    pub reader: Arc<dyn ClusterRead>,
    pub audit: Arc<dyn AuditSink>,
    pub clock: Arc<dyn Clock>,
    pub guard: Guard,
    pub policy: Option<Arc<dyn PolicyGate>>,
    pub config: ExecutorConfig,
    /// The action journal and the guard's ledger.
    pub store: Store,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("guard", &self.guard).field("config", &self.config).finish_non_exhaustive()
    }
}

/// How a step stands before the apply loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Never journaled: apply it.
    Fresh,
    /// Journaled `intent` by an earlier run and not visible in the cluster: apply it.
    Unfinished,
    /// Journaled `intent` by an earlier run and already visible in the cluster: mark it applied.
    Landed,
    /// Journaled `applied` (or `verified`) by an earlier run.
    Done,
}

/// A run in progress: the report being written and what to undo.
struct Run<'a> {
    runner: &'a Runner,
    plan: &'a Plan,
    records: Vec<StepRecord>,
    /// Undo information of the applied steps, in the order they were applied.
    applied: Vec<(usize, Undo)>,
    journal: PlanJournal,
    facts: Facts,
}

impl Runner {
    fn cx(&self, incident: IncidentUid) -> WriteContext<'_> {
        WriteContext { api: &self.api, incident, config: &self.config, clock: self.clock.as_ref() }
    }

    async fn audit(&self, incident: IncidentUid, kind: AuditKind, summary: String, detail: serde_json::Value) {
        let mut entry = AuditEntry::new(incident, kind, ACTOR, summary).with_detail(detail);
        // The clock medic runs on (the lab's in the lab), as the intake and the collector record theirs.
        entry.at = self.clock.now();
        if let Err(e) = self.audit.append(entry).await {
            tracing::error!(error = %e, kind = %kind, "could not write the audit record");
        }
    }

    /// Guard, dry-run, policy gate, apply, verify and roll back one plan.
    pub async fn run(&self, execute: &Execute) -> ExecutionReport {
        let plan = execute.plan.as_ref();
        let span =
            tracing::info_span!("execute", incident = %plan.incident, plan = %plan.id, playbook = %plan.playbook);
        async {
            tracing::info!(steps = plan.steps.len(), "executing plan");
            let mut run = Run {
                runner: self,
                plan,
                records: Vec::new(),
                applied: Vec::new(),
                journal: PlanJournal::default(),
                facts: Facts::default(),
            };
            let (outcome, verification) = run.execute(execute.approved_by.as_deref()).await;
            tracing::info!(outcome = outcome.kind(), "plan finished");
            ExecutionReport { incident: plan.incident, plan: plan.id, outcome, steps: run.records, verification }
        }
        .instrument(span)
        .await
    }
}

/// The calls that wrote (not reads, not dry runs).
fn calls_written(calls: &[String]) -> impl Iterator<Item = &str> {
    calls.iter().map(String::as_str).filter(|c| !c.starts_with("GET ") && !c.ends_with(" (dry-run)"))
}

fn record(action: medic_core::ActionSpec, calls: Calls, rollback: bool) -> StepRecord {
    StepRecord { action, api_calls: calls.into_lines(), dry_run_ok: None, applied_at: None, error: None, rollback }
}

fn failed(step: usize, error: String) -> (ExecutionOutcome, Option<VerificationRecord>) {
    (ExecutionOutcome::Failed { step, error, rolled_back: false }, None)
}

impl Run<'_> {
    async fn refuse(&self, rule: String, reason: String) -> ExecutionOutcome {
        tracing::warn!(%rule, %reason, "plan refused");
        let summary = format!("refused by {rule}: {reason}");
        let detail = json!({"rule": rule, "reason": reason});
        self.runner.audit(self.plan.incident, AuditKind::GuardRefused, summary, detail).await;
        ExecutionOutcome::Blocked { rule, reason }
    }

    async fn execute(&mut self, approved_by: Option<&str>) -> (ExecutionOutcome, Option<VerificationRecord>) {
        let plan = self.plan;
        let runner = self.runner;
        // Build every action first: a plan with an invalid step writes nothing.
        let mut built: Vec<Box<dyn Action>> = Vec::with_capacity(plan.steps.len());
        for (i, step) in plan.steps.iter().enumerate() {
            match actions::build(step, &runner.config) {
                Ok(a) => built.push(a),
                Err(e) => return failed(i, e.to_string()),
            }
        }
        self.journal = match PlanJournal::load(&runner.store, plan).await {
            Ok(j) => j,
            Err(e) => return failed(0, format!("reading the action journal before writing: {e}")),
        };
        if let Some((i, entry)) = self.journal.ended() {
            let error = format!(
                "plan {} already ended before: step {} is {} ({}); it is not run again",
                plan.id,
                i + 1,
                entry.state,
                entry.error.as_deref().unwrap_or("no error recorded")
            );
            runner.audit(plan.incident, AuditKind::ActionFailed, error.clone(), json!({"plan": plan.id})).await;
            let rolled_back = entry.state == StepState::RolledBack;
            return (ExecutionOutcome::Failed { step: i, error, rolled_back }, None);
        }
        let protected = &runner.config.protected_namespaces;
        let facts = match Facts::gather(runner.reader.as_ref(), plan, protected).await {
            Ok(mut f) => {
                f.now = runner.clock.now();
                f.approved_by = approved_by.map(str::to_string);
                f.with_history(&runner.store, plan).await
            }
            Err(e) => Err(e),
        };
        self.facts = match facts {
            Ok(f) => f,
            Err(e) => return failed(0, format!("reading the cluster and the guard's ledger before writing: {e}")),
        };
        if let Some(refusal) = runner.guard.check(plan, &self.facts) {
            return (self.refuse(refusal.rule, refusal.reason).await, None);
        }

        // Dry-run every step still to apply, and validate what it would write, before anything is written.
        let cx = runner.cx(plan.incident);
        let mut pending = Vec::with_capacity(built.len());
        for (i, action) in built.iter().enumerate() {
            let mut rec = record(action.spec(), Calls::default(), false);
            let state = self.journal.state(i);
            if matches!(state, Some(StepState::Applied | StepState::Verified)) {
                self.records.push(rec);
                pending.push(Pending::Done);
                continue;
            }
            let mut status = if state.is_some() { Pending::Unfinished } else { Pending::Fresh };
            if action.supports_dry_run() {
                let mut calls = Calls::default();
                let dry = action.apply(&cx, &mut calls, true).await;
                rec.api_calls = calls.into_lines();
                match dry {
                    Ok(applied) => {
                        rec.dry_run_ok = Some(true);
                        if let Some(blocked) = self.check_written(i, &applied).await {
                            self.records.push(rec);
                            return (blocked, None);
                        }
                        if status == Pending::Unfinished && !applied.changed {
                            status = Pending::Landed;
                        }
                    }
                    Err(e) => {
                        rec.dry_run_ok = Some(false);
                        rec.error = Some(e.to_string());
                        self.records.push(rec);
                        let error = format!("the API server refused the dry run of {}: {e}", plan.steps[i]);
                        runner.audit(plan.incident, AuditKind::ActionFailed, error.clone(), json!({"step": i})).await;
                        return failed(i, error);
                    }
                }
            }
            self.records.push(rec);
            pending.push(status);
        }

        for (i, action) in built.iter().enumerate() {
            match pending[i] {
                Pending::Done => self.already_applied(i).await,
                Pending::Landed => self.landed(i).await,
                Pending::Fresh | Pending::Unfinished => {
                    if let Err(outcome) = self.apply(i, action.as_ref(), pending[i] == Pending::Fresh).await {
                        return (outcome, None);
                    }
                }
            }
        }

        let verifier = Verifier {
            reader: runner.reader.as_ref(),
            clock: runner.clock.as_ref(),
            poll: Duration::from_secs_f64(runner.config.poll_interval_secs),
            protected_namespaces: &runner.config.protected_namespaces,
        };
        let verification = verifier.verify(&plan.verify).await;
        self.ledger_verification(verification.ok).await;
        let detail = json!({"checks": plan.verify.checks, "elapsed_secs": verification.elapsed_secs});
        if verification.ok {
            for i in 0..plan.steps.len() {
                self.journal.mark(&runner.store, i, false, StepState::Verified, None).await;
            }
            runner
                .audit(plan.incident, AuditKind::Verified, format!("verified: {}", verification.detail), detail)
                .await;
            return (ExecutionOutcome::Verified, Some(verification));
        }
        let summary = format!("verification failed: {}", verification.detail);
        runner.audit(plan.incident, AuditKind::VerificationFailed, summary.clone(), detail).await;
        let rolled_back = if plan.rollback_on_failure {
            self.roll_back(&summary).await
        } else {
            for i in 0..plan.steps.len() {
                self.journal.mark(&runner.store, i, false, StepState::Failed, Some(summary.clone())).await;
            }
            false
        };
        (ExecutionOutcome::VerificationFailed { rolled_back }, Some(verification))
    }

    /// The policy gate and the guard judge what step `i`'s dry run says it would write; the blocking
    /// outcome if either forbids it.
    async fn check_written(&self, i: usize, applied: &Applied) -> Option<ExecutionOutcome> {
        if let Some(refusal) = self.runner.guard.check_written(self.plan, i, &applied.written) {
            return Some(self.refuse(refusal.rule, refusal.reason).await);
        }
        self.policy_gate(i, applied).await
    }

    /// Applies step `i`: intent journaled first (unless an earlier run did), the write, then `applied`.
    async fn apply(&mut self, i: usize, action: &dyn Action, fresh: bool) -> Result<(), ExecutionOutcome> {
        let (plan, runner) = (self.plan, self.runner);
        if let Err(e) = self.journal.intent(&runner.store, plan, i, false).await {
            let error = format!("{}: not applied, the journal could not record the intent: {e}", plan.steps[i]);
            runner.audit(plan.incident, AuditKind::ActionFailed, error.clone(), json!({"step": i})).await;
            let rolled_back = plan.rollback_on_failure && self.roll_back(&error).await;
            return Err(ExecutionOutcome::Failed { step: i, error, rolled_back });
        }
        if fresh {
            self.ledger_action(i).await;
        }
        let mut calls = Calls::default();
        let result = action.apply(&runner.cx(plan.incident), &mut calls, false).await;
        let rec = &mut self.records[i];
        rec.api_calls.extend(calls.into_lines());
        match result {
            Ok(applied) => {
                rec.applied_at = Some(runner.clock.now());
                self.journal.mark(&runner.store, i, false, StepState::Applied, None).await;
                let rec = &self.records[i];
                let summary = if applied.changed {
                    // The writes themselves, as the timeline shows them.
                    let writes: Vec<&str> = calls_written(&rec.api_calls).collect();
                    format!("applied {}: {}", plan.steps[i], writes.join(", "))
                } else {
                    format!("{} needed no change", plan.steps[i])
                };
                tracing::info!(step = i, changed = applied.changed, calls = ?rec.api_calls, "{summary}");
                let detail = json!({
                    "plan": plan.id, "step": i, "action": plan.steps[i], "api_calls": rec.api_calls,
                    "changed": applied.changed, "notes": applied.notes, "undo": applied.undo,
                });
                runner.audit(plan.incident, AuditKind::ActionApplied, summary, detail).await;
                self.applied.push((i, applied.undo));
                Ok(())
            }
            Err(e) => {
                rec.error = Some(e.to_string());
                let error = format!("{}: {e}", plan.steps[i]);
                tracing::warn!(step = i, %error, "step failed");
                self.journal.mark(&runner.store, i, false, StepState::Failed, Some(error.clone())).await;
                let detail = json!({"step": i, "api_calls": self.records[i].api_calls});
                runner.audit(plan.incident, AuditKind::ActionFailed, error.clone(), detail).await;
                let rolled_back = plan.rollback_on_failure && self.roll_back(&error).await;
                Err(ExecutionOutcome::Failed { step: i, error, rolled_back })
            }
        }
    }

    /// Step `i` was applied by an earlier run: say so, and recover how to undo it.
    async fn already_applied(&mut self, i: usize) {
        let (plan, runner) = (self.plan, self.runner);
        let applied_at = self.journal.steps.get(&i).and_then(|e| e.applied_at);
        self.records[i].applied_at = applied_at;
        let undo = recorded_undo(&runner.store, plan, i).await.unwrap_or_else(|| Undo {
            restore: Vec::new(),
            irreversible: Some(format!(
                "{} was applied before medic restarted; its undo was not recorded",
                plan.steps[i]
            )),
        });
        let summary =
            format!("step {} ({}) was applied before medic restarted: not applied again", i + 1, plan.steps[i]);
        runner.audit(plan.incident, AuditKind::Resumed, summary, json!({"plan": plan.id, "step": i})).await;
        self.applied.push((i, undo));
    }

    /// Step `i` was journaled by an earlier run, which was stopped before it could record the write, and the
    /// cluster shows it: it reached the API server.
    async fn landed(&mut self, i: usize) {
        let (plan, runner) = (self.plan, self.runner);
        self.journal.mark(&runner.store, i, false, StepState::Applied, None).await;
        self.records[i].applied_at = Some(runner.clock.now());
        let summary = format!(
            "step {} ({}) had reached the cluster before medic restarted: not applied again",
            i + 1,
            plan.steps[i]
        );
        runner.audit(plan.incident, AuditKind::Resumed, summary, json!({"plan": plan.id, "step": i})).await;
        let irreversible =
            format!("{} was applied before medic restarted; what it replaced is not known", plan.steps[i]);
        self.applied.push((i, Undo { restore: Vec::new(), irreversible: Some(irreversible) }));
    }

    /// Counts step `i` in the guard's ledger: one action in each namespace it changes, with its pods.
    async fn ledger_action(&self, i: usize) {
        let (plan, now) = (self.plan, self.runner.clock.now());
        let pods = self.facts.steps.get(i).map(|s| &s.pods);
        let entries: Vec<LedgerEntry> = self
            .facts
            .step_namespaces(plan, i)
            .into_iter()
            .map(|ns| {
                let n = pods.and_then(|p| p.get(ns)).copied().unwrap_or(0);
                LedgerEntry::action(ns, plan.incident, plan.id, n, now)
            })
            .collect();
        if let Err(e) = self.runner.store.ledger_record(entries).await {
            tracing::error!(error = %e, step = i, "could not count the step in the guard's ledger");
        }
    }

    /// Records the verification's verdict for every namespace the plan changes (the circuit breaker's input).
    async fn ledger_verification(&self, ok: bool) {
        let (plan, now) = (self.plan, self.runner.clock.now());
        let namespaces: BTreeSet<String> = self.facts.namespaces(plan);
        let entries =
            namespaces.into_iter().map(|ns| LedgerEntry::verification(ns, plan.incident, plan.id, ok, now)).collect();
        if let Err(e) = self.runner.store.ledger_record(entries).await {
            tracing::error!(error = %e, "could not record the verification in the guard's ledger");
        }
    }

    /// Validate what step `i` would write; the blocking outcome if a policy forbids it.
    async fn policy_gate(&self, i: usize, applied: &Applied) -> Option<ExecutionOutcome> {
        let gate = self.runner.policy.as_ref()?;
        let verdicts: Vec<PolicyVerdict> = applied.written.iter().flat_map(|w| gate.evaluate(w)).collect();
        if verdicts.is_empty() {
            return None;
        }
        let blocking = verdicts.iter().find(|v| v.blocks());
        let summary = match blocking {
            Some(v) => format!("policy {}/{} blocks {}: {}", v.policy, v.rule, self.plan.steps[i], v.message),
            None => format!("{} passes {} policy rule(s)", self.plan.steps[i], verdicts.len()),
        };
        let detail = json!({"step": i, "verdicts": verdicts});
        self.runner.audit(self.plan.incident, AuditKind::PolicyChecked, summary, detail).await;
        let v = blocking?;
        let rule = format!("policy:{}/{}", v.policy, v.rule);
        let reason = v.message.clone();
        Some(self.refuse(rule, reason).await)
    }

    /// Undo the applied steps, newest first, each rollback journaled like a step. True when everything
    /// that can be undone was. `why` is recorded with the steps that stay as they are.
    async fn roll_back(&mut self, why: &str) -> bool {
        let runner = self.runner;
        let cx = runner.cx(self.plan.incident);
        let mut ok = true;
        let mut restored_any = false;
        let applied = std::mem::take(&mut self.applied);
        for (i, undo) in applied.into_iter().rev() {
            let mut step_ok = true;
            let mut step_restored = false;
            if !undo.restore.is_empty() && self.journal.rollbacks.get(&i).is_some_and(|e| e.state != StepState::Intent)
            {
                // An earlier run already undid it.
                self.journal.mark(&runner.store, i, false, StepState::RolledBack, None).await;
                restored_any = true;
                continue;
            }
            if !undo.restore.is_empty()
                && let Err(e) = self.journal.intent(&runner.store, self.plan, i, true).await
            {
                tracing::error!(step = i, error = %e, "could not journal the rollback; not rolling back");
                ok = false;
                continue;
            }
            for restore in &undo.restore {
                let mut calls = Calls::default();
                let mut rec = record(restore.as_action(), Calls::default(), true);
                let dry = actions::restore(&cx, &mut calls, restore, true).await;
                rec.dry_run_ok = Some(dry.is_ok());
                let result = match dry {
                    Ok(()) => actions::restore(&cx, &mut calls, restore, false).await,
                    Err(e) => Err(e),
                };
                rec.api_calls = calls.into_lines();
                match result {
                    Ok(()) => {
                        rec.applied_at = Some(runner.clock.now());
                        step_restored = true;
                        let writes: Vec<&str> = calls_written(&rec.api_calls).collect();
                        let summary = format!("rolled back step {i}: {}: {}", rec.action, writes.join(", "));
                        let detail = json!({"step": i, "action": rec.action, "api_calls": rec.api_calls});
                        runner.audit(self.plan.incident, AuditKind::RolledBack, summary, detail).await;
                    }
                    Err(e) => {
                        step_ok = false;
                        rec.error = Some(e.to_string());
                        let summary = format!("could not roll back step {i} ({}): {e}", rec.action);
                        runner.audit(self.plan.incident, AuditKind::ActionFailed, summary, json!({"step": i})).await;
                    }
                }
                self.records.push(rec);
            }
            if let Some(what) = &undo.irreversible {
                let mut rec = record(self.plan.steps[i].clone(), Calls::default(), true);
                rec.error = Some(format!("not undone: {what}"));
                let summary = format!("step {i} not undone: {what}");
                runner.audit(self.plan.incident, AuditKind::RolledBack, summary, json!({"step": i})).await;
                self.records.push(rec);
            }
            // The journal: the rollback entry ends `verified` once its writes are done (it is not verified
            // further); the step ends `rolled-back`, or `failed` when it stays as it is.
            let store = &runner.store;
            if !undo.restore.is_empty() {
                let (state, error) = if step_ok { (StepState::Applied, None) } else { (StepState::Failed, None) };
                self.journal.mark(store, i, true, state, error).await;
                if step_ok {
                    self.journal.mark(store, i, true, StepState::Verified, None).await;
                }
            }
            if step_ok && step_restored && undo.irreversible.is_none() {
                self.journal.mark(store, i, false, StepState::RolledBack, None).await;
            } else if self.journal.state(i) != Some(StepState::Failed) {
                self.journal.mark(store, i, false, StepState::Failed, Some(why.to_string())).await;
            }
            ok &= step_ok;
            restored_any |= step_restored;
        }
        ok && restored_any
    }
}
