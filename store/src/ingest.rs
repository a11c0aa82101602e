//! Durable intake: deduplicate alerts, group them into incidents, record both in the audit trail.
//!
//! An alert is identified by (source, fingerprint, startsAt): a redelivery of the same pair changes nothing
//! and is reported as a duplicate. A new firing alert joins
//! 1. the incident that the latest alert with the same group key and namespace joined, while it is open,
//!    or else
//! 2. the newest open incident of the same namespace and workload (see [`crate::grouping`]) opened within
//!    the grouping window, or else
//! 3. a new incident (a fresh UUID v7 Incident-UID).
//!
//! Alerts of different namespaces never share an incident (alerts without a namespace only share with
//! each other). A resolved alert marks its row resolved and is recorded on its incident; a resolution
//! medic never saw firing is stored too, attached to a matching open incident if there is one, and never
//! opens an incident. Everything an ingest call does commits in one transaction together with its audit
//! entries (`incident-opened`, `alert-received`, `alert-resolved`, actor `intake`).
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde_json::json;

use medic_core::{Alert, AlertStatus, AuditEntry, AuditKind, IncidentUid};

use crate::audit;
use crate::codec::{self, micros};
use crate::error::Result;
use crate::grouping::{AlertSubject, subject_of};
use crate::incidents::IncidentStatus;
use crate::store::Store;
use crate::writer::WriteCtx;

/// What happened to one alert of an [`Store::ingest`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestedAlert {
    /// The alert as given.
    pub alert: Alert,
    /// Its row (the existing row for a duplicate).
    pub id: i64,
    pub incident: Option<IncidentUid>,
    /// This call stored the alert for the first time.
    pub new_alert: bool,
    /// This call opened `incident` for it.
    pub new_incident: bool,
    /// This call recorded the alert's resolution.
    pub resolved: bool,
}

impl IngestedAlert {
    /// A redelivery: nothing changed.
    pub fn duplicate(&self) -> bool {
        !self.new_alert && !self.resolved
    }
}

/// The result of an ingest call, one entry per alert in the order given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngestOutcome {
    pub alerts: Vec<IngestedAlert>,
}

impl IngestOutcome {
    /// The incidents this call opened, in the order they were opened.
    pub fn new_incidents(&self) -> Vec<IncidentUid> {
        self.alerts.iter().filter(|a| a.new_incident).filter_map(|a| a.incident).collect()
    }

    /// The alerts of this call that went to `incident` and changed something.
    pub fn alerts_of(&self, incident: IncidentUid) -> impl Iterator<Item = &IngestedAlert> {
        self.alerts.iter().filter(move |a| a.incident == Some(incident) && !a.duplicate())
    }

    pub fn duplicates(&self) -> usize {
        self.alerts.iter().filter(|a| a.duplicate()).count()
    }
}

impl Store {
    /// Stores alerts (deduplicated and grouped, see the [module docs](crate::ingest)) and answers once
    /// they are committed: an `Ok` means every alert survives a crash of medic.
    pub async fn ingest(&self, alerts: Vec<Alert>) -> Result<IngestOutcome> {
        self.write(move |ctx| {
            let now = ctx.clock.now();
            let mut outcome = IngestOutcome { alerts: Vec::with_capacity(alerts.len()) };
            // Incidents that got an alert or a resolution, touched once per call rather than per alert.
            let mut touched: Vec<IncidentUid> = Vec::new();
            for alert in alerts {
                let ingested = ingest_one(ctx, alert, now)?;
                if let Some(uid) = ingested.incident.filter(|uid| !ingested.duplicate() && !touched.contains(uid)) {
                    touched.push(uid);
                }
                outcome.alerts.push(ingested);
            }
            for uid in touched {
                touch_incident(ctx, uid, now)?;
            }
            Ok(outcome)
        })
        .await
    }
}

fn ingest_one(ctx: &mut WriteCtx<'_, '_>, alert: Alert, now: Timestamp) -> Result<IngestedAlert> {
    let existing = ctx.with(
        "SELECT id, status, incident_uid FROM alerts WHERE starts_at_us = ?3 AND fingerprint = ?2 AND source = ?1",
        "looking up an alert",
        |stmt| {
            stmt.query_row(params![alert.source.as_str(), alert.fingerprint, micros(alert.starts_at)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
            })
            .optional()
        },
    )?;
    match existing {
        Some((id, status, incident)) => {
            let incident =
                incident.map(|uid| codec::parse::<IncidentUid>(&uid, "alerts", id, "incident_uid")).transpose()?;
            let resolves = alert.status == AlertStatus::Resolved && status == AlertStatus::Firing.as_str();
            if resolves {
                resolve_existing(ctx, id, incident, &alert, now)?;
            }
            Ok(IngestedAlert { alert, id, incident, new_alert: false, new_incident: false, resolved: resolves })
        }
        None => insert_new(ctx, alert, now),
    }
}

fn resolve_existing(
    ctx: &mut WriteCtx<'_, '_>,
    id: i64,
    incident: Option<IncidentUid>,
    alert: &Alert,
    now: Timestamp,
) -> Result<()> {
    let ends_at = alert.ends_at.unwrap_or(now);
    ctx.with(
        "UPDATE alerts SET status = 'resolved', ends_at_us = ?2, updated_at_us = ?3 WHERE id = ?1",
        "recording an alert's resolution",
        |stmt| stmt.execute(params![id, micros(ends_at), micros(now)]),
    )?;
    if let Some(uid) = incident {
        audit::append(ctx, &resolved_entry(uid, id, alert, ends_at, now))?;
    }
    Ok(())
}

fn insert_new(ctx: &mut WriteCtx<'_, '_>, alert: Alert, now: Timestamp) -> Result<IngestedAlert> {
    let subject = subject_of(&alert);
    let firing = alert.status == AlertStatus::Firing;
    let (mut incident, linked) = find_open_incident(ctx, &alert, &subject, now)?;
    let mut new_incident = false;
    if incident.is_none() && firing {
        incident = Some(open_incident(ctx, &alert, &subject, now)?);
        new_incident = true;
    }
    if let Some(uid) = incident {
        link_group(ctx, &alert, &subject, uid, linked.as_deref())?;
    }
    let ends_at = if firing { alert.ends_at } else { Some(alert.ends_at.unwrap_or(now)) };
    let labels = codec::to_json(&alert.labels, "alert labels")?;
    let annotations = codec::to_json(&alert.annotations, "alert annotations")?;
    let id = ctx.with(
        "INSERT INTO alerts (source, fingerprint, starts_at_us, status, ends_at_us, name, labels, annotations,
                group_key, generator_url, namespace, workload, incident_uid, received_at_us, updated_at_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
        "storing an alert",
        |stmt| {
            stmt.insert(params![
                alert.source.as_str(),
                alert.fingerprint,
                micros(alert.starts_at),
                alert.status.as_str(),
                ends_at.map(micros),
                alert.name,
                labels,
                annotations,
                alert.group_key,
                alert.generator_url,
                subject.namespace,
                subject.workload,
                incident.map(|uid| uid.to_string()),
                micros(now),
            ])
        },
    )?;
    if let Some(uid) = incident {
        let entry = if firing {
            received_entry(uid, id, &alert, now)
        } else {
            resolved_entry(uid, id, &alert, ends_at.unwrap_or(now), now)
        };
        audit::append(ctx, &entry)?;
    }
    Ok(IngestedAlert { alert, id, incident, new_alert: true, new_incident, resolved: !firing })
}

/// The open incident a new alert joins, if any: the incident its group's latest alert joined, while that
/// is open; otherwise the newest open incident of its workload, if opened within the window. Also says
/// which incident the group's row currently points to, so that [`link_group`] writes only on a change.
fn find_open_incident(
    ctx: &WriteCtx<'_, '_>,
    alert: &Alert,
    subject: &AlertSubject,
    now: Timestamp,
) -> Result<(Option<IncidentUid>, Option<String>)> {
    let mut found: Option<String> = None;
    let mut linked: Option<String> = None;
    if let Some(group_key) = &alert.group_key {
        let namespace = subject.namespace.as_deref().unwrap_or("");
        let group = ctx.with(
            "SELECT g.incident_uid, i.is_open FROM incident_groups g JOIN incidents i ON i.uid = g.incident_uid
             WHERE g.group_key = ?1 AND g.namespace = ?2",
            "looking for an open incident of the alert's group",
            |s| {
                s.query_row(params![group_key, namespace], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
                    .optional()
            },
        )?;
        if let Some((uid, open)) = group {
            found = open.then(|| uid.clone());
            linked = Some(uid);
        }
    }
    if found.is_none()
        && let Some(workload) = &subject.workload
    {
        // The SQL is chosen by whether the alert has a namespace (`= ?` or `IS NULL`) rather than written
        // with `IS ?`, whose plan depends on the bound value. The newest open incident of the workload is
        // the only candidate: if it is outside the window, so are the older ones.
        const BY_WORKLOAD: &str = "SELECT uid, opened_at_us FROM incidents
             WHERE is_open = 1 AND namespace = ?1 AND workload = ?2 ORDER BY opened_at_us DESC LIMIT 1";
        const BY_WORKLOAD_NO_NAMESPACE: &str = "SELECT uid, opened_at_us FROM incidents
             WHERE is_open = 1 AND namespace IS NULL AND workload = ?1 ORDER BY opened_at_us DESC LIMIT 1";
        let since = micros(now).saturating_sub(ctx.group_window_us);
        let doing = "looking for an open incident of the alert's workload";
        let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?));
        let newest = match &subject.namespace {
            Some(ns) => ctx.with(BY_WORKLOAD, doing, |s| s.query_row(params![ns, workload], row).optional()),
            None => ctx.with(BY_WORKLOAD_NO_NAMESPACE, doing, |s| s.query_row(params![workload], row).optional()),
        }?;
        found = newest.filter(|(_, opened_at)| *opened_at >= since).map(|(uid, _)| uid);
    }
    let found = found.map(|uid| codec::parse(&uid, "incidents", &uid, "uid")).transpose()?;
    Ok((found, linked))
}

/// Points the alert's group at the incident the alert joined, unless it already points there.
fn link_group(
    ctx: &WriteCtx<'_, '_>,
    alert: &Alert,
    subject: &AlertSubject,
    incident: IncidentUid,
    linked: Option<&str>,
) -> Result<()> {
    let Some(group_key) = &alert.group_key else { return Ok(()) };
    let uid = incident.to_string();
    if linked == Some(uid.as_str()) {
        return Ok(());
    }
    ctx.with(
        "INSERT INTO incident_groups (group_key, namespace, incident_uid) VALUES (?1, ?2, ?3)
         ON CONFLICT (group_key, namespace) DO UPDATE SET incident_uid = excluded.incident_uid",
        "linking an alert group to its incident",
        |s| s.execute(params![group_key, subject.namespace.as_deref().unwrap_or(""), uid]),
    )?;
    Ok(())
}

fn open_incident(
    ctx: &mut WriteCtx<'_, '_>,
    alert: &Alert,
    subject: &AlertSubject,
    now: Timestamp,
) -> Result<IncidentUid> {
    let uid = IncidentUid::new();
    let title = incident_title(alert, subject);
    let status = IncidentStatus::Open;
    ctx.with(
        "INSERT INTO incidents (uid, status, is_open, title, namespace, workload, target, opened_at_us, updated_at_us)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?7)",
        "opening an incident",
        |stmt| {
            stmt.execute(params![
                uid.to_string(),
                status.as_str(),
                title,
                subject.namespace,
                subject.workload,
                subject.target.as_ref().map(ToString::to_string),
                micros(now),
            ])
        },
    )?;
    let entry = AuditEntry {
        incident: Some(uid),
        at: now,
        kind: AuditKind::IncidentOpened,
        actor: "intake".into(),
        summary: format!("incident opened: {title}"),
        detail: json!({
            "namespace": subject.namespace,
            "workload": subject.workload,
            "target": subject.target.as_ref().map(ToString::to_string),
            "group_key": alert.group_key,
        }),
    };
    audit::append(ctx, &entry)?;
    Ok(uid)
}

/// `KubePodCrashLooping (default/web): Pod is crash looping.`
fn incident_title(alert: &Alert, subject: &AlertSubject) -> String {
    let mut title = alert.name.clone();
    match (&subject.namespace, &subject.workload) {
        (Some(ns), Some(workload)) => title.push_str(&format!(" ({ns}/{workload})")),
        (None, Some(workload)) => title.push_str(&format!(" ({workload})")),
        (Some(ns), None) => title.push_str(&format!(" ({ns})")),
        (None, None) => {}
    }
    let summary = alert.summary();
    if summary != alert.name {
        title.push_str(": ");
        title.push_str(summary);
    }
    title
}

fn touch_incident(ctx: &WriteCtx<'_, '_>, uid: IncidentUid, now: Timestamp) -> Result<()> {
    ctx.with(
        "UPDATE incidents SET updated_at_us = MAX(updated_at_us, ?2) WHERE uid = ?1",
        "updating an incident",
        |stmt| stmt.execute(params![uid.to_string(), micros(now)]),
    )?;
    Ok(())
}

fn received_entry(incident: IncidentUid, id: i64, alert: &Alert, now: Timestamp) -> AuditEntry {
    AuditEntry {
        incident: Some(incident),
        at: now,
        kind: AuditKind::AlertReceived,
        actor: "intake".into(),
        summary: format!("{} firing: {}", alert.name, alert.summary()),
        detail: json!({
            "alert_id": id,
            "source": alert.source.as_str(),
            "fingerprint": alert.fingerprint,
            "starts_at": alert.starts_at.to_string(),
            "labels": alert.labels,
            "group_key": alert.group_key,
        }),
    }
}

fn resolved_entry(incident: IncidentUid, id: i64, alert: &Alert, ends_at: Timestamp, now: Timestamp) -> AuditEntry {
    AuditEntry {
        incident: Some(incident),
        at: now,
        kind: AuditKind::AlertResolved,
        actor: "intake".into(),
        summary: format!("{} resolved", alert.name),
        detail: json!({
            "alert_id": id,
            "source": alert.source.as_str(),
            "fingerprint": alert.fingerprint,
            "starts_at": alert.starts_at.to_string(),
            "ends_at": ends_at.to_string(),
        }),
    }
}
