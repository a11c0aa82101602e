//! The two ways medic posts to Slack, their request bodies and replies, and what a failure means for the
//! next attempt.
//!
//! - `chat.postMessage` (a bot token): `{"channel","text","blocks","thread_ts"?}`; Slack answers HTTP 200 with
//!   `{"ok":true,"channel","ts"}`, or `{"ok":false,"error":"..."}`; rate limits are HTTP 429 with
//!   `Retry-After` (seconds).
//! - An incoming webhook (the URL is the credential): the same body without `channel`; Slack answers `ok`,
//!   or an HTTP error with the reason as plain text (`invalid_blocks`, `channel_not_found`, ...).
use serde::{Deserialize, Serialize};

use crate::blocks::{Block, Message};

/// The JSON body of `chat.postMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostMessage<'a> {
    pub channel: &'a str,
    pub text: &'a str,
    #[serde(skip_serializing_if = "<[Block]>::is_empty")]
    pub blocks: &'a [Block],
    /// The `ts` of the incident's first message: every later message is a reply in its thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<&'a str>,
    /// Links in alerts are not previewed.
    pub unfurl_links: bool,
}

impl<'a> PostMessage<'a> {
    pub fn new(channel: &'a str, message: &'a Message, thread_ts: Option<&'a str>) -> Self {
        Self { channel, text: &message.text, blocks: &message.blocks, thread_ts, unfurl_links: false }
    }
}

/// The JSON body of an incoming webhook post.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookPost<'a> {
    pub text: &'a str,
    #[serde(skip_serializing_if = "<[Block]>::is_empty")]
    pub blocks: &'a [Block],
    pub unfurl_links: bool,
}

impl<'a> WebhookPost<'a> {
    pub fn new(message: &'a Message) -> Self {
        Self { text: &message.text, blocks: &message.blocks, unfurl_links: false }
    }
}

/// The reply of a Web API method.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiReply {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
    #[serde(default)]
    pub warning: Option<String>,
}

/// What a failed post says about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Slack or the network had a bad moment (or asked to slow down): retry the same message after a back-off.
    Transient,
    /// Slack refused this message's content (`invalid_blocks`, `msg_too_long`): retry it as plain text.
    Content,
    /// medic's configuration is wrong (a revoked token, an unknown channel): retry after a long back-off, so
    /// the messages wait in the outbox until someone fixes it.
    Configuration,
}

/// Classifies a Slack error code (`chat.postMessage`'s `error`, or an incoming webhook's reply text).
pub fn classify(error: &str) -> Failure {
    match error.trim() {
        "invalid_blocks"
        | "invalid_blocks_format"
        | "msg_too_long"
        | "msg_blocks_too_long"
        | "no_text"
        | "invalid_payload"
        | "too_many_attachments"
        | "invalid_attachments"
        | "invalid_arguments"
        | "markdown_text_conflict" => Failure::Content,
        "channel_not_found"
        | "not_in_channel"
        | "is_archived"
        | "channel_is_archived"
        | "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "missing_scope"
        | "no_service"
        | "no_service_id"
        | "no_team"
        | "team_disabled"
        | "action_prohibited"
        | "posting_to_general_channel_denied"
        | "restricted_action"
        | "ekm_access_denied" => Failure::Configuration,
        _ => Failure::Transient,
    }
}

/// Classifies an HTTP failure of an incoming webhook by status when its body names no known error.
pub fn classify_status(status: u16, body: &str) -> Failure {
    match classify(body) {
        Failure::Transient => match status {
            400 | 413 => Failure::Content,
            401 | 403 | 404 | 410 => Failure::Configuration,
            _ => Failure::Transient,
        },
        known => known,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::MessageBuilder;

    #[test]
    fn failures_are_classified_as_slack_documents_them() {
        let cases: &[(&str, Failure)] = &[
            ("invalid_blocks", Failure::Content),
            ("msg_too_long", Failure::Content),
            ("channel_not_found", Failure::Configuration),
            ("invalid_auth", Failure::Configuration),
            ("not_in_channel", Failure::Configuration),
            ("rate_limited", Failure::Transient),
            ("ratelimited", Failure::Transient),
            ("internal_error", Failure::Transient),
            ("something new", Failure::Transient),
        ];
        for (code, expected) in cases {
            assert_eq!(classify(code), *expected, "{code}");
        }
        assert_eq!(classify_status(404, "no_service"), Failure::Configuration);
        assert_eq!(classify_status(400, "invalid_blocks"), Failure::Content);
        assert_eq!(classify_status(400, "garbled"), Failure::Content);
        assert_eq!(classify_status(429, ""), Failure::Transient);
        assert_eq!(classify_status(503, "<html>"), Failure::Transient);
    }

    #[test]
    fn request_bodies_have_slacks_shape() {
        let message = MessageBuilder::new("hello").section("*hi*").build();
        let post = serde_json::to_value(PostMessage::new("C123", &message, Some("1.2"))).unwrap();
        assert_eq!(
            post,
            serde_json::json!({"channel": "C123", "text": "hello", "thread_ts": "1.2", "unfurl_links": false,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]})
        );
        let first = serde_json::to_value(PostMessage::new("C123", &message.text_only(), None)).unwrap();
        assert_eq!(first, serde_json::json!({"channel": "C123", "text": "hello", "unfurl_links": false}));
        let hook = serde_json::to_value(WebhookPost::new(&message)).unwrap();
        assert!(hook.get("channel").is_none() && hook["blocks"].is_array());
        let reply: ApiReply =
            serde_json::from_str(r#"{"ok":true,"channel":"C123","ts":"1503435956.000247","message":{}}"#).unwrap();
        assert_eq!((reply.ok, reply.ts.as_deref()), (true, Some("1503435956.000247")));
    }
}
