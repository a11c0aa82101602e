//! Specialists' track records: how often a specialist's hypothesis turned out right, so the Director can
//! weigh its confidence by its history.
use rusqlite::params;
use std::collections::BTreeMap;

use medic_core::{IncidentUid, RootCauseClass};

use crate::codec::{self, micros};
use crate::error::{Context, Result};
use crate::store::Store;

/// Confirmed and refuted hypotheses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub confirmed: u32,
    pub refuted: u32,
}

impl Tally {
    pub fn total(&self) -> u32 {
        self.confirmed + self.refuted
    }

    /// The share confirmed, with one imaginary success and one failure added (Laplace's rule), so that a
    /// specialist without history scores 0.5 and one lucky guess does not score 1.0.
    pub fn smoothed_accuracy(&self) -> f64 {
        (f64::from(self.confirmed) + 1.0) / (f64::from(self.total()) + 2.0)
    }
}

/// One specialist's record, overall and per root-cause class it proposed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackRecord {
    pub specialist: String,
    pub overall: Tally,
    pub by_class: BTreeMap<RootCauseClass, Tally>,
}

impl TrackRecord {
    /// The record for one class (empty when the specialist never proposed it).
    pub fn class(&self, class: RootCauseClass) -> Tally {
        self.by_class.get(&class).copied().unwrap_or_default()
    }
}

fn read_records(conn: &rusqlite::Connection, specialist: Option<&str>) -> Result<Vec<TrackRecord>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT specialist, class, SUM(confirmed), SUM(1 - confirmed) FROM specialist_outcomes
             WHERE ?1 IS NULL OR specialist = ?1
             GROUP BY specialist, class ORDER BY specialist, class",
        )
        .doing("reading track records")?;
    let mut rows = stmt.query(params![specialist]).doing("reading track records")?;
    let mut records: Vec<TrackRecord> = Vec::new();
    while let Some(row) = rows.next().doing("reading track records")? {
        let get = |i| row.get::<_, String>(i).doing("reading track records");
        let (name, class) = (get(0)?, get(1)?);
        let class: RootCauseClass = codec::parse(&class, "specialist_outcomes", &name, "class")?;
        let tally = Tally {
            confirmed: row.get(2).doing("reading track records")?,
            refuted: row.get(3).doing("reading track records")?,
        };
        if records.last().is_none_or(|r| r.specialist != name) {
            records.push(TrackRecord { specialist: name, ..TrackRecord::default() });
        }
        if let Some(record) = records.last_mut() {
            record.overall.confirmed += tally.confirmed;
            record.overall.refuted += tally.refuted;
            record.by_class.insert(class, tally);
        }
    }
    Ok(records)
}

impl Store {
    /// Records whether `specialist`'s hypothesis of `class` for `incident` was confirmed. Recording the same
    /// (specialist, incident, class) again replaces the earlier verdict, so a replay does not count twice.
    pub async fn record_specialist_outcome(
        &self,
        specialist: impl Into<String>,
        incident: IncidentUid,
        class: RootCauseClass,
        confirmed: bool,
    ) -> Result<()> {
        let specialist = specialist.into();
        self.write(move |ctx| {
            ctx.with("INSERT INTO specialist_outcomes (specialist, incident_uid, class, confirmed, at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (specialist, incident_uid, class) DO UPDATE SET confirmed = excluded.confirmed, at_us = excluded.at_us", "recording a specialist's outcome", |stmt| {
                    stmt.execute(params![specialist, incident.to_string(), class.as_str(), confirmed, micros(ctx.clock.now())])
                })?;
            Ok(())
        })
        .await
    }

    /// One specialist's record (empty when it has none yet).
    pub async fn track_record(&self, specialist: impl Into<String>) -> Result<TrackRecord> {
        let specialist = specialist.into();
        self.read(move |conn| {
            let mut records = read_records(conn, Some(&specialist))?;
            Ok(records.pop().unwrap_or(TrackRecord { specialist, ..TrackRecord::default() }))
        })
        .await
    }

    /// Every specialist's record, by name.
    pub async fn track_records(&self) -> Result<Vec<TrackRecord>> {
        self.read(|conn| read_records(conn, None)).await
    }
}
