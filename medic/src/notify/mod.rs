//! Notifications: incident messages to Slack, delivered through the store's outbox, and Slack's signed
//! button callbacks.
//!
//! - [`config`]: `[notify]` — sinks, delivery, interactivity.
//! - [`sink`]: the chat.postMessage and incoming-webhook sinks.
//! - [`notifier`]: the Notifier actor (renders, queues, delivers, threads, retries).
//! - [`opened`]: announces each new incident on its way to the ContextCollector.
//! - [`writes`]: announces each suspension and resumption of writes by the watchtower.
//!
//! The messages themselves (Block Kit, limits, signing, payloads) are `medic_slack`'s.
pub mod config;
pub mod notifier;
pub mod opened;
pub mod sink;
pub mod writes;

use anyhow::Result;
use medic_slack::{RenderOptions, Verifier};

pub use config::{DeliveryConfig, InteractionsConfig, NotifyConfig, SinkConfig};
pub use notifier::{Notifier, VerdictNote};
pub use opened::OpenedAnnouncer;
pub use sink::Sink;
pub use writes::{WritesNote, announce_writes, medic_wide};

/// Slack's interactivity, built: the request verifier and who may answer plans.
#[derive(Debug, Clone)]
pub struct SlackInteractions {
    pub verifier: Verifier,
    approvers: Vec<String>,
}

impl SlackInteractions {
    /// Whether the Slack user may approve or reject plans.
    pub fn may_decide(&self, user_id: &str) -> bool {
        self.approvers.is_empty() || self.approvers.iter().any(|a| a == user_id)
    }
}

impl NotifyConfig {
    /// The sinks, with their secrets resolved (`env` looks up environment variables).
    pub fn build_sinks(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Sink>> {
        self.validate()?;
        self.sinks.iter().map(|s| s.build(self.delivery.request_timeout(), env)).collect()
    }

    /// Slack's interactivity, when configured.
    pub fn build_interactions(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<SlackInteractions>> {
        let Some(config) = &self.interactions else { return Ok(None) };
        let secret = config.secret().resolve("notify.interactions.signing_secret", env)?;
        Ok(Some(SlackInteractions {
            verifier: Verifier::new(secret.expose().as_bytes(), config.max_age_secs),
            approvers: config.approvers.clone(),
        }))
    }

    /// How messages are rendered: links to `public_url`, buttons when interactivity is configured.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions { title: None, base_url: self.public_url.clone(), interactive: self.interactions.is_some() }
    }
}
