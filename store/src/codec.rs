//! Column encodings shared by every table.
//!
//! Timestamps are stored as INTEGER microseconds since the Unix epoch (UTC): they compare and index as
//! numbers, cover every date an alert can carry (Alertmanager's zero time is year 1), and keep the precision
//! senders use. Enumerations are stored as their kebab-case names, JSON as text.
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A timestamp as stored: microseconds since the Unix epoch.
pub(crate) fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

/// Reads a stored timestamp back, naming the row and column when the value is out of range.
pub(crate) fn timestamp(us: i64, table: &'static str, row: impl ToString, field: &'static str) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| Error::Corrupt {
        table,
        row: row.to_string(),
        field,
        message: e.to_string(),
    })
}

pub(crate) fn opt_timestamp(
    us: Option<i64>,
    table: &'static str,
    row: impl ToString,
    field: &'static str,
) -> Result<Option<Timestamp>> {
    us.map(|us| timestamp(us, table, row, field)).transpose()
}

/// Parses a stored text column into a typed value.
pub(crate) fn parse<T>(text: &str, table: &'static str, row: impl ToString, field: &'static str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| Error::Corrupt { table, row: row.to_string(), field, message: e.to_string() })
}

pub(crate) fn to_json(value: &impl Serialize, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|source| Error::Encode { what, source })
}

pub(crate) fn from_json<T: DeserializeOwned>(
    text: &str,
    table: &'static str,
    row: impl ToString,
    field: &'static str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        table,
        row: row.to_string(),
        field,
        message: e.to_string(),
    })
}

/// Runs a `SELECT COUNT(*) ...`.
pub(crate) fn count(conn: &rusqlite::Connection, sql: &str, doing: &'static str) -> Result<u64> {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
        .map_err(|source| Error::Sqlite { doing, source })
}

/// A vector as a BLOB: its f32 values in little-endian order, 4 bytes each.
pub(crate) fn vector_to_blob(vector: &[f32]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(vector.len() * 4);
    for value in vector {
        blob.extend_from_slice(&value.to_le_bytes());
    }
    blob
}

pub(crate) fn blob_to_vector(blob: &[u8]) -> Result<Vec<f32>> {
    if !blob.len().is_multiple_of(4) {
        return Err(Error::BadVector { len: blob.len() });
    }
    Ok(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_alertmanagers_zero_time() {
        for text in ["0001-01-01T00:00:00Z", "2026-11-22T14:41:05.459123Z", "1970-01-01T00:00:00Z"] {
            let at: Timestamp = text.parse().unwrap();
            assert_eq!(timestamp(micros(at), "t", 1, "at").unwrap(), at);
        }
    }

    #[test]
    fn vectors_round_trip_and_bad_lengths_are_refused() {
        let v = vec![0.5f32, -1.25, f32::MAX, 0.0];
        assert_eq!(blob_to_vector(&vector_to_blob(&v)).unwrap(), v);
        assert_eq!(vector_to_blob(&[1.0]), vec![0, 0, 0x80, 0x3f]);
        assert!(matches!(blob_to_vector(&[1, 2, 3]), Err(Error::BadVector { len: 3 })));
    }
}
