//! The default embedder: no model, no network. Each `kind: value` line of a symptom digest is a feature,
//! and so is each word of its value; features are hashed (signed feature hashing with a fixed seed) into
//! a fixed number of dimensions and the vector is L2-normalised, so inner product is cosine similarity.
//!
//! Two incidents with the same status reasons, exit codes, events and log templates get the same vector
//! whatever their pod names, addresses and timestamps (the digest already replaced those); incidents that
//! share only a few words stay far apart.
use async_trait::async_trait;

use medic_core::ports::Embedder;

/// Bumped whenever the same text would hash to a different vector.
pub const HASHING_VERSION: u32 = 1;

/// How much the words of one line weigh together, against 1.0 for the line as a whole: a line that
/// matches exactly counts for more than one that shares words.
const WORDS_WEIGHT: f32 = 0.6;

/// Placeholder names the template step writes; as words they would make every line look alike.
const PLACEHOLDERS: &[&str] = &["num", "ip", "ts", "hex", "uuid", "id", "pod"];

#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dimension: usize,
    seed: u64,
    id: String,
}

impl HashingEmbedder {
    /// `dimension` must be at least 1 (the config validates it).
    pub fn new(dimension: usize, seed: u64) -> Self {
        let dimension = dimension.max(1);
        Self { dimension, seed, id: format!("medic-hashing-v{HASHING_VERSION}-d{dimension}-s{seed}") }
    }

    /// The vector of one text, computed in place.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimension];
        let mut words: Vec<&str> = Vec::with_capacity(16);
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.add(&mut vector, b'L', line.as_bytes(), 1.0);
            let value = line.split_once(": ").map_or(line, |(_, value)| value);
            words.clear();
            words.extend(
                value
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() >= 2 && !PLACEHOLDERS.iter().any(|p| w.eq_ignore_ascii_case(p))),
            );
            if words.is_empty() {
                continue;
            }
            let weight = WORDS_WEIGHT / (words.len() as f32).sqrt();
            for word in &words {
                self.add(&mut vector, b'W', word.as_bytes(), weight);
            }
        }
        normalise(&mut vector);
        vector
    }

    /// Adds a feature to two slots, each with half its weight (in square): a collision with another
    /// feature then shifts a similarity half as much.
    fn add(&self, vector: &mut [f32], domain: u8, feature: &[u8], weight: f32) {
        let mut h = feature_hash(self.seed, domain, feature);
        let weight = weight * std::f32::consts::FRAC_1_SQRT_2;
        for _ in 0..2 {
            let slot = (h % self.dimension as u64) as usize;
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            vector[slot] += sign * weight;
            h = splitmix64(h);
        }
    }
}

#[async_trait]
impl Embedder for HashingEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> medic_core::Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

/// FNV-1a over the ASCII-lowercased bytes, seeded, with the splitmix64 finaliser so that every output bit
/// depends on every input bit. Written out rather than taken from std: std's hashers may change between
/// releases, and stored vectors must keep meaning the same thing.
fn feature_hash(seed: u64, domain: u8, bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET ^ seed;
    h = (h ^ u64::from(domain)).wrapping_mul(PRIME);
    for &b in bytes {
        h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(PRIME);
    }
    splitmix64(h)
}

pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Scales to unit length (a zero vector stays zero).
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_deterministic() {
        let e = HashingEmbedder::new(384, 7);
        let v = e.embed_one("exit-code: 137\nlast-terminated: OOMKilled");
        assert_eq!(v.len(), 384);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-5);
        assert_eq!(v, e.embed_one("last-terminated: oomkilled\nexit-code: 137"), "case and line order do not matter");
        assert!(e.embed_one("").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn the_seed_and_dimension_name_the_embedder() {
        assert_eq!(HashingEmbedder::new(512, 0).id(), "medic-hashing-v1-d512-s0");
        let a = HashingEmbedder::new(64, 1).embed_one("event: BackOff");
        let b = HashingEmbedder::new(64, 2).embed_one("event: BackOff");
        assert_ne!(a, b);
    }

    #[test]
    fn shared_words_count_for_less_than_shared_lines() {
        let e = HashingEmbedder::new(1024, 0);
        let a = e.embed_one("log: connection refused to database");
        let same_words = e.embed_one("log: database connection refused to");
        let other = e.embed_one("log: image not found");
        let words = cosine(&a, &same_words);
        assert!(words > 0.2 && words < 0.6, "{words}");
        assert!(cosine(&a, &other) < 0.1);
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // Stored vectors depend on these exact values.
        assert_eq!(feature_hash(0, b'L', b"exit-code: 137"), feature_hash(0, b'L', b"EXIT-CODE: 137"));
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }
}
