//! The FAISS index of memory vectors, keyed by the store's memory ids.
//!
//! Exact inner-product search (`Flat`) while the memory is small; past `exact_up_to` vectors, the
//! approximate index the config's factory string names (HNSW or IVF). Vectors are unit length, so inner
//! product is cosine similarity. The index is a cache of the store, saved to disk ([`file`]) and rebuilt
//! from the store whenever the two disagree.
//!
//! Rows map to store ids here rather than in FAISS's `IndexIDMap`: its search opens an OpenMP parallel
//! region for every query, even one, and on a busy machine waiting for a descheduled worker thread costs
//! milliseconds at the tail; the plain indexes search a single query on the calling thread.
use faiss::index::IndexImpl;
use faiss::index::autotune::ParameterSpace;
use faiss::{Index, MetricType, index_factory};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::config::IndexConfig;
use crate::error::{Error, Result};

pub mod file;

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

const EXACT_FACTORY: &str = "Flat";

/// One search hit: the store's memory id and the inner product (cosine similarity) with the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
}

pub struct MemoryIndex {
    index: IndexImpl,
    /// The store id of each row, in the order rows were added.
    ids: Vec<i64>,
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
        let index = index_factory(dim_u32(dimension)?, EXACT_FACTORY, MetricType::InnerProduct)
            .map_err(Error::faiss("creating the exact index"))?;
        Ok(Self::wrap(index, Vec::new(), IndexKind::Exact, EXACT_FACTORY.into(), dimension))
    }

    fn wrap(index: IndexImpl, ids: Vec<i64>, kind: IndexKind, factory: String, dimension: usize) -> Self {
        let fingerprint = IdFingerprint::of(ids.iter().copied());
        Self { index, ids, kind, factory, dimension, fingerprint }
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
        let mut index = index_factory(dim_u32(dimension)?, factory, MetricType::InnerProduct)
            .map_err(Error::faiss(format!("creating the approximate index {factory:?}")))?;
        apply_params(&index, params)?;
        if !index.is_trained() {
            if training.is_empty() {
                return Err(Error::Config(format!("index {factory:?} needs training vectors and there are none")));
            }
            if !training.len().is_multiple_of(dimension) {
                return Err(Error::Dimension { expected: dimension, got: training.len() % dimension });
            }
            index
                .train(training)
                .map_err(Error::faiss(format!("training {factory:?} on {} vectors", training.len() / dimension)))?;
        }
        Ok(Self::wrap(index, Vec::new(), IndexKind::Approximate, factory.into(), dimension))
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
        self.index.add(vectors).map_err(Error::faiss(format!("adding {} vectors", ids.len())))?;
        self.ids.extend_from_slice(ids);
        ids.iter().for_each(|&id| self.fingerprint.add(id));
        Ok(())
    }

    /// The `k` nearest vectors to `query` by inner product, best first.
    pub fn search(&mut self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        if query.len() != self.dimension {
            return Err(Error::Dimension { expected: self.dimension, got: query.len() });
        }
        Ok(self.search_batch(query, k)?.pop().unwrap_or_default())
    }

    /// Searches many queries at once (row-major); FAISS batches them (BLAS for the exact index).
    pub fn search_batch(&mut self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        if !queries.len().is_multiple_of(self.dimension) {
            return Err(Error::Dimension { expected: self.dimension, got: queries.len() % self.dimension });
        }
        let n = queries.len() / self.dimension;
        let k = k.min(self.len());
        if k == 0 || n == 0 {
            return Ok(vec![Vec::new(); n]);
        }
        let result = self.index.search(queries, k).map_err(Error::faiss("searching"))?;
        let ids = &self.ids;
        Ok(result
            .labels
            .chunks(k)
            .zip(result.distances.chunks(k))
            .map(|(labels, scores)| {
                labels
                    .iter()
                    .zip(scores)
                    .filter_map(|(label, &score)| {
                        let row = usize::try_from(label.get()?).ok()?;
                        Some(Hit { id: *ids.get(row)?, score })
                    })
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
        let flat = self.index.into_flat().map_err(Error::faiss("reading the vectors of the exact index"))?;
        Self::approximate(self.dimension, &config.approximate, &config.params, &self.ids, flat.xb())
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
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

    /// Saves the index so that a crash at any moment leaves the previous save or this one ([`file`]).
    pub fn save(&self, path: &Path, embedder: &str) -> Result<()> {
        file::save(self, path, embedder)
    }

    /// Reads a saved index if there is one and it was made by `embedder` at `dimension`; `Ok(None)` when
    /// there is nothing usable to load (missing, made by another embedder, unreadable), which the caller
    /// answers by rebuilding from the store.
    pub fn load(path: &Path, embedder: &str, dimension: usize) -> Result<Option<Self>> {
        file::load(path, embedder, dimension)
    }
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
    Ok(())
}

fn apply_params(index: &IndexImpl, params: &BTreeMap<String, f64>) -> Result<()> {
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
        IndexConfig { exact_up_to, approximate: factory.into(), params: BTreeMap::new() }
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
        let data = vectors(400, d, 2);
        let ids: Vec<i64> = (1..=400).collect();
        for (factory, param) in [("HNSW16,Flat", "efSearch"), ("IVF8,Flat", "nprobe")] {
            let mut config = config(300, factory);
            config.params.insert(param.into(), 8.0);
            let mut index = MemoryIndex::build(d, &config, &ids[..200], &data[..200 * d]).unwrap();
            assert_eq!(index.kind(), IndexKind::Exact);
            index.add(&ids[200..], &data[200 * d..]).unwrap();
            assert!(index.outgrew(&config));
            let mut index = index.into_approximate(&config).unwrap();
            assert_eq!((index.kind(), index.factory(), index.len()), (IndexKind::Approximate, factory, 400));
            assert_eq!(index.fingerprint(), IdFingerprint::of(ids.iter().copied()));
            let hits = index.search(&data[42 * d..43 * d], 5).unwrap();
            assert_eq!(hits[0].id, 43, "{factory}");
            assert!(!index.outgrew(&config));
        }
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
            let index =
                MemoryIndex::build(d, &config(if factory == "Flat" { 100 } else { 10 }, factory), &ids, &data).unwrap();
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
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files.len(), 2, "one index file and the one data file it names: {files:?}");
    }

    #[test]
    fn wrong_dimensions_are_refused() {
        let mut index = MemoryIndex::exact(4).unwrap();
        assert!(matches!(index.add(&[1], &[0.0; 3]), Err(Error::Dimension { expected: 4, .. })));
        assert!(matches!(index.search(&[0.0; 5], 1), Err(Error::Dimension { expected: 4, got: 5 })));
        assert!(index.search(&[0.0; 4], 1).unwrap().is_empty());
    }
}
