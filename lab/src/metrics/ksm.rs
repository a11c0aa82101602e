//! kube-state-metrics' series, from the objects in the store, with kube-state-metrics v2's names,
//! labels and semantics (the `job` and `instance` labels are the scraper's to add).
use serde_json::Value;

use super::text::{Exposition, MetricType::*};
use crate::app::quantity::{parse_bytes, parse_cpu_millis};
use crate::store::{Kind, Store};

const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

fn s<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn array<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn flag(yes: bool) -> f64 {
    if yes { 1.0 } else { 0.0 }
}

/// `True` → (`true`, ...): the three `status` label values kube-state-metrics writes per condition.
fn condition_statuses(status: &str) -> [(&'static str, f64); 3] {
    [("true", flag(status == "True")), ("false", flag(status == "False")), ("unknown", flag(status == "Unknown"))]
}

pub fn write(store: &Store, out: &mut Exposition) {
    declare(out);
    pods(store, out);
    nodes(store, out);
    deployments(store, out);
}

fn declare(out: &mut Exposition) {
    out.family("kube_pod_info", Gauge, "Information about pod.");
    out.family("kube_pod_owner", Gauge, "Information about the Pod's owner.");
    out.family("kube_pod_status_phase", Gauge, "The pods current phase.");
    out.family("kube_pod_status_ready", Gauge, "Describes whether the pod is ready to serve requests.");
    out.family("kube_pod_container_info", Gauge, "Information about a container in a pod.");
    out.family("kube_pod_container_status_restarts_total", Counter, "The number of container restarts per container.");
    out.family(
        "kube_pod_container_status_running",
        Gauge,
        "Describes whether the container is currently in running state.",
    );
    out.family(
        "kube_pod_container_status_waiting",
        Gauge,
        "Describes whether the container is currently in waiting state.",
    );
    out.family(
        "kube_pod_container_status_terminated",
        Gauge,
        "Describes whether the container is currently in terminated state.",
    );
    out.family("kube_pod_container_status_ready", Gauge, "Describes whether the containers readiness check succeeded.");
    out.family(
        "kube_pod_container_status_waiting_reason",
        Gauge,
        "Describes the reason the container is currently in waiting state.",
    );
    out.family(
        "kube_pod_container_status_terminated_reason",
        Gauge,
        "Describes the reason the container is currently in terminated state.",
    );
    out.family(
        "kube_pod_container_status_last_terminated_reason",
        Gauge,
        "Describes the last reason the container was in terminated state.",
    );
    out.family(
        "kube_pod_container_status_last_terminated_exitcode",
        Gauge,
        "Describes the exit code for the last container in terminated state.",
    );
    out.family(
        "kube_pod_container_resource_requests",
        Gauge,
        "The number of requested request resource by a container.",
    );
    out.family("kube_pod_container_resource_limits", Gauge, "The number of requested limit resource by a container.");
    out.family("kube_node_status_condition", Gauge, "The condition of a cluster node.");
    out.family("kube_node_spec_unschedulable", Gauge, "Whether a node can schedule new pods.");
    out.family(
        "kube_node_status_allocatable",
        Gauge,
        "The allocatable for different resources of a node that are available for scheduling.",
    );
    out.family("kube_deployment_spec_replicas", Gauge, "Number of desired pods for a deployment.");
    out.family("kube_deployment_status_replicas", Gauge, "The number of replicas per deployment.");
    out.family("kube_deployment_status_replicas_available", Gauge, "The number of available replicas per deployment.");
    out.family(
        "kube_deployment_status_replicas_unavailable",
        Gauge,
        "The number of unavailable replicas per deployment.",
    );
    out.family("kube_deployment_status_replicas_updated", Gauge, "The number of updated replicas per deployment.");
    out.family("kube_deployment_status_replicas_ready", Gauge, "The number of ready replicas per deployment.");
    out.family("kube_deployment_status_condition", Gauge, "The current status conditions of a deployment.");
    out.family(
        "kube_deployment_status_observed_generation",
        Gauge,
        "The generation observed by the deployment controller.",
    );
    out.family(
        "kube_deployment_metadata_generation",
        Gauge,
        "Sequence number representing a specific generation of the desired state.",
    );
}

fn pods(store: &Store, out: &mut Exposition) {
    let (pods, _) = store.list(Kind::Pod, None);
    for pod in &pods {
        let v = &pod.value;
        let (namespace, name, uid) = (pod.namespace().unwrap_or_default(), pod.name(), pod.uid());
        let node = s(v, "/spec/nodeName");
        let base = [("namespace", namespace), ("pod", name), ("uid", uid)];
        let owner = array(v, "/metadata/ownerReferences").first();
        let (owner_kind, owner_name) = owner.map_or(("<none>", "<none>"), |o| (s(o, "/kind"), s(o, "/name")));
        out.sample(
            "kube_pod_info",
            "",
            &[
                ("namespace", namespace),
                ("pod", name),
                ("uid", uid),
                ("host_ip", s(v, "/status/hostIP")),
                ("pod_ip", s(v, "/status/podIP")),
                ("node", node),
                ("created_by_kind", owner_kind),
                ("created_by_name", owner_name),
                ("priority_class", ""),
                ("host_network", "false"),
            ],
            1.0,
        );
        let controller = owner.and_then(|o| o.get("controller")).and_then(Value::as_bool).unwrap_or(false);
        out.sample(
            "kube_pod_owner",
            "",
            &[
                ("namespace", namespace),
                ("pod", name),
                ("uid", uid),
                ("owner_kind", owner_kind),
                ("owner_name", owner_name),
                ("owner_is_controller", if controller { "true" } else { "false" }),
            ],
            1.0,
        );
        let phase = v.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending");
        for p in PHASES {
            out.sample("kube_pod_status_phase", "", &[base[0], base[1], base[2], ("phase", p)], flag(p == phase));
        }
        let ready = array(v, "/status/conditions").iter().find(|c| s(c, "/type") == "Ready").map(|c| s(c, "/status"));
        if let Some(ready) = ready {
            for (status, value) in condition_statuses(ready) {
                out.sample("kube_pod_status_ready", "", &[base[0], base[1], base[2], ("condition", status)], value);
            }
        }
        for spec in array(v, "/spec/containers") {
            let container = s(spec, "/name");
            let labels = [base[0], base[1], base[2], ("container", container)];
            for (section, family) in
                [("requests", "kube_pod_container_resource_requests"), ("limits", "kube_pod_container_resource_limits")]
            {
                if let Some(cpu) = spec
                    .pointer(&format!("/resources/{section}/cpu"))
                    .and_then(Value::as_str)
                    .and_then(parse_cpu_millis)
                {
                    out.sample(
                        family,
                        "",
                        &[
                            labels[0],
                            labels[1],
                            labels[2],
                            labels[3],
                            ("node", node),
                            ("resource", "cpu"),
                            ("unit", "core"),
                        ],
                        cpu as f64 / 1000.0,
                    );
                }
                if let Some(memory) =
                    spec.pointer(&format!("/resources/{section}/memory")).and_then(Value::as_str).and_then(parse_bytes)
                {
                    out.sample(
                        family,
                        "",
                        &[
                            labels[0],
                            labels[1],
                            labels[2],
                            labels[3],
                            ("node", node),
                            ("resource", "memory"),
                            ("unit", "byte"),
                        ],
                        memory as f64,
                    );
                }
            }
        }
        for status in array(v, "/status/containerStatuses") {
            let container = s(status, "/name");
            let labels = [base[0], base[1], base[2], ("container", container)];
            out.sample(
                "kube_pod_container_info",
                "",
                &[
                    labels[0],
                    labels[1],
                    labels[2],
                    labels[3],
                    ("image_spec", s(status, "/image")),
                    ("image", s(status, "/image")),
                    ("image_id", s(status, "/imageID")),
                    ("container_id", s(status, "/containerID")),
                ],
                1.0,
            );
            let restarts = status.get("restartCount").and_then(Value::as_f64).unwrap_or(0.0);
            out.sample("kube_pod_container_status_restarts_total", "", &labels, restarts);
            let state = status.get("state");
            let running = state.and_then(|st| st.get("running")).is_some();
            let waiting = state.and_then(|st| st.get("waiting"));
            let terminated = state.and_then(|st| st.get("terminated"));
            out.sample("kube_pod_container_status_running", "", &labels, flag(running));
            out.sample("kube_pod_container_status_waiting", "", &labels, flag(waiting.is_some()));
            out.sample("kube_pod_container_status_terminated", "", &labels, flag(terminated.is_some()));
            let ready = status.get("ready").and_then(Value::as_bool).unwrap_or(false);
            out.sample("kube_pod_container_status_ready", "", &labels, flag(ready));
            if let Some(reason) = waiting.map(|w| s(w, "/reason")).filter(|r| !r.is_empty()) {
                let with_reason = [labels[0], labels[1], labels[2], labels[3], ("reason", reason)];
                out.sample("kube_pod_container_status_waiting_reason", "", &with_reason, 1.0);
            }
            if let Some(reason) = terminated.map(|t| s(t, "/reason")).filter(|r| !r.is_empty()) {
                let with_reason = [labels[0], labels[1], labels[2], labels[3], ("reason", reason)];
                out.sample("kube_pod_container_status_terminated_reason", "", &with_reason, 1.0);
            }
            if let Some(last) = status.pointer("/lastState/terminated") {
                let reason = s(last, "/reason");
                if !reason.is_empty() {
                    let with_reason = [labels[0], labels[1], labels[2], labels[3], ("reason", reason)];
                    out.sample("kube_pod_container_status_last_terminated_reason", "", &with_reason, 1.0);
                }
                let code = last.get("exitCode").and_then(Value::as_f64).unwrap_or(0.0);
                out.sample("kube_pod_container_status_last_terminated_exitcode", "", &labels, code);
            }
        }
    }
}

fn nodes(store: &Store, out: &mut Exposition) {
    let (nodes, _) = store.list(Kind::Node, None);
    for node in &nodes {
        let v = &node.value;
        let name = node.name();
        for condition in array(v, "/status/conditions") {
            for (status, value) in condition_statuses(s(condition, "/status")) {
                out.sample(
                    "kube_node_status_condition",
                    "",
                    &[("node", name), ("condition", s(condition, "/type")), ("status", status)],
                    value,
                );
            }
        }
        let unschedulable = v.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
        out.sample("kube_node_spec_unschedulable", "", &[("node", name)], flag(unschedulable));
        if let Some(cpu) = v.pointer("/status/allocatable/cpu").and_then(Value::as_str).and_then(parse_cpu_millis) {
            out.sample(
                "kube_node_status_allocatable",
                "",
                &[("node", name), ("resource", "cpu"), ("unit", "core")],
                cpu as f64 / 1000.0,
            );
        }
        if let Some(memory) = v.pointer("/status/allocatable/memory").and_then(Value::as_str).and_then(parse_bytes) {
            out.sample(
                "kube_node_status_allocatable",
                "",
                &[("node", name), ("resource", "memory"), ("unit", "byte")],
                memory as f64,
            );
        }
        if let Some(pods) =
            v.pointer("/status/allocatable/pods").and_then(Value::as_str).and_then(|p| p.parse::<f64>().ok())
        {
            out.sample(
                "kube_node_status_allocatable",
                "",
                &[("node", name), ("resource", "pods"), ("unit", "integer")],
                pods,
            );
        }
    }
}

fn deployments(store: &Store, out: &mut Exposition) {
    let (deployments, _) = store.list(Kind::Deployment, None);
    for deployment in &deployments {
        let v = &deployment.value;
        let labels = [("namespace", deployment.namespace().unwrap_or_default()), ("deployment", deployment.name())];
        let number = |pointer: &str| v.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0);
        out.sample(
            "kube_deployment_spec_replicas",
            "",
            &labels,
            v.pointer("/spec/replicas").and_then(Value::as_f64).unwrap_or(1.0),
        );
        out.sample("kube_deployment_status_replicas", "", &labels, number("/status/replicas"));
        out.sample("kube_deployment_status_replicas_available", "", &labels, number("/status/availableReplicas"));
        out.sample("kube_deployment_status_replicas_unavailable", "", &labels, number("/status/unavailableReplicas"));
        out.sample("kube_deployment_status_replicas_updated", "", &labels, number("/status/updatedReplicas"));
        out.sample("kube_deployment_status_replicas_ready", "", &labels, number("/status/readyReplicas"));
        out.sample("kube_deployment_status_observed_generation", "", &labels, number("/status/observedGeneration"));
        out.sample("kube_deployment_metadata_generation", "", &labels, number("/metadata/generation"));
        for condition in array(v, "/status/conditions") {
            for (status, value) in condition_statuses(s(condition, "/status")) {
                out.sample(
                    "kube_deployment_status_condition",
                    "",
                    &[labels[0], labels[1], ("condition", s(condition, "/type")), ("status", status)],
                    value,
                );
            }
        }
    }
}
