//! An embedder backed by an Ollama server's `/api/embed` (through ollama-rs), used when configured.
use async_trait::async_trait;
use ollama_rs::Ollama;
use ollama_rs::generation::embeddings::request::{EmbeddingsInput, GenerateEmbeddingsRequest};
use std::time::Duration;

use medic_core::ports::Embedder;

use super::hashing::normalise;

#[derive(Debug, Clone)]
pub struct OllamaEmbedder {
    client: Ollama,
    model: String,
    dimension: usize,
    timeout: Duration,
    id: String,
}

impl OllamaEmbedder {
    /// `url` is the server's base URL (`http://127.0.0.1:11434`); `dimension` is what the model returns.
    pub fn new(url: &str, model: &str, dimension: usize, timeout: Duration) -> crate::Result<Self> {
        let client = Ollama::try_new(url)
            .map_err(|e| crate::Error::Config(format!("embedder.url {url:?} is not a URL: {e}")))?;
        Ok(Self { client, model: model.to_string(), dimension, timeout, id: format!("ollama:{model}") })
    }

    fn unavailable(&self, message: impl Into<String>) -> medic_core::Error {
        medic_core::Error::Unavailable { port: "embedder", message: message.into() }
    }
}

#[async_trait]
impl Embedder for OllamaEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> medic_core::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let request = GenerateEmbeddingsRequest::new(self.model.clone(), EmbeddingsInput::Multiple(texts.to_vec()));
        let response = tokio::time::timeout(self.timeout, self.client.generate_embeddings(request))
            .await
            .map_err(|_| self.unavailable(format!("no answer from {} within {:?}", self.client.url(), self.timeout)))?
            .map_err(|e| self.unavailable(format!("{} /api/embed: {e}", self.client.url())))?;
        if response.embeddings.len() != texts.len() {
            return Err(medic_core::Error::Backend {
                port: "embedder",
                message: format!(
                    "model {} returned {} embeddings for {} inputs",
                    self.model,
                    response.embeddings.len(),
                    texts.len()
                ),
            });
        }
        let mut vectors = response.embeddings;
        for vector in &mut vectors {
            if vector.len() != self.dimension {
                return Err(medic_core::Error::Backend {
                    port: "embedder",
                    message: format!(
                        "model {} returned vectors of dimension {}, the config says {}",
                        self.model,
                        vector.len(),
                        self.dimension
                    ),
                });
            }
            normalise(vector);
        }
        Ok(vectors)
    }
}
