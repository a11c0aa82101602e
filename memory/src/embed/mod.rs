//! Embedders: the model-free hashing embedder (the default) and the Ollama embedder.
use medic_core::ports::Embedder;

use crate::error::{Error, Result};

pub mod hashing;
pub mod ollama;

pub use hashing::HashingEmbedder;
pub use ollama::OllamaEmbedder;

/// Embeds `texts` and checks that the embedder kept its promise: one vector per text, of its dimension.
pub async fn embed_checked(embedder: &dyn Embedder, texts: &[String]) -> Result<Vec<Vec<f32>>> {
    let vectors =
        embedder.embed(texts).await.map_err(|cause| Error::Embed { embedder: embedder.id().to_string(), cause })?;
    let dimension = embedder.dimension();
    if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != dimension) {
        return Err(Error::EmbedShape {
            embedder: embedder.id().to_string(),
            expected: texts.len(),
            got: vectors.len(),
            dimension: vectors.iter().map(Vec::len).find(|&d| d != dimension).unwrap_or(dimension),
            expected_dimension: dimension,
        });
    }
    Ok(vectors)
}
