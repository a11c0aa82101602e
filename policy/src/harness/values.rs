//! Kyverno CLI values files (`kind: Values`): global values, per-policy resource and rule values,
//! namespace labels and subresource mappings. They stand in for what a cluster would answer.
use crate::engine::Values;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `foreachValues` of one rule: key → one value per element.
pub type ForeachValues = Vec<(String, Vec<Value>)>;

#[derive(Debug, Clone, Default)]
pub struct ValuesFile {
    pub global: Vec<(String, Value)>,
    /// policy → resource → values
    pub resources: BTreeMap<String, BTreeMap<String, Vec<(String, Value)>>>,
    /// policy → rule → values
    pub rules: BTreeMap<String, BTreeMap<String, Vec<(String, Value)>>>,
    /// policy → rule → key → per-element values
    pub foreach: BTreeMap<String, BTreeMap<String, ForeachValues>>,
    /// namespace → labels
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// (subresource apiVersion, kind) → (parent apiVersion, parent kind, subresource name)
    pub subresources: Vec<Subresource>,
}

#[derive(Debug, Clone)]
pub struct Subresource {
    pub api_version: String,
    pub kind: String,
    pub parent_api_version: String,
    pub parent_kind: String,
    pub name: String,
}

fn pairs(v: Option<&Value>) -> Vec<(String, Value)> {
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

impl ValuesFile {
    pub fn parse(doc: &Value) -> ValuesFile {
        let mut out = ValuesFile { global: pairs(doc.get("globalValues")), ..Default::default() };
        for p in doc.get("policies").and_then(Value::as_array).into_iter().flatten() {
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            for r in p.get("resources").and_then(Value::as_array).into_iter().flatten() {
                let rname = r.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                out.resources.entry(name.clone()).or_default().entry(rname).or_default().extend(pairs(r.get("values")));
            }
            for r in p.get("rules").and_then(Value::as_array).into_iter().flatten() {
                let rname = r.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                out.rules
                    .entry(name.clone())
                    .or_default()
                    .entry(rname.clone())
                    .or_default()
                    .extend(pairs(r.get("values")));
                if let Some(Value::Object(fv)) = r.get("foreachValues") {
                    let entry = out.foreach.entry(name.clone()).or_default().entry(rname).or_default();
                    for (k, v) in fv {
                        entry.push((k.clone(), v.as_array().cloned().unwrap_or_default()));
                    }
                }
            }
        }
        for n in doc.get("namespaceSelector").and_then(Value::as_array).into_iter().flatten() {
            let name = n.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let labels = crate::selector::string_map(n.get("labels"));
            out.namespace_labels.insert(name, labels);
        }
        for s in doc.get("subresources").and_then(Value::as_array).into_iter().flatten() {
            let field = |obj: &str, key: &str| {
                s.get(obj).and_then(|o| o.get(key)).and_then(Value::as_str).unwrap_or_default().to_string()
            };
            let name = field("subresource", "name");
            out.subresources.push(Subresource {
                api_version: api_version(&field("subresource", "group"), &field("subresource", "version")),
                kind: field("subresource", "kind"),
                parent_api_version: api_version(&field("parentResource", "group"), &field("parentResource", "version")),
                parent_kind: field("parentResource", "kind"),
                name: name.split_once('/').map(|(_, sub)| sub.to_string()).unwrap_or_default(),
            });
        }
        out
    }

    /// Values inline in a test file (`values:`) use the same shape.
    pub fn from_inline(m: &Map<String, Value>) -> ValuesFile {
        Self::parse(&Value::Object(m.clone()))
    }
}

impl Values for ValuesFile {
    fn resource_values(&self, policy: &str, resource: &str) -> Vec<(String, Value)> {
        let mut out = self.global.clone();
        if let Some(v) = self.resources.get(policy).and_then(|r| r.get(resource)) {
            out.extend(v.iter().cloned());
        }
        out
    }

    fn rule_values(&self, policy: &str, rule: &str) -> Vec<(String, Value)> {
        self.rules.get(policy).and_then(|r| r.get(rule)).cloned().unwrap_or_default()
    }

    fn foreach_values(&self, policy: &str, rule: &str, index: usize) -> Vec<(String, Value)> {
        self.foreach
            .get(policy)
            .and_then(|r| r.get(rule))
            .map(|entries| entries.iter().filter_map(|(k, vs)| vs.get(index).map(|v| (k.clone(), v.clone()))).collect())
            .unwrap_or_default()
    }
}
