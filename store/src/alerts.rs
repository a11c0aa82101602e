//! Stored alerts. [`crate::Store::ingest`] writes them; this module reads them back.
use jiff::Timestamp;
use rusqlite::params;

use medic_core::{Alert, AlertSource, AlertStatus, IncidentUid};

use crate::codec;
use crate::error::{Context, Error, Result};
use crate::store::Store;

/// An alert row: the alert as received, plus what the store derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    /// The incident it was grouped into (`None` for a resolution of an alert medic never saw firing, when no
    /// open incident matched it).
    pub incident: Option<IncidentUid>,
    pub alert: Alert,
    pub namespace: Option<String>,
    pub workload: Option<String>,
    pub received_at: Timestamp,
    /// The last change (its resolution).
    pub updated_at: Timestamp,
}

pub(crate) const ALERT_COLUMNS: &str = "id, source, fingerprint, starts_at_us, status, ends_at_us, name, labels, \
     annotations, group_key, generator_url, namespace, workload, incident_uid, received_at_us, updated_at_us";

pub(crate) fn source_from_str(s: &str) -> Result<AlertSource, String> {
    match s {
        "alertmanager" => Ok(AlertSource::Alertmanager),
        "goalert" => Ok(AlertSource::Goalert),
        "generic" => Ok(AlertSource::Generic),
        "watch" => Ok(AlertSource::Watch),
        other => Err(format!("unknown alert source {other:?}")),
    }
}

pub(crate) fn status_from_str(s: &str) -> Result<AlertStatus, String> {
    match s {
        "firing" => Ok(AlertStatus::Firing),
        "resolved" => Ok(AlertStatus::Resolved),
        other => Err(format!("unknown alert status {other:?}")),
    }
}

fn corrupt(id: i64, field: &'static str) -> impl Fn(String) -> Error {
    move |message| Error::Corrupt { table: "alerts", row: id.to_string(), field, message }
}

pub(crate) fn read_alert(row: &rusqlite::Row<'_>) -> Result<AlertRecord> {
    let get_err = |source| Error::Sqlite { doing: "reading an alert", source };
    let id: i64 = row.get(0).map_err(get_err)?;
    let source: String = row.get(1).map_err(get_err)?;
    let status: String = row.get(4).map_err(get_err)?;
    let labels: String = row.get(7).map_err(get_err)?;
    let annotations: String = row.get(8).map_err(get_err)?;
    let incident: Option<String> = row.get(13).map_err(get_err)?;
    Ok(AlertRecord {
        id,
        incident: incident.map(|uid| codec::parse(&uid, "alerts", id, "incident_uid")).transpose()?,
        alert: Alert {
            source: source_from_str(&source).map_err(corrupt(id, "source"))?,
            status: status_from_str(&status).map_err(corrupt(id, "status"))?,
            fingerprint: row.get(2).map_err(get_err)?,
            name: row.get(6).map_err(get_err)?,
            labels: codec::from_json(&labels, "alerts", id, "labels")?,
            annotations: codec::from_json(&annotations, "alerts", id, "annotations")?,
            starts_at: codec::timestamp(row.get(3).map_err(get_err)?, "alerts", id, "starts_at_us")?,
            ends_at: codec::opt_timestamp(row.get(5).map_err(get_err)?, "alerts", id, "ends_at_us")?,
            group_key: row.get(9).map_err(get_err)?,
            generator_url: row.get(10).map_err(get_err)?,
        },
        namespace: row.get(11).map_err(get_err)?,
        workload: row.get(12).map_err(get_err)?,
        received_at: codec::timestamp(row.get(14).map_err(get_err)?, "alerts", id, "received_at_us")?,
        updated_at: codec::timestamp(row.get(15).map_err(get_err)?, "alerts", id, "updated_at_us")?,
    })
}

impl Store {
    /// The alert row with this id.
    pub async fn alert(&self, id: i64) -> Result<Option<AlertRecord>> {
        self.read(move |conn| {
            let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1");
            let mut stmt = conn.prepare_cached(&sql).doing("reading an alert")?;
            let mut rows = stmt.query(params![id]).doing("reading an alert")?;
            match rows.next().doing("reading an alert")? {
                Some(row) => read_alert(row).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    /// How many alert rows the store holds.
    pub async fn alert_count(&self) -> Result<u64> {
        self.read(|conn| codec::count(conn, "SELECT COUNT(*) FROM alerts", "counting alerts")).await
    }
}
