//! The body Alertmanager 0.25's webhook receiver posts (`version: "4"`).
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

pub type Labels = BTreeMap<String, String>;

/// Go's zero `time.Time`, which Alertmanager writes as the `endsAt` of firing alerts.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: &'static str,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<WebhookAlert>,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: Labels,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub version: &'static str,
    pub group_key: String,
    pub truncated_alerts: u32,
}

/// A timestamp as Go's RFC3339Nano writes it (fraction trimmed of trailing zeros).
pub fn go_time(at: Timestamp) -> String {
    at.to_string()
}

/// `{}:{alertname="X", namespace="shop"}`: the route's match (the root route matches everything)
/// and the group labels, values quoted as Go's `strconv.Quote` does.
pub fn group_key(group_labels: &Labels) -> String {
    let pairs: Vec<String> =
        group_labels.iter().map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default())).collect();
    format!("{{}}:{{{}}}", pairs.join(", "))
}

/// The labels (or annotations) every alert of the group has with the same value.
pub fn common(maps: &[&Labels]) -> Labels {
    let Some((first, rest)) = maps.split_first() else { return Labels::new() };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_and_common_labels_read_like_alertmanagers() {
        let group =
            Labels::from([("alertname".into(), "KubePodCrashLooping".into()), ("namespace".into(), "default".into())]);
        assert_eq!(group_key(&group), "{}:{alertname=\"KubePodCrashLooping\", namespace=\"default\"}");
        let a = Labels::from([("pod".into(), "a".into()), ("severity".into(), "warning".into())]);
        let b = Labels::from([("pod".into(), "b".into()), ("severity".into(), "warning".into())]);
        assert_eq!(common(&[&a, &b]), Labels::from([("severity".into(), "warning".into())]));
        let at: Timestamp = "2026-11-22T14:41:05.459Z".parse().unwrap();
        assert_eq!(go_time(at), "2026-11-22T14:41:05.459Z");
        assert_eq!(go_time("2026-11-22T14:40:28Z".parse().unwrap()), "2026-11-22T14:40:28Z");
    }
}
