//! Label and field selectors: `labelSelector=app=web,tier!=db,env in (a,b),!canary` and
//! `fieldSelector=spec.nodeName=n1,status.phase!=Running`, and `LabelSelector` JSON (`matchLabels`,
//! `matchExpressions`) as Deployments, ReplicaSets, Services and NetworkPolicies carry it.
use serde_json::{Map, Value};

use crate::store::field;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parse the query-string form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_term(term)?);
        }
        Ok(Self { requirements })
    }

    /// Parse a `metav1.LabelSelector` object.
    pub fn from_json(selector: &Value) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if selector.is_null() {
            return Ok(Self { requirements });
        }
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in labels {
                let value = value.as_str().ok_or_else(|| format!("matchLabels.{key} must be a string"))?;
                requirements.push(Requirement::Equals(key.clone(), value.to_string()));
            }
        }
        for expression in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let key = expression.get("key").and_then(Value::as_str).ok_or("matchExpressions[].key is required")?;
            let values: Vec<String> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let operator = expression.get("operator").and_then(Value::as_str).unwrap_or_default();
            requirements.push(match operator {
                "In" => Requirement::In(key.into(), values),
                "NotIn" => Requirement::NotIn(key.into(), values),
                "Exists" => Requirement::Exists(key.into()),
                "DoesNotExist" => Requirement::DoesNotExist(key.into()),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            });
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` (a JSON map of strings, or absent) satisfies every requirement.
    pub fn matches_json(&self, labels: Option<&Value>) -> bool {
        let labels = labels.and_then(Value::as_object);
        self.matches_with(|key| labels.and_then(|l| l.get(key)).and_then(Value::as_str))
    }

    /// Whether an object's `metadata.labels` satisfies the selector.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches_json(field(object, "/metadata/labels"))
    }

    pub fn matches_map(&self, labels: &Map<String, Value>) -> bool {
        self.matches_with(|key| labels.get(key).and_then(Value::as_str))
    }

    fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => label(key) == Some(value.as_str()),
            Requirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
            Requirement::In(key, values) => label(key).is_some_and(|v| values.iter().any(|x| x == v)),
            Requirement::NotIn(key, values) => label(key).is_none_or(|v| !values.iter().any(|x| x == v)),
            Requirement::Exists(key) => label(key).is_some(),
            Requirement::DoesNotExist(key) => label(key).is_none(),
        })
    }

    /// The query-string form (`kubectl get pods -l ...`) with requirements sorted by key, as the API
    /// server prints a Deployment's `SELECTOR`.
    pub fn to_query(&self) -> String {
        let mut requirements: Vec<&Requirement> = self.requirements.iter().collect();
        requirements.sort_by_key(|r| match r {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k.as_str(),
        });
        let terms: Vec<String> = requirements
            .into_iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        terms.join(",")
    }
}

/// Split on commas that are not inside parentheses.
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

fn parse_term(term: &str) -> Result<Requirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(valid_key(key.trim())?));
    }
    for (operator, negated) in [(" notin ", true), (" in ", false)] {
        if let Some((key, rest)) = term.split_once(operator) {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("unable to parse requirement: {term:?}: expected a set of values"))?;
            let values = inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
            let key = valid_key(key.trim())?;
            return Ok(if negated { Requirement::NotIn(key, values) } else { Requirement::In(key, values) });
        }
    }
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(Requirement::NotEquals(valid_key(key.trim())?, value.trim().to_string()));
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Requirement::Equals(valid_key(key.trim())?, value.trim().to_string()));
    }
    Ok(Requirement::Exists(valid_key(term)?))
}

fn valid_key(key: &str) -> Result<String, String> {
    let ok = !key.is_empty()
        && key.len() <= 317
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if ok { Ok(key.to_string()) } else { Err(format!("unable to parse requirement: invalid label key {key:?}")) }
}

/// A parsed field selector: equality and inequality on dotted paths of the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(Vec<String>, bool, String)>,
}

impl FieldSelector {
    /// Parse `metadata.name=x,spec.nodeName!=n1`. Any dotted path of the object can be selected on
    /// (the fields kubectl and controllers use: metadata.name, metadata.namespace, spec.nodeName,
    /// status.phase, involvedObject.*, reason, type, ...); a missing field compares as "".
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, negated, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, false, v)
            } else {
                return Err(format!("invalid selector: '{text}'; can't understand '{term}'"));
            };
            let path: Vec<String> = path.trim().split('.').map(str::to_string).collect();
            if path.iter().any(String::is_empty) {
                return Err(format!("invalid field selector path in {term:?}"));
            }
            terms.push((path, negated, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(path, negated, expected)| {
            let mut at = Some(object);
            for segment in path {
                at = at.and_then(|v| v.get(segment));
            }
            let actual = match at {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *expected) != *negated
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_table() {
        let labels = json!({"app": "cart", "tier": "backend", "env": "prod"});
        let cases = [
            ("", true),
            ("app=cart", true),
            ("app==cart", true),
            ("app=web", false),
            ("app!=web", true),
            ("missing!=x", true),
            ("env in (prod,staging)", true),
            ("env in (staging)", false),
            ("env notin (staging, dev)", true),
            ("missing notin (a)", true),
            ("tier", true),
            ("!tier", false),
            ("!canary", true),
            ("app=cart,tier=backend,env in (prod)", true),
            ("app=cart,tier=frontend", false),
        ];
        for (text, expected) in cases {
            let selector = LabelSelector::parse(text).unwrap();
            assert_eq!(selector.matches_json(Some(&labels)), expected, "{text}");
        }
        assert!(LabelSelector::parse("app in prod").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn json_selectors_and_their_query_form() {
        let selector = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "cart"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        assert!(selector.matches_object(&json!({"metadata": {"labels": {"app": "cart", "tier": "backend"}}})));
        assert!(!selector.matches_object(&json!({"metadata": {"labels": {"app": "cart"}}})));
        assert_eq!(selector.to_query(), "app=cart,!canary,tier in (backend)");
        assert!(LabelSelector::from_json(&json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})).is_err());
    }

    #[test]
    fn field_selector_table() {
        let pod = json!({"metadata": {"name": "cart-1", "namespace": "shop"},
                         "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}});
        let unscheduled = json!({"metadata": {"name": "cart-2", "namespace": "shop"}, "status": {"phase": "Pending"}});
        let cases = [
            ("metadata.name=cart-1", true, false),
            ("metadata.name==cart-1", true, false),
            ("metadata.namespace=shop,status.phase=Running", true, false),
            ("spec.nodeName=node-1", true, false),
            ("spec.nodeName=", false, true),
            ("status.phase!=Running", false, true),
            ("status.phase!=Succeeded,status.phase!=Failed", true, true),
        ];
        for (text, on_pod, on_unscheduled) in cases {
            let selector = FieldSelector::parse(text).unwrap();
            assert_eq!(selector.matches(&pod), on_pod, "{text}");
            assert_eq!(selector.matches(&unscheduled), on_unscheduled, "{text} (unscheduled)");
        }
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn labels() -> impl Strategy<Value = std::collections::BTreeMap<String, String>> {
        proptest::collection::btree_map("[a-c]", "[x-z]", 0..3)
    }

    proptest! {
        /// Parsing never panics, whatever the text.
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = LabelSelector::parse(&text);
            let _ = FieldSelector::parse(&text);
        }

        /// A selector printed in query form selects exactly what the original selects.
        #[test]
        fn query_form_round_trips(
            match_labels in labels(),
            key in "[a-c]",
            values in proptest::collection::vec("[x-z]", 1..3),
            operator in prop_oneof!["In", "NotIn", "Exists", "DoesNotExist"],
            candidate in labels(),
        ) {
            let selector = LabelSelector::from_json(&json!({
                "matchLabels": match_labels,
                "matchExpressions": [{"key": key, "operator": operator, "values": values}],
            })).unwrap();
            let reparsed = LabelSelector::parse(&selector.to_query()).unwrap();
            let candidate = json!(candidate);
            prop_assert_eq!(selector.matches_json(Some(&candidate)), reparsed.matches_json(Some(&candidate)));
        }
    }
}
