//! Kubernetes objects (k8s-openapi) → medic's cluster-agnostic snapshots. Pure functions, no I/O.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Container, ContainerState as K8sContainerState, Endpoints, Event, Node, Pod, PodSpec, Service,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use medic_core::context::{
    Condition, ContainerSpecSnapshot, ContainerState, ContainerStatusSnapshot, EventSnapshot, InvolvedObject,
    NetworkPolicySnapshot, NodeSnapshot, PodSnapshot, ResourceList, RolloutSnapshot, ServicePort, ServiceSnapshot,
    Taint, WorkloadSnapshot,
};
use medic_core::{ObjectKind, ObjectRef};

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Annotations that hold whole manifests: noise for a diagnosis and large.
const BULKY_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

fn ts(time: &Option<Time>) -> Option<jiff::Timestamp> {
    time.as_ref().map(|t| t.0)
}

fn map(m: &Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    m.clone().unwrap_or_default()
}

fn annotations(meta: &ObjectMeta) -> BTreeMap<String, String> {
    let mut all = map(&meta.annotations);
    all.retain(|k, _| !BULKY_ANNOTATIONS.contains(&k.as_str()));
    all
}

fn quantities(q: Option<&BTreeMap<String, Quantity>>) -> ResourceList {
    q.map(|q| q.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()).unwrap_or_default()
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn match_labels(selector: Option<&LabelSelector>) -> BTreeMap<String, String> {
    selector.and_then(|s| s.match_labels.clone()).unwrap_or_default()
}

fn controller_ref(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|o| o.controller == Some(true))
}

/// The controller at the top of a pod's owner chain, and its ReplicaSet. A ReplicaSet a Deployment created
/// is named `<deployment>-<pod-template-hash>` and its pods carry that hash as a label, which names the
/// Deployment without a round trip per pod.
pub fn pod_owner(meta: &ObjectMeta, namespace: &str) -> (Option<ObjectRef>, Option<String>) {
    let Some(owner) = controller_ref(meta) else { return (None, None) };
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let hash = meta.labels.as_ref().and_then(|l| l.get(TEMPLATE_HASH_LABEL));
            let deployment = hash
                .and_then(|hash| owner.name.strip_suffix(hash.as_str()))
                .and_then(|prefix| prefix.strip_suffix('-'))
                .filter(|name| !name.is_empty());
            let top = match deployment {
                Some(name) => ObjectRef::deployment(namespace, name),
                None => ObjectRef::new(ObjectKind::ReplicaSet, namespace, owner.name.clone()),
            };
            (Some(top), Some(owner.name.clone()))
        }
        "StatefulSet" => (Some(ObjectRef::new(ObjectKind::StatefulSet, namespace, owner.name.clone())), None),
        "DaemonSet" => (Some(ObjectRef::new(ObjectKind::DaemonSet, namespace, owner.name.clone())), None),
        _ => (None, None),
    }
}

pub fn container_state(state: Option<&K8sContainerState>) -> ContainerState {
    let Some(state) = state else { return ContainerState::Waiting { reason: None, message: None } };
    if let Some(t) = &state.terminated {
        return ContainerState::Terminated {
            reason: t.reason.clone(),
            exit_code: t.exit_code,
            signal: t.signal,
            message: t.message.clone(),
            started_at: ts(&t.started_at),
            finished_at: ts(&t.finished_at),
        };
    }
    if let Some(r) = &state.running {
        return ContainerState::Running { started_at: ts(&r.started_at) };
    }
    let waiting = state.waiting.as_ref();
    ContainerState::Waiting {
        reason: waiting.and_then(|w| w.reason.clone()),
        message: waiting.and_then(|w| w.message.clone()),
    }
}

fn spec_container<'a>(spec: Option<&'a PodSpec>, name: &str) -> Option<&'a Container> {
    spec?.containers.iter().find(|c| c.name == name)
}

pub fn pod(pod: &Pod) -> PodSnapshot {
    let meta = &pod.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let (owner, replica_set) = pod_owner(meta, &namespace);
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let conditions: Vec<Condition> = status
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| Condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition: ts(&c.last_transition_time),
                })
                .collect()
        })
        .unwrap_or_default();
    let ready = conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    // One entry per container of the spec, in spec order; a container the kubelet has not reported yet is
    // waiting without a reason.
    let mut containers: Vec<ContainerStatusSnapshot> = spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let reported = statuses.iter().find(|s| s.name == c.name);
            let resources = c.resources.as_ref();
            ContainerStatusSnapshot {
                name: c.name.clone(),
                image: reported.map(|s| s.image.clone()).unwrap_or_else(|| c.image.clone().unwrap_or_default()),
                ready: reported.is_some_and(|s| s.ready),
                restart_count: reported.map_or(0, |s| s.restart_count),
                state: container_state(reported.and_then(|s| s.state.as_ref())),
                last_state: reported
                    .and_then(|s| s.last_state.as_ref())
                    .filter(|s| s.running.is_some() || s.terminated.is_some() || s.waiting.is_some())
                    .map(|s| container_state(Some(s))),
                requests: quantities(resources.and_then(|r| r.requests.as_ref())),
                limits: quantities(resources.and_then(|r| r.limits.as_ref())),
            }
        })
        .collect();
    // Statuses without a spec entry (a spec-less object from a partial response) still count.
    for s in statuses.iter().filter(|s| spec_container(spec, &s.name).is_none()) {
        containers.push(ContainerStatusSnapshot {
            name: s.name.clone(),
            image: s.image.clone(),
            ready: s.ready,
            restart_count: s.restart_count,
            state: container_state(s.state.as_ref()),
            last_state: s.last_state.as_ref().map(|l| container_state(Some(l))),
            requests: ResourceList::new(),
            limits: ResourceList::new(),
        });
    }
    PodSnapshot {
        namespace,
        name: name_of(meta),
        labels: map(&meta.labels),
        owner,
        replica_set,
        node: spec.and_then(|s| s.node_name.clone()),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into()),
        reason: status.and_then(|s| s.reason.clone()),
        message: status.and_then(|s| s.message.clone()),
        ready,
        created_at: ts(&meta.creation_timestamp),
        deleting: meta.deletion_timestamp.is_some(),
        pod_ip: status.and_then(|s| s.pod_ip.clone()),
        conditions,
        containers,
    }
}

/// Names of variables whose literal value is a credential.
const SECRET_NAME_PARTS: &[&str] =
    &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "CREDENTIAL"];

static URL_PASSWORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@").expect("valid URL password pattern")
});

/// A literal env value as the context may hold it: a variable named like a credential is redacted whole,
/// and the password of a URL (`postgres://app:pw@orders-db/x`) is redacted, keeping the host.
pub fn redact_env_value(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if SECRET_NAME_PARTS.iter().any(|part| upper.contains(part)) {
        return "[redacted]".to_string();
    }
    URL_PASSWORD.replace_all(value, "$1:[redacted]@").into_owned()
}

/// The spec of a pod template's containers: image, resources, literal env values (a value from a Secret is
/// never read) and the ConfigMaps each container reads through env or mounted volumes.
pub fn container_specs(spec: Option<&PodSpec>) -> Vec<ContainerSpecSnapshot> {
    let Some(spec) = spec else { return Vec::new() };
    let volume_config_maps: BTreeMap<&str, &str> = spec
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.config_map.as_ref().map(|cm| (v.name.as_str(), cm.name.as_str())))
        .collect();
    spec.containers
        .iter()
        .map(|c| {
            let mut env = BTreeMap::new();
            let mut config_maps: Vec<String> = Vec::new();
            for var in c.env.as_deref().unwrap_or_default() {
                if let Some(value) = &var.value {
                    env.insert(var.name.clone(), redact_env_value(&var.name, value));
                } else if let Some(cm) = var.value_from.as_ref().and_then(|f| f.config_map_key_ref.as_ref()) {
                    config_maps.push(cm.name.clone());
                }
            }
            for from in c.env_from.as_deref().unwrap_or_default() {
                if let Some(cm) = &from.config_map_ref {
                    config_maps.push(cm.name.clone());
                }
            }
            for mount in c.volume_mounts.as_deref().unwrap_or_default() {
                if let Some(cm) = volume_config_maps.get(mount.name.as_str()) {
                    config_maps.push((*cm).to_string());
                }
            }
            config_maps.sort();
            config_maps.dedup();
            let resources = c.resources.as_ref();
            ContainerSpecSnapshot {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                requests: quantities(resources.and_then(|r| r.requests.as_ref())),
                limits: quantities(resources.and_then(|r| r.limits.as_ref())),
                env,
                config_maps,
            }
        })
        .collect()
}

pub fn deployment(d: &Deployment) -> WorkloadSnapshot {
    let meta = &d.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let spec = Some(&d.spec);
    let status = d.status.as_ref();
    WorkloadSnapshot {
        workload: ObjectRef::deployment(namespace, name_of(meta)),
        labels: map(&meta.labels),
        selector: match_labels(spec.map(|s| &s.selector)),
        replicas_desired: spec.and_then(|s| s.replicas).unwrap_or(1),
        replicas_ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        replicas_available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        replicas_updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        generation: meta.generation.unwrap_or(0),
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        revision: revision(meta),
        conditions: status
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| Condition {
                        type_: c.type_.clone().unwrap_or_default(),
                        status: c.status.clone().unwrap_or_default(),
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                        last_transition: ts(&c.last_update_time).or(ts(&c.last_transition_time)),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        containers: container_specs(spec.and_then(|s| s.template.spec.as_ref())),
        annotations: annotations(meta),
    }
}

fn revision(meta: &ObjectMeta) -> Option<i64> {
    meta.annotations.as_ref()?.get(REVISION_ANNOTATION)?.parse().ok()
}

/// The Deployment a ReplicaSet belongs to, from its controller reference.
pub fn replicaset_deployment(rs: &ReplicaSet) -> Option<&str> {
    controller_ref(&rs.metadata).filter(|o| o.kind == "Deployment").map(|o| o.name.as_str())
}

pub fn rollout(rs: &ReplicaSet, deployment: &str) -> RolloutSnapshot {
    let meta = &rs.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let spec = Some(&rs.spec);
    let template = spec.and_then(|s| s.template.as_ref());
    let containers = container_specs(template.and_then(|t| t.spec.as_ref()));
    RolloutSnapshot {
        deployment: ObjectRef::deployment(namespace, deployment),
        revision: revision(meta).unwrap_or(0),
        replica_set: name_of(meta),
        created_at: ts(&meta.creation_timestamp),
        images: containers.iter().map(|c| c.image.clone()).collect(),
        replicas: rs.status.as_ref().map_or(0, |s| s.replicas),
        ready_replicas: rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0),
        template_hash: meta.labels.as_ref().and_then(|l| l.get(TEMPLATE_HASH_LABEL)).cloned(),
        change_cause: meta.annotations.as_ref().and_then(|a| a.get(CHANGE_CAUSE_ANNOTATION)).cloned(),
        limits: containers.iter().map(|c| (c.name.clone(), c.limits.clone())).collect(),
        env: containers.iter().map(|c| (c.name.clone(), c.env.clone())).collect(),
    }
}

pub fn node(n: &Node) -> NodeSnapshot {
    let status = n.status.as_ref();
    let conditions: Vec<Condition> = status
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| Condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition: ts(&c.last_transition_time),
                })
                .collect()
        })
        .unwrap_or_default();
    let status_heartbeat = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| ts(&c.last_heartbeat_time));
    let ready = match conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.status.as_str()) {
        Some("True") => Some(true),
        Some("False") => Some(false),
        _ => None,
    };
    let spec = n.spec.as_ref();
    NodeSnapshot {
        name: name_of(&n.metadata),
        ready,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        conditions,
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .map(|ts| {
                ts.iter()
                    .map(|t| Taint { key: t.key.clone(), value: t.value.clone(), effect: t.effect.clone() })
                    .collect()
            })
            .unwrap_or_default(),
        allocatable: quantities(status.and_then(|s| s.allocatable.as_ref())),
        labels: map(&n.metadata.labels),
        status_heartbeat,
        lease_renewed: None,
    }
}

/// A Service with its endpoint counts (from the Endpoints object of the same name, when there is one) and
/// its backend: the first workload whose pod template carries every label of the service's selector.
/// `templates` pairs each workload with its pod template's labels.
pub fn service(
    svc: &Service,
    endpoints: Option<&Endpoints>,
    templates: &[(ObjectRef, BTreeMap<String, String>)],
) -> ServiceSnapshot {
    let meta = &svc.metadata;
    let spec = svc.spec.as_ref();
    let selector = map(&spec.and_then(|s| s.selector.clone()));
    let (ready, not_ready) = endpoints
        .and_then(|e| e.subsets.as_ref())
        .map(|subsets| {
            subsets.iter().fold((0, 0), |(r, n), s| {
                (r + s.addresses.as_ref().map_or(0, Vec::len), n + s.not_ready_addresses.as_ref().map_or(0, Vec::len))
            })
        })
        .unwrap_or((0, 0));
    ServiceSnapshot {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: name_of(meta),
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .map(|ps| {
                ps.iter()
                    .map(|p| ServicePort {
                        name: p.name.clone(),
                        port: p.port,
                        target_port: p.target_port.as_ref().map(|t| match t {
                            IntOrString::Int(i) => i.to_string(),
                            IntOrString::String(s) => s.clone(),
                        }),
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        cluster_ip: cluster_ip(svc),
        backend: backend_of(&selector, templates.iter().map(|(w, labels)| (w, labels))),
        selector,
        ready_endpoints: ready,
        not_ready_endpoints: not_ready,
    }
}

/// The workload a service selector picks: the first candidate whose pod labels carry every label of the
/// selector. A service without a selector (an external endpoint) has no backend.
pub fn backend_of<'a>(
    selector: &BTreeMap<String, String>,
    mut candidates: impl Iterator<Item = (&'a ObjectRef, &'a BTreeMap<String, String>)>,
) -> Option<ObjectRef> {
    if selector.is_empty() {
        return None;
    }
    candidates.find(|(_, labels)| selector.iter().all(|(k, v)| labels.get(k) == Some(v))).map(|(w, _)| w.clone())
}

/// The labels of a Deployment's pod template, paired with the Deployment.
pub fn deployment_template(d: &Deployment) -> (ObjectRef, BTreeMap<String, String>) {
    let labels = d.spec.template.metadata.as_ref().and_then(|m| m.labels.clone());
    (
        ObjectRef::deployment(d.metadata.namespace.clone().unwrap_or_default(), name_of(&d.metadata)),
        labels.unwrap_or_default(),
    )
}

/// The labels of a StatefulSet's pod template, paired with the StatefulSet.
pub fn statefulset_template(s: &StatefulSet) -> (ObjectRef, BTreeMap<String, String>) {
    let labels = s.spec.template.metadata.as_ref().and_then(|m| m.labels.clone());
    let workload =
        ObjectRef::new(ObjectKind::StatefulSet, s.metadata.namespace.clone().unwrap_or_default(), name_of(&s.metadata));
    (workload, labels.unwrap_or_default())
}

/// A Service's ClusterIP, when it has one (not a headless service).
pub fn cluster_ip(svc: &Service) -> Option<String> {
    let ip = svc.spec.as_ref()?.cluster_ip.as_ref()?;
    (!ip.is_empty() && ip != "None").then(|| ip.clone())
}

pub fn event(e: &Event) -> EventSnapshot {
    let involved = &e.involved_object;
    let series = e.series.as_ref();
    let created = ts(&e.metadata.creation_timestamp);
    let event_time = e.event_time.as_ref().map(|t| t.0);
    EventSnapshot {
        namespace: e.metadata.namespace.clone(),
        involved: InvolvedObject {
            kind: involved.kind.clone().unwrap_or_default(),
            name: involved.name.clone().unwrap_or_default(),
            namespace: involved.namespace.clone(),
        },
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        count: e.count.or_else(|| series.and_then(|s| s.count)).unwrap_or(1),
        first_seen: ts(&e.first_timestamp).or(event_time).or(created),
        last_seen: ts(&e.last_timestamp)
            .or_else(|| series.and_then(|s| s.last_observed_time.as_ref()).map(|t| t.0))
            .or(event_time)
            .or(created),
        source: e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .or_else(|| e.reporting_component.clone())
            .filter(|s| !s.is_empty()),
    }
}

pub fn network_policy(p: &NetworkPolicy) -> NetworkPolicySnapshot {
    let meta = &p.metadata;
    let spec = p.spec.as_ref();
    NetworkPolicySnapshot {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: name_of(meta),
        pod_selector: match_labels(spec.and_then(|s| s.pod_selector.as_ref())),
        policy_types: spec.and_then(|s| s.policy_types.clone()).unwrap_or_default(),
        annotations: annotations(meta),
    }
}
