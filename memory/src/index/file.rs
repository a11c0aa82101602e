//! The index on disk: a small index file (header and row ids) that names a FAISS data file.
//!
//! ```text
//! memory.faiss                       MEDICIDX, format, header JSON (embedder, dimension, kind, factory,
//!                                    count, data file), then `count` row ids (i64, little-endian)
//! memory.faiss.<generation>.data     the FAISS index, as faiss::write_index writes it
//! ```
//!
//! A save writes a new data file under a new generation, syncs it, then writes the index file to a
//! temporary name and renames it into place: the rename is the moment the save happens. A crash before
//! it leaves the previous index file naming the previous data file; after it, the new pair. Data files
//! no index file names are removed on the next save.
use faiss::index::IndexImpl;
use faiss::{Index, read_index, write_index};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{IndexKind, MemoryIndex};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"MEDICIDX";
const FORMAT: u32 = 1;
/// A header longer than this is not one of ours.
const MAX_HEADER: u32 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    embedder: String,
    dimension: usize,
    kind: IndexKind,
    factory: String,
    count: u64,
    /// The FAISS data file, in the same directory.
    data_file: String,
}

pub(super) fn save(index: &MemoryIndex, path: &Path, embedder: &str) -> Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(Error::io("creating the index directory", dir))?;
            dir.to_path_buf()
        }
        None => PathBuf::from("."),
    };
    let name = file_name(path)?;
    let generation = jiff::Timestamp::now().as_nanosecond();
    let data_name = format!("{name}.{generation}.data");
    let data_path = dir.join(&data_name);
    let data_str = data_path.to_str().ok_or_else(|| Error::Config(format!("{} is not UTF-8", data_path.display())))?;
    write_index(&index.index, data_str).map_err(Error::faiss(format!("writing {}", data_path.display())))?;
    sync(&data_path)?;

    let header = Header {
        embedder: embedder.to_string(),
        dimension: index.dimension,
        kind: index.kind,
        factory: index.factory.clone(),
        count: index.ids.len() as u64,
        data_file: data_name.clone(),
    };
    let header =
        serde_json::to_vec(&header).map_err(|e| Error::Meta { path: path.to_path_buf(), message: e.to_string() })?;
    let mut bytes = Vec::with_capacity(16 + header.len() + index.ids.len() * 8);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&header);
    for id in &index.ids {
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(Error::io("creating", &tmp))?;
    file.write_all(&bytes).map_err(Error::io("writing", &tmp))?;
    file.sync_all().map_err(Error::io("syncing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("renaming into place", path))?;

    remove_stale_data(&dir, &name, &data_name);
    Ok(())
}

pub(super) fn load(path: &Path, embedder: &str, dimension: usize) -> Result<Option<MemoryIndex>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("opening", path)(e)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(Error::io("reading", path))?;
    let (header, ids) = match parse(&bytes) {
        Ok(parsed) => parsed,
        Err(problem) => {
            tracing::warn!(path = %path.display(), problem, "unreadable index file; rebuilding from the store");
            return Ok(None);
        }
    };
    if header.embedder != embedder || header.dimension != dimension {
        tracing::info!(
            path = %path.display(),
            found = %header.embedder,
            wanted = embedder,
            "the index was made by another embedder; rebuilding from the store"
        );
        return Ok(None);
    }
    let data_path = path.with_file_name(&header.data_file);
    let Some(data_str) = data_path.to_str() else { return Ok(None) };
    let index: IndexImpl = match read_index(data_str) {
        Ok(index) => index,
        Err(e) => {
            tracing::warn!(path = %data_path.display(), error = %e, "unreadable index data; rebuilding from the store");
            return Ok(None);
        }
    };
    if index.ntotal() != header.count || index.d() as usize != dimension {
        tracing::warn!(path = %data_path.display(), "index data does not match its index file; rebuilding from the store");
        return Ok(None);
    }
    Ok(Some(MemoryIndex::wrap(index, ids, header.kind, header.factory, dimension)))
}

fn parse(bytes: &[u8]) -> std::result::Result<(Header, Vec<i64>), &'static str> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or("not a medic index file")?;
    let (format, rest) = take_u32(rest).ok_or("truncated")?;
    if format != FORMAT {
        return Err("unknown index file format");
    }
    let (header_len, rest) = take_u32(rest).ok_or("truncated")?;
    if header_len > MAX_HEADER || rest.len() < header_len as usize {
        return Err("truncated header");
    }
    let (header, rest) = rest.split_at(header_len as usize);
    let header: Header = serde_json::from_slice(header).map_err(|_| "unreadable header")?;
    if rest.len() as u64 != header.count.saturating_mul(8) {
        return Err("the row ids do not match the count");
    }
    let ids = rest.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect();
    Ok((header, ids))
}

fn take_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Config(format!("index path {} has no UTF-8 file name", path.display())))
}

fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(Error::io("syncing", path))
}

/// Removes `<name>.<generation>.data` files other than `keep`; a failure only leaves a file behind.
fn remove_stale_data(dir: &Path, name: &str, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!("{name}.");
    for entry in entries.flatten() {
        let file: OsString = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let stale = file != keep
            && file
                .strip_prefix(&prefix)
                .and_then(|g| g.strip_suffix(".data"))
                .is_some_and(|g| g.parse::<i128>().is_ok());
        if stale && let Err(e) = std::fs::remove_file(entry.path()) {
            tracing::warn!(file, error = %e, "could not remove an old index data file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with(ids: &[i64], d: usize) -> MemoryIndex {
        let mut index = MemoryIndex::exact(d).unwrap();
        let vectors: Vec<f32> =
            ids.iter().flat_map(|&id| (0..d).map(move |j| ((id as usize + j) % 7) as f32)).collect();
        index.add(ids, &vectors).unwrap();
        index
    }

    #[test]
    fn a_save_interrupted_before_its_rename_leaves_the_previous_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.faiss");
        index_with(&[1, 2, 3], 4).save(&path, "e").unwrap();
        let before = std::fs::read(&path).unwrap();
        // The next save wrote its data file and its temporary index file, then the process died.
        index_with(&[1, 2, 3, 4], 4).save(&dir.path().join("scratch.faiss"), "e").unwrap();
        std::fs::copy(dir.path().join("scratch.faiss"), dir.path().join("memory.faiss.tmp")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let loaded = MemoryIndex::load(&path, "e", 4).unwrap().unwrap();
        assert_eq!(loaded.ids, vec![1, 2, 3]);
    }

    #[test]
    fn an_index_file_whose_data_is_missing_or_different_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.faiss");
        index_with(&[1, 2, 3], 4).save(&path, "e").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // Truncated ids.
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(MemoryIndex::load(&path, "e", 4).unwrap().is_none());
        std::fs::write(&path, &bytes).unwrap();
        let (header, _) = parse(&bytes).unwrap();
        // Data that holds another number of rows than the index file says.
        index_with(&[1, 2], 4).save(&dir.path().join("other.faiss"), "e").unwrap();
        let other = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_str().unwrap().contains("other.faiss.") && p.extension().is_some_and(|x| x == "data"))
            .unwrap();
        std::fs::copy(&other, dir.path().join(&header.data_file)).unwrap();
        assert!(MemoryIndex::load(&path, "e", 4).unwrap().is_none());
        std::fs::remove_file(dir.path().join(&header.data_file)).unwrap();
        assert!(MemoryIndex::load(&path, "e", 4).unwrap().is_none());
    }
}
