//! medic's own webhook shape, for scripts and tools that are not Alertmanager or GoAlert. Documented in
//! the crate's README.md.
use jiff::Timestamp;
use medic_core::{Alert, AlertSource, AlertStatus};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::json::{decode, label_fingerprint};
use crate::error::IntakeError;

type Labels = BTreeMap<String, String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    alerts: Vec<WireAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireAlert {
    name: String,
    status: WireStatus,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    starts_at: Timestamp,
    #[serde(default)]
    ends_at: Option<Timestamp>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    group_key: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireStatus {
    Firing,
    Resolved,
}

/// Parses a generic body (`{"alerts":[...]}`) into medic's alerts.
pub fn parse(body: &[u8]) -> Result<Vec<Alert>, IntakeError> {
    let body: Body = decode(body)?;
    body.alerts.into_iter().enumerate().map(|(index, wire)| into_alert(index, wire)).collect()
}

fn into_alert(index: usize, wire: WireAlert) -> Result<Alert, IntakeError> {
    let at = |field: &str| format!("alerts[{index}].{field}");
    if wire.name.trim().is_empty() {
        return Err(IntakeError::unprocessable(at("name"), "the alert name is empty"));
    }
    let status = match wire.status {
        WireStatus::Firing => AlertStatus::Firing,
        WireStatus::Resolved => AlertStatus::Resolved,
    };
    let ends_at = match status {
        AlertStatus::Firing => None,
        AlertStatus::Resolved => wire.ends_at,
    };
    if let Some(end) = ends_at
        && end < wire.starts_at
    {
        return Err(IntakeError::unprocessable(
            at("endsAt"),
            format!("the alert ends ({end}) before it starts ({})", wire.starts_at),
        ));
    }
    let mut labels = wire.labels;
    // Like Alertmanager, the name is also the `alertname` label, so rules and grouping treat both alike.
    match labels.get("alertname") {
        Some(label) if label != &wire.name => {
            return Err(IntakeError::unprocessable(
                at("labels.alertname"),
                format!("the alertname label {label:?} differs from the name {:?}", wire.name),
            ));
        }
        Some(_) => {}
        None => {
            labels.insert("alertname".into(), wire.name.clone());
        }
    }
    let fingerprint = match wire.fingerprint {
        Some(fp) if fp.trim().is_empty() => {
            return Err(IntakeError::unprocessable(
                at("fingerprint"),
                "the fingerprint is empty; omit it to derive one",
            ));
        }
        Some(fp) => fp,
        None => label_fingerprint(&labels),
    };
    Ok(Alert {
        source: AlertSource::Generic,
        status,
        fingerprint,
        name: wire.name,
        labels,
        annotations: wire.annotations,
        starts_at: wire.starts_at,
        ends_at,
        group_key: wire.group_key.filter(|k| !k.is_empty()),
        generator_url: wire.generator_url.filter(|u| !u.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"alerts":[{"name":"CartErrors","status":"firing","startsAt":"2026-03-01T12:00:00Z",
        "labels":{"namespace":"shop","deployment":"cart"},"annotations":{"summary":"cart answers 5xx"}}]}"#;

    #[test]
    fn the_documented_minimal_body_parses() {
        let alert = parse(MINIMAL.as_bytes()).unwrap().remove(0);
        assert_eq!(alert.source, AlertSource::Generic);
        assert_eq!(alert.name, "CartErrors");
        assert_eq!(alert.label("alertname"), Some("CartErrors"));
        assert_eq!(alert.label("deployment"), Some("cart"));
        assert_eq!(alert.summary(), "cart answers 5xx");
        assert_eq!(alert.fingerprint, label_fingerprint(&alert.labels), "derived like Alertmanager's");
        assert_eq!(alert.ends_at, None);
    }

    #[test]
    fn the_same_labels_give_the_same_fingerprint_whatever_the_order() {
        let swapped = MINIMAL
            .replace(r#"{"namespace":"shop","deployment":"cart"}"#, r#"{"deployment":"cart","namespace":"shop"}"#);
        let a = parse(MINIMAL.as_bytes()).unwrap().remove(0);
        let b = parse(swapped.as_bytes()).unwrap().remove(0);
        assert_eq!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn a_resolution_keeps_its_end_and_an_explicit_fingerprint() {
        let body = r#"{"alerts":[{"name":"X","status":"resolved","startsAt":"2026-03-01T12:00:00Z",
            "endsAt":"2026-03-01T12:05:00Z","fingerprint":"my-check-42","groupKey":"checks"}]}"#;
        let alert = parse(body.as_bytes()).unwrap().remove(0);
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(alert.fingerprint, "my-check-42");
        assert_eq!(alert.group_key.as_deref(), Some("checks"));
        assert_eq!(alert.ends_at, Some("2026-03-01T12:05:00Z".parse().unwrap()));
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let cases: &[(&str, &str, u16, &str)] = &[
            ("single object", r#"{"name":"X","status":"firing","startsAt":"2026-03-01T12:00:00Z"}"#, 400, "`name`"),
            (
                "missing name",
                r#"{"alerts":[{"status":"firing","startsAt":"2026-03-01T12:00:00Z"}]}"#,
                400,
                "alerts[0].name",
            ),
            (
                "empty name",
                r#"{"alerts":[{"name":" ","status":"firing","startsAt":"2026-03-01T12:00:00Z"}]}"#,
                422,
                "alerts[0].name",
            ),
            (
                "bad status",
                r#"{"alerts":[{"name":"X","status":"up","startsAt":"2026-03-01T12:00:00Z"}]}"#,
                400,
                "alerts[0].status",
            ),
            (
                "numeric label",
                r#"{"alerts":[{"name":"X","status":"firing","startsAt":"2026-03-01T12:00:00Z","labels":{"a":1}}]}"#,
                400,
                "alerts[0].labels.a",
            ),
            (
                "alertname clash",
                r#"{"alerts":[{"name":"X","status":"firing","startsAt":"2026-03-01T12:00:00Z","labels":{"alertname":"Y"}}]}"#,
                422,
                "alerts[0].labels.alertname",
            ),
            (
                "empty fingerprint",
                r#"{"alerts":[{"name":"X","status":"firing","startsAt":"2026-03-01T12:00:00Z","fingerprint":""}]}"#,
                422,
                "alerts[0].fingerprint",
            ),
        ];
        for (what, body, status, needle) in cases {
            let err = parse(body.as_bytes()).expect_err(what);
            assert_eq!(err.status(), *status, "{what}: {err}");
            assert!(err.reason().contains(needle), "{what}: {err}");
        }
    }
}
