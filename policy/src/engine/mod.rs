//! Evaluating policies against one resource: the rule pipeline of Kyverno's engine (match/exclude, context,
//! preconditions, then deny, pattern, anyPattern, foreach or CEL), producing one result per applicable rule.
mod cel_rule;
pub mod images;
mod rule;

use crate::context::{Context, ExprCache};
use crate::exception::PolicyException;
use crate::matching::{MatchEnv, Target, UserInfo};
use crate::policy::{Policy, Rule, ValidationBody};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The admission operation being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    #[default]
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            "CONNECT" => Some(Operation::Connect),
            _ => None,
        }
    }
}

/// Everything about the request besides the object itself.
#[derive(Debug, Clone, Default)]
pub struct AdmissionRequest {
    pub operation: Operation,
    /// The object before the change (UPDATE); for DELETE the object itself is the old object.
    pub old_object: Option<Value>,
    /// Who is asking; `None` when unknown (user criteria in `match` are then ignored, as in `kyverno test`).
    pub user_info: Option<UserInfo>,
    /// Labels of the object's namespace, for `namespaceSelector`.
    pub namespace_labels: BTreeMap<String, String>,
    /// The subresource (`scale`, `status`, `exec`, ...) when the request targets one.
    pub subresource: Option<String>,
    /// The parent kind (`apps/v1`, `Deployment`) when the object is a subresource payload such as `Scale`.
    pub parent_kind: Option<(String, String)>,
    /// The object's Namespace, for CEL's `namespaceObject`; when absent one is made from the namespace name
    /// and `namespace_labels`.
    pub namespace_object: Option<Value>,
}

/// The outcome of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Error,
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Error => "error",
            Status::Skip => "skip",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one rule of one policy on one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// `name`, or `namespace/name` for a namespaced Policy.
    pub policy: String,
    pub rule: String,
    pub status: Status,
    pub message: String,
    /// Whether the policy (or rule) asks for enforcement rather than audit.
    pub enforce: bool,
}

/// Values injected into the context in place of cluster lookups (the CLI's values files).
pub trait Values {
    /// Global values and values for this policy and resource, applied before anything else.
    fn resource_values(&self, _policy: &str, _resource: &str) -> Vec<(String, Value)> {
        Vec::new()
    }
    /// Values for one rule, applied before its context entries are loaded.
    fn rule_values(&self, _policy: &str, _rule: &str) -> Vec<(String, Value)> {
        Vec::new()
    }
    /// `foreachValues` for one rule, indexed by the element being evaluated.
    fn foreach_values(&self, _policy: &str, _rule: &str, _index: usize) -> Vec<(String, Value)> {
        Vec::new()
    }
}

/// No injected values (production).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoValues;

impl Values for NoValues {}

/// One rule's raw response before policy-level adjustments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    pub status: Status,
    pub message: String,
}

impl Response {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Response { status, message: message.into() }
    }
}

/// Where a rule's JSON context comes from: built from the request when a rule first needs it, or prepared
/// up front when injected values change it.
#[derive(Clone, Copy)]
pub(crate) enum Base<'a> {
    Lazy { object: &'a Value, old: Option<&'a Value>, request: &'a AdmissionRequest },
    Built(&'a Map<String, Value>),
}

impl Base<'_> {
    fn build(&self) -> Map<String, Value> {
        match self {
            Base::Lazy { object, old, request } => base_context(object, *old, request),
            Base::Built(m) => (*m).clone(),
        }
    }
}

/// The evaluation of one rule of one policy on one resource.
pub(crate) struct Evaluation<'a, 'p> {
    pub policy: &'a Policy,
    pub rule: &'a Rule,
    pub values: &'a dyn Values,
    base: Base<'a>,
    exprs: &'p ExprCache,
    /// Built on first use: rules without variables never pay for it.
    ctx: Option<Context<'p>>,
    pub operation: Operation,
    pub new_object: &'a Value,
    pub old_object: Option<&'a Value>,
    pub request: &'a AdmissionRequest,
    /// Exceptions that name this rule and match the resource (their conditions are checked later).
    pub exceptions: Vec<&'a PolicyException>,
}

impl<'p> Evaluation<'_, 'p> {
    pub fn ctx(&mut self) -> &mut Context<'p> {
        let (base, exprs) = (self.base, self.exprs);
        self.ctx.get_or_insert_with(|| Context::new(base.build(), exprs))
    }

    /// The context as it would be for the old object (request.object = old, no oldObject).
    fn old_context(&self) -> Option<Context<'p>> {
        let old = self.old_object?;
        let mut root = self.base.build();
        if let Some(Value::Object(request)) = root.get_mut("request") {
            request.insert("object".into(), old.clone());
            request.remove("oldObject");
        }
        Some(Context::new(root, self.exprs))
    }
}

fn base_context(resource: &Value, old: Option<&Value>, req: &AdmissionRequest) -> Map<String, Value> {
    let mut request = Map::new();
    if req.operation != Operation::Delete {
        request.insert("object".into(), resource.clone());
    }
    if let Some(old) = old {
        request.insert("oldObject".into(), old.clone());
    }
    let namespace = resource.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    request.insert("namespace".into(), Value::String(namespace.to_string()));
    let mut root = Map::new();
    if let Some(user) = &req.user_info {
        request.insert("roles".into(), serde_json::json!(user.roles));
        request.insert("clusterRoles".into(), serde_json::json!(user.cluster_roles));
        let mut info = Map::new();
        info.insert("username".into(), Value::String(user.username.clone()));
        if !user.uid.is_empty() {
            info.insert("uid".into(), Value::String(user.uid.clone()));
        }
        if !user.groups.is_empty() {
            info.insert("groups".into(), serde_json::json!(user.groups));
        }
        request.insert("userInfo".into(), Value::Object(info));
        let (sa_name, sa_ns) = service_account(&user.username);
        root.insert("serviceAccountName".into(), Value::String(sa_name));
        root.insert("serviceAccountNamespace".into(), Value::String(sa_ns));
    }
    request.insert("operation".into(), Value::String(req.operation.as_str().into()));
    root.insert("request".into(), Value::Object(request));
    if let Some(images) = images::images(resource) {
        root.insert("images".into(), images);
    }
    root
}

fn service_account(username: &str) -> (String, String) {
    let prefix = "system:serviceaccount:";
    let sa = if username.len() <= prefix.len() { "" } else { &username[prefix.len()..] };
    let groups: Vec<&str> = sa.split(':').collect();
    if groups.len() >= 2 { (groups[1].to_string(), groups[0].to_string()) } else { (String::new(), String::new()) }
}

/// The objects and request one policy is evaluated with.
pub struct Prepared<'a> {
    pub request: std::borrow::Cow<'a, AdmissionRequest>,
    pub new_object: std::borrow::Cow<'a, Value>,
    pub old_object: Option<std::borrow::Cow<'a, Value>>,
    /// The JSON context with injected values applied, when there are any.
    pub base: Option<Map<String, Value>>,
}

impl<'a> Prepared<'a> {
    /// Without injected values: nothing is copied.
    pub fn plain(resource: &'a Value, req: &'a AdmissionRequest) -> Self {
        let old = match req.operation {
            Operation::Update | Operation::Delete => {
                Some(req.old_object.as_ref().map_or(std::borrow::Cow::Borrowed(resource), std::borrow::Cow::Borrowed))
            }
            _ => None,
        };
        Prepared {
            request: std::borrow::Cow::Borrowed(req),
            new_object: std::borrow::Cow::Borrowed(resource),
            old_object: old,
            base: None,
        }
    }

    /// With values injected into the context (`kyverno test` values files); they may change the operation and
    /// the objects themselves.
    pub fn with_values(
        resource: &'a Value,
        req: &'a AdmissionRequest,
        injected: &[(String, Value)],
        exprs: &ExprCache,
    ) -> Self {
        let mut operation = req.operation;
        if let Some((_, Value::String(op))) = injected.iter().rev().find(|(k, _)| k == "request.operation") {
            operation = Operation::parse(op).unwrap_or(operation);
        }
        let request = if operation != req.operation {
            std::borrow::Cow::Owned(AdmissionRequest { operation, ..req.clone() })
        } else {
            std::borrow::Cow::Borrowed(req)
        };
        let old: Option<Value> = match operation {
            Operation::Update | Operation::Delete => Some(req.old_object.clone().unwrap_or_else(|| resource.clone())),
            _ => None,
        };
        let mut ctx = Context::new(base_context(resource, old.as_ref(), &request), exprs);
        for (k, v) in injected {
            ctx.add_variable(k, v.clone());
        }
        let base = ctx.root().as_object().cloned().unwrap_or_default();
        let new_object = if operation == Operation::Delete {
            resource.clone()
        } else {
            base.get("request").and_then(|r| r.get("object")).cloned().unwrap_or(Value::Null)
        };
        let old_object =
            old.map(|_| base.get("request").and_then(|r| r.get("oldObject")).cloned().unwrap_or(Value::Null));
        Prepared {
            request,
            new_object: std::borrow::Cow::Owned(new_object),
            old_object: old_object.map(std::borrow::Cow::Owned),
            base: Some(base),
        }
    }
}

/// Evaluates every rule of `policy` on the prepared object.
pub(crate) fn evaluate_policy(
    policy: &Policy,
    exceptions: &[PolicyException],
    exprs: &ExprCache,
    prepared: &Prepared<'_>,
    values: &dyn Values,
) -> Vec<RuleResult> {
    let req: &AdmissionRequest = &prepared.request;
    let operation = req.operation;
    let new_object: &Value = &prepared.new_object;
    let old_object: Option<&Value> = prepared.old_object.as_deref();
    let base = match &prepared.base {
        Some(m) => Base::Built(m),
        None => Base::Lazy { object: new_object, old: old_object, request: req },
    };
    let subresource = req.subresource.as_deref().unwrap_or("");
    let no_user = UserInfo::default();
    let user = req.user_info.as_ref().unwrap_or(&no_user);
    let env = MatchEnv { operation: operation.as_str(), user, namespace_labels: &req.namespace_labels };
    let mut target = Target::new(new_object, subresource);
    let mut old_target = old_object.map(|o| Target::new(o, subresource));
    if let Some((api, kind)) = &req.parent_kind {
        target = target.as_kind(api, kind);
        old_target = old_target.map(|t| t.as_kind(api, kind));
    }
    let policy_ns = if policy.kind == crate::policy::PolicyKind::Policy { policy.namespace.as_deref() } else { None };
    let mut results = Vec::new();
    let mut applied = 0usize;
    for rule in &policy.rules {
        let Some(validation) = &rule.validate else { continue };
        let matched = crate::matching::resource_matches(rule, &target, &env, policy_ns)
            || old_target.as_ref().is_some_and(|t| crate::matching::resource_matches(rule, t, &env, policy_ns));
        if !matched {
            continue;
        }
        let mut eval = Evaluation {
            policy,
            rule,
            values,
            base,
            exprs,
            ctx: None,
            operation,
            new_object,
            old_object,
            request: req,
            exceptions: exceptions
                .iter()
                .filter(|ex| ex.covers(policy, &rule.name))
                .filter(|ex| crate::matching::resource_matches(&ex.scope, &target, &env, None))
                .collect(),
        };
        let response = if matches!(validation.body, ValidationBody::Cel(_)) {
            cel_rule::evaluate(&mut eval)
        } else {
            rule::evaluate(&mut eval)
        };
        let Some(response) = response else { continue };
        let enforce =
            validation.failure_action.unwrap_or(policy.failure_action) == crate::policy::FailureAction::Enforce;
        let status = if response.status == Status::Fail && !policy.scored { Status::Warn } else { response.status };
        if matches!(response.status, Status::Pass | Status::Fail) {
            applied += 1;
        }
        results.push(RuleResult {
            policy: policy.qualified_name(),
            rule: rule.name.clone(),
            status,
            message: response.message,
            enforce,
        });
        if policy.apply_one && applied > 0 {
            break;
        }
    }
    results
}
