//! Alertmanager's webhook (version "4"): one body carries a group of alerts.
use jiff::Timestamp;
use medic_core::{Alert, AlertSource, AlertStatus};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::json::{decode, is_go_zero_time, label_fingerprint};
use crate::error::IntakeError;

type Labels = BTreeMap<String, String>;

/// The body as Alertmanager 0.25 sends it. Fields this receiver does not use are still listed so that an
/// unknown field is refused (a body from something that is not Alertmanager).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Webhook {
    version: String,
    group_key: String,
    #[serde(default)]
    truncated_alerts: u64,
    #[allow(dead_code)]
    status: WireStatus,
    #[allow(dead_code)]
    receiver: String,
    #[serde(default)]
    #[allow(dead_code)]
    group_labels: Labels,
    #[serde(default)]
    #[allow(dead_code)]
    common_labels: Labels,
    #[serde(default)]
    #[allow(dead_code)]
    common_annotations: Labels,
    #[serde(default, rename = "externalURL")]
    #[allow(dead_code)]
    external_url: String,
    alerts: Vec<WireAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireAlert {
    status: WireStatus,
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    starts_at: Timestamp,
    #[serde(default)]
    ends_at: Option<Timestamp>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    /// Sent since Alertmanager 0.19; derived from the labels the same way when absent.
    #[serde(default)]
    fingerprint: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireStatus {
    Firing,
    Resolved,
}

/// Parses an Alertmanager v4 body into medic's alerts, in the order they were sent.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
    let hook: Webhook = decode(body)?;
    if hook.version != "4" {
        return Err(IntakeError::unprocessable(
            "version",
            format!("this receiver speaks webhook version \"4\", the body is version {:?}", hook.version),
        ));
    }
    if hook.truncated_alerts > 0 {
        // Alertmanager's max_alerts dropped some: nothing to do about it here but say so.
        tracing::warn!(truncated = hook.truncated_alerts, group_key = %hook.group_key, "alertmanager truncated a group");
    }
    let group_key = (!hook.group_key.is_empty()).then_some(hook.group_key);
    hook.alerts.into_iter().enumerate().map(|(index, wire)| into_alert(index, wire, group_key.clone())).collect()
}

fn into_alert(index: usize, wire: WireAlert, group_key: Option<String>) -> Result<Alert, IntakeError> {
    let status = match wire.status {
        WireStatus::Firing => AlertStatus::Firing,
        WireStatus::Resolved => AlertStatus::Resolved,
    };
    let ends_at = match (status, wire.ends_at) {
        // A firing alert's endsAt is Go's zero time, or at most an expiry estimate: it has not ended.
        (AlertStatus::Firing, _) => None,
        (AlertStatus::Resolved, Some(end)) if !is_go_zero_time(&end) => Some(end),
        (AlertStatus::Resolved, _) => None,
    };
    if let Some(end) = ends_at
        && end < wire.starts_at
    {
        return Err(IntakeError::unprocessable(
            format!("alerts[{index}].endsAt"),
            format!("the alert ends ({end}) before it starts ({})", wire.starts_at),
        ));
    }
    let fingerprint = match wire.fingerprint {
        Some(fp) if !fp.is_empty() => fp,
        _ => label_fingerprint(&wire.labels),
    };
    let name = wire.labels.get("alertname").cloned().unwrap_or_else(|| "unnamed".to_string());
    Ok(Alert {
        source: AlertSource::Alertmanager,
        status,
        fingerprint,
        name,
        labels: wire.labels,
        annotations: wire.annotations,
        starts_at: wire.starts_at,
        ends_at,
        group_key,
        generator_url: wire.generator_url.filter(|u| !u.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/alertmanager").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    #[test]
    fn a_captured_firing_body_parses() {
        let alerts = parse(&fixture("alertmanager_payload.json")).unwrap();
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(alert.source, AlertSource::Alertmanager);
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.name, "KubePodCrashLooping");
        assert_eq!(alert.fingerprint, "75d4aa544bbbfc2f");
        assert_eq!(alert.label("pod"), Some("web-7d9f8-abcde"));
        assert_eq!(alert.namespace(), Some("default"));
        assert_eq!(alert.summary(), "Pod is crash looping.");
        assert_eq!(alert.starts_at, "2026-11-22T14:40:28Z".parse::<Timestamp>().unwrap());
        assert_eq!(alert.ends_at, None, "year 1 means still firing");
        assert_eq!(alert.group_key.as_deref(), Some("{}:{alertname=\"KubePodCrashLooping\", namespace=\"default\"}"));
        assert_eq!(alert.generator_url.as_deref(), Some("http://127.0.0.1:9090/graph?g0.expr=x"));
    }

    #[test]
    fn a_captured_resolution_carries_the_same_identity_and_an_end() {
        let firing = parse(&fixture("alertmanager_payload.json")).unwrap().remove(0);
        let resolved = parse(&fixture("alertmanager_payload_resolved.json")).unwrap().remove(0);
        assert_eq!(resolved.status, AlertStatus::Resolved);
        assert_eq!((&resolved.fingerprint, resolved.starts_at), (&firing.fingerprint, firing.starts_at));
        assert_eq!(resolved.ends_at, Some("2026-11-22T14:40:35Z".parse().unwrap()));
    }

    #[test]
    fn a_body_prometheus_evaluated_parses_with_fractional_seconds() {
        let alert = parse(&fixture("alertmanager_payload_from_prometheus.json")).unwrap().remove(0);
        assert_eq!(alert.fingerprint, "b3fc2e79013ac41f");
        assert_eq!(alert.label("reason"), Some("CrashLoopBackOff"));
        assert_eq!(alert.starts_at, "2026-11-22T14:41:05.459Z".parse::<Timestamp>().unwrap());
    }

    fn body_with_alert(alert: &str) -> String {
        format!(r#"{{"receiver":"medic","status":"firing","version":"4","groupKey":"{{}}:{{}}","alerts":[{alert}]}}"#)
    }

    const GOOD: &str = r#"{"status":"firing","labels":{"alertname":"X"},"annotations":{},
        "startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"f"}"#;

    #[test]
    fn bad_bodies_are_refused_naming_the_field() {
        let cases: &[(&str, String, u16, &str)] = &[
            (
                "unknown alert field",
                body_with_alert(&GOOD.replace("\"fingerprint\"", "\"fingerprnt\"")),
                400,
                "alerts[0].fingerprnt",
            ),
            (
                "missing startsAt",
                body_with_alert(&GOOD.replace("\"startsAt\":\"2026-01-01T00:00:00Z\",", "")),
                400,
                "alerts[0].startsAt",
            ),
            (
                "ill-typed label",
                body_with_alert(&GOOD.replace(r#""alertname":"X""#, r#""alertname":7"#)),
                400,
                "alerts[0].labels.alertname",
            ),
            (
                "bad timestamp",
                body_with_alert(&GOOD.replace("2026-01-01T00:00:00Z", "yesterday")),
                400,
                "alerts[0].startsAt",
            ),
            (
                "bad status",
                body_with_alert(&GOOD.replace(r#""status":"firing""#, r#""status":"burning""#)),
                400,
                "alerts[0].status",
            ),
            ("wrong version", body_with_alert(GOOD).replace(r#""version":"4""#, r#""version":"3""#), 422, "version"),
            ("missing version", body_with_alert(GOOD).replace(r#""version":"4","#, ""), 400, "version"),
            ("not JSON", "<xml/>".to_string(), 400, "not valid JSON"),
        ];
        for (what, body, status, needle) in cases {
            let err = parse(body.as_bytes()).expect_err(what);
            assert_eq!(err.status(), *status, "{what}: {err}");
            assert!(err.reason().contains(needle), "{what}: {err}");
        }
    }

    #[test]
    fn a_resolution_that_ends_before_it_starts_is_unprocessable() {
        let alert = GOOD.replace(r#""status":"firing""#, r#""status":"resolved""#).replace("0001-01-01", "2025-01-01");
        let err = parse(body_with_alert(&alert).as_bytes()).unwrap_err();
        assert_eq!(err.status(), 422);
        assert!(err.reason().contains("alerts[0].endsAt"), "{err}");
    }

    #[test]
    fn a_missing_fingerprint_is_derived_from_the_labels() {
        let alert = GOOD.replace(r#","fingerprint":"f""#, "");
        let parsed = parse(body_with_alert(&alert).as_bytes()).unwrap().remove(0);
        assert_eq!(parsed.fingerprint, label_fingerprint(&parsed.labels));
    }
}
