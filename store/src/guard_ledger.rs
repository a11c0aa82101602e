//! The guard's ledger: what the Executor's guard counts across restarts.
//!
//! - `action` rows, one per applied step and namespace, with the pods the step touches there: the rate
//!   limit counts a namespace's rows of the last hour, the blast radius sums an incident's pods.
//! - `verified` / `verification-failed` rows, one per verified plan and namespace: the circuit breaker
//!   opens after N failures in a row (since the last verified plan or the last reset).
//! - `breaker-reset` rows: an administrator closed a namespace's breaker.
//!
//! Rows are stamped with the time the caller gives (the Executor's clock, which is the lab's virtual
//! clock in the lab) and read back in the order they were written.
use jiff::Timestamp;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use medic_core::{IncidentUid, PlanId};

use crate::codec::{self, micros};
use crate::error::{Context, Result};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LedgerKind {
    /// A step was started in the namespace (`amount`: the pods it touches there).
    Action,
    /// A plan that touched the namespace was verified.
    Verified,
    /// A plan that touched the namespace failed its verification.
    VerificationFailed,
    /// An administrator closed the namespace's circuit breaker.
    BreakerReset,
}

impl LedgerKind {
    pub const ALL: [LedgerKind; 4] =
        [LedgerKind::Action, LedgerKind::Verified, LedgerKind::VerificationFailed, LedgerKind::BreakerReset];

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Action => "action",
            LedgerKind::Verified => "verified",
            LedgerKind::VerificationFailed => "verification-failed",
            LedgerKind::BreakerReset => "breaker-reset",
        }
    }
}

impl fmt::Display for LedgerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LedgerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LedgerKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown ledger kind {s:?}"))
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub kind: LedgerKind,
    pub namespace: String,
    pub incident: Option<IncidentUid>,
    pub plan: Option<PlanId>,
    /// For an action, the pods it touches in the namespace; 0 otherwise.
    pub amount: u32,
    pub at: Timestamp,
}

impl LedgerEntry {
    pub fn action(namespace: impl Into<String>, incident: IncidentUid, plan: PlanId, pods: u32, at: Timestamp) -> Self {
        Self {
            kind: LedgerKind::Action,
            namespace: namespace.into(),
            incident: Some(incident),
            plan: Some(plan),
            amount: pods,
            at,
        }
    }

    pub fn verification(
        namespace: impl Into<String>,
        incident: IncidentUid,
        plan: PlanId,
        ok: bool,
        at: Timestamp,
    ) -> Self {
        Self {
            kind: if ok { LedgerKind::Verified } else { LedgerKind::VerificationFailed },
            namespace: namespace.into(),
            incident: Some(incident),
            plan: Some(plan),
            amount: 0,
            at,
        }
    }
}

/// The circuit breaker's view of a namespace: failed verifications in a row, newest first, since the last
/// verified plan or reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureStreak {
    pub failures: u32,
    /// When the newest of them failed.
    pub last_failure_at: Option<Timestamp>,
}

impl Store {
    /// Appends rows to the ledger, in order, atomically.
    pub async fn ledger_record(&self, entries: Vec<LedgerEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(move |ctx| {
            for e in &entries {
                ctx.with(
                    "INSERT INTO guard_ledger (kind, namespace, incident_uid, plan_id, amount, at_us)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    "recording in the guard's ledger",
                    |stmt| {
                        stmt.execute(params![
                            e.kind.as_str(),
                            e.namespace,
                            e.incident.map(|u| u.to_string()),
                            e.plan.map(|p| p.to_string()),
                            e.amount,
                            micros(e.at)
                        ])
                    },
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Steps started in `namespace` at or after `since`, not counting those of plan `excluding` (a plan
    /// being resumed does not count against itself).
    pub async fn ledger_actions_since(
        &self,
        namespace: &str,
        since: Timestamp,
        excluding: Option<PlanId>,
    ) -> Result<u32> {
        let namespace = namespace.to_string();
        let excluding = excluding.map(|p| p.to_string()).unwrap_or_default();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT COUNT(*) FROM guard_ledger
                     WHERE namespace = ?1 AND kind = 'action' AND at_us >= ?2 AND COALESCE(plan_id, '') != ?3",
            )
            .and_then(|mut stmt| stmt.query_row(params![namespace, micros(since), excluding], |r| r.get(0)))
            .doing("counting a namespace's actions")
        })
        .await
    }

    /// Pods the steps of an incident touched, not counting those of plan `excluding`.
    pub async fn ledger_incident_pods(&self, incident: IncidentUid, excluding: Option<PlanId>) -> Result<u64> {
        let excluding = excluding.map(|p| p.to_string()).unwrap_or_default();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT COALESCE(SUM(amount), 0) FROM guard_ledger
                     WHERE incident_uid = ?1 AND kind = 'action' AND COALESCE(plan_id, '') != ?2",
            )
            .and_then(|mut stmt| stmt.query_row(params![incident.to_string(), excluding], |r| r.get::<_, i64>(0)))
            .map(|sum| sum.max(0) as u64)
            .doing("counting an incident's pods")
        })
        .await
    }

    /// The failed verifications in a row in `namespace`.
    pub async fn ledger_failure_streak(&self, namespace: &str) -> Result<FailureStreak> {
        let namespace = namespace.to_string();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, kind, at_us FROM guard_ledger
                         WHERE namespace = ?1 AND kind IN ('verified', 'verification-failed', 'breaker-reset')
                         ORDER BY id DESC",
                )
                .doing("reading a namespace's verifications")?;
            let mut rows = stmt.query(params![namespace]).doing("reading a namespace's verifications")?;
            let mut streak = FailureStreak::default();
            while let Some(row) = rows.next().doing("reading a namespace's verifications")? {
                let id: i64 = row.get(0).doing("reading a namespace's verifications")?;
                let kind: String = row.get(1).doing("reading a namespace's verifications")?;
                if codec::parse::<LedgerKind>(&kind, "guard_ledger", id, "kind")? != LedgerKind::VerificationFailed {
                    break;
                }
                if streak.last_failure_at.is_none() {
                    let at: i64 = row.get(2).doing("reading a namespace's verifications")?;
                    streak.last_failure_at = Some(codec::timestamp(at, "guard_ledger", id, "at_us")?);
                }
                streak.failures += 1;
            }
            Ok(streak)
        })
        .await
    }

    /// Closes a namespace's circuit breaker: the failures before now no longer count.
    pub async fn ledger_reset_breaker(&self, namespace: &str, at: Timestamp) -> Result<()> {
        let entry = LedgerEntry {
            kind: LedgerKind::BreakerReset,
            namespace: namespace.to_string(),
            incident: None,
            plan: None,
            amount: 0,
            at,
        };
        self.ledger_record(vec![entry]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;
    use jiff::SignedDuration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
        (dir, store)
    }

    fn at(minutes: i64) -> Timestamp {
        "2026-11-22T14:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
    }

    #[tokio::test]
    async fn actions_count_per_namespace_and_window_and_survive_a_restart() {
        let (dir, store) = store();
        let (incident, a, b) = (IncidentUid::new(), PlanId::new(), PlanId::new());
        store
            .ledger_record(vec![
                LedgerEntry::action("shop", incident, a, 2, at(0)),
                LedgerEntry::action("shop", incident, a, 3, at(30)),
                LedgerEntry::action("payments", incident, b, 4, at(45)),
                LedgerEntry::action("shop", incident, b, 1, at(50)),
            ])
            .await
            .unwrap();
        store.close().await;
        let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
        // (namespace, since, excluding plan) → count
        let cases = [
            ("shop", at(-60), None, 3),
            ("shop", at(10), None, 2),
            ("shop", at(10), Some(b), 1),
            ("payments", at(-60), None, 1),
            ("other", at(-60), None, 0),
        ];
        for (ns, since, excluding, count) in cases {
            assert_eq!(store.ledger_actions_since(ns, since, excluding).await.unwrap(), count, "{ns} {since}");
        }
        assert_eq!(store.ledger_incident_pods(incident, None).await.unwrap(), 10);
        assert_eq!(store.ledger_incident_pods(incident, Some(a)).await.unwrap(), 5);
        assert_eq!(store.ledger_incident_pods(IncidentUid::new(), None).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_failure_streak_counts_back_to_the_last_success_or_reset() {
        let (_dir, store) = store();
        let incident = IncidentUid::new();
        let verdict =
            |ok: bool, minute: i64| LedgerEntry::verification("shop", incident, PlanId::new(), ok, at(minute));
        assert_eq!(store.ledger_failure_streak("shop").await.unwrap(), FailureStreak::default());
        store
            .ledger_record(vec![verdict(false, 0), verdict(true, 1), verdict(false, 2), verdict(false, 3)])
            .await
            .unwrap();
        store
            .ledger_record(vec![LedgerEntry::verification("other", incident, PlanId::new(), false, at(9))])
            .await
            .unwrap();
        let streak = store.ledger_failure_streak("shop").await.unwrap();
        assert_eq!(streak, FailureStreak { failures: 2, last_failure_at: Some(at(3)) });
        store.ledger_reset_breaker("shop", at(4)).await.unwrap();
        assert_eq!(store.ledger_failure_streak("shop").await.unwrap().failures, 0);
        store.ledger_record(vec![verdict(false, 5)]).await.unwrap();
        assert_eq!(store.ledger_failure_streak("shop").await.unwrap().failures, 1);
        assert_eq!(store.ledger_failure_streak("other").await.unwrap().failures, 1);
    }
}
