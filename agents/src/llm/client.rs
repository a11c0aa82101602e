//! Ollama's `/api/chat` through ollama-rs, with a JSON schema as the format (structured outputs), a
//! deterministic temperature and seed, and a timeout. One request, measured; retries are the reasoner's.
use ollama_rs::Ollama;
use ollama_rs::error::OllamaError;
use ollama_rs::generation::chat::ChatMessage;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::parameters::{FormatType, JsonStructure};
use ollama_rs::models::ModelOptions;
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::llm::config::LlmConfig;

/// A model's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub content: String,
    /// Prompt and answer tokens, when the server counted them.
    pub tokens: Option<u64>,
    pub latency: Duration,
}

/// A request that got no usable answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatFailure {
    pub message: String,
    pub latency: Duration,
}

#[derive(Debug, Clone)]
pub struct ChatClient {
    ollama: Ollama,
    timeout: Duration,
    temperature: f32,
    seed: i32,
    num_ctx: Option<u64>,
}

impl ChatClient {
    pub fn new(config: &LlmConfig) -> Result<ChatClient> {
        let ollama = Ollama::try_new(config.url.as_str())
            .map_err(|e| Error::InvalidLlmConfig { field: "url".into(), problem: format!("{:?}: {e}", config.url) })?;
        Ok(ChatClient {
            ollama,
            timeout: config.timeout(),
            temperature: config.temperature,
            seed: config.seed,
            num_ctx: config.num_ctx,
        })
    }

    /// The server this client talks to.
    pub fn url(&self) -> &str {
        self.ollama.url_str()
    }

    /// Asks `model`, with a system and a user message, for an answer in the shape of `schema`.
    pub async fn chat(
        &self,
        model: &str,
        system: String,
        user: String,
        schema: &Value,
    ) -> Result<ChatReply, ChatFailure> {
        let started = Instant::now();
        let failure = |message: String| ChatFailure { message, latency: started.elapsed() };
        let structure: JsonStructure = serde_json::from_value(schema.clone())
            .map_err(|e| failure(format!("the answer schema is not a JSON schema: {e}")))?;
        let mut options = ModelOptions::default().temperature(self.temperature).seed(self.seed);
        if let Some(n) = self.num_ctx {
            options = options.num_ctx(n);
        }
        let request =
            ChatMessageRequest::new(model.to_string(), vec![ChatMessage::system(system), ChatMessage::user(user)])
                .format(FormatType::StructuredJson(Box::new(structure)))
                .options(options);
        let response = match tokio::time::timeout(self.timeout, self.ollama.send_chat_messages(request)).await {
            Err(_) => return Err(failure(format!("{model} gave no answer within {:?}", self.timeout))),
            Ok(Err(e)) => return Err(failure(describe(model, self.ollama.url_str(), e))),
            Ok(Ok(response)) => response,
        };
        let latency = started.elapsed();
        if !response.done {
            return Err(ChatFailure { message: format!("{model} stopped before finishing its answer"), latency });
        }
        let tokens = response.final_data.as_ref().map(|d| d.prompt_eval_count + d.eval_count);
        Ok(ChatReply { content: response.message.content, tokens, latency })
    }
}

fn describe(model: &str, url: &str, e: OllamaError) -> String {
    match e {
        OllamaError::ReqwestError(e) => {
            let mut text = format!("asking {model} at {url}: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
        OllamaError::Other(body) => {
            let reason = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(body);
            format!("{model} at {url} refused the request: {reason}")
        }
        OllamaError::JsonError(e) => format!("{model} at {url} answered something that is not Ollama's JSON: {e}"),
        OllamaError::InternalError(e) => format!("{model} at {url} failed: {}", e.message),
        OllamaError::ToolCallError(e) => format!("{model} at {url}: {e}"),
    }
}
