//! Parsing request paths into the resource they address.
use crate::error::{Error, Result};
use crate::store::Kind;

/// What a request path addresses below `/api/v1` or `/apis/<group>/<version>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/api/v1`, `/apis/apps/v1`: the APIResourceList.
    ResourceList {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
}

/// A collection (`name` is `None`), an object, or an object's subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub kind: Kind,
    /// `None` for cluster-scoped kinds and for lists across all namespaces.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parse `/api/v1/...` or `/apis/<group>/<version>/...`. `None` when the path is not an API path.
pub fn parse(path: &str) -> Option<Result<Target>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if !Kind::GROUPS.contains(&(group, version)) {
        return Some(Err(not_found_path(path)));
    }
    if rest.is_empty() {
        return Some(Ok(Target::ResourceList { group: group.into(), version: version.into() }));
    }
    let kind_of = |plural: &str| Kind::from_resource(group, version, plural);
    let resource = match rest {
        ["namespaces", namespace, plural, tail @ ..] if kind_of(plural).is_some_and(Kind::namespaced) => {
            let kind = kind_of(plural)?;
            match tail {
                [] => ResourcePath { kind, namespace: Some((*namespace).into()), name: None, subresource: None },
                [name] => ResourcePath {
                    kind,
                    namespace: Some((*namespace).into()),
                    name: Some((*name).into()),
                    subresource: None,
                },
                [name, sub] => ResourcePath {
                    kind,
                    namespace: Some((*namespace).into()),
                    name: Some((*name).into()),
                    subresource: Some((*sub).into()),
                },
                _ => return Some(Err(not_found_path(path))),
            }
        }
        [plural, tail @ ..] => {
            let Some(kind) = kind_of(plural) else { return Some(Err(not_found_path(path))) };
            match tail {
                [] => ResourcePath { kind, namespace: None, name: None, subresource: None },
                [name] if !kind.namespaced() => {
                    ResourcePath { kind, namespace: None, name: Some((*name).into()), subresource: None }
                }
                [name, sub] if !kind.namespaced() => {
                    ResourcePath { kind, namespace: None, name: Some((*name).into()), subresource: Some((*sub).into()) }
                }
                _ => return Some(Err(not_found_path(path))),
            }
        }
        [] => return Some(Err(not_found_path(path))),
    };
    if let Some(sub) = &resource.subresource
        && !resource.kind.subresources().contains(&sub.as_str())
    {
        return Some(Err(not_found_path(path)));
    }
    Some(Ok(Target::Resource(resource)))
}

/// The 404 an API server answers for a path it does not serve.
pub fn not_found_path(_path: &str) -> Error {
    Error::NoSuchResource
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourcePath {
        match parse(path) {
            Some(Ok(Target::Resource(r))) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_table() {
        let pods = resource("/api/v1/namespaces/shop/pods");
        assert_eq!((pods.kind, pods.namespace.as_deref(), pods.name), (Kind::Pod, Some("shop"), None));
        let all = resource("/api/v1/pods");
        assert_eq!((all.kind, all.namespace), (Kind::Pod, None));
        let log = resource("/api/v1/namespaces/shop/pods/cart-1/log");
        assert_eq!((log.name.as_deref(), log.subresource.as_deref()), (Some("cart-1"), Some("log")));
        let ns = resource("/api/v1/namespaces/shop");
        assert_eq!((ns.kind, ns.name.as_deref()), (Kind::Namespace, Some("shop")));
        let ns_status = resource("/api/v1/namespaces/shop/status");
        assert_eq!((ns_status.kind, ns_status.subresource.as_deref()), (Kind::Namespace, Some("status")));
        let node = resource("/api/v1/nodes/node-1/status");
        assert_eq!((node.kind, node.name.as_deref()), (Kind::Node, Some("node-1")));
        let scale = resource("/apis/apps/v1/namespaces/shop/deployments/web/scale");
        assert_eq!((scale.kind, scale.subresource.as_deref()), (Kind::Deployment, Some("scale")));
        let chaos = resource("/apis/chaos-mesh.org/v1alpha1/namespaces/shop/podchaos/kill");
        assert_eq!(chaos.kind, Kind::PodChaos);

        assert!(matches!(parse("/apis/apps/v1"), Some(Ok(Target::ResourceList { .. }))));
        assert!(matches!(parse("/api/v1/namespaces/shop/widgets"), Some(Err(_))));
        assert!(matches!(parse("/apis/batch/v1/jobs"), Some(Err(_))));
        assert!(matches!(parse("/api/v1/namespaces/shop/pods/x/exec"), Some(Err(_))));
        assert!(matches!(parse("/api/v1/pods/x"), Some(Err(_))), "namespaced objects need a namespace");
        assert!(parse("/version").is_none());
    }
}
