//! `[llm]` in medic's configuration: where Ollama is, which models to route between, how long to wait,
//! which specialists the model assists and whether the Director asks it to adjudicate. Without the section
//! medic runs on its rules alone.
//!
//! ```toml
//! [llm]
//! url = "http://127.0.0.1:11434"
//! models = ["qwen2.5:7b-instruct", { name = "llama3.1:8b", cost_per_1k_tokens = 0.2 }]
//! specialists = ["compute", "network", "database"]
//! director = true
//!
//! [llm.watchtower]
//! slow_after_secs = 60
//! ```
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Ollama's base URL.
    pub url: String,
    /// The models routed between (at least one), each a name or `{ name, cost_per_1k_tokens }`.
    pub models: Vec<ModelConfig>,
    /// A request that has not answered by then is abandoned and counts as a failure.
    pub timeout_secs: f64,
    /// Further attempts after a failed request, with jittered exponential back-off from `retry_backoff_ms`.
    pub retries: u32,
    pub retry_backoff_ms: u64,
    /// The specialists the model assists, by name.
    pub specialists: Vec<String>,
    /// Whether the Director asks the model to adjudicate when the rules' hypotheses are close.
    pub director: bool,
    /// How long an assisted specialist waits for the model before it answers with its rules alone; by
    /// default nine tenths of the Director's specialist deadline.
    pub answer_within_ms: Option<u64>,
    /// How long the Director waits for an adjudication before deciding without it.
    pub adjudicate_within_ms: u64,
    /// The highest confidence a model's hypothesis may carry into the Director's weighing.
    pub max_confidence: f64,
    /// At most this many hypotheses are taken from one answer.
    pub max_hypotheses: usize,
    /// What of the context is sent, and how much.
    pub context: ContextBudget,
    /// Sampling temperature and seed, so that the same context gets the same answer.
    pub temperature: f32,
    pub seed: i32,
    /// The model's context window (Ollama's `num_ctx`), when the default is too small for the context sent.
    pub num_ctx: Option<u64>,
    /// A folder whose `specialist.md` and `adjudicate.md` replace the built-in prompts.
    pub prompts_dir: Option<PathBuf>,
    pub redact: RedactConfig,
    pub watchtower: WatchtowerConfig,
    pub routing: RoutingConfig,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:11434".into(),
            models: Vec::new(),
            timeout_secs: 90.0,
            retries: 2,
            retry_backoff_ms: 500,
            specialists: vec!["network".into(), "database".into(), "compute".into()],
            director: true,
            answer_within_ms: None,
            adjudicate_within_ms: 30_000,
            max_confidence: 0.9,
            max_hypotheses: 5,
            context: ContextBudget::default(),
            temperature: 0.0,
            seed: 42,
            num_ctx: None,
            prompts_dir: None,
            redact: RedactConfig::default(),
            watchtower: WatchtowerConfig::default(),
            routing: RoutingConfig::default(),
        }
    }
}

/// A model to route to. Written as its name alone, or as a table with its cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ModelSpec")]
pub struct ModelConfig {
    pub name: String,
    /// What a thousand tokens (prompt and answer) cost, in whatever unit the operator budgets in; 0 for a
    /// model that costs nothing but time.
    pub cost_per_1k_tokens: f64,
}

impl ModelConfig {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), cost_per_1k_tokens: 0.0 }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelSpec {
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        cost_per_1k_tokens: f64,
    },
}

impl From<ModelSpec> for ModelConfig {
    fn from(spec: ModelSpec) -> Self {
        match spec {
            ModelSpec::Name(name) => ModelConfig::new(name),
            ModelSpec::Full { name, cost_per_1k_tokens } => ModelConfig { name, cost_per_1k_tokens },
        }
    }
}

/// Bounds on the context sent to the model: it is rendered compactly and cut to these limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextBudget {
    /// The rendered context as a whole.
    pub max_chars: usize,
    /// Any one line (a long log line is cut).
    pub max_line_chars: usize,
    pub max_pods: usize,
    pub max_events: usize,
    /// The last lines of each container's log.
    pub max_log_lines_per_container: usize,
    pub max_log_excerpts: usize,
}

impl Default for ContextBudget {
    fn default() -> Self {
        Self {
            max_chars: 16_000,
            max_line_chars: 320,
            max_pods: 24,
            max_events: 30,
            max_log_lines_per_container: 12,
            max_log_excerpts: 12,
        }
    }
}

/// What else counts as a secret, besides what medic always redacts (see `redact`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactConfig {
    /// Regular expressions whose matches are replaced.
    pub patterns: Vec<String>,
    /// Substrings of environment variable names whose values are never sent (case-insensitive).
    pub env_names: Vec<String>,
}

/// When the reasoning backend is unhealthy enough to suspend writes, and how it is probed back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchtowerConfig {
    /// An answer slower than this suspends writes.
    pub slow_after_secs: f64,
    /// So do this many failed requests in a row.
    pub failures: u32,
    /// Writes resume after this many prompt, successful answers in a row.
    pub recover_after: u32,
    /// While writes are suspended, the backend is probed with jittered exponential back-off from
    /// `probe_backoff_ms` up to `probe_backoff_max_secs`.
    pub probe_backoff_ms: u64,
    pub probe_backoff_max_secs: f64,
}

impl Default for WatchtowerConfig {
    fn default() -> Self {
        Self {
            slow_after_secs: 60.0,
            failures: 3,
            recover_after: 2,
            probe_backoff_ms: 1_000,
            probe_backoff_max_secs: 60.0,
        }
    }
}

impl WatchtowerConfig {
    pub fn slow_after(&self) -> Duration {
        Duration::from_secs_f64(self.slow_after_secs)
    }
}

/// Epsilon-greedy routing between the models: explore a random model with probability `epsilon`,
/// otherwise take the best by measured success, latency and token cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    pub epsilon: f64,
    /// How much a second of mean latency costs, against a success rate in 0..1, per `latency_scale_secs`.
    pub latency_weight: f64,
    pub latency_scale_secs: f64,
    /// How much the token cost of an answer costs, per `cost_scale` units.
    pub cost_weight: f64,
    pub cost_scale: f64,
    /// A JSON file the routing state is kept in across restarts.
    pub state_path: Option<PathBuf>,
    /// Seeds the exploration (for reproducible tests); random when unset.
    pub seed: Option<u64>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.1,
            latency_weight: 0.2,
            latency_scale_secs: 30.0,
            cost_weight: 0.1,
            cost_scale: 1.0,
            state_path: None,
            seed: None,
        }
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> Error {
    Error::InvalidLlmConfig { field: field.to_string(), problem: problem.into() }
}

impl LlmConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }

    /// Checks every field the way the components built from it will use it.
    pub fn validate(&self) -> Result<()> {
        let url =
            url_parts(&self.url).ok_or_else(|| invalid("url", format!("{:?} is not an http(s) URL", self.url)))?;
        if url.is_empty() {
            return Err(invalid("url", "has no host"));
        }
        if self.models.is_empty() {
            return Err(invalid("models", "name at least one model"));
        }
        for (i, m) in self.models.iter().enumerate() {
            if m.name.trim().is_empty() {
                return Err(invalid(&format!("models[{i}].name"), "is empty"));
            }
            if !(m.cost_per_1k_tokens.is_finite() && m.cost_per_1k_tokens >= 0.0) {
                return Err(invalid(&format!("models[{i}].cost_per_1k_tokens"), "must be a non-negative number"));
            }
            if self.models[..i].iter().any(|o| o.name == m.name) {
                return Err(invalid(&format!("models[{i}].name"), format!("{} is listed twice", m.name)));
            }
        }
        let positive = |field: &str, x: f64| {
            if x.is_finite() && x > 0.0 { Ok(()) } else { Err(invalid(field, "must be a positive number")) }
        };
        positive("timeout_secs", self.timeout_secs)?;
        positive("watchtower.slow_after_secs", self.watchtower.slow_after_secs)?;
        positive("watchtower.probe_backoff_max_secs", self.watchtower.probe_backoff_max_secs)?;
        positive("routing.latency_scale_secs", self.routing.latency_scale_secs)?;
        positive("routing.cost_scale", self.routing.cost_scale)?;
        if self.watchtower.failures == 0 {
            return Err(invalid("watchtower.failures", "must be at least 1"));
        }
        if self.watchtower.recover_after == 0 {
            return Err(invalid("watchtower.recover_after", "must be at least 1"));
        }
        if self.watchtower.probe_backoff_ms == 0 {
            return Err(invalid("watchtower.probe_backoff_ms", "must be positive"));
        }
        if !(0.0..=1.0).contains(&self.routing.epsilon) {
            return Err(invalid("routing.epsilon", "must be within 0..1"));
        }
        for (field, w) in
            [("routing.latency_weight", self.routing.latency_weight), ("routing.cost_weight", self.routing.cost_weight)]
        {
            if !(w.is_finite() && w >= 0.0) {
                return Err(invalid(field, "must be a non-negative number"));
            }
        }
        if !(self.max_confidence > 0.0 && self.max_confidence <= 1.0) {
            return Err(invalid("max_confidence", "must be within (0, 1]"));
        }
        if self.max_hypotheses == 0 {
            return Err(invalid("max_hypotheses", "must be at least 1"));
        }
        if self.answer_within_ms == Some(0) {
            return Err(invalid("answer_within_ms", "must be positive"));
        }
        if self.adjudicate_within_ms == 0 && self.director {
            return Err(invalid("adjudicate_within_ms", "must be positive when the director uses the model"));
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(invalid("temperature", "must be a non-negative number"));
        }
        let c = &self.context;
        if c.max_chars < 1_000 {
            return Err(invalid("context.max_chars", "must be at least 1000 to say anything useful"));
        }
        if c.max_line_chars < 40 {
            return Err(invalid("context.max_line_chars", "must be at least 40"));
        }
        for (i, pattern) in self.redact.patterns.iter().enumerate() {
            regex::Regex::new(pattern).map_err(|e| invalid(&format!("redact.patterns[{i}]"), e.to_string()))?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.specialists.iter().enumerate() {
            if !seen.insert(s.as_str()) {
                return Err(invalid(&format!("specialists[{i}]"), format!("{s} is listed twice")));
            }
        }
        Ok(())
    }

    /// Whether the model assists the specialist of that name.
    pub fn assists(&self, specialist: &str) -> bool {
        self.specialists.iter().any(|s| s == specialist)
    }
}

/// The host part of an http(s) URL, if it is one.
fn url_parts(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"))?;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> LlmConfig {
        LlmConfig { models: vec![ModelConfig::new("qwen2.5:7b")], ..LlmConfig::default() }
    }

    #[test]
    fn models_are_names_or_tables() {
        let config: LlmConfig = serde_json::from_value(serde_json::json!({
            "models": ["qwen2.5:7b", {"name": "llama3.1:8b", "cost_per_1k_tokens": 0.2}],
            "watchtower": {"slow_after_secs": 30}
        }))
        .unwrap();
        assert_eq!(
            config.models,
            [ModelConfig::new("qwen2.5:7b"), ModelConfig { name: "llama3.1:8b".into(), cost_per_1k_tokens: 0.2 }]
        );
        assert_eq!(config.watchtower.slow_after_secs, 30.0);
        assert_eq!(config.watchtower.failures, 3, "defaults for the rest");
        config.validate().unwrap();
    }

    #[test]
    fn mistakes_name_the_field() {
        type Mistake = Box<dyn Fn(&mut LlmConfig)>;
        let cases: Vec<(Mistake, &str)> = vec![
            (Box::new(|c| c.url = "localhost:11434".into()), "url"),
            (Box::new(|c| c.models.clear()), "models"),
            (Box::new(|c| c.models.push(ModelConfig::new("qwen2.5:7b"))), "models[1].name"),
            (Box::new(|c| c.timeout_secs = 0.0), "timeout_secs"),
            (Box::new(|c| c.watchtower.slow_after_secs = f64::NAN), "watchtower.slow_after_secs"),
            (Box::new(|c| c.watchtower.failures = 0), "watchtower.failures"),
            (Box::new(|c| c.routing.epsilon = 1.5), "routing.epsilon"),
            (Box::new(|c| c.max_confidence = 0.0), "max_confidence"),
            (Box::new(|c| c.redact.patterns.push("(unclosed".into())), "redact.patterns[0]"),
            (Box::new(|c| c.specialists.push("compute".into())), "specialists[3]"),
            (Box::new(|c| c.context.max_chars = 10), "context.max_chars"),
        ];
        for (break_it, field) in cases {
            let mut config = valid();
            break_it(&mut config);
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
        assert!(serde_json::from_value::<LlmConfig>(serde_json::json!({"modles": []})).is_err());
    }
}
