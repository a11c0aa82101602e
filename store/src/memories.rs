//! Rows of the incident memory. The memory crate owns the FAISS index and rebuilds it from these rows; the
//! store owns only the rows. Ids are never reused (AUTOINCREMENT), so an id in an index always means the
//! same memory.
use jiff::Timestamp;
use rusqlite::params;

use medic_core::IncidentUid;

use crate::codec::{self, micros};
use crate::error::{Context, Error, Result};
use crate::store::Store;

/// A memory to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    pub incident: IncidentUid,
    /// The embedder's id, which names its version (`Embedder::id()`).
    pub embedder: String,
    pub vector: Vec<f32>,
    /// What was remembered (the serialised `IncidentMemory`).
    pub document: serde_json::Value,
    pub created_at: Timestamp,
}

/// A stored memory.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRecord {
    pub id: i64,
    pub incident: IncidentUid,
    pub embedder: String,
    pub vector: Vec<f32>,
    pub document: serde_json::Value,
    pub created_at: Timestamp,
}

const MEMORY_COLUMNS: &str = "id, incident_uid, embedder, vector, document, created_at_us";

fn read_memory(row: &rusqlite::Row<'_>) -> Result<MemoryRecord> {
    let get_err = |source| Error::Sqlite { doing: "reading a memory", source };
    let id: i64 = row.get(0).map_err(get_err)?;
    let incident: String = row.get(1).map_err(get_err)?;
    let blob = row.get_ref(3).map_err(get_err)?.as_blob().map_err(|e| Error::Corrupt {
        table: "memories",
        row: id.to_string(),
        field: "vector",
        message: e.to_string(),
    })?;
    let vector = codec::blob_to_vector(blob).map_err(|e| Error::Corrupt {
        table: "memories",
        row: id.to_string(),
        field: "vector",
        message: e.to_string(),
    })?;
    let document: String = row.get(4).map_err(get_err)?;
    Ok(MemoryRecord {
        id,
        incident: codec::parse(&incident, "memories", id, "incident_uid")?,
        embedder: row.get(2).map_err(get_err)?,
        vector,
        document: codec::from_json(&document, "memories", id, "document")?,
        created_at: codec::timestamp(row.get(5).map_err(get_err)?, "memories", id, "created_at_us")?,
    })
}

fn query_memories(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<MemoryRecord>> {
    let mut stmt = conn.prepare_cached(sql).doing("reading memories")?;
    let mut rows = stmt.query(params).doing("reading memories")?;
    let mut memories = Vec::new();
    while let Some(row) = rows.next().doing("reading memories")? {
        memories.push(read_memory(row)?);
    }
    Ok(memories)
}

impl Store {
    /// Stores a memory; returns its id (the id to give the vector in the index).
    pub async fn insert_memory(&self, memory: NewMemory) -> Result<i64> {
        let document = codec::to_json(&memory.document, "a memory document")?;
        let blob = codec::vector_to_blob(&memory.vector);
        let dimension = memory.vector.len() as i64;
        self.write(move |ctx| {
            ctx.with(
                "INSERT INTO memories (incident_uid, embedder, dimension, vector, document, created_at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                "storing a memory",
                |stmt| {
                    stmt.insert(params![
                        memory.incident.to_string(),
                        memory.embedder,
                        dimension,
                        blob,
                        document,
                        micros(memory.created_at)
                    ])
                },
            )
        })
        .await
    }

    /// The memory with this id.
    pub async fn memory(&self, id: i64) -> Result<Option<MemoryRecord>> {
        self.read(move |conn| {
            let sql = format!("SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ?1");
            Ok(query_memories(conn, &sql, params![id])?.pop())
        })
        .await
    }

    /// Up to `limit` memories with an id greater than `after`, in id order: call with `after = 0`, then
    /// with the last id returned, until a page comes back empty, to rebuild an index.
    pub async fn memories_after(&self, after: i64, limit: usize) -> Result<Vec<MemoryRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let sql = format!("SELECT {MEMORY_COLUMNS} FROM memories WHERE id > ?1 ORDER BY id LIMIT ?2");
            query_memories(conn, &sql, params![after, limit])
        })
        .await
    }

    pub async fn memory_count(&self) -> Result<u64> {
        self.read(|conn| codec::count(conn, "SELECT COUNT(*) FROM memories", "counting memories")).await
    }

    /// Deletes a memory; `false` when there was none with this id.
    pub async fn delete_memory(&self, id: i64) -> Result<bool> {
        self.write(move |ctx| {
            ctx.with("DELETE FROM memories WHERE id = ?1", "deleting a memory", |stmt| {
                stmt.execute(params![id]).map(|deleted| deleted > 0)
            })
        })
        .await
    }
}
