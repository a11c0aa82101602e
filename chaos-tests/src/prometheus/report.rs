//! Where the time to repair goes: fault → rule firing (Prometheus), firing → webhook (Alertmanager),
//! webhook → decision, decision → applied, applied → verified (medic), verified → resolved (the resolved
//! notification). Times come from where each step is recorded: Prometheus' own `ALERTS` series (the
//! timestamp of the first evaluation in the firing state), medic's store (when the webhook arrived) and audit
//! trail (decision, action, verification), and the resolved notification's arrival.
use anyhow::Result;
use jiff::{SignedDuration, Timestamp};
use medic_core::{AuditKind, IncidentUid, RootCauseClass};
use medic_store::Incident;
use std::fmt;

use super::Chain;

/// The steps of a repair, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Firing,
    Webhook,
    Decision,
    Applied,
    Verified,
    Resolved,
}

impl Stage {
    pub const ALL: [Stage; 6] =
        [Stage::Firing, Stage::Webhook, Stage::Decision, Stage::Applied, Stage::Verified, Stage::Resolved];

    /// The interval that ends at this stage, as the report names it.
    pub fn interval(self) -> &'static str {
        match self {
            Stage::Firing => "fault → rule firing (Prometheus)",
            Stage::Webhook => "firing → webhook (Alertmanager)",
            Stage::Decision => "webhook → decision (medic)",
            Stage::Applied => "decision → applied (medic)",
            Stage::Verified => "applied → verified (medic)",
            Stage::Resolved => "verified → resolved (Alertmanager)",
        }
    }
}

/// One repair, timed.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairReport {
    pub scenario: String,
    pub incident: IncidentUid,
    /// The opening alert's name.
    pub alert: String,
    pub class: Option<RootCauseClass>,
    pub target: Option<String>,
    pub fault: Timestamp,
    /// When the rule's condition first held (Prometheus' pending state), for rules with a `for:`.
    pub pending: Option<Timestamp>,
    pub firing: Option<Timestamp>,
    pub webhook: Option<Timestamp>,
    pub decision: Option<Timestamp>,
    pub applied: Option<Timestamp>,
    pub verified: Option<Timestamp>,
    pub resolved: Option<Timestamp>,
    /// PromQL queries in the incident's metric context.
    pub metric_queries: usize,
}

impl RepairReport {
    pub fn at(&self, stage: Stage) -> Option<Timestamp> {
        match stage {
            Stage::Firing => self.firing,
            Stage::Webhook => self.webhook,
            Stage::Decision => self.decision,
            Stage::Applied => self.applied,
            Stage::Verified => self.verified,
            Stage::Resolved => self.resolved,
        }
    }

    /// The length of the interval that ends at `stage`.
    pub fn interval(&self, stage: Stage) -> Option<SignedDuration> {
        let end = self.at(stage)?;
        let start = match stage {
            Stage::Firing => Some(self.fault),
            _ => self.at(Stage::ALL[Stage::ALL.iter().position(|s| *s == stage)? - 1]),
        }?;
        Some(end.duration_since(start))
    }

    /// Fault → resolved notification.
    pub fn total(&self) -> Option<SignedDuration> {
        Some(self.resolved?.duration_since(self.fault))
    }

    /// Whether every stage was recorded, each after the one before — except that the alert may resolve
    /// while medic is still watching its fix hold (then "verified → resolved" is negative), though never
    /// before the fix was applied.
    pub fn is_complete(&self) -> bool {
        let ordered = Stage::ALL[..5].iter().all(|s| self.interval(*s).is_some_and(|d| d >= SignedDuration::ZERO));
        let after_the_fix = matches!((self.applied, self.resolved), (Some(a), Some(r)) if r >= a);
        ordered && self.verified.is_some() && after_the_fix
    }
}

fn secs(d: Option<SignedDuration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

impl fmt::Display for RepairReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: incident {} opened by {} → {} at {}",
            self.scenario,
            self.incident.short(),
            self.alert,
            self.class.map_or("-", |c| c.as_str()),
            self.target.as_deref().unwrap_or("-")
        )?;
        for stage in Stage::ALL {
            write!(f, "  {:<38} {:>8}", stage.interval(), secs(self.interval(stage)))?;
            if stage == Stage::Firing
                && let (Some(pending), Some(_)) = (self.pending, self.firing)
                && pending < self.fault
            {
                write!(f, "   (the same alert was already pending at the fault)")?;
            } else if stage == Stage::Firing
                && let (Some(pending), Some(firing)) = (self.pending, self.firing)
            {
                write!(
                    f,
                    "   (condition held after {}, then `for:` {})",
                    secs(Some(pending.duration_since(self.fault))),
                    secs(Some(firing.duration_since(pending)))
                )?;
            }
            if stage == Stage::Decision {
                write!(f, "   ({} PromQL queries in the context)", self.metric_queries)?;
            }
            if stage == Stage::Resolved && self.interval(stage).is_some_and(|d| d < SignedDuration::ZERO) {
                write!(f, "   (the alert resolved while medic watched its fix hold)")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "  {:<38} {:>8}", "fault → resolved", secs(self.total()))
    }
}

/// The reports side by side, as a Markdown table.
pub fn table(reports: &[RepairReport]) -> String {
    let mut out = String::from(
        "| scenario | opening alert | fault → firing | firing → webhook | webhook → decision | decision → applied | applied → verified | verified → resolved | total |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let cells: Vec<String> = Stage::ALL.iter().map(|s| secs(r.interval(*s))).collect();
        out.push_str(&format!("| {} | {} | {} | {} |\n", r.scenario, r.alert, cells.join(" | "), secs(r.total())));
    }
    out
}

/// PromQL matchers for exactly the alert's labels.
fn matchers(labels: &std::collections::BTreeMap<String, String>, state: &str) -> String {
    let mut parts: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}={}", medic_promstack::api::label_value(v))).collect();
    parts.push(format!("alertstate=\"{state}\""));
    parts.join(", ")
}

/// When Prometheus first evaluated the alert in `state`: the timestamp of the first `ALERTS` sample.
async fn first_sample(
    chain: &Chain,
    labels: &std::collections::BTreeMap<String, String>,
    state: &str,
    from: Timestamp,
) -> Option<Timestamp> {
    let promql = format!("timestamp(ALERTS{{{}}})", matchers(labels, state));
    // From the fault on: one Prometheus watches several faults in turn, and an earlier one may have fired
    // the same alert.
    let start = from.as_millisecond() as f64 / 1000.0 - 1.0;
    let end = Timestamp::now().as_millisecond() as f64 / 1000.0;
    let series = chain.stack.query_range(&promql, start, end, 1.0).await.ok()?;
    let first = series.iter().filter_map(|s| s.values.first().map(|(_, v)| *v)).fold(f64::INFINITY, f64::min);
    first.is_finite().then(|| Timestamp::from_millisecond((first * 1000.0) as i64).ok()).flatten()
}

pub(super) async fn build(
    chain: &Chain,
    scenario: &str,
    fault: Timestamp,
    incident: &Incident,
) -> Result<RepairReport> {
    let store = &chain.rig.medic.store;
    let alerts = store.incident_alerts(incident.uid).await?;
    let timeline = store.timeline(incident.uid).await?;
    let first = |kind: AuditKind| timeline.iter().find(|r| r.entry.kind == kind).map(|r| r.entry.at);
    let opening = alerts.first();
    let (pending, firing) = match opening {
        Some(a) => (
            first_sample(chain, &a.alert.labels, "pending", fault).await,
            first_sample(chain, &a.alert.labels, "firing", fault).await,
        ),
        None => (None, None),
    };
    let metric_queries = timeline
        .iter()
        .find(|r| r.entry.kind == AuditKind::ContextCollected)
        .and_then(|r| r.entry.detail.get("metrics").and_then(|m| m.as_array()).map(Vec::len))
        .unwrap_or(0);
    Ok(RepairReport {
        scenario: scenario.to_string(),
        incident: incident.uid,
        alert: opening.map(|a| a.alert.name.clone()).unwrap_or_default(),
        class: incident.root_cause,
        target: incident.target.as_ref().map(ToString::to_string),
        fault,
        pending,
        firing,
        webhook: opening.map(|a| a.received_at),
        decision: first(AuditKind::Decision),
        applied: first(AuditKind::ActionApplied),
        verified: first(AuditKind::Verified),
        resolved: opening.filter(|a| a.alert.status == medic_core::AlertStatus::Resolved).map(|a| a.updated_at),
        metric_queries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Option<Timestamp> {
        Some(Timestamp::from_second(1_767_225_600 + secs).unwrap())
    }

    #[test]
    fn the_intervals_chain_from_the_fault_to_the_resolution() {
        let report = RepairReport {
            scenario: "oom".into(),
            incident: IncidentUid::new(),
            alert: "KubePodOOMKilled".into(),
            class: Some(RootCauseClass::OomMemoryLimit),
            target: Some("Deployment/shop/cart".into()),
            fault: at(0).unwrap(),
            pending: None,
            firing: at(3),
            webhook: at(5),
            decision: at(6),
            applied: at(6),
            verified: at(30),
            resolved: at(42),
            metric_queries: 9,
        };
        assert!(report.is_complete());
        let intervals: Vec<i64> = Stage::ALL.iter().map(|s| report.interval(*s).unwrap().as_secs()).collect();
        assert_eq!(intervals, [3, 2, 1, 0, 24, 12]);
        assert_eq!(report.total().unwrap().as_secs(), 42);
        let text = report.to_string();
        assert!(text.contains("fault → rule firing (Prometheus)") && text.contains("42.0 s"), "{text}");
        let row = table(std::slice::from_ref(&report));
        assert!(
            row.contains("| oom | KubePodOOMKilled | 3.0 s | 2.0 s | 1.0 s | 0.0 s | 24.0 s | 12.0 s | 42.0 s |"),
            "{row}"
        );
        let early = RepairReport { resolved: at(20), ..report.clone() };
        assert!(early.is_complete(), "resolved after the fix, before verification ended");
        assert!(early.to_string().contains("-10.0 s   (the alert resolved while medic watched its fix hold)"));
        assert!(!RepairReport { resolved: at(5), ..report.clone() }.is_complete(), "resolved before the fix");
        let unresolved = RepairReport { resolved: None, ..report };
        assert!(!unresolved.is_complete());
    }
}
