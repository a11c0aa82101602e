//! The executor's write path to the API server: every request goes through here, so every call is
//! recorded (`METHOD path`) and every write carries `fieldManager` and, when asked, `dryRun=All`.
use http::{Method, Request, header};
use kube::Client;
use serde_json::Value;

use crate::error::{Error, Result};

/// The API calls of one step, in order, as `METHOD path` (`(dry-run)` appended for dry runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calls(pub Vec<String>);

impl Calls {
    fn record(&mut self, method: &Method, path: &str, dry_run: bool) {
        let suffix = if dry_run { " (dry-run)" } else { "" };
        self.0.push(format!("{method} {path}{suffix}"));
    }

    pub fn into_lines(self) -> Vec<String> {
        self.0
    }
}

/// The patch flavours the executor sends, each as kubectl sends it for the same change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/strategic-merge-patch+json` (lists of containers merge by name).
    Strategic,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902), as `kubectl rollout undo` sends.
    Json,
}

impl PatchType {
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
        }
    }
}

/// What an eviction request got.
#[derive(Debug, Clone, PartialEq)]
pub enum Eviction {
    Evicted,
    /// 429: a PodDisruptionBudget does not allow it now.
    Refused(String),
    /// 404: the pod is already gone.
    Gone,
}

#[derive(Clone)]
pub struct KubeApi {
    client: Client,
    field_manager: String,
}

impl std::fmt::Debug for KubeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApi").field("field_manager", &self.field_manager).finish_non_exhaustive()
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        _ => "REQUEST",
    }
}

impl KubeApi {
    pub fn new(client: Client, field_manager: impl Into<String>) -> Self {
        Self { client, field_manager: field_manager.into() }
    }

    pub fn field_manager(&self) -> &str {
        &self.field_manager
    }

    fn write_query(&self, dry_run: bool) -> String {
        let mut query = form_query(&[("fieldManager", self.field_manager.as_str())]);
        if dry_run {
            query = format!("dryRun=All&{query}");
        }
        query
    }

    async fn send(
        &self,
        calls: &mut Calls,
        method: Method,
        path: &str,
        query: &str,
        body: Option<(&'static str, Vec<u8>)>,
        dry_run: bool,
    ) -> Result<Value> {
        calls.record(&method, path, dry_run);
        let uri = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let name = method_name(&method);
        let mut builder = Request::builder().method(method).uri(&uri).header(header::ACCEPT, "application/json");
        let bytes = match body {
            Some((content_type, bytes)) => {
                builder = builder.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Vec::new(),
        };
        let request = builder.body(bytes).map_err(|e| Error::Transport {
            method: name,
            path: path.to_string(),
            message: e.to_string(),
        })?;
        match self.client.request::<Value>(request).await {
            Ok(v) => Ok(v),
            Err(kube::Error::Api(status)) => Err(Error::Api {
                method: name,
                path: path.to_string(),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            }),
            Err(e) => Err(Error::Transport { method: name, path: path.to_string(), message: e.to_string() }),
        }
    }

    /// The object at `path`, `None` when it does not exist.
    pub async fn get(&self, calls: &mut Calls, path: &str) -> Result<Option<Value>> {
        match self.send(calls, Method::GET, path, "", None, false).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The items of a list (`query` as `key=value` pairs: label or field selectors).
    pub async fn list(&self, calls: &mut Calls, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>> {
        let query = form_query(query);
        let mut list = self.send(calls, Method::GET, path, &query, None, false).await?;
        match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => Ok(items),
            _ => Ok(Vec::new()),
        }
    }

    pub async fn patch(
        &self,
        calls: &mut Calls,
        path: &str,
        kind: PatchType,
        body: &Value,
        dry_run: bool,
    ) -> Result<Value> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let query = self.write_query(dry_run);
        self.send(calls, Method::PATCH, path, &query, Some((kind.content_type(), bytes)), dry_run).await
    }

    /// Create `body` in the collection at `path`.
    pub async fn create(&self, calls: &mut Calls, path: &str, body: &Value, dry_run: bool) -> Result<Value> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let query = self.write_query(dry_run);
        self.send(calls, Method::POST, path, &query, Some(("application/json", bytes)), dry_run).await
    }

    /// Delete the object at `path` with the given `DeleteOptions`; `None` when it was already gone.
    pub async fn delete(&self, calls: &mut Calls, path: &str, options: &Value, dry_run: bool) -> Result<Option<Value>> {
        let bytes = serde_json::to_vec(options).unwrap_or_default();
        let query = if dry_run { "dryRun=All" } else { "" };
        match self.send(calls, Method::DELETE, path, query, Some(("application/json", bytes)), dry_run).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/v1/namespaces/{ns}/pods/{name}/eviction` with a `policy/v1` Eviction, as kubectl drain does.
    pub async fn evict(
        &self,
        calls: &mut Calls,
        namespace: &str,
        pod: &str,
        delete_options: &Value,
        dry_run: bool,
    ) -> Result<Eviction> {
        let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/eviction");
        let mut options = delete_options.clone();
        if dry_run && let Value::Object(map) = &mut options {
            map.insert("dryRun".into(), serde_json::json!(["All"]));
        }
        let body = serde_json::json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": { "name": pod, "namespace": namespace },
            "deleteOptions": options,
        });
        match self.create(calls, &path, &body, dry_run).await {
            Ok(_) => Ok(Eviction::Evicted),
            Err(Error::Api { code: 404, .. }) => Ok(Eviction::Gone),
            Err(Error::Api { code: 429, message, .. }) => Ok(Eviction::Refused(message)),
            Err(e) => Err(e),
        }
    }
}

fn form_query(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encoding for query values (selectors hold `=`, `,` and `/`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Paths of the objects the executor writes.
pub mod paths {
    pub fn pod(ns: &str, name: &str) -> String {
        format!("/api/v1/namespaces/{ns}/pods/{name}")
    }
    pub fn pods(ns: &str) -> String {
        format!("/api/v1/namespaces/{ns}/pods")
    }
    pub fn all_pods() -> String {
        "/api/v1/pods".to_string()
    }
    pub fn deployment(ns: &str, name: &str) -> String {
        format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    }
    pub fn deployment_scale(ns: &str, name: &str) -> String {
        format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale")
    }
    pub fn replica_sets(ns: &str) -> String {
        format!("/apis/apps/v1/namespaces/{ns}/replicasets")
    }
    pub fn replica_set(ns: &str, name: &str) -> String {
        format!("/apis/apps/v1/namespaces/{ns}/replicasets/{name}")
    }
    pub fn node(name: &str) -> String {
        format!("/api/v1/nodes/{name}")
    }
    pub fn network_policies(ns: &str) -> String {
        format!("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies")
    }
    pub fn network_policy(ns: &str, name: &str) -> String {
        format!("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(form_query(&[("fieldSelector", "spec.nodeName=node-1")]), "fieldSelector=spec.nodeName%3Dnode-1");
        assert_eq!(
            form_query(&[("labelSelector", "app=cart,tier in (a)")]),
            "labelSelector=app%3Dcart%2Ctier%20in%20%28a%29"
        );
    }
}
