//! medic-slack: Slack's wire protocol as medic speaks it, with no I/O.
//!
//! - [`blocks`]: Block Kit messages that respect Slack's limits by construction (50 blocks, 25 elements an
//!   actions block, 3000 characters a section text, 255-character block ids).
//! - [`render`]: one message per incident event (opened, diagnosed, approval requested, acted, verified,
//!   rolled back, escalated, closed), with Approve/Reject buttons on a plan that waits for a human; and
//!   medic's own note when its writes are suspended or resume.
//! - [`signature`]: Slack's request signing (`v0`, HMAC-SHA256 over the raw body, a 300 s window).
//! - [`interaction`]: the `block_actions` payload a button click posts back.
//! - [`api`]: the replies of `chat.postMessage` and incoming webhooks, and which failures are worth retrying.
//!
//! The notifier in the `medic` crate sends these messages; its HTTP server verifies and parses callbacks.
#![forbid(unsafe_code)]

pub mod api;
pub mod blocks;
mod error;
pub mod interaction;
pub mod render;
pub mod signature;

pub use blocks::{Block, Message};
pub use error::{Error, Result};
pub use interaction::Interaction;
pub use render::RenderOptions;
pub use signature::{SignatureError, Verifier};
