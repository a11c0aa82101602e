//! Kubernetes label selectors (`matchLabels`, `matchExpressions`), with Kyverno's wildcard expansion of
//! `matchLabels` keys and values against the object's labels.
use crate::policy::{FieldError, FieldResult, kind_of, obj};
use crate::wildcard;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub key: String,
    pub op: SelectorOp,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub expressions: Vec<Requirement>,
}

fn field_err<T>(field: String, message: impl Into<String>) -> FieldResult<T> {
    Err(FieldError { field, message: message.into() })
}

impl LabelSelector {
    pub fn parse(v: &Value, field: &str) -> FieldResult<LabelSelector> {
        let m = obj(v, field)?;
        let mut out = LabelSelector::default();
        if let Some(labels) = m.get("matchLabels").filter(|v| !v.is_null()) {
            for (k, v) in obj(labels, &format!("{field}.matchLabels"))? {
                match v {
                    Value::String(s) => {
                        out.match_labels.insert(k.clone(), s.clone());
                    }
                    other => {
                        return field_err(
                            format!("{field}.matchLabels.{k}"),
                            format!("expected a string, found {}", kind_of(other)),
                        );
                    }
                }
            }
        }
        if let Some(exprs) = m.get("matchExpressions").filter(|v| !v.is_null()) {
            let Value::Array(items) = exprs else {
                return field_err(format!("{field}.matchExpressions"), "expected a list");
            };
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}.matchExpressions[{i}]");
                let e = obj(item, &f)?;
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => SelectorOp::In,
                    Some("NotIn") => SelectorOp::NotIn,
                    Some("Exists") => SelectorOp::Exists,
                    Some("DoesNotExist") => SelectorOp::DoesNotExist,
                    other => return field_err(format!("{f}.operator"), format!("unsupported operator {other:?}")),
                };
                let values = match e.get("values") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(vs)) => vs.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect(),
                    Some(_) => return field_err(format!("{f}.values"), "expected a list of strings"),
                };
                out.expressions.push(Requirement { key, op, values });
            }
        }
        Ok(out)
    }

    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        for (k, v) in &self.match_labels {
            let (k, v) = if wildcard::contains_wildcard(k) || wildcard::contains_wildcard(v) {
                match labels.iter().find(|(k1, v1)| wildcard::matches(k, k1) && wildcard::matches(v, v1)) {
                    Some((k1, v1)) => (k1.clone(), v1.clone()),
                    None => (k.replace(['*', '?'], "0"), v.replace(['*', '?'], "0")),
                }
            } else {
                (k.clone(), v.clone())
            };
            if labels.get(&k) != Some(&v) {
                return false;
            }
        }
        self.expressions.iter().all(|r| {
            let value = labels.get(&r.key);
            match r.op {
                SelectorOp::In => value.is_some_and(|v| r.values.contains(v)),
                SelectorOp::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                SelectorOp::Exists => value.is_some(),
                SelectorOp::DoesNotExist => value.is_none(),
            }
        })
    }
}

/// The string labels of an object's `metadata.labels`.
pub fn labels_of(resource: &Value) -> BTreeMap<String, String> {
    string_map(resource.pointer("/metadata/labels"))
}

pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Null => None,
                other => Some((k.clone(), crate::gofmt::sprint(other))),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_table() {
        let labels: BTreeMap<String, String> =
            [("app".to_string(), "web".to_string()), ("tier".to_string(), "front".to_string())].into_iter().collect();
        let cases = [
            (json!({}), true),
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (json!({"matchLabels": {"ap*": "w*"}}), true),
            (json!({"matchLabels": {"x*": "*"}}), false),
            (json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}), true),
            (json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}), false),
            (json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}), true),
            (json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}), true),
            (json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}), false),
        ];
        for (sel, want) in cases {
            let s = LabelSelector::parse(&sel, "selector").unwrap();
            assert_eq!(s.matches(&labels), want, "{sel}");
        }
        assert!(LabelSelector::parse(&json!({"matchExpressions": [{"key": "a", "operator": "Bad"}]}), "s").is_err());
    }
}
