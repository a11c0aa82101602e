//! `[notify]`: where incident messages go (Slack sinks), how their delivery retries, and Slack's
//! interactivity (the Approve/Reject buttons).
//!
//! ```toml
//! [notify]
//! public_url = "https://medic.example.com"      # links from messages to the incident
//!
//! [[notify.sinks]]
//! type = "slack-chat"                           # chat.postMessage with a bot token: threaded per incident
//! channel = "C0123456789"
//! token_env = "MEDIC_SLACK_BOT_TOKEN"
//!
//! [[notify.sinks]]
//! type = "slack-webhook"                        # an incoming webhook: the URL is the credential
//! url_env = "MEDIC_SLACK_WEBHOOK_URL"
//!
//! [notify.interactions]                         # POST /v1/slack/interactions
//! signing_secret_env = "MEDIC_SLACK_SIGNING_SECRET"
//! approvers = ["U0123ABCD"]                     # who may approve; anyone in the channel when empty
//! ```
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::secrets::{Secret, SecretSource};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// medic's base URL as people reach it; messages link to `<public_url>/v1/incidents/<uid>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Where messages go; none means no messages (the audit trail still records everything).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Slack's interactivity: without it, plans are approved through the API only and messages carry no
    /// buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactions: Option<InteractionsConfig>,
}

/// One destination of incident messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SinkConfig {
    /// `chat.postMessage` with a bot token (`chat:write` scope): the first message of an incident opens a
    /// thread, the others reply in it.
    SlackChat {
        /// Names the sink in the outbox and the audit trail (`slack-chat` by default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The channel id (`C0123456789`); the bot must be a member.
        channel: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<Secret>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_env: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_file: Option<PathBuf>,
        /// Slack's Web API base URL.
        #[serde(default = "default_api_url")]
        api_url: String,
    },
    /// An incoming webhook: messages arrive in order in the webhook's channel, not threaded (Slack does
    /// not tell a webhook the `ts` of what it posted).
    SlackWebhook {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<Secret>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_env: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_file: Option<PathBuf>,
    },
}

fn default_api_url() -> String {
    "https://slack.com/api".into()
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::SlackChat { name, .. } => name.as_deref().unwrap_or("slack-chat"),
            SinkConfig::SlackWebhook { name, .. } => name.as_deref().unwrap_or("slack-webhook"),
        }
    }

    pub(crate) fn secret(&self) -> (&'static str, SecretSource<'_>) {
        match self {
            SinkConfig::SlackChat { token, token_env, token_file, .. } => (
                "token",
                SecretSource { inline: token.as_ref(), env: token_env.as_deref(), file: token_file.as_deref() },
            ),
            SinkConfig::SlackWebhook { url, url_env, url_file, .. } => {
                ("url", SecretSource { inline: url.as_ref(), env: url_env.as_deref(), file: url_file.as_deref() })
            }
        }
    }

    fn validate(&self, at: &str) -> Result<()> {
        let name = self.name();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            bail!("{at}.name: {name:?} must be letters, digits, '-' or '_'");
        }
        let (field, source) = self.secret();
        source.validate(&format!("{at}.{field}"))?;
        if let SinkConfig::SlackChat { channel, api_url, .. } = self {
            if channel.trim().is_empty() {
                bail!("{at}.channel: a channel id is required");
            }
            check_url(&format!("{at}.api_url"), api_url)?;
        }
        if let SinkConfig::SlackWebhook { url: Some(url), .. } = self {
            check_url(&format!("{at}.url"), url.expose())?;
        }
        Ok(())
    }
}

pub(crate) fn check_url(field: &str, url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{field}: not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        bail!("{field}: an http(s) URL with a host is required");
    }
    Ok(())
}

/// How the outbox is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// How often the outbox is checked for messages whose retry is due (new messages go out at once).
    pub poll_interval_ms: u64,
    /// The first retry's back-off; each further failure doubles it (with jitter) up to `retry_max_secs`.
    pub retry_initial_ms: u64,
    pub retry_max_secs: u64,
    /// The least back-off after Slack says medic's configuration is wrong (a revoked token, an unknown
    /// channel): no point in asking again soon, but the messages wait rather than being dropped.
    pub misconfigured_retry_secs: u64,
    /// How long one request to Slack may take.
    pub request_timeout_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 500,
            retry_initial_ms: 1_000,
            retry_max_secs: 300,
            misconfigured_retry_secs: 60,
            request_timeout_ms: 10_000,
        }
    }
}

impl DeliveryConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// `[notify.interactions]`: Slack posts button clicks to `POST /v1/slack/interactions`, signed with the
/// app's signing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret_file: Option<PathBuf>,
    /// How old a signed request may be (Slack's advice: five minutes).
    #[serde(default = "default_max_age")]
    pub max_age_secs: u64,
    /// Slack user ids allowed to approve or reject plans; anyone who can click the button when empty.
    #[serde(default)]
    pub approvers: Vec<String>,
}

fn default_max_age() -> u64 {
    medic_slack::signature::DEFAULT_MAX_AGE_SECS
}

impl InteractionsConfig {
    pub(crate) fn secret(&self) -> SecretSource<'_> {
        SecretSource {
            inline: self.signing_secret.as_ref(),
            env: self.signing_secret_env.as_deref(),
            file: self.signing_secret_file.as_deref(),
        }
    }
}

impl NotifyConfig {
    pub fn validate(&self) -> Result<()> {
        if let Some(url) = &self.public_url {
            check_url("notify.public_url", url)?;
        }
        let mut names = HashSet::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            let at = format!("notify.sinks[{i}]");
            sink.validate(&at)?;
            if !names.insert(sink.name()) {
                bail!("{at}.name: another sink is already named {:?}; give each sink its own name", sink.name());
            }
        }
        let d = &self.delivery;
        if d.poll_interval_ms == 0 || d.retry_initial_ms == 0 || d.request_timeout_ms == 0 {
            bail!("notify.delivery: poll_interval_ms, retry_initial_ms and request_timeout_ms must be positive");
        }
        if d.retry_max_secs.saturating_mul(1000) < d.retry_initial_ms {
            bail!("notify.delivery: retry_max_secs must be at least retry_initial_ms");
        }
        if let Some(interactions) = &self.interactions {
            interactions.secret().validate("notify.interactions.signing_secret")?;
            if !(1..=3600).contains(&interactions.max_age_secs) {
                bail!("notify.interactions.max_age_secs must be between 1 and 3600");
            }
            for id in &interactions.approvers {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    bail!("notify.interactions.approvers: {id:?} is not a Slack user id (like U0123ABCD)");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<NotifyConfig> {
        let config: NotifyConfig = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn sinks_and_interactions_read_from_toml() {
        let config = parse(
            r#"
            public_url = "https://medic.example.com"
            [[sinks]]
            type = "slack-chat"
            channel = "C0123"
            token_env = "MEDIC_SLACK_BOT_TOKEN"
            [[sinks]]
            type = "slack-webhook"
            url = "https://hooks.slack.com/services/T/B/X"
            [interactions]
            signing_secret_env = "MEDIC_SLACK_SIGNING_SECRET"
            approvers = ["U0123ABCD"]
            "#,
        )
        .unwrap();
        assert_eq!(config.sinks.iter().map(SinkConfig::name).collect::<Vec<_>>(), ["slack-chat", "slack-webhook"]);
        assert!(
            matches!(&config.sinks[0], SinkConfig::SlackChat { api_url, .. } if api_url == "https://slack.com/api")
        );
        assert_eq!(config.interactions.unwrap().max_age_secs, 300);
        let shown = format!("{:?}", config.sinks[1]);
        assert!(!shown.contains("hooks.slack.com"), "a webhook URL is a credential: {shown}");
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&str, &str)] = &[
            (
                "[[sinks]]\ntype = \"slack-chat\"\nchannel = \"C1\"\n",
                "notify.sinks[0].token: give token, token_env or token_file",
            ),
            (
                "[[sinks]]\ntype = \"slack-chat\"\nchannel = \"C1\"\ntoken = \"x\"\ntoken_env = \"Y\"\n",
                "notify.sinks[0].token: give only one of",
            ),
            ("[[sinks]]\ntype = \"slack-chat\"\nchannel = \"\"\ntoken = \"x\"\n", "notify.sinks[0].channel"),
            ("[[sinks]]\ntype = \"slack-webhook\"\nurl = \"hooks.slack.com\"\n", "notify.sinks[0].url: not a URL"),
            (
                "[[sinks]]\ntype = \"slack-webhook\"\nurl_env = \"A\"\n[[sinks]]\ntype = \"slack-webhook\"\nurl_env = \"B\"\n",
                "notify.sinks[1].name: another sink is already named \"slack-webhook\"",
            ),
            ("[interactions]\napprovers = []\n", "notify.interactions.signing_secret: give"),
            ("[interactions]\nsigning_secret = \"s\"\napprovers = [\"U 1\"]\n", "notify.interactions.approvers"),
            ("[delivery]\npoll_interval_ms = 0\n", "notify.delivery"),
            ("[[sinks]]\ntype = \"slack-email\"\n", "slack-email"),
        ];
        for (toml, expected) in cases {
            let error = format!("{:#}", parse(toml).unwrap_err());
            assert!(error.contains(expected), "{toml}: {error}");
        }
    }
}
