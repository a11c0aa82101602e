//! Running one plan: approval and guard, then every step dry-run and checked by the policy gate before
//! any is applied, then the steps applied in order, then verification, then (when the plan says so and
//! verification failed, or a step failed) the rollback of what was changed.
use medic_core::audit::{AuditEntry, AuditKind};
use medic_core::execution::{ExecutionOutcome, ExecutionReport, StepRecord, VerificationRecord};
use medic_core::messages::Execute;
use medic_core::ports::{AuditSink, Clock, ClusterRead};
use medic_core::{IncidentUid, Plan};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use crate::actions::{self, Action, Applied, Undo, WriteContext};
use crate::api::{Calls, KubeApi};
use crate::config::ExecutorConfig;
use crate::guard::{Facts, Guard};
use crate::policy_gate::{PolicyGate, PolicyVerdict};
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
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("guard", &self.guard).field("config", &self.config).finish_non_exhaustive()
    }
}

/// A run in progress: the report being written and what to undo.
struct Run<'a> {
    runner: &'a Runner,
    plan: &'a Plan,
    records: Vec<StepRecord>,
    /// Undo information of the applied steps, in the order they were applied.
    applied: Vec<(usize, Undo)>,
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
            let mut run = Run { runner: self, plan, records: Vec::new(), applied: Vec::new() };
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

impl Run<'_> {
    async fn refuse(&self, kind: AuditKind, rule: String, reason: String) -> ExecutionOutcome {
        tracing::warn!(%rule, %reason, "plan refused");
        let summary = format!("refused by {rule}: {reason}");
        self.runner.audit(self.plan.incident, kind, summary, json!({"rule": rule, "reason": reason})).await;
        ExecutionOutcome::Blocked { rule, reason }
    }

    async fn execute(&mut self, approved_by: Option<&str>) -> (ExecutionOutcome, Option<VerificationRecord>) {
        let plan = self.plan;
        let runner = self.runner;
        if plan.requires_approval && approved_by.is_none() {
            let reason = format!("playbook {} (risk {:?}) needs a human approval first", plan.playbook, plan.risk);
            return (self.refuse(AuditKind::GuardRefused, "approval-required".into(), reason).await, None);
        }
        // Build every action first: a plan with an invalid step writes nothing.
        let mut built: Vec<Box<dyn Action>> = Vec::with_capacity(plan.steps.len());
        for (i, step) in plan.steps.iter().enumerate() {
            match actions::build(step, &runner.config) {
                Ok(a) => built.push(a),
                Err(e) => {
                    return (ExecutionOutcome::Failed { step: i, error: e.to_string(), rolled_back: false }, None);
                }
            }
        }
        let facts = match Facts::gather(runner.reader.as_ref(), plan).await {
            Ok(f) => f,
            Err(e) => {
                let error = format!("reading the cluster before writing: {e}");
                return (ExecutionOutcome::Failed { step: 0, error, rolled_back: false }, None);
            }
        };
        if let Some(refusal) = runner.guard.check(plan, &facts) {
            return (self.refuse(AuditKind::GuardRefused, refusal.rule, refusal.reason).await, None);
        }

        // Dry-run every step and validate what it would write before anything is written.
        let cx = runner.cx(plan.incident);
        for (i, action) in built.iter().enumerate() {
            let mut calls = Calls::default();
            let mut rec = record(action.spec(), Calls::default(), false);
            if action.supports_dry_run() {
                let dry = action.apply(&cx, &mut calls, true).await;
                rec.api_calls = calls.into_lines();
                match dry {
                    Ok(applied) => {
                        rec.dry_run_ok = Some(true);
                        if let Some(blocked) = self.policy_gate(i, &applied).await {
                            self.records.push(rec);
                            return (blocked, None);
                        }
                    }
                    Err(e) => {
                        rec.dry_run_ok = Some(false);
                        rec.error = Some(e.to_string());
                        self.records.push(rec);
                        let error = format!("the API server refused the dry run of {}: {e}", plan.steps[i]);
                        self.runner
                            .audit(plan.incident, AuditKind::ActionFailed, error.clone(), json!({"step": i}))
                            .await;
                        return (ExecutionOutcome::Failed { step: i, error, rolled_back: false }, None);
                    }
                }
            }
            self.records.push(rec);
        }

        for (i, action) in built.iter().enumerate() {
            let mut calls = Calls::default();
            let result = action.apply(&cx, &mut calls, false).await;
            let rec = &mut self.records[i];
            rec.api_calls.extend(calls.into_lines());
            match result {
                Ok(applied) => {
                    rec.applied_at = Some(runner.clock.now());
                    let summary = if applied.changed {
                        // The writes themselves, as the timeline shows them.
                        let writes: Vec<&str> = calls_written(&rec.api_calls).collect();
                        format!("applied {}: {}", plan.steps[i], writes.join(", "))
                    } else {
                        format!("{} needed no change", plan.steps[i])
                    };
                    tracing::info!(step = i, changed = applied.changed, calls = ?rec.api_calls, "{summary}");
                    let detail = json!({
                        "step": i, "action": plan.steps[i], "api_calls": rec.api_calls,
                        "changed": applied.changed, "notes": applied.notes,
                    });
                    runner.audit(plan.incident, AuditKind::ActionApplied, summary, detail).await;
                    self.applied.push((i, applied.undo));
                }
                Err(e) => {
                    rec.error = Some(e.to_string());
                    let error = format!("{}: {e}", plan.steps[i]);
                    tracing::warn!(step = i, %error, "step failed");
                    let detail = json!({"step": i, "api_calls": rec.api_calls});
                    runner.audit(plan.incident, AuditKind::ActionFailed, error.clone(), detail).await;
                    let rolled_back = plan.rollback_on_failure && self.roll_back().await;
                    return (ExecutionOutcome::Failed { step: i, error, rolled_back }, None);
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
        let detail = json!({"checks": plan.verify.checks, "elapsed_secs": verification.elapsed_secs});
        if verification.ok {
            runner
                .audit(plan.incident, AuditKind::Verified, format!("verified: {}", verification.detail), detail)
                .await;
            return (ExecutionOutcome::Verified, Some(verification));
        }
        let summary = format!("verification failed: {}", verification.detail);
        runner.audit(plan.incident, AuditKind::VerificationFailed, summary, detail).await;
        let rolled_back = plan.rollback_on_failure && self.roll_back().await;
        (ExecutionOutcome::VerificationFailed { rolled_back }, Some(verification))
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
        Some(self.refuse(AuditKind::GuardRefused, rule, reason).await)
    }

    /// Undo the applied steps, newest first. True when everything that can be undone was.
    async fn roll_back(&mut self) -> bool {
        let runner = self.runner;
        let cx = runner.cx(self.plan.incident);
        let mut ok = true;
        let mut restored_any = false;
        let applied = std::mem::take(&mut self.applied);
        for (i, undo) in applied.into_iter().rev() {
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
                        restored_any = true;
                        let writes: Vec<&str> = calls_written(&rec.api_calls).collect();
                        let summary = format!("rolled back step {i}: {}: {}", rec.action, writes.join(", "));
                        let detail = json!({"step": i, "action": rec.action, "api_calls": rec.api_calls});
                        runner.audit(self.plan.incident, AuditKind::RolledBack, summary, detail).await;
                    }
                    Err(e) => {
                        ok = false;
                        rec.error = Some(e.to_string());
                        let summary = format!("could not roll back step {i} ({}): {e}", rec.action);
                        runner.audit(self.plan.incident, AuditKind::ActionFailed, summary, json!({"step": i})).await;
                    }
                }
                self.records.push(rec);
            }
            if let Some(what) = undo.irreversible {
                let mut rec = record(self.plan.steps[i].clone(), Calls::default(), true);
                rec.error = Some(format!("not undone: {what}"));
                runner
                    .audit(
                        self.plan.incident,
                        AuditKind::RolledBack,
                        format!("step {i} not undone: {what}"),
                        json!({"step": i}),
                    )
                    .await;
                self.records.push(rec);
            }
        }
        ok && restored_any
    }
}
