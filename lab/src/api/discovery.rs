//! Discovery: `/version`, `/api`, `/apis`, the APIResourceList of each group version, and the OpenAPI v3
//! documents kubectl reads to learn that the server validates fields itself (so `kubectl apply` needs no
//! client-side schema).
use serde_json::{Value, json};

use crate::store::Kind;

/// The Kubernetes version the lab reports (kubectl's dispatcher picks a client version by it).
pub const GIT_VERSION: &str = "v1.31.4";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "31",
        "gitVersion": GIT_VERSION,
        "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
        "gitTreeState": "clean",
        "buildDate": "2024-12-10T18:23:17Z",
        "goVersion": "go1.22.9",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// `GET /apis`.
pub fn groups() -> Value {
    let groups: Vec<Value> = Kind::GROUPS
        .iter()
        .filter(|(group, _)| !group.is_empty())
        .map(|(group, version)| {
            let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1`, `GET /apis/<group>/<version>`.
pub fn resource_list(group: &str, version: &str) -> Value {
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut resources = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.group() == group && k.version() == version) {
        let mut resource = json!({
            "name": kind.plural(),
            "singularName": kind.singular(),
            "namespaced": kind.namespaced(),
            "kind": kind.kind(),
            "verbs": kind.verbs(),
        });
        if !kind.short_names().is_empty() {
            resource["shortNames"] = json!(kind.short_names());
        }
        if !kind.categories().is_empty() {
            resource["categories"] = json!(kind.categories());
        }
        resources.push(resource);
        for sub in kind.subresources() {
            resources.push(subresource(kind, sub));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn subresource(kind: Kind, sub: &str) -> Value {
    let name = format!("{}/{sub}", kind.plural());
    let namespaced = kind.namespaced();
    match sub {
        "log" => json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": "Pod", "verbs": ["get"]}),
        "eviction" => json!({"name": name, "singularName": "", "namespaced": namespaced, "group": "policy",
                             "version": "v1", "kind": "Eviction", "verbs": ["create"]}),
        "binding" => {
            json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": "Binding", "verbs": ["create"]})
        }
        "scale" => json!({"name": name, "singularName": "", "namespaced": namespaced, "group": "autoscaling",
                          "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}),
        _ => json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind.kind(),
                    "verbs": ["get", "patch", "update"]}),
    }
}

/// Which aggregated discovery version an `Accept` header asks for first, if any (`v2` or `v2beta1`;
/// kubectl 1.27+ asks for it and falls back to the per-group documents otherwise).
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        if !params.contains(&"as=APIGroupDiscoveryList") || !params.contains(&"g=apidiscovery.k8s.io") {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some("v2");
        }
        if params.contains(&"v=v2beta1") {
            return Some("v2beta1");
        }
    }
    None
}

/// The Content-Type of an aggregated discovery document of `version`.
pub fn aggregated_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

/// `GET /api` or `GET /apis` as an `APIGroupDiscoveryList`: every resource of the core group (`core`
/// true) or of the named groups, in one document.
pub fn aggregated(core: bool, version: &str) -> Value {
    let items: Vec<Value> = Kind::GROUPS
        .iter()
        .filter(|(group, _)| group.is_empty() == core)
        .map(|(group, group_version)| {
            let resources: Vec<Value> = Kind::ALL
                .into_iter()
                .filter(|k| k.group() == *group && k.version() == *group_version)
                .map(aggregated_resource)
                .collect();
            let mut metadata = json!({"creationTimestamp": null});
            if !group.is_empty() {
                metadata["name"] = json!(group);
            }
            json!({"metadata": metadata,
                   "versions": [{"version": group_version, "resources": resources, "freshness": "Current"}]})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"),
           "metadata": {}, "items": items})
}

fn aggregated_resource(kind: Kind) -> Value {
    let response_kind = json!({"group": kind.group(), "version": kind.version(), "kind": kind.kind()});
    let subresources: Vec<Value> = kind
        .subresources()
        .iter()
        .map(|sub| {
            let listed = subresource(kind, sub);
            let group = listed.get("group").cloned().unwrap_or(json!(kind.group()));
            let version = listed.get("version").cloned().unwrap_or(json!(kind.version()));
            json!({"subresource": sub, "responseKind": {"group": group, "version": version, "kind": listed["kind"]},
                   "verbs": listed["verbs"]})
        })
        .collect();
    let mut resource = json!({
        "resource": kind.plural(),
        "responseKind": response_kind,
        "scope": if kind.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": kind.singular(),
        "verbs": kind.verbs(),
    });
    if !kind.short_names().is_empty() {
        resource["shortNames"] = json!(kind.short_names());
    }
    if !kind.categories().is_empty() {
        resource["categories"] = json!(kind.categories());
    }
    if !subresources.is_empty() {
        resource["subresources"] = json!(subresources);
    }
    resource
}

/// The path of a group version in OpenAPI v3 (`api/v1`, `apis/apps/v1`).
fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `GET /openapi/v3`: where each group version's document is.
pub fn openapi_v3_root() -> Value {
    let mut paths = serde_json::Map::new();
    for (group, version) in Kind::GROUPS {
        let path = openapi_path(group, version);
        let url = format!("/openapi/v3/{path}?hash={}", document_hash(group, version));
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

fn document_hash(group: &str, version: &str) -> String {
    // Stable for a build: the document only changes with the kinds served.
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in group.bytes().chain(version.bytes()).chain(env!("CARGO_PKG_VERSION").bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
    }
    format!("{hash:016X}")
}

/// `GET /openapi/v3/<path>`: one PATCH operation per kind, tagged with its group-version-kind and the
/// `fieldValidation` parameter (what kubectl checks before leaving validation to the server), and an
/// open object schema for each kind.
pub fn openapi_v3_document(path: &str) -> Option<Value> {
    let (group, version) = Kind::GROUPS.into_iter().find(|(g, v)| openapi_path(g, v) == path)?;
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for kind in Kind::ALL.into_iter().filter(|k| k.group() == group && k.version() == version) {
        let gvk = json!({"group": group, "version": version, "kind": kind.kind()});
        let prefix = format!("/{}", openapi_path(group, version));
        let item = if kind.namespaced() {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", kind.plural())
        } else {
            format!("{prefix}/{}/{{name}}", kind.plural())
        };
        let mut content = serde_json::Map::new();
        // Strategic merge is not advertised here: without full schemas kubectl would compute apply patches
        // with atomic lists; it falls back to its built-in types, which carry the merge keys.
        for media in ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"] {
            content.insert(media.into(), json!({"schema": {"type": "object"}}));
        }
        let schema_name = format!("{}.{}", schema_prefix(group, version), kind.kind());
        paths.insert(
            item,
            json!({"patch": {
                "operationId": format!("patch{}", kind.kind()),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "requestBody": {"content": content, "required": true},
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
                ],
                "responses": {"200": {"description": "OK",
                    "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}}},
            }}),
        );
        schemas.insert(
            schema_name,
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                   "x-kubernetes-group-version-kind": [gvk]}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn schema_prefix(group: &str, version: &str) -> String {
    match group {
        "" => format!("io.k8s.api.core.{version}"),
        "apps" => format!("io.k8s.api.apps.{version}"),
        "networking.k8s.io" => format!("io.k8s.api.networking.{version}"),
        "coordination.k8s.io" => format!("io.k8s.api.coordination.{version}"),
        other => {
            let reversed: Vec<&str> = other.split('.').rev().collect();
            format!("{}.{version}", reversed.join("."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_carry_kubectls_metadata() {
        let core = resource_list("", "v1");
        let resources = core["resources"].as_array().unwrap();
        let pods = resources.iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["namespaced"], true);
        assert_eq!(pods["categories"], json!(["all"]));
        let eviction = resources.iter().find(|r| r["name"] == "pods/eviction").unwrap();
        assert_eq!(
            (&eviction["group"], &eviction["version"], &eviction["kind"]),
            (&json!("policy"), &json!("v1"), &json!("Eviction"))
        );
        let nodes = resources.iter().find(|r| r["name"] == "nodes").unwrap();
        assert_eq!(nodes["namespaced"], false);

        let apps = resource_list("apps", "v1");
        assert_eq!(apps["groupVersion"], "apps/v1");
        let scale = apps["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!(scale["kind"], "Scale");
    }

    #[test]
    fn aggregated_discovery_lists_every_resource() {
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;\
                      g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(accept), Some("v2"));
        let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(old), Some("v2beta1"));
        assert_eq!(aggregated_version("application/json, */*"), None);

        let core = aggregated(true, "v2");
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
        let resources = core["items"][0]["versions"][0]["resources"].as_array().unwrap();
        let pods = resources.iter().find(|r| r["resource"] == "pods").unwrap();
        assert_eq!((pods["scope"].as_str(), pods["shortNames"][0].as_str()), (Some("Namespaced"), Some("po")));
        let eviction =
            pods["subresources"].as_array().unwrap().iter().find(|s| s["subresource"] == "eviction").unwrap();
        assert_eq!(eviction["responseKind"], json!({"group": "policy", "version": "v1", "kind": "Eviction"}));
        let groups = aggregated(false, "v2beta1");
        let names: Vec<&str> =
            groups["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["apps", "networking.k8s.io", "coordination.k8s.io", "chaos-mesh.org", "lab.medic.io"]);
    }

    #[test]
    fn groups_list_every_served_group() {
        let names: Vec<String> =
            groups()["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap().to_string()).collect();
        assert_eq!(names, ["apps", "networking.k8s.io", "coordination.k8s.io", "chaos-mesh.org", "lab.medic.io"]);
    }

    #[test]
    fn openapi_documents_advertise_field_validation_per_kind() {
        let root = openapi_v3_root();
        assert!(root["paths"]["apis/chaos-mesh.org/v1alpha1"]["serverRelativeURL"].is_string());
        let doc = openapi_v3_document("apis/chaos-mesh.org/v1alpha1").unwrap();
        let patch = &doc["paths"]["/apis/chaos-mesh.org/v1alpha1/namespaces/{namespace}/podchaos/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "PodChaos");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_none());
        assert!(openapi_v3_document("apis/batch/v1").is_none());
    }
}
