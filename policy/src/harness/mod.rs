//! The Kyverno CLI test harness (`kyverno test`): runs `kyverno-test.yaml` files and scores each expected
//! result row the way Kyverno's own harness does. Rows match on policy, rule (or its autogen variants) and
//! resource name; a resource the rule produced no result for counts as "excluded" and passes; a policy,
//! rule or resource that does not exist fails the row.
mod report;
mod values;

pub use report::{CategorySummary, Report, RowOutcome, TestOutcome, Verdict};
pub use values::ValuesFile;

use crate::engine::{AdmissionRequest, Operation, RuleResult, Status};
use crate::error::{Error, Result};
use crate::matching::UserInfo;
use crate::set::PolicySet;
use crate::yaml::{self, Document};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every `kyverno-test.yaml` under `root` (hidden `.kyverno-test` folders included), sorted.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if root.is_file() {
        out.push(root.to_path_buf());
        return Ok(out);
    }
    walk(root, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.file_name().and_then(|n| n.to_str()) == Some("kyverno-test.yaml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Categories from an `INDEX.md` at `root` (`## name (N tests)` headings over `- relative/path` items).
pub fn read_index(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(root.join("INDEX.md")) else { return out };
    let mut category = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            category = h.split(" (").next().unwrap_or(h).trim().to_string();
        } else if let Some(item) = line.strip_prefix("- ")
            && !category.is_empty()
        {
            out.insert(root.join(item.trim()), category.clone());
        }
    }
    out
}

fn category_for(root: &Path, test: &Path, index: &BTreeMap<PathBuf, String>) -> String {
    if let Some(c) = index.get(test) {
        return c.clone();
    }
    let rel = test.strip_prefix(root).unwrap_or(test);
    let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    if rel.components().count() <= 1 || first.is_empty() {
        root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into())
    } else {
        first
    }
}

/// Runs every test found under `roots`.
pub fn run_paths(roots: &[PathBuf]) -> Result<Report> {
    run_paths_filtered(roots, |_| true)
}

/// Runs the tests under `roots` whose path satisfies `keep`.
pub fn run_paths_filtered(roots: &[PathBuf], keep: impl Fn(&Path) -> bool) -> Result<Report> {
    let mut tests = Vec::new();
    for root in roots {
        let index = read_index(root);
        for path in discover(root)?.into_iter().filter(|p| keep(p)) {
            let category = category_for(root, &path, &index);
            tests.push(run_test(&path, category));
        }
    }
    Ok(Report { tests })
}

/// One expected result entry of a test file.
#[derive(Debug, Clone)]
struct Expectation {
    policy: String,
    rule: String,
    resources: Vec<String>,
    result: String,
    /// The admission operation this row is checked under (default CREATE).
    operation: Option<Operation>,
}

fn read_docs(dir: &Path, items: &[String]) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for item in items {
        let p = dir.join(item);
        if p.is_dir() {
            let mut files = Vec::new();
            yaml_files(&p, &mut files)?;
            for f in files {
                docs.extend(yaml::load_file(&f)?);
            }
        } else {
            docs.extend(yaml::load_file(&p)?);
        }
    }
    Ok(docs)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            yaml_files(&p, out)?;
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(p);
        }
    }
    Ok(())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn load_user_info(path: &Path) -> Result<UserInfo> {
    let docs = yaml::load_file(path)?;
    let doc = docs.first().map(|d| d.value.clone()).unwrap_or(Value::Null);
    let info = doc.get("userInfo").cloned().unwrap_or(Value::Null);
    Ok(UserInfo {
        roles: strings(doc.get("roles")),
        cluster_roles: strings(doc.get("clusterRoles")),
        username: info.get("username").and_then(Value::as_str).unwrap_or_default().to_string(),
        uid: info.get("uid").and_then(Value::as_str).unwrap_or_default().to_string(),
        groups: strings(info.get("groups")),
    })
}

struct Loaded {
    set: PolicySet,
    resources: Vec<Value>,
    values: ValuesFile,
    user: Option<UserInfo>,
    expectations: Vec<Expectation>,
}

fn load_test(path: &Path) -> Result<Loaded> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let docs = yaml::load_file(path)?;
    let Some(doc) = docs.iter().find(|d| d.value.get("kind").and_then(Value::as_str) == Some("Test")).or(docs.first())
    else {
        return Err(Error::InvalidTest { path: path.to_path_buf(), message: "no Test document".into() });
    };
    let test = &doc.value;
    let mut values = ValuesFile::default();
    if let Some(file) = test.get("variables").and_then(Value::as_str) {
        let vdocs = yaml::load_file(&dir.join(file))?;
        if let Some(v) = vdocs.first() {
            values = ValuesFile::parse(&v.value);
        }
    }
    if let Some(Value::Object(inline)) = test.get("values") {
        values = ValuesFile::from_inline(inline);
    }
    let user = match test.get("userinfo").and_then(Value::as_str) {
        Some(file) => Some(load_user_info(&dir.join(file))?),
        None => None,
    };
    let policy_docs = read_docs(dir, &strings(test.get("policies")))?;
    let exception_docs = read_docs(dir, &strings(test.get("exceptions")))?;
    let set = PolicySet::from_documents(&policy_docs)?.with_exceptions(&exception_docs)?;
    let resource_docs = read_docs(dir, &strings(test.get("resources")))?;
    let mut resources: Vec<Value> = Vec::new();
    for d in resource_docs {
        if !d.value.is_object() || d.value.get("kind").is_none() {
            continue;
        }
        let key = |v: &Value| {
            (v.get("kind").cloned(), v.pointer("/metadata/namespace").cloned(), v.pointer("/metadata/name").cloned())
        };
        if !resources.iter().any(|r| key(r) == key(&d.value)) {
            resources.push(default_namespace(d.value));
        }
    }
    let mut expectations = Vec::new();
    for r in test.get("results").and_then(Value::as_array).into_iter().flatten() {
        let mut names = strings(r.get("resources"));
        if let Some(single) = r.get("resource").and_then(Value::as_str) {
            names.push(single.to_string());
        }
        let result = r.get("result").or_else(|| r.get("status")).and_then(Value::as_str).unwrap_or_default();
        expectations.push(Expectation {
            policy: r.get("policy").and_then(Value::as_str).unwrap_or_default().to_string(),
            rule: r.get("rule").and_then(Value::as_str).unwrap_or_default().to_string(),
            resources: names,
            result: result.to_string(),
            operation: r.get("operation").and_then(Value::as_str).and_then(Operation::parse),
        });
    }
    Ok(Loaded { set, resources, values, user, expectations })
}

/// Kinds that live outside namespaces; every other object without a namespace is in `default`, as
/// `kubectl apply` would put it.
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "APIServer",
    "CertificateSigningRequest",
    "ClusterCleanupPolicy",
    "ClusterImagePolicy",
    "ClusterIssuer",
    "ClusterPolicy",
    "ClusterPolicyReport",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterVersion",
    "ComponentStatus",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "FlowSchema",
    "GlobalContextEntry",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "SecurityContextConstraints",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

fn default_namespace(mut resource: Value) -> Value {
    let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
    if CLUSTER_SCOPED.contains(&kind) {
        return resource;
    }
    let has_ns = resource.pointer("/metadata/namespace").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    if !has_ns && let Some(Value::Object(meta)) = resource.get_mut("metadata") {
        meta.insert("namespace".into(), Value::String("default".into()));
    }
    resource
}

fn request_for(resource: &Value, values: &ValuesFile, user: &Option<UserInfo>) -> AdmissionRequest {
    let ns = resource.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let api = resource.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
    let sub = values.subresources.iter().find(|s| s.api_version == api && s.kind == kind);
    AdmissionRequest {
        user_info: user.clone(),
        namespace_labels: values.namespace_labels.get(ns).cloned().unwrap_or_default(),
        subresource: sub.map(|s| s.name.clone()),
        parent_kind: sub.map(|s| (s.parent_api_version.clone(), s.parent_kind.clone())),
        ..Default::default()
    }
}

/// Runs one test file.
pub fn run_test(path: &Path, category: String) -> TestOutcome {
    let display = path.display().to_string();
    let loaded = match load_test(path) {
        Ok(l) => l,
        Err(e) => return TestOutcome { path: display, category, rows: Vec::new(), error: Some(e.to_string()) },
    };
    // (policy index, resource index, operation) → results, computed on first use
    let mut responses: Responses = BTreeMap::new();
    let mut rows = Vec::new();
    for exp in &loaded.expectations {
        for resource_name in &exp.resources {
            rows.push(score_row(&loaded, &mut responses, exp, resource_name));
        }
    }
    TestOutcome { path: display, category, rows, error: None }
}

type Responses = BTreeMap<(usize, usize, Option<Operation>), Vec<RuleResult>>;

fn responses_for<'r>(
    loaded: &Loaded,
    responses: &'r mut Responses,
    pi: usize,
    ri: usize,
    op: Option<Operation>,
) -> &'r [RuleResult] {
    responses.entry((pi, ri, op)).or_insert_with(|| {
        let resource = &loaded.resources[ri];
        let mut req = request_for(resource, &loaded.values, &loaded.user);
        if let Some(op) = op {
            req.operation = op;
        }
        loaded.set.validate_policy(pi, resource, &req, &loaded.values)
    })
}

fn score_row(loaded: &Loaded, responses: &mut Responses, exp: &Expectation, resource_name: &str) -> RowOutcome {
    let mut row = RowOutcome {
        policy: exp.policy.clone(),
        rule: exp.rule.clone(),
        resource: resource_name.to_string(),
        expected: exp.result.clone(),
        actual: String::new(),
        verdict: Verdict::Fail,
        reason: String::new(),
        message: String::new(),
    };
    let Some(pi) = loaded.set.policies().iter().position(|p| p.qualified_name() == exp.policy || p.name == exp.policy)
    else {
        row.reason = "policy not found".into();
        return row;
    };
    let policy = &loaded.set.policies()[pi];
    let rule_names = [exp.rule.clone(), format!("autogen-{}", exp.rule), format!("autogen-cronjob-{}", exp.rule)];
    let _ = policy;
    let matching: Vec<usize> = loaded
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let name = r.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            // Namespaced objects without a namespace are in `default`, as when applied.
            let ns =
                r.pointer("/metadata/namespace").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("default");
            name == resource_name || format!("{ns}/{name}") == resource_name
        })
        .map(|(i, _)| i)
        .collect();
    if matching.is_empty() {
        row.reason = "resource not found".into();
        return row;
    }
    let mut found: Vec<RuleResult> = Vec::new();
    for ri in &matching {
        let results = responses_for(loaded, responses, pi, *ri, exp.operation);
        found.extend(results.iter().filter(|r| rule_names.contains(&r.rule)).cloned());
    }
    if found.is_empty() {
        row.verdict = Verdict::Excluded;
        row.actual = "excluded".into();
        row.reason = "no result: the rule does not apply to this resource".into();
        return row;
    }
    row.actual = found.iter().map(|r| r.status.as_str()).collect::<Vec<_>>().join(",");
    row.message = found.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join("; ");
    let expected = parse_status(&exp.result);
    if found.iter().all(|r| Some(r.status) == expected) {
        row.verdict = Verdict::Pass;
        row.reason = "ok".into();
    } else {
        row.reason = format!("want {}, got {}", exp.result, row.actual);
    }
    row
}

fn parse_status(s: &str) -> Option<Status> {
    match s {
        "pass" => Some(Status::Pass),
        "fail" => Some(Status::Fail),
        "warn" => Some(Status::Warn),
        "error" => Some(Status::Error),
        "skip" => Some(Status::Skip),
        _ => None,
    }
}
