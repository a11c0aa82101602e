//! Adaptive routing between the configured models, epsilon-greedy: with probability `epsilon` a random
//! model (exploration), otherwise the best by
//!
//! ```text
//! score = success − latency_weight · latency / latency_scale − cost_weight · cost / cost_scale
//! success = (confirmed + 1) / (confirmed + refuted + failed requests + 2)
//! ```
//!
//! where `confirmed` counts the model's hypotheses that verification confirmed, `refuted` those it refuted
//! (or that lost to a cause that verification confirmed), latency is the mean answer time and cost the mean
//! tokens of an answer priced at the model's `cost_per_1k_tokens`. The state is visible in `/v1/health`
//! and kept in `routing.state_path` when set.
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::llm::config::{ModelConfig, RoutingConfig};

/// Weight of the newest observation in the moving averages.
const EWMA_ALPHA: f64 = 0.2;

/// What routing has measured of one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelStats {
    pub calls: u64,
    pub failed: u64,
    pub confirmed: u64,
    pub refuted: u64,
    /// Moving averages of the answers' latency and tokens (prompt and answer).
    pub mean_latency_ms: Option<f64>,
    pub mean_tokens: Option<f64>,
    pub picks: u64,
}

impl ModelStats {
    pub fn success(&self) -> f64 {
        (self.confirmed as f64 + 1.0) / ((self.confirmed + self.refuted + self.failed) as f64 + 2.0)
    }
}

/// One model as `/v1/health` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRoute {
    pub model: String,
    pub score: f64,
    pub success: f64,
    pub cost_per_1k_tokens: f64,
    #[serde(flatten)]
    pub stats: ModelStats,
}

/// The routing state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingStatus {
    pub epsilon: f64,
    /// Best first.
    pub models: Vec<ModelRoute>,
    /// The model the next exploiting pick takes.
    pub preferred: Option<String>,
}

/// A model chosen for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub model: String,
    /// Chosen at random rather than by score.
    pub explored: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Persisted {
    models: BTreeMap<String, ModelStats>,
}

#[derive(Debug)]
struct State {
    stats: BTreeMap<String, ModelStats>,
    rng: SmallRng,
}

#[derive(Debug)]
pub struct Router {
    config: RoutingConfig,
    models: Vec<ModelConfig>,
    state: Mutex<State>,
}

impl Router {
    /// A router over `models`, with the state kept in `config.state_path` (read now if it exists).
    pub fn new(models: Vec<ModelConfig>, config: RoutingConfig) -> Result<Router> {
        let mut stats: BTreeMap<String, ModelStats> = BTreeMap::new();
        if let Some(path) = &config.state_path
            && path.exists()
        {
            let problem = |e: String| Error::RoutingState { path: path.display().to_string(), problem: e };
            let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
            let persisted: Persisted = serde_json::from_str(&text).map_err(|e| problem(e.to_string()))?;
            stats = persisted.models;
        }
        stats.retain(|name, _| models.iter().any(|m| &m.name == name));
        for m in &models {
            stats.entry(m.name.clone()).or_default();
        }
        let seed = config.seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
        });
        Ok(Router { config, models, state: Mutex::new(State { stats, rng: SmallRng::seed_from_u64(seed) }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn score(&self, model: &ModelConfig, stats: &ModelStats) -> f64 {
        let latency = stats.mean_latency_ms.unwrap_or(0.0) / 1000.0 / self.config.latency_scale_secs;
        let cost = stats.mean_tokens.unwrap_or(0.0) / 1000.0 * model.cost_per_1k_tokens / self.config.cost_scale;
        stats.success() - self.config.latency_weight * latency - self.config.cost_weight * cost
    }

    /// The best model by score (the first configured among equals).
    fn best(&self, state: &State) -> Option<&ModelConfig> {
        let mut best: Option<(&ModelConfig, f64)> = None;
        for m in &self.models {
            let score = self.score(m, &state.stats[&m.name]);
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((m, score));
            }
        }
        best.map(|(m, _)| m)
    }

    /// Chooses the model for the next request.
    pub fn pick(&self) -> Pick {
        let mut state = self.lock();
        let explore = self.models.len() > 1 && state.rng.random_bool(self.config.epsilon.clamp(0.0, 1.0));
        let model = if explore {
            let i = state.rng.random_range(0..self.models.len());
            self.models[i].name.clone()
        } else {
            self.best(&state).map(|m| m.name.clone()).unwrap_or_default()
        };
        if let Some(s) = state.stats.get_mut(&model) {
            s.picks += 1;
        }
        Pick { model, explored: explore }
    }

    /// Records one request: how long it took, its tokens, whether it answered.
    pub fn record_call(&self, model: &str, latency: Duration, tokens: Option<u64>, ok: bool) {
        {
            let mut state = self.lock();
            let Some(s) = state.stats.get_mut(model) else { return };
            s.calls += 1;
            if !ok {
                s.failed += 1;
            }
            let ms = latency.as_secs_f64() * 1000.0;
            s.mean_latency_ms = Some(s.mean_latency_ms.map_or(ms, |m| m + EWMA_ALPHA * (ms - m)));
            if let Some(t) = tokens {
                let t = t as f64;
                s.mean_tokens = Some(s.mean_tokens.map_or(t, |m| m + EWMA_ALPHA * (t - m)));
            }
        }
        self.save();
    }

    /// Records whether verification confirmed a hypothesis of `model`.
    pub fn record_outcome(&self, model: &str, confirmed: bool) {
        {
            let mut state = self.lock();
            let Some(s) = state.stats.get_mut(model) else { return };
            if confirmed {
                s.confirmed += 1;
            } else {
                s.refuted += 1;
            }
        }
        self.save();
    }

    pub fn status(&self) -> RoutingStatus {
        let state = self.lock();
        let mut models: Vec<ModelRoute> = self
            .models
            .iter()
            .map(|m| {
                let stats = state.stats[&m.name].clone();
                ModelRoute {
                    model: m.name.clone(),
                    score: (self.score(m, &stats) * 1000.0).round() / 1000.0,
                    success: (stats.success() * 1000.0).round() / 1000.0,
                    cost_per_1k_tokens: m.cost_per_1k_tokens,
                    stats,
                }
            })
            .collect();
        models.sort_by(|a, b| b.score.total_cmp(&a.score));
        RoutingStatus { epsilon: self.config.epsilon, preferred: self.best(&state).map(|m| m.name.clone()), models }
    }

    fn save(&self) {
        let Some(path) = &self.config.state_path else { return };
        let persisted = Persisted { models: self.lock().stats.clone() };
        if let Err(e) = write_atomically(path, &persisted) {
            tracing::warn!(path = %path.display(), error = %e, "could not keep the model routing state");
        }
    }
}

fn write_atomically(path: &Path, persisted: &Persisted) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(persisted).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(epsilon: f64, models: &[(&str, f64)]) -> Router {
        let models = models.iter().map(|(n, c)| ModelConfig { name: n.to_string(), cost_per_1k_tokens: *c }).collect();
        Router::new(models, RoutingConfig { epsilon, seed: Some(7), ..RoutingConfig::default() }).unwrap()
    }

    fn share(r: &Router, model: &str, n: usize) -> f64 {
        (0..n).filter(|_| r.pick().model == model).count() as f64 / n as f64
    }

    #[test]
    fn routing_follows_confirmed_hypotheses() {
        let r = router(0.1, &[("small", 0.0), ("large", 0.0)]);
        assert_eq!(r.pick().model, "small", "the first configured model while nothing is known");
        for _ in 0..5 {
            r.record_outcome("small", false);
            r.record_outcome("large", true);
        }
        let large = share(&r, "large", 2_000);
        assert!((0.9..0.99).contains(&large), "mostly exploits, sometimes explores: {large}");
        assert_eq!(r.status().preferred.as_deref(), Some("large"));
    }

    #[test]
    fn latency_and_cost_break_ties_and_failures_count_against_a_model() {
        let r = router(0.0, &[("slow", 0.0), ("fast", 0.0)]);
        r.record_call("slow", Duration::from_secs(40), Some(900), true);
        r.record_call("fast", Duration::from_secs(2), Some(900), true);
        assert_eq!(r.pick().model, "fast");

        let r = router(0.0, &[("dear", 5.0), ("cheap", 0.1)]);
        r.record_call("dear", Duration::from_secs(1), Some(2_000), true);
        r.record_call("cheap", Duration::from_secs(1), Some(2_000), true);
        assert_eq!(r.pick().model, "cheap");

        let r = router(0.0, &[("flaky", 0.0), ("steady", 0.0)]);
        for _ in 0..3 {
            r.record_call("flaky", Duration::from_millis(100), None, false);
        }
        assert_eq!(r.pick().model, "steady");
        let status = r.status();
        assert_eq!(status.models[0].model, "steady");
        assert_eq!(status.models[1].stats.failed, 3);
    }

    #[test]
    fn the_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = RoutingConfig {
            epsilon: 0.0,
            state_path: Some(dir.path().join("routing.json")),
            ..RoutingConfig::default()
        };
        let models = vec![ModelConfig::new("a"), ModelConfig::new("b")];
        let r = Router::new(models.clone(), config.clone()).unwrap();
        r.record_outcome("b", true);
        r.record_call("b", Duration::from_millis(800), Some(1_200), true);
        drop(r);
        let r = Router::new(models, config.clone()).unwrap();
        assert_eq!(r.pick().model, "b");
        let b = r.status().models.into_iter().find(|m| m.model == "b").unwrap();
        assert_eq!((b.stats.confirmed, b.stats.calls), (1, 1));

        std::fs::write(config.state_path.as_ref().unwrap(), "{not json").unwrap();
        let error = Router::new(vec![ModelConfig::new("a")], config).unwrap_err().to_string();
        assert!(error.contains("routing.json"), "{error}");
    }
}
