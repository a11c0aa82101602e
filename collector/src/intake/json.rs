//! Strict JSON decoding shared by the receivers: every error names the field path it happened at.
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use std::collections::BTreeMap;

use crate::error::IntakeError;

/// Decodes `body` as `T`, refusing trailing data. Syntax errors become [`IntakeError::Syntax`]; shape
/// errors (unknown, missing or ill-typed fields) become [`IntakeError::Field`] with the full path
/// (`alerts[0].startsAt`).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, IntakeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IntakeError::Syntax("the body is empty".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => field_error(&path, inner.to_string()),
            Category::Syntax | Category::Eof | Category::Io => IntakeError::Syntax(inner.to_string()),
        }
    })?;
    de.end().map_err(|e| IntakeError::Syntax(e.to_string()))?;
    Ok(value)
}

/// serde reports a missing or unknown field at the path of the object that lacks or has it; name the
/// field itself so the sender sees `alerts[0].startsAt`, not `alerts[0]`.
fn field_error(path: &str, message: String) -> IntakeError {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let path = match named {
        // serde_path_to_error already ends the path with an unknown field's name.
        Some(field) if path == field || path.ends_with(&format!(".{field}")) => path.to_string(),
        Some(field) if path == "." => field.to_string(),
        Some(field) => format!("{path}.{field}"),
        None if path == "." => "(root)".to_string(),
        None => path.to_string(),
    };
    IntakeError::Field { path, message }
}

/// Go's zero time, which Alertmanager sends as `endsAt` of a firing alert.
pub(crate) fn is_go_zero_time(ts: &jiff::Timestamp) -> bool {
    // 0001-01-01T00:00:00Z; any instant before the Unix epoch is equally meaningless as an end time.
    ts.as_second() < 0
}

/// The fingerprint Alertmanager computes for a label set (Prometheus' `LabelSet.Fingerprint`): FNV-1a 64
/// over the sorted names and values, each followed by the byte 0xff, printed as 16 hex digits. Deriving it
/// the same way means a generic alert and an Alertmanager alert with the same labels are the same alert.
pub fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    const SEPARATOR: u8 = 0xff;
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    // BTreeMap iterates in byte order of the names, as Go's sort of label names does.
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        count: u32,
    }

    fn path_of(body: &str) -> String {
        match decode::<Outer>(body.as_bytes()).unwrap_err() {
            IntakeError::Field { path, .. } => path,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn field_errors_name_the_full_path() {
        assert_eq!(path_of(r#"{"items":[{"name":"a","count":1},{"name":"b"}]}"#), "items[1].count");
        assert_eq!(path_of(r#"{"items":[{"name":"a","count":"1"}]}"#), "items[0].count");
        assert_eq!(path_of(r#"{"items":[{"name":"a","count":1,"colour":"red"}]}"#), "items[0].colour");
        assert_eq!(path_of(r#"{}"#), "items");
        assert_eq!(path_of(r#"{"items":[],"extra":1}"#), "extra");
        assert_eq!(path_of("1"), "(root)");
    }

    #[test]
    fn syntax_errors_and_trailing_data_are_syntax() {
        for body in ["", "  ", "{", r#"{"items":[]} x"#, "nul"] {
            assert!(matches!(decode::<Outer>(body.as_bytes()), Err(IntakeError::Syntax(_))), "{body:?}");
        }
    }

    #[test]
    fn fingerprints_match_alertmanager() {
        // The labels and fingerprints of the captured Alertmanager bodies in ../shared/fixtures.
        let labels: BTreeMap<String, String> = [
            ("alertname", "KubePodCrashLooping"),
            ("container", "web"),
            ("job", "kube-state-metrics"),
            ("namespace", "default"),
            ("pod", "web-7d9f8-abcde"),
            ("severity", "warning"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(label_fingerprint(&labels), "75d4aa544bbbfc2f");
        let mut more = labels.clone();
        more.insert("instance".into(), "127.0.0.1:9101".into());
        more.insert("reason".into(), "CrashLoopBackOff".into());
        more.insert("uid".into(), "u1".into());
        assert_eq!(label_fingerprint(&more), "b3fc2e79013ac41f");
        assert_eq!(label_fingerprint(&BTreeMap::new()), "cbf29ce484222325");
    }
}
