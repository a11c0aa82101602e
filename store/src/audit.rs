//! The audit trail: append-only, hash-chained rows, one per step of an incident's life.
//!
//! Row `seq` (1, 2, 3, ... without gaps) stores `hash = hex(SHA-256(record ‖ prev_hash))`, where
//! `prev_hash` is the previous row's `hash` (64 zeros for row 1), both as 64 lowercase hex characters,
//! and `record` is the [canonical JSON](crate::canonical) of
//!
//! ```json
//! {"actor":"executor","at":1763822465459000,"detail":{...},"incident":"0193...","kind":"action-applied",
//!  "seq":7,"summary":"scaled shop/cart to 3"}
//! ```
//!
//! with `at` in microseconds since the Unix epoch, `incident` the hyphenated Incident-UID or `null`, `kind`
//! the kebab-case [`AuditKind`] and `detail` the entry's detail as canonical JSON (stored in that form, so
//! the stored text is exactly what was hashed). Changing any field of a row, removing a row or moving rows
//! breaks the chain at the first row concerned, which [`Store::verify_audit`] reports. The table refuses
//! UPDATE and DELETE (triggers), and `audit_head` keeps the last row's seq and hash so that removing rows
//! from the end is detected too.
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::fmt;

use medic_core::ports::AuditSink;
use medic_core::{AuditEntry, AuditKind, IncidentUid};

use crate::canonical;
use crate::codec::{self, micros};
use crate::error::{Context, Error, Result};
use crate::store::Store;
use crate::writer::WriteCtx;

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain's last row as the writer knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    /// Reads the head the file recorded, or the last row if an older writer did not record one.
    pub(crate) fn load(conn: &Connection) -> Result<ChainHead> {
        let recorded = conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok(ChainHead { seq: r.get(0)?, hash: r.get(1)? })
            })
            .optional()
            .doing("reading the audit chain's head")?;
        let last = conn
            .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
                Ok(ChainHead { seq: r.get(0)?, hash: r.get(1)? })
            })
            .optional()
            .doing("reading the audit chain's last row")?;
        // Continue after whichever is further along, so that new rows never reuse a seq.
        Ok(match (recorded, last) {
            (Some(head), Some(last)) if last.seq > head.seq => last,
            (Some(head), _) => head,
            (None, Some(last)) => last,
            (None, None) => ChainHead { seq: 0, hash: GENESIS_HASH.to_string() },
        })
    }
}

/// One stored audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// Why the chain is broken at a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditBreakKind {
    /// The row's content no longer matches its hash.
    Altered,
    /// The row is missing (a gap in seq, or rows removed from the end).
    Removed,
    /// The row links to another existing row than the one before it: rows were moved.
    Reordered,
    /// The row links to a hash no row has: its predecessor was removed or rewritten.
    BrokenLink,
}

impl fmt::Display for AuditBreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuditBreakKind::Altered => "altered",
            AuditBreakKind::Removed => "removed",
            AuditBreakKind::Reordered => "reordered",
            AuditBreakKind::BrokenLink => "broken link",
        })
    }
}

/// The first row at which the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBreak {
    pub seq: i64,
    pub kind: AuditBreakKind,
    /// What was found, for a human.
    pub detail: String,
}

impl fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit row {} {}: {}", self.seq, self.kind, self.detail)
    }
}

/// `hash` of a row, from its stored columns (`detail` as stored: canonical JSON text).
#[allow(clippy::too_many_arguments)]
pub fn row_hash(
    seq: i64,
    incident: Option<&str>,
    at_us: i64,
    kind: &str,
    actor: &str,
    summary: &str,
    detail: &str,
    prev_hash: &str,
) -> String {
    let mut record = Vec::with_capacity(160 + summary.len() + detail.len());
    record.extend_from_slice(b"{\"actor\":");
    canonical::write_str(actor, &mut record);
    record.extend_from_slice(b",\"at\":");
    record.extend_from_slice(at_us.to_string().as_bytes());
    record.extend_from_slice(b",\"detail\":");
    record.extend_from_slice(detail.as_bytes());
    record.extend_from_slice(b",\"incident\":");
    match incident {
        Some(uid) => canonical::write_str(uid, &mut record),
        None => record.extend_from_slice(b"null"),
    }
    record.extend_from_slice(b",\"kind\":");
    canonical::write_str(kind, &mut record);
    record.extend_from_slice(b",\"seq\":");
    record.extend_from_slice(seq.to_string().as_bytes());
    record.extend_from_slice(b",\"summary\":");
    canonical::write_str(summary, &mut record);
    record.push(b'}');
    let mut hasher = Sha256::new();
    hasher.update(&record);
    hasher.update(prev_hash.as_bytes());
    hex::encode(hasher.finalize())
}

/// Appends one row on the writer; returns its seq.
pub(crate) fn append(ctx: &mut WriteCtx<'_, '_>, entry: &AuditEntry) -> Result<i64> {
    let seq = ctx.chain.seq + 1;
    let incident = entry.incident.map(|uid| uid.to_string());
    let at_us = micros(entry.at);
    let detail = canonical::to_string(&entry.detail);
    let kind = entry.kind.as_str();
    let hash = row_hash(seq, incident.as_deref(), at_us, kind, &entry.actor, &entry.summary, &detail, &ctx.chain.hash);
    ctx.with(
        "INSERT INTO audit (seq, incident_uid, at_us, kind, actor, summary, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        "appending to the audit trail",
        |stmt| {
            stmt.execute(params![seq, incident, at_us, kind, entry.actor, entry.summary, detail, ctx.chain.hash, hash])
        },
    )?;
    ctx.chain.seq = seq;
    ctx.chain.hash = hash;
    Ok(seq)
}

const RECORD_COLUMNS: &str = "seq, incident_uid, at_us, kind, actor, summary, detail, prev_hash, hash";

fn read_record(row: &rusqlite::Row<'_>) -> Result<AuditRecord> {
    let seq: i64 = row.get(0).doing("reading an audit row")?;
    let incident: Option<String> = row.get(1).doing("reading an audit row")?;
    let at_us: i64 = row.get(2).doing("reading an audit row")?;
    let kind: String = row.get(3).doing("reading an audit row")?;
    let detail: String = row.get(6).doing("reading an audit row")?;
    let kind: AuditKind = codec::from_json(&format!("\"{kind}\""), "audit", seq, "kind")?;
    Ok(AuditRecord {
        seq,
        entry: AuditEntry {
            incident: incident.map(|s| codec::parse::<IncidentUid>(&s, "audit", seq, "incident_uid")).transpose()?,
            at: codec::timestamp(at_us, "audit", seq, "at_us")?,
            kind,
            actor: row.get(4).doing("reading an audit row")?,
            summary: row.get(5).doing("reading an audit row")?,
            detail: codec::from_json(&detail, "audit", seq, "detail")?,
        },
        prev_hash: row.get(7).doing("reading an audit row")?,
        hash: row.get(8).doing("reading an audit row")?,
    })
}

fn query_records(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare_cached(sql).doing("reading the audit trail")?;
    let mut rows = stmt.query(params).doing("reading the audit trail")?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().doing("reading the audit trail")? {
        records.push(read_record(row)?);
    }
    Ok(records)
}

impl Store {
    /// Appends an entry to the audit trail; returns its seq once it is committed.
    pub async fn append_audit(&self, entry: AuditEntry) -> Result<i64> {
        self.write(move |ctx| append(ctx, &entry)).await
    }

    /// Appends several entries in order, atomically; returns their seqs.
    pub async fn append_audit_all(&self, entries: Vec<AuditEntry>) -> Result<Vec<i64>> {
        self.write(move |ctx| entries.iter().map(|entry| append(ctx, entry)).collect()).await
    }

    /// The entries of an incident, oldest first.
    pub async fn timeline(&self, incident: IncidentUid) -> Result<Vec<AuditRecord>> {
        self.read(move |conn| {
            let sql = format!("SELECT {RECORD_COLUMNS} FROM audit WHERE incident_uid = ?1 ORDER BY seq");
            query_records(conn, &sql, params![incident.to_string()])
        })
        .await
    }

    /// Up to `limit` rows with seq greater than `after`, in order (the whole trail, page by page).
    pub async fn audit_after(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let sql = format!("SELECT {RECORD_COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2");
            query_records(conn, &sql, params![after, limit])
        })
        .await
    }

    /// Checks the whole chain. `Ok(rows)` when every row is intact, [`Error::AuditBroken`] naming the first
    /// row that was altered, removed or reordered otherwise.
    pub async fn verify_audit(&self) -> Result<u64> {
        self.read(verify).await
    }
}

/// Walks the chain in one read transaction (a consistent snapshot while the writer keeps appending).
pub(crate) fn verify(conn: &Connection) -> Result<u64> {
    let snapshot = conn.unchecked_transaction().doing("starting a read of the audit trail")?;
    let found = walk(&snapshot)?;
    snapshot.finish().doing("ending a read of the audit trail")?;
    match found {
        Ok(rows) => Ok(rows),
        Err(broken) => Err(Error::AuditBroken(broken)),
    }
}

fn walk(conn: &Connection) -> Result<Result<u64, AuditBreak>> {
    let mut stmt =
        conn.prepare(&format!("SELECT {RECORD_COLUMNS} FROM audit ORDER BY seq")).doing("verifying the audit trail")?;
    let mut rows = stmt.query([]).doing("verifying the audit trail")?;
    let mut expected_seq = 1i64;
    let mut expected_prev = GENESIS_HASH.to_string();
    while let Some(row) = rows.next().doing("verifying the audit trail")? {
        let seq: i64 = row.get(0).doing("verifying the audit trail")?;
        if seq != expected_seq {
            let detail = format!("the trail jumps from row {} to row {seq}", expected_seq - 1);
            return Ok(Err(AuditBreak { seq: expected_seq, kind: AuditBreakKind::Removed, detail }));
        }
        let text = |i: usize| row.get::<_, String>(i).doing("verifying the audit trail");
        let incident: Option<String> = row.get(1).doing("verifying the audit trail")?;
        let at_us: i64 = row.get(2).doing("verifying the audit trail")?;
        let (kind, actor, summary, detail) = (text(3)?, text(4)?, text(5)?, text(6)?);
        let (prev_hash, hash) = (text(7)?, text(8)?);
        let computed = row_hash(seq, incident.as_deref(), at_us, &kind, &actor, &summary, &detail, &prev_hash);
        if prev_hash != expected_prev {
            drop(rows);
            return Ok(Err(link_break(conn, seq, &prev_hash, computed == hash)?));
        }
        if computed != hash {
            let detail = "its content does not match its hash".to_string();
            return Ok(Err(AuditBreak { seq, kind: AuditBreakKind::Altered, detail }));
        }
        expected_prev = hash;
        expected_seq += 1;
    }
    let last = expected_seq - 1;
    let head = conn
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()
        .doing("reading the audit chain's head")?;
    match head {
        Some((head_seq, _)) if head_seq > last => {
            let detail = format!("the trail ends at row {last} but was written up to row {head_seq}");
            Ok(Err(AuditBreak { seq: last + 1, kind: AuditBreakKind::Removed, detail }))
        }
        Some((head_seq, head_hash)) if head_seq == last && head_hash != expected_prev => {
            let detail = "the last row's hash differs from the one recorded when it was written".to_string();
            Ok(Err(AuditBreak { seq: last, kind: AuditBreakKind::Altered, detail }))
        }
        _ => Ok(Ok(last as u64)),
    }
}

/// Row `seq` does not link to the row before it: find out what it links to.
fn link_break(conn: &Connection, seq: i64, prev_hash: &str, self_consistent: bool) -> Result<AuditBreak> {
    let target: Option<i64> = conn
        .query_row("SELECT seq FROM audit WHERE hash = ?1 LIMIT 1", params![prev_hash], |r| r.get(0))
        .optional()
        .doing("verifying the audit trail")?;
    Ok(match target {
        Some(other) => AuditBreak {
            seq,
            kind: AuditBreakKind::Reordered,
            detail: format!("it follows row {other}, not row {}", seq - 1),
        },
        None if !self_consistent => AuditBreak {
            seq,
            kind: AuditBreakKind::Altered,
            detail: "its content and its link to the previous row were changed".to_string(),
        },
        None => AuditBreak {
            seq,
            kind: AuditBreakKind::BrokenLink,
            detail: format!(
                "it links to a row that is no longer in the trail (row {} was removed or rewritten)",
                seq - 1
            ),
        },
    })
}

#[async_trait]
impl AuditSink for Store {
    async fn append(&self, entry: AuditEntry) -> medic_core::Result<()> {
        self.append_audit(entry).await.map(|_| ()).map_err(Error::into_port_error)
    }
}
