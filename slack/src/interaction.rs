//! Interaction payloads: what Slack posts to the request URL when someone clicks a button.
//!
//! The body is `application/x-www-form-urlencoded` with one field, `payload`, holding JSON. Only
//! `block_actions` (buttons in Block Kit messages) mean something to medic; other types are read far enough
//! to be acknowledged. Slack adds fields over time, so unknown fields are ignored; the ones medic relies on
//! are checked, and an error names the field.
use medic_core::PlanId;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The `action_id` of the button that approves a plan (its `value` is the plan id).
pub const APPROVE: &str = "approve";
/// The `action_id` of the button that rejects a plan.
pub const REJECT: &str = "reject";

/// A parsed interaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Interaction {
    BlockActions(BlockActions),
    /// Another type (`view_submission`, `shortcut`, ...): acknowledged, nothing to do.
    Other {
        kind: String,
    },
}

/// A click on one or more Block Kit elements.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockActions {
    pub user: User,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default)]
    pub channel: Option<Channel>,
    /// The message the buttons are on (absent for clicks in a modal).
    #[serde(default)]
    pub message: Option<MessageRef>,
    /// Where a reply to the click can be posted for the next 30 minutes.
    #[serde(default)]
    pub response_url: Option<String>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Team {
    pub id: String,
    #[serde(default)]
    pub domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Channel {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageRef {
    #[serde(default)]
    pub ts: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub action_ts: Option<String>,
}

/// An Approve or Reject click on a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanClick {
    pub plan: PlanId,
    pub approved: bool,
}

impl BlockActions {
    /// Who clicked, as medic records approvers: `slack:<user id>`.
    pub fn by(&self) -> String {
        format!("slack:{}", self.user.id)
    }

    /// The Approve and Reject clicks, in order; other actions are not medic's and are skipped.
    pub fn plan_clicks(&self) -> Result<Vec<PlanClick>> {
        let mut clicks = Vec::new();
        for (i, action) in self.actions.iter().enumerate() {
            let approved = match action.action_id.as_str() {
                APPROVE => true,
                REJECT => false,
                _ => continue,
            };
            let path = format!("actions[{i}].value");
            let value = action.value.as_deref().ok_or_else(|| Error::Invalid {
                path: path.clone(),
                message: "an approve or reject button carries the plan id as its value".into(),
            })?;
            let plan = value.parse::<PlanId>().map_err(|_| Error::Invalid {
                path: path.clone(),
                message: format!("{:?} is not a plan id", truncated(value)),
            })?;
            clicks.push(PlanClick { plan, approved });
        }
        Ok(clicks)
    }
}

fn truncated(s: &str) -> String {
    crate::blocks::truncate(s, 80)
}

/// Reads an interaction from the raw request body (after its signature was verified).
pub fn parse(body: &[u8]) -> Result<Interaction> {
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| Error::Form(format!("not a url-encoded form: {e}")))?;
    let mut payloads = form.into_iter().filter(|(k, _)| k == "payload").map(|(_, v)| v);
    let payload = payloads.next().ok_or_else(|| Error::Form("the form has no `payload` field".into()))?;
    if payloads.next().is_some() {
        return Err(Error::Form("the form has more than one `payload` field".into()));
    }
    let value: serde_json::Value = serde_json::from_str(&payload)
        .map_err(|e| Error::Payload { path: ".".into(), message: format!("not JSON: {e}") })?;
    let kind = match value.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => return Err(Error::Payload { path: "type".into(), message: "expected a string".into() }),
        None => return Err(Error::Payload { path: "type".into(), message: "missing".into() }),
    };
    if kind != "block_actions" {
        return Ok(Interaction::Other { kind });
    }
    let actions: BlockActions = serde_path_to_error::deserialize(value)
        .map_err(|e| Error::Payload { path: e.path().to_string(), message: e.inner().to_string() })?;
    check_user_id(&actions.user.id)?;
    Ok(Interaction::BlockActions(actions))
}

/// Slack user ids are short upper-case alphanumerics (`U2CERLKJA`, `W012A3CDE`); anything else would end up
/// in the audit trail as an approver, so it is refused.
fn check_user_id(id: &str) -> Result<()> {
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid { path: "user.id".into(), message: format!("{:?} is not a Slack user id", truncated(id)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(payload: &serde_json::Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap().into_bytes()
    }

    fn click(action_id: &str, value: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U2CERLKJA", "username": "roadrunner", "name": "roadrunner", "team_id": "T1DC2JH3J"},
            "api_app_id": "A0123", "token": "ignored", "trigger_id": "1.2.3",
            "team": {"id": "T1DC2JH3J", "domain": "testteamnow"},
            "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "C123"},
            "channel": {"id": "C123", "name": "ops"},
            "message": {"type": "message", "ts": "1548261231.000200", "thread_ts": "1548261200.000100", "text": "x"},
            "response_url": "https://hooks.slack.com/actions/T1/1/abc",
            "actions": [{"type": "button", "action_id": action_id, "block_id": "blk", "value": value,
                         "style": "primary", "text": {"type": "plain_text", "text": "Approve"},
                         "action_ts": "1548426417.840180"}]
        })
    }

    #[test]
    fn an_approve_click_names_the_plan_and_the_user() {
        let plan = PlanId::new();
        let Interaction::BlockActions(actions) = parse(&form(&click(APPROVE, &plan.to_string()))).unwrap() else {
            panic!("not block_actions");
        };
        assert_eq!(actions.by(), "slack:U2CERLKJA");
        assert_eq!(actions.plan_clicks().unwrap(), vec![PlanClick { plan, approved: true }]);
        assert_eq!(actions.message.unwrap().thread_ts.as_deref(), Some("1548261200.000100"));

        let Interaction::BlockActions(actions) = parse(&form(&click(REJECT, &plan.to_string()))).unwrap() else {
            panic!("not block_actions");
        };
        assert_eq!(actions.plan_clicks().unwrap(), vec![PlanClick { plan, approved: false }]);
        let Interaction::BlockActions(actions) = parse(&form(&click("open-dashboard", "x"))).unwrap() else {
            panic!("not block_actions");
        };
        assert!(actions.plan_clicks().unwrap().is_empty(), "other buttons are not medic's");
    }

    #[test]
    fn other_interaction_types_are_acknowledged() {
        let other = parse(&form(&serde_json::json!({"type": "view_submission", "user": {"id": "U1"}}))).unwrap();
        assert_eq!(other, Interaction::Other { kind: "view_submission".into() });
    }

    #[test]
    fn malformed_payloads_name_what_is_wrong() {
        let plan = PlanId::new().to_string();
        let mut no_user = click(APPROVE, &plan);
        no_user.as_object_mut().unwrap().remove("user");
        let mut bad_user = click(APPROVE, &plan);
        bad_user["user"]["id"] = "U1 or 1=1".into();
        let mut bad_actions = click(APPROVE, &plan);
        bad_actions["actions"][0]["action_id"] = 7.into();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "no payload field",
                b"token=abc".to_vec(),
                "reading the interaction form: the form has no `payload` field",
            ),
            ("not json", b"payload=%7Bnope".to_vec(), "reading the interaction payload at `.`: not JSON"),
            ("no type", form(&serde_json::json!({"user": {}})), "reading the interaction payload at `type`: missing"),
            ("no user", form(&no_user), "reading the interaction payload at `.`: missing field `user`"),
            ("odd user id", form(&bad_user), "invalid interaction field `user.id`"),
            ("action id not a string", form(&bad_actions), "reading the interaction payload at `actions[0].action_id`"),
        ];
        for (name, body, expected) in cases {
            let error = parse(&body).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{name}: {error}");
        }
        let Interaction::BlockActions(actions) = parse(&form(&click(APPROVE, "not-a-plan"))).unwrap() else {
            panic!("not block_actions");
        };
        let error = actions.plan_clicks().unwrap_err().to_string();
        assert_eq!(error, "invalid interaction field `actions[0].value`: \"not-a-plan\" is not a plan id");
    }
}
