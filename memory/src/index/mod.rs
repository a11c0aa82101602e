//! The FAISS index of memory vectors, keyed by the store's memory ids.
//!
//! Exact inner-product search (`Flat`) while the memory is small; past `exact_up_to` vectors, the
//! approximate index the config's factory string names (HNSW or IVF). Vectors are unit length, so inner
//! product is cosine similarity. The index is a cache of the store: it is saved next to a small metadata
//! file and rebuilt from the store whenever the two disagree.
use faiss::index::IndexImpl;
use faiss::index::autotune::ParameterSpace;
use faiss::{IdMap, Idx, Index, MetricType, index_factory, read_index, write_index};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::IndexConfig;
use crate::error::{Error, Result};

/// What an index holds, cheap to compare against the store: how many ids, the largest, and an
/// order-independent checksum of them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdFingerprint {
    pub count: u64,
    pub max_id: i64,
    pub checksum: u64,
}

impl IdFingerprint {
    pub fn add(&mut self, id: i64) {
        self.count += 1;
        self.max_id = self.max_id.max(id);
        self.checksum = self.checksum.wrapping_add(crate::embed::hashing::splitmix64(id as u64));
    }

    pub fn of(ids: impl IntoIterator<Item = i64>) -> Self {
        let mut f = Self::default();
        ids.into_iter().for_each(|id| f.add(id));
        f
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    Exact,
    Approximate,
}

impl IndexKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IndexKind::Exact => "exact",
            IndexKind::Approximate => "approximate",
        }
    }
}

/// The metadata saved beside the index file: what made the vectors and how the index was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: u32,
    pub embedder: String,
    pub dimension: usize,
    pub kind: IndexKind,
    pub factory: String,
}

const META_FORMAT: u32 = 1;
const EXACT_FACTORY: &str = "Flat";

/// One search hit: the store's memory id and the inner product (cosine similarity) with the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
}

pub struct MemoryIndex {
    index: IdMap<IndexImpl>,
    kind: IndexKind,
    factory: String,
    dimension: usize,
    fingerprint: IdFingerprint,
}

impl std::fmt::Debug for MemoryIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryIndex")
            .field("kind", &self.kind)
            .field("factory", &self.factory)
            .field("dimension", &self.dimension)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl MemoryIndex {
    /// An empty exact index.
    pub fn exact(dimension: usize) -> Result<Self> {
        let inner = index_factory(dim_u32(dimension)?, EXACT_FACTORY, MetricType::InnerProduct)
            .map_err(Error::faiss("creating the exact index"))?;
        let index = IdMap::new(inner).map_err(Error::faiss("wrapping the exact index in an id map"))?;
        Ok(Self {
            index,
            kind: IndexKind::Exact,
            factory: EXACT_FACTORY.into(),
            dimension,
            fingerprint: IdFingerprint::default(),
        })
    }

    /// An approximate index built from `factory`, trained on `vectors` when it needs training, holding them.
    pub fn approximate(
        dimension: usize,
        factory: &str,
        params: &BTreeMap<String, f64>,
        ids: &[i64],
        vectors: &[f32],
    ) -> Result<Self> {
        check_batch(dimension, ids, vectors)?;
        let mut this = Self::new_approximate(dimension, factory, params, vectors)?;
        this.add(ids, vectors)?;
        Ok(this)
    }

    /// An empty approximate index built from `factory`, trained on `training` (row-major) if it needs it.
    pub fn new_approximate(
        dimension: usize,
        factory: &str,
        params: &BTreeMap<String, f64>,
        training: &[f32],
    ) -> Result<Self> {
        let mut inner = index_factory(dim_u32(dimension)?, factory, MetricType::InnerProduct)
            .map_err(Error::faiss(format!("creating the approximate index {factory:?}")))?;
        apply_params(&inner, params)?;
        if !inner.is_trained() {
            if training.is_empty() {
                return Err(Error::Config(format!("index {factory:?} needs training vectors and there are none")));
            }
            if training.len() % dimension != 0 {
                return Err(Error::Dimension { expected: dimension, got: training.len() % dimension });
            }
            inner
                .train(training)
                .map_err(Error::faiss(format!("training {factory:?} on {} vectors", training.len() / dimension)))?;
        }
        let index = IdMap::new(inner).map_err(Error::faiss("wrapping the approximate index in an id map"))?;
        Ok(Self {
            index,
            kind: IndexKind::Approximate,
            factory: factory.into(),
            dimension,
            fingerprint: IdFingerprint::default(),
        })
    }

    /// The index the config asks for at this size, holding these vectors.
    pub fn build(dimension: usize, config: &IndexConfig, ids: &[i64], vectors: &[f32]) -> Result<Self> {
        if ids.len() > config.exact_up_to {
            Self::approximate(dimension, &config.approximate, &config.params, ids, vectors)
        } else {
            let mut index = Self::exact(dimension)?;
            index.add(ids, vectors)?;
            Ok(index)
        }
    }

    /// Adds vectors (row-major, `ids.len() × dimension`) under their store ids.
    pub fn add(&mut self, ids: &[i64], vectors: &[f32]) -> Result<()> {
        check_batch(self.dimension, ids, vectors)?;
        if ids.is_empty() {
            return Ok(());
        }
        let labels: Vec<Idx> = ids.iter().map(|&id| Idx::new(id as u64)).collect();
        self.index
            .add_with_ids(vectors, &labels)
            .map_err(Error::faiss(format!("adding {} vectors", ids.len())))?;
        ids.iter().for_each(|&id| self.fingerprint.add(id));
        Ok(())
    }

    /// The `k` nearest vectors to `query` by inner product, best first.
    pub fn search(&mut self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        if query.len() != self.dimension {
            return Err(Error::Dimension { expected: self.dimension, got: query.len() });
        }
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let result = self.index.search(query, k).map_err(Error::faiss("searching"))?;
        Ok(result
            .labels
            .iter()
            .zip(&result.distances)
            .filter_map(|(label, &score)| label.get().map(|id| Hit { id: id as i64, score }))
            .collect())
    }

    /// Searches many queries at once (row-major); FAISS batches them (BLAS for the exact index).
    pub fn search_batch(&mut self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        if queries.len() % self.dimension != 0 {
            return Err(Error::Dimension { expected: self.dimension, got: queries.len() % self.dimension });
        }
        let n = queries.len() / self.dimension;
        let k = k.min(self.len());
        if k == 0 || n == 0 {
            return Ok(vec![Vec::new(); n]);
        }
        let result = self.index.search(queries, k).map_err(Error::faiss("searching a batch"))?;
        Ok(result
            .labels
            .chunks(k)
            .zip(result.distances.chunks(k))
            .map(|(labels, scores)| {
                labels
                    .iter()
                    .zip(scores)
                    .filter_map(|(label, &score)| label.get().map(|id| Hit { id: id as i64, score }))
                    .collect()
            })
            .collect())
    }

    /// Sets search-time parameters (`efSearch`, `nprobe`) on the approximate index.
    pub fn set_params(&mut self, params: &BTreeMap<String, f64>) -> Result<()> {
        if self.kind == IndexKind::Approximate {
            apply_params(&self.index, params)?;
        }
        Ok(())
    }

    /// Whether the config wants an approximate index at this size and this one is exact.
    pub fn outgrew(&self, config: &IndexConfig) -> bool {
        self.kind == IndexKind::Exact && self.len() > config.exact_up_to
    }

    /// Rebuilds an exact index as the config's approximate one, from the vectors it holds.
    pub fn into_approximate(self, config: &IndexConfig) -> Result<Self> {
        if self.kind != IndexKind::Exact {
            return Ok(self);
        }
        let ids: Vec<i64> = self.index.id_map().iter().filter_map(|l| l.get()).map(|id| id as i64).collect();
        let dimension = self.dimension;
        let flat = self
            .index
            .into_inner()
            .into_flat()
            .map_err(Error::faiss("reading the vectors of the exact index"))?;
        Self::approximate(dimension, &config.approximate, &config.params, &ids, flat.xb())
    }

    pub fn len(&self) -> usize {
        self.index.ntotal() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self) -> IndexKind {
        self.kind
    }

    pub fn factory(&self) -> &str {
        &self.factory
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn fingerprint(&self) -> IdFingerprint {
        self.fingerprint
    }

    /// Writes the metadata, then the index, each to a temporary file renamed into place, so a crash
    /// leaves either the old file or the new one, never half of one.
    pub fn save(&self, path: &Path, embedder: &str) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Error::io("creating the index directory", dir))?;
        }
        let meta = IndexMeta {
            format: META_FORMAT,
            embedder: embedder.to_string(),
            dimension: self.dimension,
            kind: self.kind,
            factory: self.factory.clone(),
        };
        let meta_path = meta_path(path);
        let meta_tmp = tmp_path(&meta_path);
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Meta { path: meta_path.clone(), message: e.to_string() })?;
        std::fs::write(&meta_tmp, json).map_err(Error::io("writing", &meta_tmp))?;
        std::fs::rename(&meta_tmp, &meta_path).map_err(Error::io("renaming into place", &meta_path))?;

        let index_tmp = tmp_path(path);
        let tmp_str = index_tmp.to_str().ok_or_else(|| Error::Config(format!("index path {} is not UTF-8", path.display())))?;
        write_index(&self.index, tmp_str).map_err(Error::faiss(format!("writing {}", index_tmp.display())))?;
        std::fs::rename(&index_tmp, path).map_err(Error::io("renaming into place", path))?;
        Ok(())
    }

    /// Reads a saved index if there is one and it was made by `embedder` at `dimension`; `Ok(None)` when
    /// there is nothing usable to load (missing, made by another embedder, unreadable), which the caller
    /// answers by rebuilding from the store.
    pub fn load(path: &Path, embedder: &str, dimension: usize) -> Result<Option<Self>> {
        let meta_path = meta_path(path);
        if !path.exists() || !meta_path.exists() {
            return Ok(None);
        }
        let meta: IndexMeta = match std::fs::read(&meta_path).map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(meta)) => meta,
            Ok(Err(e)) => {
                tracing::warn!(path = %meta_path.display(), error = %e, "unreadable index metadata; rebuilding");
                return Ok(None);
            }
            Err(e) => return Err(Error::io("reading", &meta_path)(e)),
        };
        if meta.format != META_FORMAT || meta.embedder != embedder || meta.dimension != dimension {
            tracing::info!(
                path = %path.display(),
                found = %meta.embedder,
                wanted = embedder,
                "index was made by another embedder or format; rebuilding"
            );
            return Ok(None);
        }
        let path_str = path.to_str().ok_or_else(|| Error::Config(format!("index path {} is not UTF-8", path.display())))?;
        let loaded = read_index(path_str).and_then(IndexImpl::into_id_map);
        let index = match loaded {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable index file; rebuilding");
                return Ok(None);
            }
        };
        if index.d() as usize != dimension {
            return Ok(None);
        }
        let fingerprint = IdFingerprint::of(index.id_map().iter().filter_map(|l| l.get()).map(|id| id as i64));
        Ok(Some(Self { index, kind: meta.kind, factory: meta.factory, dimension, fingerprint }))
    }
}

/// `<index>.meta.json`.
pub fn meta_path(index: &Path) -> PathBuf {
    let mut name = index.file_name().unwrap_or_default().to_os_string();
    name.push(".meta.json");
    index.with_file_name(name)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn dim_u32(dimension: usize) -> Result<u32> {
    u32::try_from(dimension)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| Error::Config(format!("dimension {dimension} is out of range")))
}

fn check_batch(dimension: usize, ids: &[i64], vectors: &[f32]) -> Result<()> {
    if vectors.len() != ids.len() * dimension {
        let got = if ids.is_empty() { vectors.len() } else { vectors.len() / ids.len() };
        return Err(Error::Dimension { expected: dimension, got });
    }
    if let Some(bad) = ids.iter().find(|&&id| id < 0) {
        return Err(Error::Record { id: *bad, message: "negative ids cannot be indexed".into() });
    }
    Ok(())
}

fn apply_params<I>(index: &I, params: &BTreeMap<String, f64>) -> Result<()>
where
    I: faiss::index::NativeIndex<Inner = faiss_sys_index::FaissIndex>,
{
    if params.is_empty() {
        return Ok(());
    }
    let space = ParameterSpace::new().map_err(Error::faiss("creating a parameter space"))?;
    for (name, &value) in params {
        space
            .set_index_parameter(index, name, value)
            .map_err(Error::faiss(format!("setting index parameter {name}={value}")))?;
    }
    Ok(())
}

/// The native index type, named through the faiss crate's own re-export.
mod faiss_sys_index {
    pub type FaissIndex = <faiss::index::IndexImpl as faiss::index::NativeIndex>::Inner;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hashing::normalise;

    /// Deterministic unit vectors: `n` rows of dimension `d`.
    fn vectors(n: usize, d: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut out = Vec::with_capacity(n * d);
        for _ in 0..n {
            let mut row: Vec<f32> = (0..d)
                .map(|_| {
                    state = crate::embed::hashing::splitmix64(state);
                    (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            normalise(&mut row);
            out.extend(row);
        }
        out
    }

    fn config(exact_up_to: usize, factory: &str) -> IndexConfig {
        IndexConfig { exact_up_to, approximate: factory.into(), ..IndexConfig::default() }
    }

    #[test]
    fn exact_search_finds_each_vector_itself_under_its_store_id() {
        let d = 32;
        let data = vectors(100, d, 1);
        let ids: Vec<i64> = (0..100).map(|i| 1000 + i * 7).collect();
        let mut index = MemoryIndex::exact(d).unwrap();
        index.add(&ids, &data).unwrap();
        for (row, &id) in ids.iter().enumerate().step_by(9) {
            let hits = index.search(&data[row * d..(row + 1) * d], 3).unwrap();
            assert_eq!(hits[0].id, id);
            assert!((hits[0].score - 1.0).abs() < 1e-4);
            assert!(hits[1].score <= hits[0].score);
        }
        assert_eq!(index.fingerprint(), IdFingerprint::of(ids.iter().copied()));
    }

    #[test]
    fn the_index_turns_approximate_past_the_threshold_and_still_finds_neighbours() {
        let d = 16;
        let config = config(200, "HNSW16,Flat");
        let data = vectors(300, d, 2);
        let ids: Vec<i64> = (1..=300).collect();
        let mut index = MemoryIndex::build(d, &config, &ids[..150], &data[..150 * d]).unwrap();
        assert_eq!(index.kind(), IndexKind::Exact);
        index.add(&ids[150..], &data[150 * d..]).unwrap();
        assert!(index.outgrew(&config));
        let mut index = index.into_approximate(&config).unwrap();
        assert_eq!((index.kind(), index.factory(), index.len()), (IndexKind::Approximate, "HNSW16,Flat", 300));
        assert_eq!(index.fingerprint(), IdFingerprint::of(ids.iter().copied()));
        let hits = index.search(&data[42 * d..43 * d], 5).unwrap();
        assert_eq!(hits[0].id, 43);
        assert!(!index.outgrew(&config));
    }

    #[test]
    fn an_ivf_index_is_trained_before_it_is_filled() {
        let d = 8;
        let data = vectors(2000, d, 3);
        let ids: Vec<i64> = (1..=2000).collect();
        let params = BTreeMap::from([("nprobe".to_string(), 16.0)]);
        let mut index = MemoryIndex::approximate(d, "IVF16,Flat", &params, &ids, &data).unwrap();
        let hits = index.search(&data[7 * d..8 * d], 1).unwrap();
        assert_eq!(hits[0].id, 8);
        let err = MemoryIndex::approximate(d, "IVF16,Flat", &params, &[], &[]).unwrap_err();
        assert!(err.to_string().contains("needs training"), "{err}");
        assert!(MemoryIndex::approximate(d, "NoSuchIndex", &params, &[], &[]).is_err());
    }

    #[test]
    fn saved_indexes_reload_with_their_ids_and_refuse_another_embedder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.faiss");
        let d = 16;
        let data = vectors(50, d, 4);
        let ids: Vec<i64> = (10..60).collect();
        for factory in ["Flat", "HNSW8,Flat"] {
            let index = MemoryIndex::build(d, &config(if factory == "Flat" { 100 } else { 10 }, factory), &ids, &data)
                .unwrap();
            index.save(&path, "embedder-a").unwrap();
            let mut loaded = MemoryIndex::load(&path, "embedder-a", d).unwrap().expect("loads");
            assert_eq!((loaded.kind(), loaded.factory(), loaded.len()), (index.kind(), index.factory(), 50));
            assert_eq!(loaded.fingerprint(), index.fingerprint());
            assert_eq!(loaded.search(&data[3 * d..4 * d], 1).unwrap()[0].id, 13);
            assert!(MemoryIndex::load(&path, "embedder-b", d).unwrap().is_none());
            assert!(MemoryIndex::load(&path, "embedder-a", d * 2).unwrap().is_none());
        }
        std::fs::write(&path, b"not an index").unwrap();
        assert!(MemoryIndex::load(&path, "embedder-a", d).unwrap().is_none());
        assert!(MemoryIndex::load(&dir.path().join("absent.faiss"), "embedder-a", d).unwrap().is_none());
    }

    #[test]
    fn wrong_dimensions_are_refused() {
        let mut index = MemoryIndex::exact(4).unwrap();
        assert!(matches!(index.add(&[1], &[0.0; 3]), Err(Error::Dimension { expected: 4, .. })));
        assert!(matches!(index.search(&[0.0; 5], 1), Err(Error::Dimension { expected: 4, got: 5 })));
        assert!(index.search(&[0.0; 4], 1).unwrap().is_empty());
    }
}
