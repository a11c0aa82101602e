//! `meta.k8s.io/v1 Table` responses: the columns and cells a real API server prints for each kind
//! (kubectl asks for a Table and prints it; without one it can show only NAME and AGE).
use bytes::Bytes;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::selector::LabelSelector;
use crate::store::{Kind, Object, field};

/// `includeObject` of a Table request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A Table of `objects` of `kind`.
pub fn table(
    kind: Kind,
    objects: &[Object],
    resource_version: u64,
    continue_token: Option<&str>,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(kind, o, include, now)).collect();
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns(kind),
        "rows": rows,
    })
}

/// [`table`] serialised straight into bytes: rows are written without cloning each object's metadata,
/// which is what makes a 1,000-pod `kubectl get pods` cheap.
pub fn table_bytes(
    kind: Kind,
    objects: &[Object],
    resource_version: u64,
    continue_token: Option<&str>,
    include: IncludeObject,
    now: Timestamp,
) -> Bytes {
    let mut out = Vec::with_capacity(256 + objects.len() * 512);
    out.extend_from_slice(b"{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
    let mut metadata = json!({"resourceVersion": resource_version.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    write_json(&mut out, &metadata);
    out.extend_from_slice(b",\"columnDefinitions\":");
    write_json(&mut out, &Value::Array(columns(kind)));
    out.extend_from_slice(b",\"rows\":[");
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"cells\":");
        write_json(&mut out, &Value::Array(cells(kind, &object.value, now)));
        match include {
            IncludeObject::None => {}
            IncludeObject::Metadata => {
                out.extend_from_slice(
                    b",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":",
                );
                write_json(&mut out, object.value.get("metadata").unwrap_or(&Value::Null));
                out.push(b'}');
            }
            IncludeObject::Object => {
                out.extend_from_slice(b",\"object\":");
                out.extend_from_slice(&object.json);
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// One row: the cells and, per `include`, the object or its metadata.
pub fn row(kind: Kind, object: &Object, include: IncludeObject, now: Timestamp) -> Value {
    let mut row = json!({"cells": cells(kind, &object.value, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": object.value.get("metadata").cloned().unwrap_or(json!({})),
            });
        }
        IncludeObject::Object => row["object"] = object.value.clone(),
    }
    row
}

fn column(name: &str, kind: &str, priority: u8, description: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority})
}

const NAME: &str = "Name must be unique within a namespace.";
const AGE: &str = "CreationTimestamp is a timestamp representing the server time when this object was created.";

pub fn columns(kind: Kind) -> Vec<Value> {
    let name = || column("Name", "string", 0, NAME);
    let age = || column("Age", "string", 0, AGE);
    match kind {
        Kind::Pod => vec![
            name(),
            column("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", 0, "The aggregate status of the containers in this pod."),
            column("Restarts", "string", 0, "The number of times the containers in this pod have been restarted."),
            age(),
            column("IP", "string", 1, "IP address allocated to the pod."),
            column("Node", "string", 1, "NodeName is a request to schedule this pod onto a specific node."),
            column("Nominated Node", "string", 1, "nominatedNodeName is set when this pod preempts other pods."),
            column("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated."),
        ],
        Kind::Deployment => vec![
            name(),
            column("Ready", "string", 0, "Number of the pod with ready state"),
            column("Up-to-date", "integer", 0, "Total number of non-terminated pods targeted by this deployment."),
            column("Available", "integer", 0, "Total number of available pods targeted by this deployment."),
            age(),
            column("Containers", "string", 1, "Names of each container in the template."),
            column("Images", "string", 1, "Images referenced by each container in the template."),
            column("Selector", "string", 1, "Label selector for pods."),
        ],
        Kind::ReplicaSet => vec![
            name(),
            column("Desired", "integer", 0, "Replicas is the number of desired replicas."),
            column("Current", "integer", 0, "Replicas is the most recently observed number of replicas."),
            column("Ready", "integer", 0, "readyReplicas is the number of pods targeted by this ReplicaSet."),
            age(),
            column("Containers", "string", 1, "Names of each container in the template."),
            column("Images", "string", 1, "Images referenced by each container in the template."),
            column("Selector", "string", 1, "Selector is a label query over pods."),
        ],
        Kind::Node => vec![
            name(),
            column("Status", "string", 0, "The status of the node"),
            column("Roles", "string", 0, "The roles of the node"),
            age(),
            column("Version", "string", 0, "Kubelet Version reported by the node."),
            column("Internal-IP", "string", 1, "List of addresses reachable to the node."),
            column("External-IP", "string", 1, "List of addresses reachable to the node."),
            column("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release."),
            column("Kernel-Version", "string", 1, "Kernel Version reported by the node from 'uname -r'."),
            column("Container-Runtime", "string", 1, "ContainerRuntime Version reported by the node."),
        ],
        Kind::Event => vec![
            column(
                "Last Seen",
                "string",
                0,
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            column(
                "Type",
                "string",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            column("Reason", "string", 0, "This should be a short, machine understandable string."),
            column("Object", "string", 0, "The object that this event is about."),
            column("Subobject", "string", 1, "The specific part of the object this event is about."),
            column("Source", "string", 1, "The component reporting this event."),
            column("Message", "string", 0, "A human-readable description of the status of this operation."),
            column("First Seen", "string", 1, "The time at which the event was first recorded."),
            column("Count", "string", 1, "The number of times this event has occurred."),
            column("Name", "string", 1, NAME),
        ],
        Kind::Namespace => {
            vec![name(), column("Status", "string", 0, "The status of the namespace"), age()]
        }
        Kind::Service => vec![
            name(),
            column("Type", "string", 0, "The type of the service."),
            column("Cluster-IP", "string", 0, "The cluster IP assigned to the service."),
            column("External-IP", "string", 0, "The external IPs of the service."),
            column("Port(s)", "string", 0, "The ports of the service."),
            age(),
            column(
                "Selector",
                "string",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        Kind::Endpoints => {
            vec![name(), column("Endpoints", "string", 0, "Endpoints of the service."), age()]
        }
        Kind::ConfigMap => vec![name(), column("Data", "string", 0, "Number of entries in the config map."), age()],
        Kind::NetworkPolicy => {
            vec![name(), column("Pod-Selector", "string", 0, "Selects the pods to which this policy applies."), age()]
        }
        Kind::Lease => vec![name(), column("Holder", "string", 0, "The holder of the lease."), age()],
        Kind::PodChaos | Kind::NetworkChaos => vec![
            name(),
            column("action", "string", 0, "the specific action of the chaos"),
            column("duration", "string", 0, "the duration of the chaos"),
            age(),
        ],
        Kind::StressChaos => vec![name(), column("duration", "string", 0, "the duration of the chaos"), age()],
        Kind::LabFault => vec![
            name(),
            column("Type", "string", 0, "The kind of fault."),
            column("Duration", "string", 0, "How long the fault lasts."),
            age(),
        ],
    }
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    field(object, pointer).and_then(Value::as_str).unwrap_or_default()
}

fn int_at(object: &Value, pointer: &str) -> i64 {
    field(object, pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: &str) -> String {
    if text.is_empty() { "<none>".into() } else { text.into() }
}

pub fn cells(kind: Kind, object: &Value, now: Timestamp) -> Vec<Value> {
    let name = str_at(object, "/metadata/name");
    let age = since(str_at(object, "/metadata/creationTimestamp"), now);
    match kind {
        Kind::Pod => pod_cells(object, now),
        Kind::Deployment => {
            let template = field(object, "/spec/template/spec").unwrap_or(&Value::Null);
            let desired = field(object, "/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            vec![
                json!(name),
                json!(format!("{}/{}", int_at(object, "/status/readyReplicas"), desired)),
                json!(int_at(object, "/status/updatedReplicas")),
                json!(int_at(object, "/status/availableReplicas")),
                json!(age),
                json!(container_field(template, "name")),
                json!(container_field(template, "image")),
                json!(selector(field(object, "/spec/selector"))),
            ]
        }
        Kind::ReplicaSet => {
            let template = field(object, "/spec/template/spec").unwrap_or(&Value::Null);
            vec![
                json!(name),
                json!(field(object, "/spec/replicas").and_then(Value::as_i64).unwrap_or(1)),
                json!(int_at(object, "/status/replicas")),
                json!(int_at(object, "/status/readyReplicas")),
                json!(age),
                json!(container_field(template, "name")),
                json!(container_field(template, "image")),
                json!(selector(field(object, "/spec/selector"))),
            ]
        }
        Kind::Node => node_cells(object, name, age),
        Kind::Event => event_cells(object, now),
        Kind::Namespace => vec![json!(name), json!(str_at(object, "/status/phase")), json!(age)],
        Kind::Service => service_cells(object, name, age),
        Kind::Endpoints => vec![json!(name), json!(endpoints(object)), json!(age)],
        Kind::ConfigMap => {
            let count = |field: &str| object.get(field).and_then(Value::as_object).map_or(0, |m| m.len());
            vec![json!(name), json!(count("data") + count("binaryData")), json!(age)]
        }
        Kind::NetworkPolicy => {
            let pod_selector = selector(field(object, "/spec/podSelector"));
            vec![json!(name), json!(or_none(&pod_selector)), json!(age)]
        }
        Kind::Lease => vec![json!(name), json!(str_at(object, "/spec/holderIdentity")), json!(age)],
        Kind::PodChaos | Kind::NetworkChaos => vec![
            json!(name),
            json!(str_at(object, "/spec/action")),
            json!(str_at(object, "/spec/duration")),
            json!(age),
        ],
        Kind::StressChaos => vec![json!(name), json!(str_at(object, "/spec/duration")), json!(age)],
        Kind::LabFault => {
            vec![json!(name), json!(str_at(object, "/spec/type")), json!(str_at(object, "/spec/duration")), json!(age)]
        }
    }
}

fn container_field(pod_spec: &Value, field: &str) -> String {
    let containers = pod_spec.get("containers").and_then(Value::as_array);
    let values: Vec<&str> = containers.into_iter().flatten().filter_map(|c| c.get(field)?.as_str()).collect();
    values.join(",")
}

fn selector(selector: Option<&Value>) -> String {
    selector.and_then(|s| LabelSelector::from_json(s).ok()).map(|s| s.to_query()).unwrap_or_default()
}

/// The STATUS, READY and RESTARTS of a pod as `kubectl get pods` prints them (the API server's pod
/// printer: the last container with a waiting or terminated reason decides, `Terminating` when deleted).
fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let name = str_at(pod, "/metadata/name");
    let total = field(pod, "/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
    let mut reason = str_at(pod, "/status/phase").to_string();
    if !str_at(pod, "/status/reason").is_empty() {
        reason = str_at(pod, "/status/reason").to_string();
    }
    let mut restarts = 0;
    let mut ready = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut initializing = false;
    let init_statuses = field(pod, "/status/initContainerStatuses").and_then(Value::as_array);
    let init_total = field(pod, "/spec/initContainers").and_then(Value::as_array).map_or(0, Vec::len);
    for (i, status) in init_statuses.into_iter().flatten().enumerate() {
        restarts += status.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let terminated = field(status, "/state/terminated");
        let waiting_reason = str_at(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64) == Some(0)) {
            continue;
        }
        initializing = true;
        reason = if let Some(terminated) = terminated {
            match terminated.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => format!("Init:ExitCode:{}", terminated.get("exitCode").and_then(Value::as_i64).unwrap_or(0)),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{init_total}")
        };
        break;
    }
    if !initializing {
        restarts = 0;
        let mut has_running = false;
        let statuses = field(pod, "/status/containerStatuses").and_then(Value::as_array);
        for status in statuses.into_iter().flatten().rev() {
            restarts += status.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            if let Some(finished) = field(status, "/lastState/terminated/finishedAt")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<Timestamp>().ok())
                && last_restart.is_none_or(|l| l < finished)
            {
                last_restart = Some(finished);
            }
            let waiting = str_at(status, "/state/waiting/reason");
            let terminated = field(status, "/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(terminated) = terminated {
                reason = match terminated.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => match terminated.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
                        Some(signal) => format!("Signal:{signal}"),
                        None => format!("ExitCode:{}", terminated.get("exitCode").and_then(Value::as_i64).unwrap_or(0)),
                    },
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && field(status, "/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let ready_condition = field(pod, "/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c.get("type").and_then(Value::as_str) == Some("Ready") && str_at(c, "/status") == "True");
            reason = if ready_condition { "Running".into() } else { "NotReady".into() };
        }
    }
    let phase = str_at(pod, "/status/phase");
    let deleting = field(pod, "/metadata/deletionTimestamp").is_some_and(|d| !d.is_null());
    if deleting && str_at(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".into();
    }
    let restarts_text = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(seconds_between(at, now))),
        _ => restarts.to_string(),
    };
    let ip = field(pod, "/status/podIPs/0/ip")
        .and_then(Value::as_str)
        .or_else(|| field(pod, "/status/podIP").and_then(Value::as_str))
        .unwrap_or_default();
    let gates = field(pod, "/spec/readinessGates").and_then(Value::as_array).map_or(0, Vec::len);
    let gates_text = if gates == 0 {
        "<none>".to_string()
    } else {
        let conditions = field(pod, "/status/conditions").and_then(Value::as_array);
        let met = field(pod, "/spec/readinessGates").and_then(Value::as_array).into_iter().flatten().filter(|g| {
            let wanted = str_at(g, "/conditionType");
            conditions.into_iter().flatten().any(|c| str_at(c, "/type") == wanted && str_at(c, "/status") == "True")
        });
        format!("{}/{gates}", met.count())
    };
    vec![
        json!(name),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_text),
        json!(since(str_at(pod, "/metadata/creationTimestamp"), now)),
        json!(or_none(ip)),
        json!(or_none(str_at(pod, "/spec/nodeName"))),
        json!(or_none(str_at(pod, "/status/nominatedNodeName"))),
        json!(gates_text),
    ]
}

fn node_cells(node: &Value, name: &str, age: String) -> Vec<Value> {
    let conditions = field(node, "/status/conditions").and_then(Value::as_array);
    let ready = conditions.into_iter().flatten().find(|c| str_at(c, "/type") == "Ready");
    let mut status = vec![match ready.map(|c| str_at(c, "/status")) {
        Some("True") => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if field(node, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<String> = field(node, "/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then(|| role.to_string())
            } else if key == "kubernetes.io/role" {
                value.as_str().map(str::to_string)
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    let address = |kind: &str| {
        let addresses = field(node, "/status/addresses").and_then(Value::as_array);
        let found = addresses.into_iter().flatten().find(|a| str_at(a, "/type") == kind);
        or_none(found.map(|a| str_at(a, "/address")).unwrap_or_default())
    };
    let info = |field: &str| {
        let value = str_at(node, &format!("/status/nodeInfo/{field}"));
        if value.is_empty() { "<unknown>".to_string() } else { value.to_string() }
    };
    vec![
        json!(name),
        json!(status.join(",")),
        json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }),
        json!(age),
        json!(str_at(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn event_cells(event: &Value, now: Timestamp) -> Vec<Value> {
    let mut first = str_at(event, "/firstTimestamp");
    if first.is_empty() {
        first = str_at(event, "/eventTime");
    }
    let first_seen = since(first, now);
    let mut last = str_at(event, "/lastTimestamp");
    let mut count = event.get("count").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = event.get("series").filter(|s| s.is_object()) {
        last = str_at(series, "/lastObservedTime");
        count = series.get("count").and_then(Value::as_i64).unwrap_or(count);
    } else if count == 0 {
        count = 1;
    }
    let last_seen = if last.is_empty() { first_seen.clone() } else { since(last, now) };
    let involved_kind = str_at(event, "/involvedObject/kind").to_lowercase();
    let involved_name = str_at(event, "/involvedObject/name");
    let target = if involved_name.is_empty() { involved_kind } else { format!("{involved_kind}/{involved_name}") };
    let mut source = str_at(event, "/source/component").to_string();
    if source.is_empty() {
        source = str_at(event, "/reportingComponent").to_string();
    }
    let host = str_at(event, "/source/host");
    if !host.is_empty() {
        source = format!("{source}, {host}");
    }
    vec![
        json!(last_seen),
        json!(str_at(event, "/type")),
        json!(str_at(event, "/reason")),
        json!(target),
        json!(str_at(event, "/involvedObject/fieldPath")),
        json!(source),
        json!(str_at(event, "/message").trim()),
        json!(first_seen),
        json!(count),
        json!(str_at(event, "/metadata/name")),
    ]
}

fn service_cells(service: &Value, name: &str, age: String) -> Vec<Value> {
    let kind = str_at(service, "/spec/type");
    let cluster_ip = or_none(str_at(service, "/spec/clusterIP"));
    let mut external: Vec<String> = field(service, "/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if kind == "LoadBalancer" {
        let ingress = field(service, "/status/loadBalancer/ingress").and_then(Value::as_array);
        external.extend(ingress.into_iter().flatten().filter_map(|i| i.get("ip")?.as_str().map(str::to_string)));
        if external.is_empty() {
            external.push("<pending>".into());
        }
    }
    if kind == "ExternalName" {
        external.push(str_at(service, "/spec/externalName").to_string());
    }
    let ports: Vec<String> = field(service, "/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let selector: Vec<String> = field(service, "/spec/selector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    vec![
        json!(name),
        json!(kind),
        json!(cluster_ip),
        json!(if external.is_empty() { "<none>".to_string() } else { external.join(",") }),
        json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") }),
        json!(age),
        json!(or_none(&selector.join(","))),
    ]
}

/// `10.0.0.1:8080,10.0.0.2:8080 + 3 more...` as the endpoints printer writes it.
fn endpoints(object: &Value) -> String {
    let mut all = Vec::new();
    for subset in object.get("subsets").and_then(Value::as_array).into_iter().flatten() {
        let ports: Vec<i64> = subset
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("port").and_then(Value::as_i64))
            .collect();
        for address in subset.get("addresses").and_then(Value::as_array).into_iter().flatten() {
            let ip = str_at(address, "/ip");
            if ports.is_empty() {
                all.push(ip.to_string());
            }
            for port in &ports {
                all.push(format!("{ip}:{port}"));
            }
        }
    }
    if all.is_empty() {
        return "<none>".into();
    }
    let shown = all.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    if all.len() > 3 { format!("{shown} + {} more...", all.len() - 3) } else { shown }
}

fn seconds_between(then: Timestamp, now: Timestamp) -> i64 {
    now.as_second() - then.as_second()
}

/// How long ago `timestamp` was, as the API server prints ages (`<unknown>` when missing).
pub fn since(timestamp: &str, now: Timestamp) -> String {
    match timestamp.parse::<Timestamp>() {
        Ok(then) => human_duration(seconds_between(then, now)),
        Err(_) => "<unknown>".into(),
    }
}

/// apimachinery's `duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{days}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests;
