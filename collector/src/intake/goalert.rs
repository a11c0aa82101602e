//! GoAlert's outgoing webhook (notification/webhook/sender.go): PascalCase keys, one message per request.
//!
//! `Alert` opens (or re-notifies) an alert, `AlertBundle` stands for several alerts of one service,
//! `AlertStatus` reports a state change whose log entry or state says whether the alert was closed.
//! `Test`, `Verification` and `ScheduleOnCallUsers` carry no alert and are acknowledged with nothing stored.
use jiff::Timestamp;
use medic_core::{Alert, AlertSource, AlertStatus};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::json::decode;
use crate::error::IntakeError;

/// Every field any GoAlert message type carries; which are required depends on `Type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct Message {
    #[serde(rename = "Type")]
    type_: String,
    #[serde(default)]
    #[allow(dead_code)]
    app_name: Option<String>,
    #[serde(default, rename = "AlertID")]
    alert_id: Option<i64>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default, rename = "ServiceID")]
    service_id: Option<String>,
    #[serde(default)]
    service_name: Option<String>,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
    #[serde(default)]
    count: Option<i64>,
    #[serde(default)]
    log_entry: Option<String>,
    /// `Unacknowledged`, `Acknowledged` or `Closed` (newer GoAlert).
    #[serde(default)]
    alert_state: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    code: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    users: Option<Vec<OnCallUser>>,
    #[serde(default, rename = "ScheduleID")]
    #[allow(dead_code)]
    schedule_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    schedule_name: Option<String>,
    #[serde(default, rename = "ScheduleURL")]
    #[allow(dead_code)]
    schedule_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
#[allow(dead_code)]
struct OnCallUser {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    #[serde(rename = "URL")]
    url: String,
}

/// The fingerprint of a GoAlert alert: its id, which GoAlert never reuses.
pub fn fingerprint_of(alert_id: i64) -> String {
    format!("goalert-{alert_id}")
}

/// Parses a GoAlert message. GoAlert sends no start time, so `received_at` stands for it; the intake
/// replaces it with the first-seen time of an alert it already stored, so a re-notification is the same
/// alert.
pub fn parse(body: &[u8], received_at: Timestamp) -> Result<Vec<Alert>, IntakeError> {
    let message: Message = decode(body)?;
    match message.type_.as_str() {
        "Alert" => {
            let id = required(message.alert_id, "AlertID")?;
            let summary = required(message.summary.clone(), "Summary")?;
            Ok(vec![alert(id, &message, summary, AlertStatus::Firing, received_at)])
        }
        "AlertBundle" => {
            let service_id = required(message.service_id.clone(), "ServiceID")?;
            let count = required(message.count, "Count")?;
            let service = message.service_name.clone().unwrap_or_else(|| service_id.clone());
            let mut labels = service_labels(&message);
            labels.insert("alertname".into(), "GoAlertBundle".into());
            labels.insert("goalert_count".into(), count.to_string());
            let mut annotations = BTreeMap::new();
            annotations.insert("summary".into(), format!("{count} unacknowledged alerts for service {service}"));
            Ok(vec![Alert {
                source: AlertSource::Goalert,
                status: AlertStatus::Firing,
                fingerprint: format!("goalert-bundle-{service_id}"),
                name: "GoAlertBundle".into(),
                labels,
                annotations,
                starts_at: received_at,
                ends_at: None,
                group_key: Some(format!("goalert-service-{service_id}")),
                generator_url: None,
            }])
        }
        "AlertStatus" => {
            let id = required(message.alert_id, "AlertID")?;
            if !is_closed(message.alert_state.as_deref(), message.log_entry.as_deref()) {
                // Acknowledged, escalated, re-opened: nothing medic acts on.
                return Ok(Vec::new());
            }
            let summary = message.summary.clone().unwrap_or_else(|| format!("GoAlert alert {id}"));
            let mut resolved = alert(id, &message, summary, AlertStatus::Resolved, received_at);
            resolved.ends_at = Some(received_at);
            Ok(vec![resolved])
        }
        "Test" | "Verification" | "ScheduleOnCallUsers" => Ok(Vec::new()),
        other => Err(IntakeError::unprocessable(
            "Type",
            format!(
                "unknown GoAlert message type {other:?}; expected Alert, AlertBundle, AlertStatus, Test, \
                 Verification or ScheduleOnCallUsers"
            ),
        )),
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, IntakeError> {
    value.ok_or_else(|| IntakeError::Field { path: field.into(), message: format!("missing field `{field}`") })
}

/// A status message closes the alert when its state says `Closed`, or (older GoAlert, no state) when its
/// log entry starts with "Closed" or mentions a resolution ("Closed by ...", "Auto-closed", "Resolved ...").
fn is_closed(state: Option<&str>, log_entry: Option<&str>) -> bool {
    if let Some(state) = state {
        return state.eq_ignore_ascii_case("closed");
    }
    let entry = log_entry.unwrap_or_default().trim_start().to_ascii_lowercase();
    entry.starts_with("closed") || entry.starts_with("auto-closed") || entry.starts_with("resolved")
}

fn service_labels(message: &Message) -> BTreeMap<String, String> {
    // Meta carries the labels an integration attached (an alert created from Alertmanager keeps its
    // namespace/pod there), so it is where medic finds the workload.
    let mut labels = message.meta.clone().unwrap_or_default();
    if let Some(name) = &message.service_name {
        labels.insert("goalert_service".into(), name.clone());
    }
    if let Some(id) = &message.service_id {
        labels.insert("goalert_service_id".into(), id.clone());
    }
    labels
}

fn alert(id: i64, message: &Message, summary: String, status: AlertStatus, at: Timestamp) -> Alert {
    let mut labels = service_labels(message);
    let name = labels.get("alertname").cloned().unwrap_or_else(|| summary.clone());
    labels.entry("alertname".into()).or_insert_with(|| name.clone());
    labels.insert("goalert_alert_id".into(), id.to_string());
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".into(), summary);
    if let Some(details) = message.details.as_ref().filter(|d| !d.is_empty()) {
        annotations.insert("description".into(), details.clone());
    }
    if let Some(entry) = &message.log_entry {
        annotations.insert("goalert_log_entry".into(), entry.clone());
    }
    Alert {
        source: AlertSource::Goalert,
        status,
        fingerprint: fingerprint_of(id),
        name,
        labels,
        annotations,
        starts_at: at,
        ends_at: None,
        group_key: None,
        generator_url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_alert_becomes_a_firing_alert_with_its_meta_as_labels() {
        let body = r#"{"AppName":"GoAlert","Type":"Alert","AlertID":79685,"Summary":"cart is down",
            "Details":"5xx above 50%","ServiceID":"0d3c","ServiceName":"shop","Meta":{"namespace":"shop","deployment":"cart"}}"#;
        let alert = parse(body.as_bytes(), now()).unwrap().remove(0);
        assert_eq!(alert.source, AlertSource::Goalert);
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.fingerprint, "goalert-79685");
        assert_eq!(alert.name, "cart is down");
        assert_eq!(alert.summary(), "cart is down");
        assert_eq!(alert.annotations.get("description").map(String::as_str), Some("5xx above 50%"));
        assert_eq!(alert.namespace(), Some("shop"));
        assert_eq!(alert.label("deployment"), Some("cart"));
        assert_eq!(alert.label("goalert_service"), Some("shop"));
        assert_eq!(alert.starts_at, now());
    }

    #[test]
    fn the_oldest_documented_alert_shape_parses() {
        let body = r#"{"Type":"Alert","AlertID":79685,"Summary":"Example Summary","Details":"Example Details..."}"#;
        let alert = parse(body.as_bytes(), now()).unwrap().remove(0);
        assert_eq!(alert.fingerprint, "goalert-79685");
    }

    #[test]
    fn status_messages_resolve_only_when_closed() {
        let cases = [
            (r#"{"Type":"AlertStatus","AlertID":7,"LogEntry":"Closed via the UI"}"#, true),
            (r#"{"Type":"AlertStatus","AlertID":7,"LogEntry":"Auto-closed after 24h"}"#, true),
            (r#"{"Type":"AlertStatus","AlertID":7,"LogEntry":"Resolved by Alertmanager"}"#, true),
            (r#"{"Type":"AlertStatus","AlertID":7,"LogEntry":"Acknowledged by Ann"}"#, false),
            (r#"{"AppName":"GoAlert","Type":"AlertStatus","AlertID":7,"LogEntry":"x","AlertState":"Closed"}"#, true),
            (
                r#"{"AppName":"GoAlert","Type":"AlertStatus","AlertID":7,"LogEntry":"Closed","AlertState":"Acknowledged"}"#,
                false,
            ),
        ];
        for (body, closed) in cases {
            let alerts = parse(body.as_bytes(), now()).unwrap();
            assert_eq!(alerts.len(), usize::from(closed), "{body}");
            if let Some(alert) = alerts.first() {
                assert_eq!(alert.status, AlertStatus::Resolved);
                assert_eq!(alert.fingerprint, "goalert-7");
                assert_eq!(alert.ends_at, Some(now()));
            }
        }
    }

    #[test]
    fn a_bundle_is_one_alert_for_its_service() {
        let body = r#"{"Type":"AlertBundle","ServiceID":"0d3c","ServiceName":"Example Service","Count":6}"#;
        let alert = parse(body.as_bytes(), now()).unwrap().remove(0);
        assert_eq!(alert.fingerprint, "goalert-bundle-0d3c");
        assert_eq!(alert.label("goalert_count"), Some("6"));
        assert!(alert.summary().contains("6 unacknowledged alerts for service Example Service"));
    }

    #[test]
    fn messages_without_alerts_are_accepted_empty() {
        for body in [
            r#"{"Type":"Test"}"#,
            r#"{"AppName":"GoAlert","Type":"Verification","Code":"283917"}"#,
            r#"{"AppName":"GoAlert","Type":"ScheduleOnCallUsers","Users":[{"ID":"u","Name":"Ann","URL":"http://x"}],
               "ScheduleID":"s","ScheduleName":"Ops","ScheduleURL":"http://y"}"#,
        ] {
            assert!(parse(body.as_bytes(), now()).unwrap().is_empty(), "{body}");
        }
    }

    #[test]
    fn bad_messages_name_the_field() {
        let cases: &[(&str, u16, &str)] = &[
            (r#"{"Type":"Alert","Summary":"x"}"#, 400, "`AlertID`"),
            (r#"{"Type":"Alert","AlertID":"7","Summary":"x"}"#, 400, "`AlertID`"),
            (r#"{"Type":"Alert","AlertID":7}"#, 400, "`Summary`"),
            (r#"{"Type":"Alert","AlertID":7,"Summary":"x","Severity":"high"}"#, 400, "`Severity`"),
            (r#"{"Type":"Page","AlertID":7}"#, 422, "`Type`"),
            (r#"{"AlertID":7}"#, 400, "`Type`"),
            (r#"{"Type":"Alert","AlertID":7,"Summary":"x","Meta":{"a":1}}"#, 400, "`Meta.a`"),
            (r#"{"Type":"AlertBundle","ServiceID":"s"}"#, 400, "`Count`"),
        ];
        for (body, status, needle) in cases {
            let err = parse(body.as_bytes(), now()).expect_err(body);
            assert_eq!(err.status(), *status, "{body}: {err}");
            assert!(err.reason().contains(needle), "{body}: {err}");
        }
    }
}
