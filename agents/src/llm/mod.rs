//! The model assist (C3's LLM assist, C12's watchtower): Ollama, through ollama-rs, may add or re-rank
//! hypotheses, never as the only path and never unchecked.
//!
//! - [`config`]: `[llm]` — where Ollama is, the models, timeouts, which specialists and whether the
//!   Director use it.
//! - [`redact`] and [`render`]: the context as the model reads it — compact, bounded, no secrets.
//! - [`prompt`]: the prompt files (`agents/prompts/*.md`), versioned and identified by SHA-256.
//! - [`answer`] and [`validate`]: the JSON schema asked for, and the checks an answer must pass (class in
//!   the taxonomy, target in the context, quoted evidence in the context, playbook in the catalog).
//! - [`client`], [`reasoner`]: one consultation, with retries (jittered exponential back-off).
//! - [`watchtower`]: slow or failing backend → writes suspended until it recovers.
//! - [`router`]: epsilon-greedy routing between models over confirmed hypotheses, latency and cost.
//! - [`assist`]: the actor of a specialist whose rules the model assists.
//! - `stand_in` (feature `stand-in`): an Ollama stand-in for tests.
pub mod answer;
pub mod assist;
pub mod client;
pub mod config;
pub mod prompt;
pub mod reasoner;
pub mod redact;
pub mod render;
pub mod router;
#[cfg(feature = "stand-in")]
pub mod stand_in;
pub mod validate;
pub mod watchtower;

pub use assist::AssistedSpecialist;
pub use config::{LlmConfig, ModelConfig};
pub use reasoner::{Consultation, Known, Reasoner, Task};
pub use router::{Router, RoutingStatus};
pub use watchtower::{Transition, Watchtower, WatchtowerStatus, Writes};
