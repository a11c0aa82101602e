//! The Slack sinks: a configured [`SinkConfig`] built into a [`Sink`] that posts one message and says how
//! it went. Secrets (the bot token, the webhook URL) stay inside the sink: errors and logs never show them.
use anyhow::{Context, Result};
use medic_slack::Message;
use medic_slack::api::{ApiReply, Failure, PostMessage, WebhookPost, classify, classify_status};
use medic_store::NotifyThread;
use std::time::Duration;

use super::config::{SinkConfig, check_url};
use crate::secrets::Secret;

/// A built sink.
pub struct Sink {
    pub name: String,
    kind: Kind,
    client: reqwest::Client,
}

enum Kind {
    Chat { channel: String, token: Secret, endpoint: String },
    Webhook { url: Secret },
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Chat { channel, endpoint, .. } => format!("chat.postMessage {endpoint} channel {channel}"),
            Kind::Webhook { .. } => "incoming webhook".into(),
        };
        f.debug_struct("Sink").field("name", &self.name).field("kind", &kind).finish()
    }
}

/// A message Slack took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Where it was posted (chat.postMessage tells; an incoming webhook does not).
    pub posted: Option<NotifyThread>,
}

/// A message Slack did not take, and what that means for the next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub failure: Failure,
    pub reason: String,
    /// Slack's `Retry-After`, when it asked to slow down.
    pub retry_after: Option<Duration>,
}

impl SendError {
    fn transient(reason: impl Into<String>) -> Self {
        Self { failure: Failure::Transient, reason: reason.into(), retry_after: None }
    }
}

impl SinkConfig {
    /// Resolves the sink's secret and builds its HTTP client.
    pub fn build(&self, timeout: Duration, env: &dyn Fn(&str) -> Option<String>) -> Result<Sink> {
        let name = self.name().to_string();
        let (field, source) = self.secret();
        let secret = source.resolve(&format!("notify.sinks.{name}.{field}"), env)?;
        let kind = match self {
            SinkConfig::SlackChat { channel, api_url, .. } => Kind::Chat {
                channel: channel.clone(),
                token: secret,
                endpoint: format!("{}/chat.postMessage", api_url.trim_end_matches('/')),
            },
            SinkConfig::SlackWebhook { .. } => {
                check_url(&format!("notify.sinks.{name}.url"), secret.expose())?;
                Kind::Webhook { url: secret }
            }
        };
        // reqwest is built without a crypto provider: rustls' ring provider serves Slack's https.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("medic/", env!("CARGO_PKG_VERSION")))
            .build()
            .with_context(|| format!("building the HTTP client of sink {name}"))?;
        Ok(Sink { name, kind, client })
    }
}

impl Sink {
    /// Whether the sink can thread (it learns the `ts` of what it posts).
    pub fn threads(&self) -> bool {
        matches!(self.kind, Kind::Chat { .. })
    }

    /// Posts `message`, as a reply in `thread_ts` when given.
    pub async fn send(&self, message: &Message, thread_ts: Option<&str>) -> Result<Delivered, SendError> {
        match &self.kind {
            Kind::Chat { channel, token, endpoint } => {
                let body = PostMessage::new(channel, message, thread_ts);
                let response = self
                    .client
                    .post(endpoint)
                    .bearer_auth(token.expose())
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| SendError::transient(describe(e)))?;
                let status = response.status();
                let retry_after = retry_after(&response);
                let text = response.text().await.map_err(|e| SendError::transient(describe(e)))?;
                if status.as_u16() == 429 {
                    return Err(SendError { failure: Failure::Transient, reason: "rate limited".into(), retry_after });
                }
                if !status.is_success() {
                    return Err(SendError {
                        failure: classify_status(status.as_u16(), &text),
                        reason: format!("HTTP {status}: {}", snippet(&text)),
                        retry_after,
                    });
                }
                let reply: ApiReply = serde_json::from_str(&text)
                    .map_err(|e| SendError::transient(format!("unreadable reply ({e}): {}", snippet(&text))))?;
                if !reply.ok {
                    let error = reply.error.unwrap_or_else(|| "unknown_error".into());
                    return Err(SendError { failure: classify(&error), reason: error, retry_after });
                }
                let posted = match (reply.channel, reply.ts) {
                    (Some(channel), Some(ts)) => Some(NotifyThread { channel, ts }),
                    _ => None,
                };
                Ok(Delivered { posted })
            }
            Kind::Webhook { url } => {
                let response = self
                    .client
                    .post(url.expose())
                    .json(&WebhookPost::new(message))
                    .send()
                    .await
                    .map_err(|e| SendError::transient(describe(e)))?;
                let status = response.status();
                let retry_after = retry_after(&response);
                let text = response.text().await.map_err(|e| SendError::transient(describe(e)))?;
                if status.is_success() {
                    return Ok(Delivered { posted: None });
                }
                Err(SendError {
                    failure: classify_status(status.as_u16(), &text),
                    reason: format!("HTTP {status}: {}", snippet(&text)),
                    retry_after,
                })
            }
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn snippet(text: &str) -> String {
    medic_slack::blocks::truncate(text.trim(), 200)
}

/// A reqwest error and its causes, without the URL (a webhook URL is a credential).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
