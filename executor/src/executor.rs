//! The Executor actor: receives `Execute`, runs the plan (see `run`), answers with the
//! `ExecutionReport`. Plans run concurrently; a plan it already ran is answered from memory rather than
//! applied again (a refused one is judged again: it may come back approved), a redelivered plan that is still running waits for the first run's report, and two
//! plans never change the same object at once.
use actix::prelude::*;
use medic_core::execution::{ExecutionOutcome, ExecutionReport};
use medic_core::messages::Execute;
use medic_core::ports::WriteGate;
use medic_core::{ObjectRef, PlanId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::oneshot;

use crate::run::Runner;

pub struct Executor {
    runner: Arc<Runner>,
    /// Reports of finished plans, oldest first, bounded by `remembered_plans`.
    finished: HashMap<PlanId, ExecutionReport>,
    finished_order: VecDeque<PlanId>,
    /// Plans running now, with the callers waiting for a redelivered copy.
    running: HashMap<PlanId, Vec<oneshot::Sender<ExecutionReport>>>,
    /// Objects the running plans write.
    busy: HashMap<ObjectRef, PlanId>,
    /// Asked before every plan: while it says writes are suspended (the watchtower), nothing is applied.
    write_gate: Option<Arc<dyn WriteGate>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("running", &self.running.len()).finish_non_exhaustive()
    }
}

impl Executor {
    pub fn new(runner: Runner) -> Self {
        Self {
            runner: Arc::new(runner),
            finished: HashMap::new(),
            finished_order: VecDeque::new(),
            running: HashMap::new(),
            busy: HashMap::new(),
            write_gate: None,
        }
    }

    /// Every plan first asks `gate` whether writes are suspended; a suspended plan is answered
    /// `Suspended` and applies nothing.
    pub fn with_write_gate(mut self, gate: Arc<dyn WriteGate>) -> Self {
        self.write_gate = Some(gate);
        self
    }

    fn finish(&mut self, report: &ExecutionReport, objects: &HashSet<ObjectRef>) {
        let plan = report.plan;
        for object in objects {
            if self.busy.get(object) == Some(&plan) {
                self.busy.remove(object);
            }
        }
        for waiter in self.running.remove(&plan).unwrap_or_default() {
            let _ = waiter.send(report.clone());
        }
        // A refused plan wrote nothing: it may come back (approved, or once the red line no longer
        // applies) and must then be judged again rather than answered from memory.
        if matches!(report.outcome, ExecutionOutcome::Blocked { .. } | ExecutionOutcome::Suspended { .. }) {
            return;
        }
        self.finished.insert(plan, report.clone());
        self.finished_order.push_back(plan);
        while self.finished_order.len() > self.runner.config.remembered_plans.max(1) {
            if let Some(old) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }
}

impl Actor for Executor {
    type Context = Context<Self>;
}

impl Handler<Execute> for Executor {
    type Result = ResponseActFuture<Self, ExecutionReport>;

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) -> Self::Result {
        let plan = msg.plan.clone();
        if let Some(report) = self.finished.get(&plan.id) {
            tracing::info!(incident = %plan.incident, plan = %plan.id, "plan already executed; answering from memory");
            return Box::pin(fut::ready(report.clone()));
        }
        if let Some(waiters) = self.running.get_mut(&plan.id) {
            let (tx, rx) = oneshot::channel();
            waiters.push(tx);
            let incident = plan.incident;
            let id = plan.id;
            return Box::pin(
                async move {
                    rx.await.unwrap_or_else(|_| ExecutionReport {
                        incident,
                        plan: id,
                        outcome: ExecutionOutcome::Failed {
                            step: 0,
                            error: "the executor stopped".into(),
                            rolled_back: false,
                        },
                        steps: Vec::new(),
                        verification: None,
                    })
                }
                .into_actor(self),
            );
        }
        if let Some(reason) = self.write_gate.as_ref().and_then(|gate| gate.suspended()) {
            tracing::warn!(incident = %plan.incident, plan = %plan.id, %reason, "writes suspended; plan not run");
            return Box::pin(fut::ready(ExecutionReport {
                incident: plan.incident,
                plan: plan.id,
                outcome: ExecutionOutcome::Suspended { reason },
                steps: Vec::new(),
                verification: None,
            }));
        }
        // The objects it writes and its target (deleting a pod changes its deployment's state too).
        let mut objects: HashSet<ObjectRef> = plan.steps.iter().map(|s| s.object()).collect();
        if !plan.steps.is_empty() {
            objects.insert(plan.target.clone());
        }
        if let Some((object, other)) = objects.iter().find_map(|o| self.busy.get(o).map(|p| (o, *p))) {
            let reason = format!("{object} is being changed by plan {other}");
            tracing::warn!(incident = %plan.incident, plan = %plan.id, %reason, "plan refused");
            return Box::pin(fut::ready(ExecutionReport {
                incident: plan.incident,
                plan: plan.id,
                outcome: ExecutionOutcome::Blocked { rule: "concurrent-change".into(), reason },
                steps: Vec::new(),
                verification: None,
            }));
        }
        for object in &objects {
            self.busy.insert(object.clone(), plan.id);
        }
        self.running.insert(plan.id, Vec::new());
        let runner = self.runner.clone();
        Box::pin(async move { runner.run(&msg).await }.into_actor(self).map(move |report, act, _| {
            act.finish(&report, &objects);
            report
        }))
    }
}
