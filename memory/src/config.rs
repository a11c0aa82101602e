//! `[memory]` in medic's configuration: where the index lives, which embedder, which index when large.
//!
//! ```toml
//! [memory]
//! index_path = "/var/lib/medic/memory.faiss"   # default: memory.faiss beside the store
//! min_similarity = 0.6                          # recall nothing less alike (cosine)
//!
//! [memory.embedder]
//! kind = "hashing"                              # model-free, the default
//! dimension = 1024
//! # kind = "ollama", url = "http://127.0.0.1:11434", model = "nomic-embed-text", dimension = 768
//!
//! [memory.index]
//! exact_up_to = 50000                           # exact search up to this many memories
//! approximate = "IVF1024,Flat"                  # then this FAISS factory string (IVF or HNSW)
//! params = { nprobe = 16 }                      # HNSW: { efSearch = 128, efConstruction = 64 }
//! ```
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use medic_core::ports::Embedder;

use crate::embed::{HashingEmbedder, OllamaEmbedder};
use crate::error::{Error, Result};

fn default_min_similarity() -> f64 {
    0.6
}

fn default_index_path() -> PathBuf {
    PathBuf::from("memory.faiss")
}

/// `[memory]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// The FAISS index file; `<file>.meta.json` sits beside it. The memories themselves live in the store.
    #[serde(default = "default_index_path")]
    pub index_path: PathBuf,
    #[serde(default)]
    pub embedder: EmbedderConfig,
    #[serde(default)]
    pub index: IndexConfig,
    /// Past incidents less similar than this (cosine, in [-1, 1]) are not recalled.
    #[serde(default = "default_min_similarity")]
    pub min_similarity: f64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self::new(default_index_path())
    }
}

impl MemoryConfig {
    /// The defaults, with the index at `index_path`.
    pub fn new(index_path: impl Into<PathBuf>) -> Self {
        Self {
            index_path: index_path.into(),
            embedder: EmbedderConfig::default(),
            index: IndexConfig::default(),
            min_similarity: default_min_similarity(),
        }
    }

    /// The defaults, with the index in the store's directory (`/var/lib/medic/medic.db` →
    /// `/var/lib/medic/memory.faiss`).
    pub fn beside_store(store_path: &std::path::Path) -> Self {
        Self::new(store_path.with_file_name(default_index_path()))
    }

    pub fn validate(&self) -> Result<()> {
        if self.index_path.as_os_str().is_empty() {
            return Err(Error::Config("index_path is empty".into()));
        }
        if self.index_path.to_str().is_none() {
            return Err(Error::Config(format!("index_path {} is not UTF-8", self.index_path.display())));
        }
        if !(-1.0..=1.0).contains(&self.min_similarity) {
            return Err(Error::Config(format!("min_similarity {} is outside [-1, 1]", self.min_similarity)));
        }
        self.embedder.validate()?;
        self.index.validate()
    }
}

fn default_hashing_dimension() -> usize {
    1024
}
fn default_ollama_timeout_secs() -> u64 {
    30
}

/// `[memory.embedder]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EmbedderConfig {
    /// The model-free embedder: symptom features hashed into `dimension` signed buckets.
    Hashing {
        #[serde(default = "default_hashing_dimension")]
        dimension: usize,
        #[serde(default)]
        seed: u64,
    },
    /// An Ollama server's `/api/embed`.
    Ollama {
        /// `http://127.0.0.1:11434`.
        url: String,
        /// `nomic-embed-text`, `all-minilm`, ...
        model: String,
        /// The dimension the model returns (768 for nomic-embed-text, 384 for all-minilm).
        dimension: usize,
        #[serde(default = "default_ollama_timeout_secs")]
        timeout_secs: u64,
    },
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        EmbedderConfig::Hashing { dimension: default_hashing_dimension(), seed: 0 }
    }
}

impl EmbedderConfig {
    pub fn validate(&self) -> Result<()> {
        match self {
            EmbedderConfig::Hashing { dimension, .. } => check_dimension("embedder.dimension", *dimension),
            EmbedderConfig::Ollama { url, model, dimension, timeout_secs } => {
                check_dimension("embedder.dimension", *dimension)?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Error::Config(format!("embedder.url {url:?} must start with http:// or https://")));
                }
                if model.trim().is_empty() {
                    return Err(Error::Config("embedder.model is empty".into()));
                }
                if *timeout_secs == 0 {
                    return Err(Error::Config("embedder.timeout_secs must be at least 1".into()));
                }
                Ok(())
            }
        }
    }

    pub fn build(&self) -> Result<Arc<dyn Embedder>> {
        self.validate()?;
        Ok(match self {
            EmbedderConfig::Hashing { dimension, seed } => Arc::new(HashingEmbedder::new(*dimension, *seed)),
            EmbedderConfig::Ollama { url, model, dimension, timeout_secs } => {
                Arc::new(OllamaEmbedder::new(url, model, *dimension, Duration::from_secs(*timeout_secs))?)
            }
        })
    }
}

fn check_dimension(field: &str, dimension: usize) -> Result<()> {
    if dimension == 0 || dimension > 65_536 {
        return Err(Error::Config(format!("{field} {dimension} must be between 1 and 65536")));
    }
    Ok(())
}

fn default_exact_up_to() -> usize {
    50_000
}
// IVF rather than HNSW by default: on clustered incident-like vectors (`medic memory bench`) IVF1024
// keeps recall@10 near 1.0 at a million memories with sub-millisecond search, where HNSW32 builds 17×
// slower and recalls 0.85–0.91; it is trained once, on the memories held when the index turns
// approximate.
fn default_approximate() -> String {
    "IVF1024,Flat".into()
}
fn default_params() -> BTreeMap<String, f64> {
    BTreeMap::from([("nprobe".into(), 16.0)])
}

/// `[memory.index]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Exact search (`Flat`) up to this many memories; the approximate index above.
    #[serde(default = "default_exact_up_to")]
    pub exact_up_to: usize,
    /// A FAISS index factory string for the approximate index: `HNSW32,Flat`, `IVF4096,Flat`, ...
    #[serde(default = "default_approximate")]
    pub approximate: String,
    /// FAISS parameters set on the approximate index (`efSearch`, `efConstruction`, `nprobe`).
    #[serde(default = "default_params")]
    pub params: BTreeMap<String, f64>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self { exact_up_to: default_exact_up_to(), approximate: default_approximate(), params: default_params() }
    }
}

impl IndexConfig {
    pub fn validate(&self) -> Result<()> {
        if self.approximate.contains("IDMap") {
            return Err(Error::Config(format!(
                "index.approximate {:?}: leave out IDMap, medic maps ids itself",
                self.approximate
            )));
        }
        let head = self.approximate.split(',').next().unwrap_or("");
        if !(head.starts_with("HNSW") || head.starts_with("IVF")) {
            return Err(Error::Config(format!(
                "index.approximate {:?} must be an HNSW or IVF factory string (HNSW32,Flat or IVF4096,Flat)",
                self.approximate
            )));
        }
        let ivf = head.starts_with("IVF");
        let known: &[&str] = if ivf { &["nprobe", "max_codes"] } else { &["efSearch", "efConstruction"] };
        for (name, value) in &self.params {
            if !known.contains(&name.as_str()) {
                return Err(Error::Config(format!(
                    "index.params.{name} does not apply to {}: use {}",
                    self.approximate,
                    known.join(" or ")
                )));
            }
            if !value.is_finite() || *value < 1.0 {
                return Err(Error::Config(format!("index.params.{name} = {value} must be at least 1")));
            }
        }
        if ivf {
            // k-means needs enough vectors per list; FAISS's own floor is 39 per centroid.
            let nlist: usize =
                head[3..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0);
            if self.exact_up_to < nlist.saturating_mul(39) {
                return Err(Error::Config(format!(
                    "index.exact_up_to {} is too small to train {}: it needs at least {} memories (39 per list)",
                    self.exact_up_to,
                    self.approximate,
                    nlist.saturating_mul(39)
                )));
            }
        }
        // Building the index once checks the factory string against FAISS itself.
        faiss::index_factory(8, &self.approximate, faiss::MetricType::InnerProduct)
            .map(drop)
            .map_err(|e| Error::Config(format!("index.approximate {:?}: {e}", self.approximate)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_fields_are_refused() {
        let config: MemoryConfig = serde_json::from_str(r#"{"index_path":"/var/lib/medic/memory.faiss"}"#).unwrap();
        assert_eq!(config, MemoryConfig::beside_store(std::path::Path::new("/var/lib/medic/medic.db")));
        config.validate().unwrap();
        let empty: MemoryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, MemoryConfig::default());
        assert_eq!(
            MemoryConfig::beside_store(std::path::Path::new("medic.db")).index_path,
            PathBuf::from("memory.faiss")
        );
        let err = serde_json::from_str::<MemoryConfig>(r#"{"index_path":"x","min_similarty":0.5}"#).unwrap_err();
        assert!(err.to_string().contains("min_similarty"), "{err}");
        let ollama: MemoryConfig = serde_json::from_str(
            r#"{"index_path":"x","embedder":{"kind":"ollama","url":"http://127.0.0.1:11434","model":"all-minilm","dimension":384}}"#,
        )
        .unwrap();
        ollama.validate().unwrap();
        assert_eq!(ollama.embedder.build().unwrap().id(), "ollama:all-minilm");
    }

    #[test]
    fn validation_names_the_bad_field() {
        type Change = Box<dyn Fn(&mut MemoryConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.index_path = PathBuf::new()), "index_path is empty"),
            (Box::new(|c| c.min_similarity = 1.5), "min_similarity"),
            (Box::new(|c| c.embedder = EmbedderConfig::Hashing { dimension: 0, seed: 0 }), "embedder.dimension"),
            (
                Box::new(|c| {
                    c.embedder = EmbedderConfig::Ollama {
                        url: "localhost:11434".into(),
                        model: "m".into(),
                        dimension: 8,
                        timeout_secs: 1,
                    }
                }),
                "embedder.url",
            ),
            (Box::new(|c| c.index.approximate = "PQ8".into()), "index.approximate"),
            (
                Box::new(|c| {
                    c.index.approximate = "HNSWx,Flat".into();
                    c.index.params.clear();
                }),
                "index.approximate",
            ),
            (Box::new(|c| c.index.approximate = "IDMap,HNSW32".into()), "leave out IDMap"),
            (Box::new(|c| c.index.params = BTreeMap::from([("nprobe".into(), 0.0)])), "index.params.nprobe"),
            (
                Box::new(|c| c.index.params = BTreeMap::from([("efSearch".into(), 64.0)])),
                "index.params.efSearch does not apply to IVF1024,Flat: use nprobe or max_codes",
            ),
            (
                Box::new(|c| {
                    c.index.approximate = "HNSW32,Flat".into();
                    c.index.params = BTreeMap::from([("nprobe".into(), 8.0)]);
                }),
                "use efSearch or efConstruction",
            ),
            (Box::new(|c| c.index.exact_up_to = 1000), "needs at least 39936 memories"),
        ];
        for (change, want) in cases {
            let mut config = MemoryConfig::new("memory.faiss");
            change(&mut config);
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }
}
