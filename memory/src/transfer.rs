//! `medic memory export|import`: memories as JSON Lines, one stored row per line, so a memory can move
//! between installations (or survive a store that is started afresh).
//!
//! Import is idempotent: a memory whose lesson the bank already has (same incident, diagnosis, fix and
//! outcome) is skipped, so an import that stopped at a bad line can be run again once the line is fixed.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;

use medic_core::IncidentUid;

use crate::bank::{MemoryBank, MemoryDocument, MemorySummary};
use crate::digest::DIGEST_VERSION;
use crate::error::{Error, Result};

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedMemory {
    /// The id it had in the store it came from (informational: an import assigns new ids).
    pub id: i64,
    pub incident: IncidentUid,
    pub embedder: String,
    pub created_at: Timestamp,
    pub vector: Vec<f32>,
    pub document: serde_json::Value,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    /// Already known to this bank.
    pub skipped: usize,
    /// Embedded again because another embedder (or digest version) made their vectors.
    pub re_embedded: usize,
}

impl MemoryBank {
    /// Writes every stored memory as one JSON line; returns how many.
    pub async fn export(&self, out: &mut dyn Write) -> Result<usize> {
        let mut written = 0;
        let mut after = 0;
        loop {
            let page = self.store.memories_after(after, 1_000).await.map_err(Error::store("reading memories"))?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for record in page {
                let line = ExportedMemory {
                    id: record.id,
                    incident: record.incident,
                    embedder: record.embedder,
                    created_at: record.created_at,
                    vector: record.vector,
                    document: record.document,
                };
                serde_json::to_writer(&mut *out, &line).map_err(|e| Error::Export(e.into()))?;
                out.write_all(b"\n").map_err(Error::Export)?;
                written += 1;
            }
        }
        out.flush().map_err(Error::Export)?;
        Ok(written)
    }

    /// Reads JSON lines written by [`MemoryBank::export`]. `source` names the input in errors. Lines
    /// before a bad one are imported; the error names the bad line.
    pub async fn import(&self, input: &mut dyn BufRead, source: &Path) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut line = String::new();
        let mut number = 0;
        let bad = |number: usize, message: String| Error::Import { path: source.to_path_buf(), line: number, message };
        loop {
            line.clear();
            number += 1;
            let read = input.read_line(&mut line).map_err(|e| bad(number, format!("reading: {e}")))?;
            if read == 0 {
                break;
            }
            if line.trim().is_empty() {
                continue;
            }
            let exported: ExportedMemory = serde_json::from_str(&line).map_err(|e| bad(number, e.to_string()))?;
            let document =
                MemoryDocument::deserialize(&exported.document).map_err(|e| bad(number, format!("document: {e}")))?;
            if document.memory.incident != exported.incident {
                return Err(bad(
                    number,
                    format!(
                        "incident {} does not match the document's {}",
                        exported.incident, document.memory.incident
                    ),
                ));
            }
            if exported.vector.iter().any(|x| !x.is_finite()) {
                return Err(bad(number, "vector has a value that is not a finite number".into()));
            }
            let summary = MemorySummary::of(0, &document.memory, exported.created_at);
            if self.lock().known_lesson(&summary).is_some() {
                report.skipped += 1;
                continue;
            }
            let reusable = exported.embedder == self.embedder_id()
                && exported.vector.len() == self.embedder.dimension()
                && document.digest_version == DIGEST_VERSION;
            let (vector, value) = if reusable {
                (exported.vector, exported.document)
            } else {
                report.re_embedded += 1;
                let fresh = MemoryDocument::new(document.memory.clone());
                let vector = self.embed_one(fresh.digest.clone()).await?;
                let value = serde_json::to_value(&fresh).map_err(|e| bad(number, format!("re-encoding: {e}")))?;
                (vector, value)
            };
            self.insert(document.memory, vector, value, exported.created_at).await?;
            report.imported += 1;
        }
        self.save()?;
        Ok(report)
    }
}
