//! What the alert points at: read from its labels, then resolved against what the cluster has.
use medic_core::context::{PodSnapshot, ServiceSnapshot, WorkloadSnapshot};
use medic_core::{Alert, ObjectKind, ObjectRef};
use medic_store::grouping::{pod_workload, strip_replicaset_hash};

/// The object an alert's labels name, before the cluster is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// A namespaced object (`kind` is Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod or Service).
    Object {
        namespace: String,
        kind: ObjectKind,
        name: String,
    },
    /// Only a container name: the workload of the namespace that runs a container of that name.
    Container {
        namespace: String,
        container: String,
    },
    Node(String),
    /// Only a namespace.
    Namespace(String),
    /// Nothing to go on.
    Nothing,
}

impl Hint {
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Hint::Object { namespace, .. } | Hint::Container { namespace, .. } | Hint::Namespace(namespace) => {
                Some(namespace)
            }
            Hint::Node(_) | Hint::Nothing => None,
        }
    }
}

/// Reads the hint from the incident's alerts: the first alert that names something decides.
///
/// Labels, most precise workload first: `deployment`, `statefulset`, `daemonset`, `replicaset`, kube-prometheus'
/// `workload` + `workload_type`, `pod`, `service`, `container`, then `node` (a pod alert from
/// kube-state-metrics may also carry its node; the pod is the better target). A `service` label on a
/// kube-state-metrics series names the exporter's own Service, not the subject, so it is ignored there.
pub fn hint(alerts: &[Alert]) -> Hint {
    alerts.iter().map(hint_of).find(|h| !matches!(h, Hint::Nothing | Hint::Namespace(_))).unwrap_or_else(|| {
        alerts
            .iter()
            .find_map(|a| a.namespace().filter(|ns| !ns.is_empty()))
            .map_or(Hint::Nothing, |ns| Hint::Namespace(ns.into()))
    })
}

fn hint_of(alert: &Alert) -> Hint {
    let label = |key: &str| alert.label(key).filter(|v| !v.is_empty());
    let from_exporter = label("job") == Some("kube-state-metrics");
    if let Some(namespace) = alert.namespace().filter(|ns| !ns.is_empty()) {
        let object =
            |kind: ObjectKind, name: &str| Hint::Object { namespace: namespace.into(), kind, name: name.into() };
        let workload_type = label("workload_type").map(str::to_ascii_lowercase);
        let candidates = [
            (ObjectKind::Deployment, label("deployment")),
            (ObjectKind::StatefulSet, label("statefulset")),
            (ObjectKind::DaemonSet, label("daemonset")),
            (ObjectKind::ReplicaSet, label("replicaset")),
            (ObjectKind::Deployment, label("workload").filter(|_| workload_type.as_deref() == Some("deployment"))),
            (ObjectKind::StatefulSet, label("workload").filter(|_| workload_type.as_deref() == Some("statefulset"))),
            (ObjectKind::DaemonSet, label("workload").filter(|_| workload_type.as_deref() == Some("daemonset"))),
            (ObjectKind::Pod, label("pod")),
            (ObjectKind::Service, label("service").filter(|_| !from_exporter)),
        ];
        if let Some((kind, Some(name))) = candidates.into_iter().find(|(_, name)| name.is_some()) {
            return object(kind, name);
        }
        if let Some(container) = label("container") {
            return Hint::Container { namespace: namespace.into(), container: container.into() };
        }
    }
    if let Some(node) = label("node") {
        return Hint::Node(node.into());
    }
    match alert.namespace().filter(|ns| !ns.is_empty()) {
        Some(ns) => Hint::Namespace(ns.into()),
        None => Hint::Nothing,
    }
}

/// What the cluster says about the hint: the workload (or pod, or node) to diagnose.
pub fn resolve(
    hint: &Hint,
    deployments: &[WorkloadSnapshot],
    pods: &[PodSnapshot],
    services: &[ServiceSnapshot],
) -> Result<ObjectRef, String> {
    let deployment = |namespace: &str, name: &str| {
        deployments.iter().find(|d| d.workload.name == name).map(|_| ObjectRef::deployment(namespace, name))
    };
    match hint {
        Hint::Node(name) => Ok(ObjectRef::node(name)),
        Hint::Object { namespace, kind: ObjectKind::Pod, name } => {
            if let Some(pod) = pods.iter().find(|p| &p.name == name) {
                return Ok(pod.owner.clone().unwrap_or_else(|| ObjectRef::pod(namespace, name)));
            }
            // The pod may be gone already (deleted, replaced after a crash); its name still says whose it was.
            deployment(namespace, pod_workload(name)).ok_or_else(|| {
                format!(
                    "target: pod {namespace}/{name} no longer exists and no deployment {} either",
                    pod_workload(name)
                )
            })
        }
        Hint::Object { namespace, kind: ObjectKind::ReplicaSet, name } => {
            let owner = strip_replicaset_hash(name);
            deployment(namespace, owner)
                .or_else(|| {
                    pods.iter().find(|p| p.replica_set.as_deref() == Some(name.as_str())).and_then(|p| p.owner.clone())
                })
                .ok_or_else(|| format!("target: no deployment owns replicaset {namespace}/{name}"))
        }
        Hint::Object { namespace, kind: ObjectKind::Deployment, name } => {
            deployment(namespace, name).ok_or_else(|| format!("target: deployment {namespace}/{name} not found"))
        }
        Hint::Object { namespace, kind: ObjectKind::Service, name } => {
            let service = services.iter().find(|s| &s.name == name);
            match service {
                Some(s) => {
                    s.backend.clone().ok_or_else(|| format!("target: service {namespace}/{name} selects no workload"))
                }
                None => Err(format!("target: service {namespace}/{name} not found")),
            }
        }
        Hint::Object { namespace, kind, name } => Ok(ObjectRef::new(*kind, namespace.as_str(), name.as_str())),
        Hint::Container { namespace, container } => {
            let mut running = deployments.iter().filter(|d| d.containers.iter().any(|c| &c.name == container));
            match (running.next(), running.next()) {
                (Some(d), None) => Ok(d.workload.clone()),
                (Some(_), Some(_)) => {
                    Err(format!("target: several deployments of {namespace} run a container named {container}"))
                }
                (None, _) => Err(format!("target: no deployment of {namespace} runs a container named {container}")),
            }
        }
        Hint::Namespace(namespace) => Err(format!("target: the alerts name only the namespace {namespace}")),
        Hint::Nothing => Err("target: the alerts name no namespace, workload, pod or node".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{alert, deployment, pod};

    fn hint_for(labels: &[(&str, &str)]) -> Hint {
        hint(&[alert("A", labels)])
    }

    fn object(kind: ObjectKind, name: &str) -> Hint {
        Hint::Object { namespace: "shop".into(), kind, name: name.into() }
    }

    #[test]
    fn labels_name_the_most_precise_workload() {
        let ksm = ("job", "kube-state-metrics");
        let cases: Vec<(Vec<(&str, &str)>, Hint)> = vec![
            (
                vec![("namespace", "shop"), ("deployment", "cart"), ("pod", "cart-5d4f8c7b9-x2x4z")],
                object(ObjectKind::Deployment, "cart"),
            ),
            (
                vec![("namespace", "shop"), ("pod", "cart-5d4f8c7b9-x2x4z"), ("node", "node-1")],
                object(ObjectKind::Pod, "cart-5d4f8c7b9-x2x4z"),
            ),
            (vec![("namespace", "shop"), ("statefulset", "orders-db")], object(ObjectKind::StatefulSet, "orders-db")),
            (
                vec![("namespace", "shop"), ("replicaset", "cart-5d4f8c7b9")],
                object(ObjectKind::ReplicaSet, "cart-5d4f8c7b9"),
            ),
            (
                vec![("namespace", "shop"), ("workload", "cart"), ("workload_type", "deployment")],
                object(ObjectKind::Deployment, "cart"),
            ),
            (
                vec![("namespace", "shop"), ("service", "cart"), ("job", "blackbox")],
                object(ObjectKind::Service, "cart"),
            ),
            (
                vec![("namespace", "shop"), ("service", "kube-state-metrics"), ksm, ("container", "app")],
                Hint::Container { namespace: "shop".into(), container: "app".into() },
            ),
            (vec![("node", "node-1"), ksm], Hint::Node("node-1".into())),
            (vec![("namespace", "shop")], Hint::Namespace("shop".into())),
            (vec![("severity", "page")], Hint::Nothing),
        ];
        for (labels, want) in cases {
            assert_eq!(hint_for(&labels), want, "{labels:?}");
        }
    }

    #[test]
    fn a_later_alert_that_names_something_wins_over_a_vague_first_one() {
        let alerts =
            [alert("A", &[("namespace", "shop")]), alert("B", &[("namespace", "shop"), ("deployment", "cart")])];
        assert_eq!(hint(&alerts), object(ObjectKind::Deployment, "cart"));
    }

    #[test]
    fn hints_resolve_against_the_cluster() {
        let mut web = deployment("shop", "web", &[]);
        web.containers[0].name = "nginx".into();
        let deployments = vec![deployment("shop", "cart", &[]), web];
        let pods = vec![pod("shop", "cart-5d4f8c7b9-x2x4z", "cart", "node-1")];
        let cases: Vec<(Hint, Result<ObjectRef, &str>)> = vec![
            (object(ObjectKind::Pod, "cart-5d4f8c7b9-x2x4z"), Ok(ObjectRef::deployment("shop", "cart"))),
            (object(ObjectKind::Pod, "cart-5d4f8c7b9-gone1"), Ok(ObjectRef::deployment("shop", "cart"))),
            (object(ObjectKind::Pod, "batch-7-zzzzz"), Err("no longer exists")),
            (object(ObjectKind::ReplicaSet, "cart-5d4f8c7b9"), Ok(ObjectRef::deployment("shop", "cart"))),
            (object(ObjectKind::Deployment, "cart"), Ok(ObjectRef::deployment("shop", "cart"))),
            (object(ObjectKind::Deployment, "gone"), Err("deployment shop/gone not found")),
            (
                object(ObjectKind::StatefulSet, "orders-db"),
                Ok(ObjectRef::new(ObjectKind::StatefulSet, "shop", "orders-db")),
            ),
            (
                Hint::Container { namespace: "shop".into(), container: "nginx".into() },
                Ok(ObjectRef::deployment("shop", "web")),
            ),
            (
                Hint::Container { namespace: "shop".into(), container: "redis".into() },
                Err("no deployment of shop runs"),
            ),
            (Hint::Node("node-1".into()), Ok(ObjectRef::node("node-1"))),
            (Hint::Namespace("shop".into()), Err("only the namespace shop")),
        ];
        for (hint, want) in cases {
            let got = resolve(&hint, &deployments, &pods, &[]);
            match (&got, want) {
                (Ok(target), Ok(want)) => assert_eq!(target, &want, "{hint:?}"),
                (Err(gap), Err(needle)) => assert!(gap.contains(needle), "{hint:?}: {gap}"),
                _ => panic!("{hint:?}: got {got:?}"),
            }
        }
    }
}
