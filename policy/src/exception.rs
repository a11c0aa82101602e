//! PolicyExceptions: rules of policies that do not apply to the resources an exception matches.
use crate::policy::{
    Conditions, FieldResult, Policy, Rule, err, obj, opt_str, parse_conditions, parse_match, str_list,
};
use serde_json::Value;

/// A PolicyException: listed rules of listed policies do not apply to the resources it matches.
#[derive(Debug, Clone)]
pub struct PolicyException {
    pub name: String,
    /// (policy name, rule names); both may hold wildcards.
    pub exceptions: Vec<(String, Vec<String>)>,
    /// The resources the exception covers, as a rule's match/exclude.
    pub scope: Rule,
    pub conditions: Option<Conditions>,
}

impl PolicyException {
    /// Whether this exception names `rule` of `policy` (qualified policy name or plain name).
    pub fn covers(&self, policy: &Policy, rule: &str) -> bool {
        let (qualified, plain) = (policy.qualified_name(), policy.name.as_str());
        self.exceptions.iter().any(|(p, rules)| {
            (crate::wildcard::matches(p, &qualified) || crate::wildcard::matches(p, plain))
                && rules.iter().any(|r| crate::wildcard::matches(r, rule))
        })
    }
}

/// Whether a document is a Kyverno PolicyException.
pub fn is_exception_document(doc: &Value) -> bool {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    api.starts_with("kyverno.io/") && doc.get("kind").and_then(Value::as_str) == Some("PolicyException")
}

pub fn parse_exception(doc: &Value) -> FieldResult<PolicyException> {
    let root = obj(doc, "document")?;
    let metadata = obj(root.get("metadata").unwrap_or(&Value::Null), "metadata")?;
    let name = opt_str(metadata, "name", "metadata")?.unwrap_or_default();
    let name = match opt_str(metadata, "namespace", "metadata")? {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name,
    };
    let spec = obj(root.get("spec").unwrap_or(&Value::Null), "spec")?;
    let mut exceptions = Vec::new();
    if let Some(Value::Array(items)) = spec.get("exceptions") {
        for (i, item) in items.iter().enumerate() {
            let f = format!("spec.exceptions[{i}]");
            let m = obj(item, &f)?;
            exceptions.push((opt_str(m, "policyName", &f)?.unwrap_or_default(), str_list(m, "ruleNames", &f)?));
        }
    }
    let Some(matches) = spec.get("match") else { return err("spec.match", "missing") };
    let scope = Rule {
        name: name.clone(),
        matches: parse_match(matches, "spec.match")?,
        exclude: None,
        context: Vec::new(),
        preconditions: None,
        cel_preconditions: Vec::new(),
        validate: None,
    };
    let conditions = match spec.get("conditions") {
        None | Some(Value::Null) => None,
        Some(c) => Some(parse_conditions(c, "spec.conditions")?),
    };
    Ok(PolicyException { name, exceptions, scope, conditions })
}
