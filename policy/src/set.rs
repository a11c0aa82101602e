//! A loaded set of policies, ready to validate objects.
use crate::context::ExprCache;
use crate::engine::{AdmissionRequest, NoValues, Prepared, RuleResult, Values};
use crate::error::{Error, Result};
use crate::exception::{PolicyException, is_exception_document, parse_exception};
use crate::policy::{ContextEntry, ForEach, Policy, ValidationBody, is_policy_document, parse_policy};
use crate::yaml::{self, Document};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Policies compiled once (rules, autogen, JMESPath expressions) and shared read-only.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
    exceptions: Vec<PolicyException>,
    exprs: ExprCache,
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// YAML files under `dir`, sorted, skipping hidden directories (such as `.kyverno-test`) and test files.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            yaml_files(&p, out)?;
        } else if is_yaml(&p) && name != "kyverno-test.yaml" {
            out.push(p);
        }
    }
    Ok(())
}

impl PolicySet {
    /// Loads every ClusterPolicy/Policy in the YAML files under `dirs` (recursively). Other documents are
    /// ignored; a malformed policy is an error naming its file, document and field.
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<PolicySet> {
        let mut files = Vec::new();
        for dir in dirs {
            if dir.is_file() {
                files.push(dir.clone());
            } else {
                yaml_files(dir, &mut files)?;
            }
        }
        Self::load_files(&files)
    }

    /// Loads the policies in the given files.
    pub fn load_files(files: &[PathBuf]) -> Result<PolicySet> {
        let mut docs = Vec::new();
        for f in files {
            docs.extend(yaml::load_file(f)?);
        }
        Self::from_documents(&docs)
    }

    /// Parses policies from YAML text (`origin` names it in errors).
    pub fn from_yaml(text: &str, origin: &Path) -> Result<PolicySet> {
        Self::from_documents(&yaml::parse_documents(text, origin)?)
    }

    /// Builds a set from parsed documents, keeping only policy documents.
    pub fn from_documents(docs: &[Document]) -> Result<PolicySet> {
        let mut policies = Vec::new();
        let mut exceptions = Vec::new();
        for doc in docs {
            if is_policy_document(&doc.value) {
                policies.push(parse_document(doc)?);
            } else if is_exception_document(&doc.value) {
                exceptions.push(parse_exception(&doc.value).map_err(|e| invalid(doc, e))?);
            }
        }
        let mut set = Self::from_policies(policies);
        set.exceptions = exceptions;
        Ok(set)
    }

    /// Adds PolicyExceptions (from separate files, as `kyverno test` takes them).
    pub fn with_exceptions(mut self, docs: &[Document]) -> Result<PolicySet> {
        for doc in docs.iter().filter(|d| is_exception_document(&d.value)) {
            self.exceptions.push(parse_exception(&doc.value).map_err(|e| invalid(doc, e))?);
        }
        Ok(self)
    }

    pub fn from_policies(policies: Vec<Policy>) -> PolicySet {
        let mut exprs = ExprCache::new();
        for p in &policies {
            for rule in &p.rules {
                collect_rule_expressions(rule, &mut exprs);
            }
        }
        PolicySet { policies, exceptions: Vec::new(), exprs }
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Validates `resource` against every policy: one result per rule that applies to it.
    pub fn validate(&self, resource: &Value, request: &AdmissionRequest) -> Vec<RuleResult> {
        self.validate_with(resource, request, &NoValues)
    }

    /// As [`PolicySet::validate`], with values standing in for cluster lookups.
    pub fn validate_with(&self, resource: &Value, request: &AdmissionRequest, values: &dyn Values) -> Vec<RuleResult> {
        let plain = Prepared::plain(resource, request);
        let mut out = Vec::new();
        for policy in &self.policies {
            out.extend(self.evaluate(policy, &plain, resource, request, values));
        }
        out
    }

    fn evaluate(
        &self,
        policy: &Policy,
        plain: &Prepared<'_>,
        resource: &Value,
        request: &AdmissionRequest,
        values: &dyn Values,
    ) -> Vec<RuleResult> {
        let name = resource.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let injected = values.resource_values(&policy.name, name);
        if injected.is_empty() {
            crate::engine::evaluate_policy(policy, &self.exceptions, &self.exprs, plain, values)
        } else {
            let prepared = Prepared::with_values(resource, request, &injected, &self.exprs);
            crate::engine::evaluate_policy(policy, &self.exceptions, &self.exprs, &prepared, values)
        }
    }

    /// Validates against one policy (by index into [`PolicySet::policies`]).
    pub fn validate_policy(
        &self,
        index: usize,
        resource: &Value,
        request: &AdmissionRequest,
        values: &dyn Values,
    ) -> Vec<RuleResult> {
        match self.policies.get(index) {
            Some(policy) => self.evaluate(policy, &Prepared::plain(resource, request), resource, request, values),
            None => Vec::new(),
        }
    }
}

fn invalid(doc: &Document, e: crate::policy::FieldError) -> Error {
    Error::InvalidPolicy {
        path: doc.path.clone(),
        document: doc.index,
        policy: doc.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string(),
        field: e.field,
        message: e.message,
    }
}

fn parse_document(doc: &Document) -> Result<Policy> {
    parse_policy(&doc.value).map_err(|e| invalid(doc, e))
}

fn compile_into(expr: &str, exprs: &mut ExprCache) {
    let expr = expr.trim();
    if expr.is_empty() || exprs.contains_key(expr) {
        return;
    }
    if let Ok(e) = crate::jmespath::compile(expr) {
        exprs.insert(expr.to_string(), Arc::new(e));
    }
}

fn collect_strings(v: &Value, exprs: &mut ExprCache) {
    match v {
        Value::String(s) if s.contains("{{") => {
            for var in crate::variables::variable_expressions(s) {
                compile_into(&var, exprs);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, exprs)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            collect_strings(&Value::String(k.clone()), exprs);
            collect_strings(v, exprs);
        }),
        _ => {}
    }
}

fn collect_context(entries: &[ContextEntry], exprs: &mut ExprCache) {
    for e in entries {
        if let ContextEntry::Variable { jmes_path, value, default, .. } = e {
            if let Some(p) = jmes_path {
                compile_into(p, exprs);
            }
            value.iter().chain(default.iter()).for_each(|v| collect_strings(v, exprs));
        }
    }
}

fn collect_conditions(c: &crate::policy::Conditions, exprs: &mut ExprCache) {
    let all: Vec<&crate::policy::Condition> = match c {
        crate::policy::Conditions::List(l) => l.iter().collect(),
        crate::policy::Conditions::AnyAll { any, all } => any.iter().flatten().chain(all.iter()).collect(),
    };
    for cond in all {
        collect_strings(&cond.key, exprs);
        collect_strings(&cond.value, exprs);
    }
}

fn collect_body(body: &ValidationBody, exprs: &mut ExprCache) {
    match body {
        ValidationBody::Pattern(p) | ValidationBody::AnyPattern(p) => collect_strings(p, exprs),
        ValidationBody::Deny(Some(c)) => collect_conditions(c, exprs),
        ValidationBody::Foreach(list) => list.iter().for_each(|fe| collect_foreach(fe, exprs)),
        _ => {}
    }
}

fn collect_foreach(fe: &ForEach, exprs: &mut ExprCache) {
    compile_into(&fe.list, exprs);
    collect_context(&fe.context, exprs);
    if let Some(c) = &fe.preconditions {
        collect_conditions(c, exprs);
    }
    collect_body(&fe.body, exprs);
}

fn collect_rule_expressions(rule: &crate::policy::Rule, exprs: &mut ExprCache) {
    collect_context(&rule.context, exprs);
    if let Some(c) = &rule.preconditions {
        collect_conditions(c, exprs);
    }
    if let Some(v) = &rule.validate {
        collect_strings(&Value::String(v.message.clone()), exprs);
        collect_body(&v.body, exprs);
    }
}
