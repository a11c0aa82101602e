//! Incidents: what medic works on, one per group of related alerts.
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, ToSql, params};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use medic_core::{IncidentUid, ObjectRef, RootCauseClass};

use crate::alerts::{ALERT_COLUMNS, AlertRecord, read_alert};
use crate::codec::{self, micros};
use crate::error::{Context, Error, Result};
use crate::store::Store;

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentStatus {
    /// Opened by an alert; nothing done yet.
    Open,
    /// Context is being collected and the specialists are analysing it.
    Investigating,
    /// The Director has a root cause.
    Diagnosed,
    /// A plan waits for a human's approval.
    AwaitingApproval,
    /// The Executor is applying a plan.
    Acting,
    /// Applied; checking that the service recovered.
    Verifying,
    /// The fix worked (or the alerts resolved by themselves).
    Resolved,
    /// Handed to a human.
    Escalated,
    /// The fix failed (and was rolled back where possible).
    Failed,
    /// Done with; nothing more will happen.
    Closed,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 10] = [
        IncidentStatus::Open,
        IncidentStatus::Investigating,
        IncidentStatus::Diagnosed,
        IncidentStatus::AwaitingApproval,
        IncidentStatus::Acting,
        IncidentStatus::Verifying,
        IncidentStatus::Resolved,
        IncidentStatus::Escalated,
        IncidentStatus::Failed,
        IncidentStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Diagnosed => "diagnosed",
            IncidentStatus::AwaitingApproval => "awaiting-approval",
            IncidentStatus::Acting => "acting",
            IncidentStatus::Verifying => "verifying",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Escalated => "escalated",
            IncidentStatus::Failed => "failed",
            IncidentStatus::Closed => "closed",
        }
    }

    /// An open incident takes new alerts of its group and workload. Escalated and failed incidents stay
    /// open: a human is on them and new alerts belong with them; resolved and closed ones do not.
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentStatus::Resolved | IncidentStatus::Closed)
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentStatus::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = IncidentStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown incident status {s:?}: expected one of {}", names.join(", "))
        })
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub uid: IncidentUid,
    pub status: IncidentStatus,
    /// The first alert's name and summary.
    pub title: String,
    pub namespace: Option<String>,
    /// The workload its alerts group under (see [`crate::grouping`]).
    pub workload: Option<String>,
    /// The object the incident is about: the first alert's subject, then the diagnosed root cause's.
    pub target: Option<ObjectRef>,
    pub root_cause: Option<RootCauseClass>,
    /// The diagnosis as a human reads it.
    pub diagnosis: Option<String>,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    /// When it first became resolved or closed.
    pub resolved_at: Option<Timestamp>,
    /// Alerts grouped into it.
    pub alerts: u32,
    /// Of those, the ones still firing.
    pub firing: u32,
}

/// What the Director concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub class: RootCauseClass,
    /// The root cause's object (the failing dependency, not the symptom); keeps the current target when
    /// `None`.
    pub target: Option<ObjectRef>,
    pub summary: String,
}

/// Which incidents [`Store::incidents`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Any of these statuses; every status when empty.
    pub statuses: Vec<IncidentStatus>,
    pub namespace: Option<String>,
    pub limit: usize,
}

impl Default for IncidentFilter {
    fn default() -> Self {
        Self { statuses: Vec::new(), namespace: None, limit: 50 }
    }
}

impl IncidentFilter {
    pub fn status(mut self, status: IncidentStatus) -> Self {
        self.statuses.push(status);
        self
    }
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

const INCIDENT_COLUMNS: &str = "i.uid, i.status, i.title, i.namespace, i.workload, i.target, i.root_cause, \
     i.diagnosis, i.opened_at_us, i.updated_at_us, i.resolved_at_us, \
     (SELECT COUNT(*) FROM alerts a WHERE a.incident_uid = i.uid), \
     (SELECT COUNT(*) FROM alerts a WHERE a.incident_uid = i.uid AND a.status = 'firing')";

fn read_incident(row: &rusqlite::Row<'_>) -> Result<Incident> {
    let get_err = |e| Error::Sqlite { doing: "reading an incident", source: e };
    let uid: String = row.get(0).map_err(get_err)?;
    let text = |i: usize| row.get::<_, Option<String>>(i).map_err(get_err);
    let status: String = row.get(1).map_err(get_err)?;
    Ok(Incident {
        uid: codec::parse(&uid, "incidents", &uid, "uid")?,
        status: codec::parse(&status, "incidents", &uid, "status")?,
        title: row.get(2).map_err(get_err)?,
        namespace: text(3)?,
        workload: text(4)?,
        target: text(5)?.map(|t| codec::parse::<ObjectRef>(&t, "incidents", &uid, "target")).transpose()?,
        root_cause: text(6)?
            .map(|c| codec::parse::<RootCauseClass>(&c, "incidents", &uid, "root_cause"))
            .transpose()?,
        diagnosis: text(7)?,
        opened_at: codec::timestamp(row.get(8).map_err(get_err)?, "incidents", &uid, "opened_at_us")?,
        updated_at: codec::timestamp(row.get(9).map_err(get_err)?, "incidents", &uid, "updated_at_us")?,
        resolved_at: codec::opt_timestamp(row.get(10).map_err(get_err)?, "incidents", &uid, "resolved_at_us")?,
        alerts: row.get(11).map_err(get_err)?,
        firing: row.get(12).map_err(get_err)?,
    })
}

pub(crate) fn get_incident(conn: &Connection, uid: IncidentUid) -> Result<Option<Incident>> {
    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE i.uid = ?1");
    let mut stmt = conn.prepare_cached(&sql).doing("reading an incident")?;
    let mut rows = stmt.query(params![uid.to_string()]).doing("reading an incident")?;
    match rows.next().doing("reading an incident")? {
        Some(row) => read_incident(row).map(Some),
        None => Ok(None),
    }
}

fn list_incidents(conn: &Connection, filter: &IncidentFilter, open_only: bool) -> Result<Vec<Incident>> {
    let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE 1 = 1");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if open_only {
        sql.push_str(" AND i.is_open = 1");
    }
    if !filter.statuses.is_empty() {
        let marks: Vec<&str> = filter.statuses.iter().map(|_| "?").collect();
        sql.push_str(&format!(" AND i.status IN ({})", marks.join(", ")));
        args.extend(filter.statuses.iter().map(|s| Box::new(s.as_str()) as Box<dyn ToSql>));
    }
    if let Some(namespace) = &filter.namespace {
        sql.push_str(" AND i.namespace = ?");
        args.push(Box::new(namespace.clone()));
    }
    sql.push_str(" ORDER BY i.opened_at_us DESC, i.uid DESC LIMIT ?");
    args.push(Box::new(i64::try_from(filter.limit).unwrap_or(i64::MAX)));
    let mut stmt = conn.prepare(&sql).doing("listing incidents")?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter())).doing("listing incidents")?;
    let mut incidents = Vec::new();
    while let Some(row) = rows.next().doing("listing incidents")? {
        incidents.push(read_incident(row)?);
    }
    Ok(incidents)
}

impl Store {
    /// The incident with this uid.
    pub async fn incident(&self, uid: IncidentUid) -> Result<Option<Incident>> {
        self.read(move |conn| get_incident(conn, uid)).await
    }

    /// The incident a human named: its full uid, or its short form `inc-` + the uid's last 8 hex digits.
    /// `None` when no incident (or more than one, for a short form) matches.
    pub async fn find_incident(&self, reference: &str) -> Result<Option<Incident>> {
        let reference = reference.trim().to_ascii_lowercase();
        if let Ok(uid) = reference.parse::<IncidentUid>() {
            return self.incident(uid).await;
        }
        let Some(suffix) =
            reference.strip_prefix("inc-").filter(|s| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            return Ok(None);
        };
        let pattern = format!("%{suffix}");
        self.read(move |conn| {
            let mut stmt =
                conn.prepare("SELECT uid FROM incidents WHERE uid LIKE ?1 LIMIT 2").doing("finding an incident")?;
            let uids: Vec<String> = stmt
                .query_map(params![pattern], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .doing("finding an incident")?;
            match uids.as_slice() {
                [uid] => get_incident(conn, codec::parse(uid, "incidents", uid, "uid")?),
                _ => Ok(None),
            }
        })
        .await
    }

    /// Incidents matching `filter`, newest first.
    pub async fn incidents(&self, filter: IncidentFilter) -> Result<Vec<Incident>> {
        self.read(move |conn| list_incidents(conn, &filter, false)).await
    }

    /// Every open incident (not resolved or closed), newest first.
    pub async fn incidents_open(&self) -> Result<Vec<Incident>> {
        let filter = IncidentFilter { limit: usize::MAX, ..IncidentFilter::default() };
        self.read(move |conn| list_incidents(conn, &filter, true)).await
    }

    /// The alerts grouped into an incident, in the order they arrived.
    pub async fn incident_alerts(&self, uid: IncidentUid) -> Result<Vec<AlertRecord>> {
        self.read(move |conn| {
            let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE incident_uid = ?1 ORDER BY id");
            let mut stmt = conn.prepare_cached(&sql).doing("reading an incident's alerts")?;
            let mut rows = stmt.query(params![uid.to_string()]).doing("reading an incident's alerts")?;
            let mut alerts = Vec::new();
            while let Some(row) = rows.next().doing("reading an incident's alerts")? {
                alerts.push(read_alert(row)?);
            }
            Ok(alerts)
        })
        .await
    }

    /// Moves an incident to `status`; returns the status it had. Becoming resolved or closed records
    /// `resolved_at` (once) and stops the incident from taking new alerts.
    pub async fn set_incident_status(&self, uid: IncidentUid, status: IncidentStatus) -> Result<IncidentStatus> {
        self.write(move |ctx| {
            let previous: Option<String> = ctx
                .conn
                .query_row("SELECT status FROM incidents WHERE uid = ?1", params![uid.to_string()], |r| r.get(0))
                .optional()
                .doing("reading an incident's status")?;
            let previous = previous.ok_or(Error::IncidentNotFound(uid))?;
            let previous: IncidentStatus = codec::parse(&previous, "incidents", uid, "status")?;
            let now = micros(ctx.clock.now());
            let resolved_at = (!status.is_open()).then_some(now);
            ctx.with(
                "UPDATE incidents SET status = ?2, is_open = ?3, updated_at_us = ?4,
                        resolved_at_us = CASE WHEN ?5 IS NULL THEN NULL ELSE COALESCE(resolved_at_us, ?5) END
                     WHERE uid = ?1",
                "updating an incident's status",
                |stmt| stmt.execute(params![uid.to_string(), status.as_str(), status.is_open(), now, resolved_at]),
            )?;
            Ok(previous)
        })
        .await
    }

    /// Records the Director's diagnosis on an incident.
    pub async fn set_diagnosis(&self, uid: IncidentUid, diagnosis: Diagnosis) -> Result<()> {
        self.write(move |ctx| {
            let now = micros(ctx.clock.now());
            let changed = ctx.with(
                "UPDATE incidents SET root_cause = ?2, target = COALESCE(?3, target), diagnosis = ?4,
                        updated_at_us = ?5
                     WHERE uid = ?1",
                "recording a diagnosis",
                |stmt| {
                    stmt.execute(params![
                        uid.to_string(),
                        diagnosis.class.as_str(),
                        diagnosis.target.as_ref().map(ToString::to_string),
                        diagnosis.summary,
                        now
                    ])
                },
            )?;
            if changed == 0 {
                return Err(Error::IncidentNotFound(uid));
            }
            Ok(())
        })
        .await
    }
}
