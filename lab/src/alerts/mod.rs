//! The lab's built-in alerting: the kube-prometheus rules and medic's service rules evaluated from
//! the lab's state in virtual time, and Alertmanager's webhook notifications (version "4") posted to
//! medic's real HTTP endpoint.
//!
//! - `config`: [`AlertWebhookConfig`], where to post and Alertmanager's timings.
//! - `rules`: the rules (the same as `lab/rules/medic-lab-rules.yml`).
//! - `evaluator`: [`AlertEvaluator`], the tick hook: pending → firing → resolved.
//! - `notify`: [`Notifier`], Alertmanager's grouping, timing, retries and delivery.
//! - `payload`: the webhook body; `fingerprint`: Alertmanager's fingerprint.
pub mod config;
pub mod evaluator;
pub mod fingerprint;
pub mod notify;
pub mod payload;
pub mod rules;

pub use config::AlertWebhookConfig;
pub use evaluator::AlertEvaluator;
pub use notify::{AlertInstance, Notifier};
