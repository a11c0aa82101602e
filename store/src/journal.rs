//! The action journal: what the Executor is about to do, has done, and how it ended, so that a restart
//! never applies a step twice and never forgets one half-done.
//!
//! The protocol, per step (a forward step or the rollback of one):
//! 1. [`Store::journal_intent`] is committed **before** the API call. It refuses a step that is already
//!    journaled ([`Error::StepAlreadyJournaled`]), so the same step of the same plan is never started twice.
//! 2. The Executor makes the API call.
//! 3. [`Store::journal_mark`] `applied` is committed **after** the call succeeded (or `failed` with the error).
//! 4. After verification: `verified`; or `rolled-back` once its rollback step was applied; or `failed`.
//!
//! On restart, [`Store::pending_steps`] lists the steps left in `intent` or `applied`. An `applied` step
//! was written to the cluster: resume its verification. An `intent` step may or may not have reached the
//! cluster (medic stopped between 1 and 3): the Executor checks the object in the cluster (the Incident-UID
//! annotation medic writes with every change) and marks the step `applied` or `failed` accordingly,
//! rather than applying it again.
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use medic_core::{ActionSpec, IncidentUid, PlanId};

use crate::codec::{self, micros};
use crate::error::{Context, Error, Result};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// Committed before the API call.
    Intent,
    /// The API call succeeded.
    Applied,
    /// The plan's verification passed.
    Verified,
    /// The API call or the verification failed.
    Failed,
    /// Undone by its rollback step.
    RolledBack,
}

impl StepState {
    pub const ALL: [StepState; 5] =
        [StepState::Intent, StepState::Applied, StepState::Verified, StepState::Failed, StepState::RolledBack];

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Intent => "intent",
            StepState::Applied => "applied",
            StepState::Verified => "verified",
            StepState::Failed => "failed",
            StepState::RolledBack => "rolled-back",
        }
    }

    /// The step still needs the Executor's attention after a restart.
    pub fn is_pending(self) -> bool {
        matches!(self, StepState::Intent | StepState::Applied)
    }

    /// The moves the protocol allows. Marking the state a step is already in is allowed too (a retried mark).
    pub fn can_move_to(self, next: StepState) -> bool {
        use StepState::*;
        self == next
            || matches!(
                (self, next),
                (Intent, Applied) | (Intent, Failed) | (Applied, Verified | Failed | RolledBack) | (Failed, RolledBack)
            )
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepState::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| format!("unknown step state {s:?}"))
    }
}

/// A step about to be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepIntent {
    pub incident: IncidentUid,
    pub plan: PlanId,
    /// The step's index in the plan.
    pub step: u32,
    /// This is the rollback of step `step`, not the step itself.
    pub rollback: bool,
    pub action: ActionSpec,
}

/// A journaled step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: i64,
    pub incident: IncidentUid,
    pub plan: PlanId,
    pub step: u32,
    pub rollback: bool,
    pub action: ActionSpec,
    pub state: StepState,
    pub intent_at: Timestamp,
    pub applied_at: Option<Timestamp>,
    /// When it reached verified, failed or rolled-back.
    pub finished_at: Option<Timestamp>,
    pub error: Option<String>,
}

const JOURNAL_COLUMNS: &str = "id, incident_uid, plan_id, step_index, rollback, action, state, intent_at_us, \
     applied_at_us, finished_at_us, error";

fn read_entry(row: &rusqlite::Row<'_>) -> Result<JournalEntry> {
    let get_err = |source| Error::Sqlite { doing: "reading the action journal", source };
    let id: i64 = row.get(0).map_err(get_err)?;
    let text = |i: usize| row.get::<_, String>(i).map_err(get_err);
    Ok(JournalEntry {
        id,
        incident: codec::parse(&text(1)?, "journal", id, "incident_uid")?,
        plan: codec::parse(&text(2)?, "journal", id, "plan_id")?,
        step: row.get(3).map_err(get_err)?,
        rollback: row.get(4).map_err(get_err)?,
        action: codec::from_json(&text(5)?, "journal", id, "action")?,
        state: codec::parse(&text(6)?, "journal", id, "state")?,
        intent_at: codec::timestamp(row.get(7).map_err(get_err)?, "journal", id, "intent_at_us")?,
        applied_at: codec::opt_timestamp(row.get(8).map_err(get_err)?, "journal", id, "applied_at_us")?,
        finished_at: codec::opt_timestamp(row.get(9).map_err(get_err)?, "journal", id, "finished_at_us")?,
        error: row.get(10).map_err(get_err)?,
    })
}

fn query_entries(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<JournalEntry>> {
    let mut stmt = conn.prepare_cached(sql).doing("reading the action journal")?;
    let mut rows = stmt.query(params).doing("reading the action journal")?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next().doing("reading the action journal")? {
        entries.push(read_entry(row)?);
    }
    Ok(entries)
}

impl Store {
    /// Step 1 of the protocol: records the intent to apply a step; returns the entry's id. Refuses a step
    /// already journaled (whatever its state), so that it is never applied twice.
    pub async fn journal_intent(&self, intent: StepIntent) -> Result<i64> {
        let action = codec::to_json(&intent.action, "a journaled action")?;
        self.write(move |ctx| {
            let existing: Option<String> = ctx.with(
                "SELECT state FROM journal WHERE plan_id = ?1 AND step_index = ?2 AND rollback = ?3",
                "checking the action journal",
                |stmt| {
                    stmt.query_row(params![intent.plan.to_string(), intent.step, intent.rollback], |r| r.get(0))
                        .optional()
                },
            )?;
            if let Some(state) = existing {
                let state = codec::parse(&state, "journal", intent.plan, "state")?;
                return Err(Error::StepAlreadyJournaled {
                    plan: intent.plan,
                    step: intent.step,
                    rollback: intent.rollback,
                    state,
                });
            }
            ctx.with(
                "INSERT INTO journal (incident_uid, plan_id, step_index, rollback, action, state, intent_at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'intent', ?6)",
                "journaling a step's intent",
                |stmt| {
                    stmt.insert(params![
                        intent.incident.to_string(),
                        intent.plan.to_string(),
                        intent.step,
                        intent.rollback,
                        action,
                        micros(ctx.clock.now())
                    ])
                },
            )
        })
        .await
    }

    /// Moves a journaled step to `state` (with the error, for `failed`). Refuses moves the protocol does
    /// not allow (see [`StepState::can_move_to`]).
    pub async fn journal_mark(&self, id: i64, state: StepState, error: Option<String>) -> Result<()> {
        self.write(move |ctx| {
            let current: Option<String> =
                ctx.with("SELECT state FROM journal WHERE id = ?1", "reading a journaled step", |stmt| {
                    stmt.query_row(params![id], |r| r.get(0)).optional()
                })?;
            let current: StepState =
                codec::parse(&current.ok_or(Error::JournalEntryNotFound(id))?, "journal", id, "state")?;
            if !current.can_move_to(state) {
                return Err(Error::InvalidStepTransition { id, from: current, to: state });
            }
            if current == state {
                return Ok(());
            }
            let now = micros(ctx.clock.now());
            let sql = if state == StepState::Applied {
                "UPDATE journal SET state = ?2, applied_at_us = ?3, error = COALESCE(?4, error) WHERE id = ?1"
            } else {
                "UPDATE journal SET state = ?2, finished_at_us = ?3, error = COALESCE(?4, error) WHERE id = ?1"
            };
            ctx.with(sql, "updating a journaled step", |stmt| stmt.execute(params![id, state.as_str(), now, error]))?;
            Ok(())
        })
        .await
    }

    /// The steps left in `intent` or `applied`, oldest first: what a restarted Executor must resolve.
    pub async fn pending_steps(&self) -> Result<Vec<JournalEntry>> {
        self.read(|conn| {
            let sql = format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE state IN ('intent', 'applied') ORDER BY id");
            query_entries(conn, &sql, [])
        })
        .await
    }

    /// Every journaled step of a plan, in the order they were journaled.
    pub async fn plan_steps(&self, plan: PlanId) -> Result<Vec<JournalEntry>> {
        self.read(move |conn| {
            let sql = format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE plan_id = ?1 ORDER BY id");
            query_entries(conn, &sql, params![plan.to_string()])
        })
        .await
    }

    /// Every journaled step of an incident, in the order they were journaled.
    pub async fn incident_steps(&self, incident: IncidentUid) -> Result<Vec<JournalEntry>> {
        self.read(move |conn| {
            let sql = format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE incident_uid = ?1 ORDER BY id");
            query_entries(conn, &sql, params![incident.to_string()])
        })
        .await
    }
}
