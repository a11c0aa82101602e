//! Prometheus and Alertmanager from Debian's packages (`/usr/bin/prometheus`,
//! `/usr/bin/prometheus-alertmanager`, installed by `scripts/setup.sh`), configured for the lab and
//! started beside it: Prometheus scrapes the lab's `/metrics` every second under the `job` kube-state-metrics
//! would have, evaluates the lab's kube-prometheus rules and medic's own rules with `for:` of a few
//! seconds, and sends to Alertmanager, which groups (`group_wait: 1s`, `group_interval: 5s`) and posts to
//! medic's webhook with a bearer token. Used by the end-to-end tests of the chain (`chaos-tests`) and by
//! `medic lab up --with-prometheus`.
//!
//! ```no_run
//! # async fn example() -> medic_promstack::Result<()> {
//! use medic_promstack::{Binaries, Stack, StackConfig};
//! let config = StackConfig::for_lab("127.0.0.1:6443")
//!     .with_receiver("http://127.0.0.1:8080/v1/webhooks/alertmanager", Some("token".into()));
//! let stack = Stack::start(&Binaries::locate()?, config).await?;
//! println!("{} {}", stack.prometheus_url(), stack.alertmanager_url());
//! # Ok(()) }
//! ```
//!
//! Both programs run in a temporary directory (configs, rule files as loaded, data, logs) and are killed when
//! the [`Stack`] is stopped or dropped; a watchdog shell kills them if this process dies without unwinding.
#![forbid(unsafe_code)]

pub mod api;
pub mod binaries;
pub mod config;
mod daemon;
pub mod error;
pub mod rules;
pub mod stack;

pub use binaries::Binaries;
pub use config::{StackConfig, WebhookReceiver};
pub use error::{Error, Result};
pub use rules::{AlertRule, RuleFile};
pub use stack::{Stack, free_port};
