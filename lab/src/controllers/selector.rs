//! Label selectors (`matchLabels` + `matchExpressions`) as controllers evaluate them.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Whether `labels` satisfy `selector`. An empty selector matches everything (as
/// `metav1.LabelSelectorAsSelector` makes it); an expression with an unknown operator matches nothing.
pub fn matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    if let Some(match_labels) = &selector.match_labels
        && !match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    selector.match_expressions.iter().flatten().all(|expression| {
        let value = labels.get(&expression.key);
        let values = expression.values.as_deref().unwrap_or_default();
        match expression.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    })
}

/// Whether a Service's plain `selector` map matches `labels` (an empty map selects nothing: such a
/// Service's endpoints are managed by hand).
pub fn map_matches(selector: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    !selector.is_empty() && labels.is_some_and(|labels| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// Whether a selector selects nothing at all (nil): controllers ignore objects with such selectors.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn selectors_match_like_kubernetes() {
        let app_web = LabelSelector { match_labels: Some(labels(&[("app", "web")])), match_expressions: None };
        let tiers = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![
                expression("tier", "In", &["front", "back"]),
                expression("canary", "DoesNotExist", &[]),
                expression("env", "NotIn", &["dev"]),
            ]),
        };
        type Case<'a> = (&'a LabelSelector, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case<'_>] = &[
            (&app_web, &[("app", "web"), ("x", "y")], true),
            (&app_web, &[("app", "api")], false),
            (&app_web, &[], false),
            (&tiers, &[("tier", "front")], true),
            (&tiers, &[("tier", "front"), ("env", "prod")], true),
            (&tiers, &[("tier", "front"), ("env", "dev")], false),
            (&tiers, &[("tier", "front"), ("canary", "true")], false),
            (&tiers, &[("tier", "middle")], false),
        ];
        for (selector, pairs, expected) in cases {
            assert_eq!(matches(selector, Some(&labels(pairs))), *expected, "{pairs:?}");
        }
        assert!(matches(&LabelSelector::default(), None));
        assert!(is_empty(&LabelSelector::default()));
        let unknown =
            LabelSelector { match_expressions: Some(vec![expression("a", "Gt", &["1"])]), ..Default::default() };
        assert!(!matches(&unknown, Some(&labels(&[("a", "2")]))));
    }

    #[test]
    fn service_selectors_need_at_least_one_label() {
        assert!(map_matches(&labels(&[("app", "web")]), Some(&labels(&[("app", "web"), ("pod-template-hash", "x")]))));
        assert!(!map_matches(&labels(&[]), Some(&labels(&[("app", "web")]))));
        assert!(!map_matches(&labels(&[("app", "web")]), None));
    }
}
