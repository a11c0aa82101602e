//! The policy model: ClusterPolicy / Policy documents parsed into typed rules, with every field that the
//! validate engine reads checked for shape. Errors name the offending field (`spec.rules[2].match.any[0]...`).
use crate::conditions::Operator;
use crate::selector::LabelSelector;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A parse failure inside one policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

pub type FieldResult<T> = Result<T, FieldError>;

pub(crate) fn err<T>(field: &str, message: impl Into<String>) -> FieldResult<T> {
    Err(FieldError { field: field.to_string(), message: message.into() })
}

/// `ClusterPolicy` (cluster-wide) or `Policy` (namespaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    ClusterPolicy,
    Policy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    Audit,
    Enforce,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub kind: PolicyKind,
    pub name: String,
    pub namespace: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub failure_action: FailureAction,
    pub apply_one: bool,
    /// `policies.kyverno.io/scored: "false"` turns failures into warnings.
    pub scored: bool,
    /// Rules as written followed by the rules autogen derives for pod controllers.
    pub rules: Vec<Rule>,
    /// Rule names as written (autogen rules are derived from them).
    pub declared_rules: Vec<String>,
}

impl Policy {
    /// The name results are reported under: `name`, or `namespace/name` for a namespaced Policy.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) if self.kind == PolicyKind::Policy => format!("{ns}/{}", self.name),
            _ => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub matches: MatchResources,
    pub exclude: Option<MatchResources>,
    pub context: Vec<ContextEntry>,
    pub preconditions: Option<Conditions>,
    pub cel_preconditions: Vec<(String, crate::cel::Program)>,
    pub validate: Option<Validation>,
}

#[derive(Debug, Clone, Default)]
pub struct MatchResources {
    pub any: Vec<ResourceFilter>,
    pub all: Vec<ResourceFilter>,
    /// The legacy single filter (`match.resources` / `match.subjects` ...).
    pub single: ResourceFilter,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceFilter {
    pub kinds: Vec<String>,
    /// `kinds` parsed into (group, version, kind, subresource).
    pub kind_selectors: Vec<(String, String, String, String)>,
    pub name: Option<String>,
    pub names: Vec<String>,
    pub namespaces: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    pub selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    pub operations: Vec<String>,
    pub roles: Vec<String>,
    pub cluster_roles: Vec<String>,
    pub subjects: Vec<Subject>,
}

impl ResourceFilter {
    pub fn has_resource_description(&self) -> bool {
        !self.kinds.is_empty()
            || self.name.is_some()
            || !self.names.is_empty()
            || !self.namespaces.is_empty()
            || !self.annotations.is_empty()
            || self.selector.is_some()
            || self.namespace_selector.is_some()
            || !self.operations.is_empty()
    }
    pub fn has_user_info(&self) -> bool {
        !self.roles.is_empty() || !self.cluster_roles.is_empty() || !self.subjects.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// A context entry. Only `variable` entries are evaluated; API calls, ConfigMaps, image registries and
/// global references need a cluster and are left to injected values (as `kyverno test` does).
#[derive(Debug, Clone)]
pub enum ContextEntry {
    Variable { name: String, value: Option<Value>, jmes_path: Option<String>, default: Option<Value> },
    External { name: String, source: &'static str },
}

/// `{any: [...], all: [...]}` or the legacy list (= all).
#[derive(Debug, Clone)]
pub enum Conditions {
    AnyAll { any: Option<Vec<Condition>>, all: Vec<Condition> },
    List(Vec<Condition>),
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub key: Value,
    pub operator: Operator,
    pub value: Value,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub message: String,
    pub failure_action: Option<FailureAction>,
    pub body: ValidationBody,
}

#[derive(Debug, Clone)]
pub enum ValidationBody {
    Deny(Option<Conditions>),
    Pattern(Value),
    AnyPattern(Value),
    Foreach(Vec<ForEach>),
    Cel(crate::cel::CelValidation),
    /// podSecurity / manifests / assert / image checks: not evaluated by this engine.
    Unsupported(&'static str),
    Empty,
}

#[derive(Debug, Clone)]
pub struct ForEach {
    pub list: String,
    pub element_scope: Option<bool>,
    pub context: Vec<ContextEntry>,
    pub preconditions: Option<Conditions>,
    pub body: ValidationBody,
}

// ---- parsing helpers ----

pub(crate) fn obj<'a>(v: &'a Value, field: &str) -> FieldResult<&'a Map<String, Value>> {
    v.as_object().map_or_else(|| err(field, format!("expected an object, found {}", kind_of(v))), Ok)
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn opt_str(m: &Map<String, Value>, key: &str, field: &str) -> FieldResult<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => err(&format!("{field}.{key}"), format!("expected a string, found {}", kind_of(other))),
    }
}

pub(crate) fn str_list(m: &Map<String, Value>, key: &str, field: &str) -> FieldResult<Vec<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => err(&format!("{field}.{key}[{i}]"), format!("expected a string, found {}", kind_of(other))),
            })
            .collect(),
        Some(other) => err(&format!("{field}.{key}"), format!("expected a list of strings, found {}", kind_of(other))),
    }
}

fn str_map(m: &Map<String, Value>, key: &str, field: &str) -> FieldResult<BTreeMap<String, String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => err(&format!("{field}.{key}.{k}"), format!("expected a string, found {}", kind_of(other))),
            })
            .collect(),
        Some(other) => err(&format!("{field}.{key}"), format!("expected an object, found {}", kind_of(other))),
    }
}

fn opt_bool(m: &Map<String, Value>, key: &str, field: &str) -> FieldResult<Option<bool>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => err(&format!("{field}.{key}"), format!("expected a boolean, found {}", kind_of(other))),
    }
}

fn failure_action(m: &Map<String, Value>, key: &str, field: &str) -> FieldResult<Option<FailureAction>> {
    match opt_str(m, key, field)?.as_deref() {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("audit") => Ok(Some(FailureAction::Audit)),
        Some(s) if s.eq_ignore_ascii_case("enforce") => Ok(Some(FailureAction::Enforce)),
        Some(other) => err(&format!("{field}.{key}"), format!("expected Audit or Enforce, found {other:?}")),
    }
}

// ---- policy ----

/// Whether a document looks like a Kyverno ClusterPolicy/Policy.
pub fn is_policy_document(doc: &Value) -> bool {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    api.starts_with("kyverno.io/") && (kind == "ClusterPolicy" || kind == "Policy")
}

/// Parses one ClusterPolicy/Policy document, adding autogen rules.
pub fn parse_policy(doc: &Value) -> FieldResult<Policy> {
    let root = obj(doc, "document")?;
    let kind = match root.get("kind").and_then(Value::as_str) {
        Some("ClusterPolicy") => PolicyKind::ClusterPolicy,
        Some("Policy") => PolicyKind::Policy,
        Some(other) => return err("kind", format!("expected ClusterPolicy or Policy, found {other:?}")),
        None => return err("kind", "missing"),
    };
    let metadata = obj(root.get("metadata").unwrap_or(&Value::Null), "metadata")?;
    let name = match opt_str(metadata, "name", "metadata")? {
        Some(n) if !n.is_empty() => n,
        _ => return err("metadata.name", "missing"),
    };
    let namespace = opt_str(metadata, "namespace", "metadata")?;
    let annotations = str_map(metadata, "annotations", "metadata")?;
    let spec = obj(root.get("spec").unwrap_or(&Value::Null), "spec")?;
    let failure = failure_action(spec, "validationFailureAction", "spec")?.unwrap_or(FailureAction::Audit);
    let apply_one = opt_str(spec, "applyRules", "spec")?.is_some_and(|s| s == "One");
    let raw_rules = match spec.get("rules") {
        Some(Value::Array(items)) => items.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => return err("spec.rules", format!("expected a list, found {}", kind_of(other))),
    };
    let mut rules = Vec::new();
    let mut declared = Vec::new();
    for (i, raw) in raw_rules.iter().enumerate() {
        let field = format!("spec.rules[{i}]");
        let rule = parse_rule(raw, &field)?;
        declared.push(rule.name.clone());
        rules.push(rule);
    }
    for (i, generated) in crate::autogen::generate(&raw_rules, &annotations).into_iter().enumerate() {
        let field = format!("spec.rules[autogen {i}]");
        rules.push(parse_rule(&generated, &field)?);
    }
    let scored = annotations.get("policies.kyverno.io/scored").is_none_or(|v| v != "false");
    Ok(Policy {
        kind,
        name,
        namespace,
        annotations,
        failure_action: failure,
        apply_one,
        scored,
        rules,
        declared_rules: declared,
    })
}

pub fn parse_rule(raw: &Value, field: &str) -> FieldResult<Rule> {
    let m = obj(raw, field)?;
    let name = match opt_str(m, "name", field)? {
        Some(n) if !n.is_empty() => n,
        _ => return err(&format!("{field}.name"), "missing"),
    };
    let matches = match m.get("match") {
        Some(v) => parse_match(v, &format!("{field}.match"))?,
        None => return err(&format!("{field}.match"), "missing: a rule must say which resources it matches"),
    };
    let exclude = match m.get("exclude") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_match(v, &format!("{field}.exclude"))?),
    };
    let context = parse_context(m.get("context"), &format!("{field}.context"))?;
    let preconditions = match m.get("preconditions") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_conditions(v, &format!("{field}.preconditions"))?),
    };
    let mut cel_preconditions = Vec::new();
    if let Some(Value::Array(items)) = m.get("celPreconditions") {
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}.celPreconditions[{i}]");
            let c = obj(item, &f)?;
            let name = opt_str(c, "name", &f)?.unwrap_or_default();
            let Some(expression) = opt_str(c, "expression", &f)? else {
                return err(&format!("{f}.expression"), "missing");
            };
            let program = crate::cel::Program::compile(&expression).or_else(|e| err(&format!("{f}.expression"), e))?;
            cel_preconditions.push((name, program));
        }
    }
    let validate = match m.get("validate") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_validation(v, &format!("{field}.validate"))?),
    };
    Ok(Rule { name, matches, exclude, context, preconditions, cel_preconditions, validate })
}

pub(crate) fn parse_match(v: &Value, field: &str) -> FieldResult<MatchResources> {
    let m = obj(v, field)?;
    let list = |key: &str| -> FieldResult<Vec<ResourceFilter>> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, item)| parse_filter(item, &format!("{field}.{key}[{i}]"))).collect()
            }
            Some(other) => err(&format!("{field}.{key}"), format!("expected a list, found {}", kind_of(other))),
        }
    };
    let any = list("any")?;
    let all = list("all")?;
    let single = parse_filter(v, field)?;
    Ok(MatchResources { any, all, single })
}

fn parse_filter(v: &Value, field: &str) -> FieldResult<ResourceFilter> {
    let m = obj(v, field)?;
    let mut f = ResourceFilter::default();
    if let Some(resources) = m.get("resources").filter(|r| !r.is_null()) {
        let rf = format!("{field}.resources");
        let r = obj(resources, &rf)?;
        f.kinds = str_list(r, "kinds", &rf)?;
        f.kind_selectors = f.kinds.iter().map(|k| crate::matching::parse_kind_selector(k)).collect();
        f.name = opt_str(r, "name", &rf)?;
        f.names = str_list(r, "names", &rf)?;
        f.namespaces = str_list(r, "namespaces", &rf)?;
        f.annotations = str_map(r, "annotations", &rf)?;
        f.operations = str_list(r, "operations", &rf)?;
        if let Some(sel) = r.get("selector").filter(|s| !s.is_null()) {
            f.selector = Some(LabelSelector::parse(sel, &format!("{rf}.selector"))?);
        }
        if let Some(sel) = r.get("namespaceSelector").filter(|s| !s.is_null()) {
            f.namespace_selector = Some(LabelSelector::parse(sel, &format!("{rf}.namespaceSelector"))?);
        }
    }
    f.roles = str_list(m, "roles", field)?;
    f.cluster_roles = str_list(m, "clusterRoles", field)?;
    if let Some(subjects) = m.get("subjects").filter(|s| !s.is_null()) {
        let Value::Array(items) = subjects else {
            return err(&format!("{field}.subjects"), format!("expected a list, found {}", kind_of(subjects)));
        };
        for (i, s) in items.iter().enumerate() {
            let sf = format!("{field}.subjects[{i}]");
            let sm = obj(s, &sf)?;
            f.subjects.push(Subject {
                kind: opt_str(sm, "kind", &sf)?.unwrap_or_default(),
                name: opt_str(sm, "name", &sf)?.unwrap_or_default(),
                namespace: opt_str(sm, "namespace", &sf)?.unwrap_or_default(),
            });
        }
    }
    Ok(f)
}

fn parse_context(v: Option<&Value>, field: &str) -> FieldResult<Vec<ContextEntry>> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return err(field, format!("expected a list, found {}", kind_of(other))),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let m = obj(item, &f)?;
        let Some(name) = opt_str(m, "name", &f)? else { return err(&format!("{f}.name"), "missing") };
        let external = ["apiCall", "configMap", "imageRegistry", "globalReference"]
            .into_iter()
            .find(|k| m.get(*k).is_some_and(|v| !v.is_null()));
        if let Some(source) = external {
            out.push(ContextEntry::External { name, source });
            continue;
        }
        let Some(var) = m.get("variable").filter(|v| !v.is_null()) else {
            return err(&f, "expected one of variable, apiCall, configMap, imageRegistry, globalReference");
        };
        let vf = format!("{f}.variable");
        let vm = obj(var, &vf)?;
        out.push(ContextEntry::Variable {
            name,
            value: vm.get("value").cloned(),
            jmes_path: opt_str(vm, "jmesPath", &vf)?,
            default: vm.get("default").cloned(),
        });
    }
    Ok(out)
}

pub fn parse_conditions(v: &Value, field: &str) -> FieldResult<Conditions> {
    match v {
        Value::Array(items) => Ok(Conditions::List(parse_condition_list(items, field)?)),
        Value::Object(m) => {
            let any = match m.get("any") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(parse_condition_list(items, &format!("{field}.any"))?),
                Some(other) => {
                    return err(&format!("{field}.any"), format!("expected a list, found {}", kind_of(other)));
                }
            };
            let all = match m.get("all") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => parse_condition_list(items, &format!("{field}.all"))?,
                Some(other) => {
                    return err(&format!("{field}.all"), format!("expected a list, found {}", kind_of(other)));
                }
            };
            Ok(Conditions::AnyAll { any, all })
        }
        Value::Null => Ok(Conditions::List(Vec::new())),
        other => {
            err(field, format!("expected conditions (a list, or an object with any/all), found {}", kind_of(other)))
        }
    }
}

fn parse_condition_list(items: &[Value], field: &str) -> FieldResult<Vec<Condition>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let f = format!("{field}[{i}]");
            let m = obj(item, &f)?;
            let operator = match m.get("operator") {
                Some(Value::String(s)) => match Operator::parse(s) {
                    Some(op) => op,
                    None => return err(&format!("{f}.operator"), format!("unknown operator {s:?}")),
                },
                None => return err(&format!("{f}.operator"), "missing"),
                Some(other) => {
                    return err(&format!("{f}.operator"), format!("expected a string, found {}", kind_of(other)));
                }
            };
            Ok(Condition {
                key: m.get("key").cloned().unwrap_or(Value::Null),
                operator,
                value: m.get("value").cloned().unwrap_or(Value::Null),
                message: opt_str(m, "message", &f)?.unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_validation(v: &Value, field: &str) -> FieldResult<Validation> {
    let m = obj(v, field)?;
    let message = opt_str(m, "message", field)?.unwrap_or_default();
    let failure = failure_action(m, "failureAction", field)?;
    opt_bool(m, "allowExistingViolations", field)?;
    let body = if m.get("manifests").is_some_and(|v| !v.is_null()) {
        ValidationBody::Unsupported("manifests")
    } else if m.get("podSecurity").is_some_and(|v| !v.is_null()) {
        ValidationBody::Unsupported("podSecurity")
    } else if let Some(cel) = m.get("cel").filter(|v| !v.is_null()) {
        ValidationBody::Cel(crate::cel::CelValidation::parse(cel, &format!("{field}.cel"))?)
    } else {
        parse_body(m, field)?
    };
    Ok(Validation { message, failure_action: failure, body })
}

/// The resource-handler part of a validation or of a foreach entry: deny, pattern, anyPattern, foreach.
fn parse_body(m: &Map<String, Value>, field: &str) -> FieldResult<ValidationBody> {
    if let Some(deny) = m.get("deny").filter(|v| !v.is_null()) {
        let dm = obj(deny, &format!("{field}.deny"))?;
        let conditions = match dm.get("conditions") {
            None | Some(Value::Null) => None,
            Some(c) => Some(parse_conditions(c, &format!("{field}.deny.conditions"))?),
        };
        return Ok(ValidationBody::Deny(conditions));
    }
    if let Some(p) = m.get("pattern").filter(|v| !v.is_null()) {
        return Ok(ValidationBody::Pattern(p.clone()));
    }
    if let Some(p) = m.get("anyPattern").filter(|v| !v.is_null()) {
        return Ok(ValidationBody::AnyPattern(p.clone()));
    }
    if let Some(f) = m.get("foreach").filter(|v| !v.is_null()) {
        let Value::Array(items) = f else {
            return err(&format!("{field}.foreach"), format!("expected a list, found {}", kind_of(f)));
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            out.push(parse_foreach(item, &format!("{field}.foreach[{i}]"))?);
        }
        return Ok(ValidationBody::Foreach(out));
    }
    for (key, name) in [("assert", "assert"), ("verifyImages", "verifyImages")] {
        if m.get(key).is_some_and(|v| !v.is_null()) {
            return Ok(ValidationBody::Unsupported(name));
        }
    }
    Ok(ValidationBody::Empty)
}

fn parse_foreach(v: &Value, field: &str) -> FieldResult<ForEach> {
    let m = obj(v, field)?;
    let Some(list) = opt_str(m, "list", field)? else { return err(&format!("{field}.list"), "missing") };
    let preconditions = match m.get("preconditions") {
        None | Some(Value::Null) => None,
        Some(c) => Some(parse_conditions(c, &format!("{field}.preconditions"))?),
    };
    Ok(ForEach {
        list,
        element_scope: opt_bool(m, "elementScope", field)?,
        context: parse_context(m.get("context"), &format!("{field}.context"))?,
        preconditions,
        body: parse_body(m, field)?,
    })
}
