//! Plans waiting for a human's approval, and the verdicts they got.
use jiff::Timestamp;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use medic_core::{Plan, PlanId};

use crate::codec::{self, micros};
use crate::error::{Context, Error, Result};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    Pending,
    Approved,
    Rejected,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Pending => "pending",
            PlanStatus::Approved => "approved",
            PlanStatus::Rejected => "rejected",
        }
    }
}

impl fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlanStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(PlanStatus::Pending),
            "approved" => Ok(PlanStatus::Approved),
            "rejected" => Ok(PlanStatus::Rejected),
            other => Err(format!("unknown plan status {other:?}")),
        }
    }
}

/// A stored plan and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    pub plan: Plan,
    pub status: PlanStatus,
    pub created_at: Timestamp,
    /// Who answered (`slack:U123`, `api:alice`), once someone did.
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
}

const PLAN_COLUMNS: &str = "id, plan, status, created_at_us, decided_by, decided_at_us";

fn read_plan(row: &rusqlite::Row<'_>) -> Result<StoredPlan> {
    let get_err = |source| Error::Sqlite { doing: "reading a plan", source };
    let id: String = row.get(0).map_err(get_err)?;
    let plan: String = row.get(1).map_err(get_err)?;
    let status: String = row.get(2).map_err(get_err)?;
    Ok(StoredPlan {
        plan: codec::from_json(&plan, "plans", &id, "plan")?,
        status: codec::parse(&status, "plans", &id, "status")?,
        created_at: codec::timestamp(row.get(3).map_err(get_err)?, "plans", &id, "created_at_us")?,
        decided_by: row.get(4).map_err(get_err)?,
        decided_at: codec::opt_timestamp(row.get(5).map_err(get_err)?, "plans", &id, "decided_at_us")?,
    })
}

impl Store {
    /// Stores a plan as pending approval. A plan is stored once ([`Error::PlanExists`] otherwise).
    pub async fn save_plan(&self, plan: &Plan) -> Result<()> {
        let json = codec::to_json(plan, "a plan")?;
        let (id, incident) = (plan.id, plan.incident);
        self.write(move |ctx| {
            let inserted = ctx.with(
                "INSERT INTO plans (id, incident_uid, plan, status, created_at_us) VALUES (?1, ?2, ?3, 'pending', ?4)
                     ON CONFLICT (id) DO NOTHING",
                "storing a plan",
                |stmt| stmt.execute(params![id.to_string(), incident.to_string(), json, micros(ctx.clock.now())]),
            )?;
            if inserted == 0 {
                return Err(Error::PlanExists(id));
            }
            Ok(())
        })
        .await
    }

    /// The plan with this id.
    pub async fn plan(&self, id: PlanId) -> Result<Option<StoredPlan>> {
        self.read(move |conn| {
            let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?1");
            let mut stmt = conn.prepare_cached(&sql).doing("reading a plan")?;
            let mut rows = stmt.query(params![id.to_string()]).doing("reading a plan")?;
            match rows.next().doing("reading a plan")? {
                Some(row) => read_plan(row).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    /// Records a human's verdict on a pending plan, exactly once: a second verdict (even the same one) is
    /// refused with [`Error::PlanAlreadyDecided`], naming who decided first. Returns the decided plan.
    pub async fn decide_plan(&self, id: PlanId, approved: bool, by: impl Into<String>) -> Result<StoredPlan> {
        let by = by.into();
        self.write(move |ctx| {
            let status = if approved { PlanStatus::Approved } else { PlanStatus::Rejected };
            let now = micros(ctx.clock.now());
            let decided = ctx.with("UPDATE plans SET status = ?2, decided_by = ?3, decided_at_us = ?4 WHERE id = ?1 AND status = 'pending'", "recording a plan's verdict", |stmt| stmt.execute(params![id.to_string(), status.as_str(), by, now]))?;
            let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?1");
            let stored = {
                let mut stmt = ctx.conn.prepare_cached(&sql).doing("reading a plan")?;
                let mut rows = stmt.query(params![id.to_string()]).doing("reading a plan")?;
                match rows.next().doing("reading a plan")? {
                    Some(row) => Some(read_plan(row)?),
                    None => None,
                }
            };
            let stored = stored.ok_or(Error::PlanNotFound(id))?;
            if decided == 0 {
                return Err(Error::PlanAlreadyDecided {
                    plan: id,
                    status: stored.status,
                    by: stored.decided_by.unwrap_or_else(|| "unknown".into()),
                });
            }
            Ok(stored)
        })
        .await
    }

    /// Plans waiting for a verdict, oldest first.
    pub async fn pending_plans(&self) -> Result<Vec<StoredPlan>> {
        self.read(|conn| {
            let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE status = 'pending' ORDER BY created_at_us, id");
            let mut stmt = conn.prepare_cached(&sql).doing("listing pending plans")?;
            let mut rows = stmt.query([]).doing("listing pending plans")?;
            let mut plans = Vec::new();
            while let Some(row) = rows.next().doing("listing pending plans")? {
                plans.push(read_plan(row)?);
            }
            Ok(plans)
        })
        .await
    }
}
