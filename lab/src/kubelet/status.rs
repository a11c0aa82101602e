//! The pod status the kubelet writes: phase, conditions, IPs, start time and container statuses.
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::container::Phase;
use super::pod_worker::PodWorker;
use crate::controllers::api_time;

/// Condition statuses and when they last changed.
#[derive(Debug, Default, Clone)]
pub struct Transitions {
    seen: BTreeMap<&'static str, (bool, Timestamp)>,
}

impl Transitions {
    fn observe(&mut self, condition: &'static str, status: bool, now: Timestamp) -> Timestamp {
        match self.seen.get(condition) {
            Some((previous, since)) if *previous == status => *since,
            _ => {
                self.seen.insert(condition, (status, now));
                now
            }
        }
    }
}

/// `getPhase`: Pending while a container has never run, Running while any runs or will restart,
/// Succeeded/Failed once all have ended for good.
pub fn phase(worker: &PodWorker) -> &'static str {
    if worker.evicted.is_some() {
        return "Failed";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for container in worker.containers.iter().filter(|c| !c.init) {
        match &container.phase {
            Phase::Running { .. } => running += 1,
            Phase::Exited { terminated, .. } => {
                stopped += 1;
                if terminated.exit_code == 0 {
                    succeeded += 1;
                }
            }
            _ if container.last_terminated.is_some() || container.ever_started => stopped += 1,
            _ => waiting += 1,
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        let will_restart = worker.containers.iter().filter(|c| !c.init).any(|c| match &c.phase {
            Phase::Exited { terminated, .. } => worker.restarts(terminated.exit_code),
            _ => true,
        });
        if will_restart && worker.stopped_at.is_none() {
            return "Running";
        }
        return if succeeded == stopped { "Succeeded" } else { "Failed" };
    }
    "Pending"
}

fn condition(type_: &str, status: bool, since: Timestamp, reason: Option<&str>, message: Option<String>) -> Value {
    let mut condition = json!({
        "type": type_,
        "status": if status { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": api_time(since),
    });
    if let Some(reason) = reason {
        condition["reason"] = json!(reason);
    }
    if let Some(message) = message {
        condition["message"] = json!(message);
    }
    condition
}

/// The fields of `status` the kubelet writes (the rest of the status is left alone).
pub fn build(worker: &mut PodWorker, host_ip: &str, now: Timestamp) -> Map<String, Value> {
    let phase = phase(worker);
    let label = worker.label();
    let unready: Vec<&str> =
        worker.containers.iter().filter(|c| !c.init && !c.ready()).map(|c| c.name.as_str()).collect();
    let incomplete: Vec<&str> =
        worker.containers.iter().filter(|c| c.init && !c.completed()).map(|c| c.name.as_str()).collect();
    let all_ready = unready.is_empty() && worker.stopped_at.is_none();
    let unready_message = format!("containers with unready status: [{}]", unready.join(" "));
    let terminal = matches!(phase, "Succeeded" | "Failed");

    let sandbox = worker.stopped_at.is_none() && !terminal;
    let sandbox_since = worker.transitions.observe("PodReadyToStartContainers", sandbox, now);
    let initialized_since = worker.transitions.observe("Initialized", worker.initialized, now);
    let ready_since = worker.transitions.observe("Ready", all_ready, now);
    let containers_ready_since = worker.transitions.observe("ContainersReady", all_ready, now);
    let (reason, message) = if all_ready {
        (None, None)
    } else if terminal {
        (Some("PodCompleted"), None)
    } else {
        (Some("ContainersNotReady"), Some(unready_message))
    };
    let conditions = vec![
        condition("PodReadyToStartContainers", sandbox, sandbox_since, None, None),
        if worker.initialized {
            condition("Initialized", true, initialized_since, None, None)
        } else {
            let message = format!("containers with incomplete status: [{}]", incomplete.join(" "));
            condition("Initialized", false, initialized_since, Some("ContainersNotInitialized"), Some(message))
        },
        condition("Ready", all_ready, ready_since, reason, message.clone()),
        condition("ContainersReady", all_ready, containers_ready_since, reason, message),
    ];
    let status_of = |c: &super::container::Container| {
        let restarts = match &c.phase {
            Phase::Exited { terminated, .. } => {
                !c.completed() && worker.restarts(terminated.exit_code) && worker.stopped_at.is_none()
            }
            _ => false,
        };
        c.status(&label, restarts, !worker.initialized, now)
    };
    let statuses: Vec<Value> = worker.containers.iter().filter(|c| !c.init).map(status_of).collect();
    let init_statuses: Vec<Value> = worker.containers.iter().filter(|c| c.init).map(status_of).collect();
    let mut status = Map::new();
    status.insert("phase".into(), json!(phase));
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("hostIP".into(), json!(host_ip));
    status.insert("hostIPs".into(), json!([{"ip": host_ip}]));
    status.insert("podIP".into(), json!(worker.ip));
    status.insert("podIPs".into(), json!([{"ip": worker.ip}]));
    status.insert("startTime".into(), json!(api_time(worker.start_time)));
    if let Some(message) = &worker.evicted {
        status.insert("reason".into(), json!("Evicted"));
        status.insert("message".into(), json!(message));
        let since = worker.transitions.observe("DisruptionTarget", true, now);
        if let Some(Value::Array(conditions)) = status.get_mut("conditions") {
            conditions.push(json!({
                "type": "DisruptionTarget",
                "status": "True",
                "lastProbeTime": null,
                "lastTransitionTime": api_time(since),
                "reason": "TerminationByKubelet",
                "message": message,
            }));
        }
    }
    if !init_statuses.is_empty() {
        status.insert("initContainerStatuses".into(), Value::Array(init_statuses));
    }
    status.insert("containerStatuses".into(), Value::Array(statuses));
    status
}

/// Whether `current` (the stored pod) already shows `fields`: then there is nothing to write.
pub fn up_to_date(current: &Value, fields: &Map<String, Value>) -> bool {
    let Some(status) = current.get("status") else { return false };
    fields.iter().all(|(key, value)| {
        if key == "conditions" {
            let stored = status.get("conditions").and_then(Value::as_array);
            let wanted = value.as_array();
            return wanted
                .is_some_and(|wanted| wanted.iter().all(|w| stored.is_some_and(|s| s.iter().any(|c| c == w))));
        }
        status.get(key) == Some(value)
    })
}

/// Writes `fields` into the stored pod's status: its conditions replace those of the same types, and
/// the others (PodScheduled from the scheduler, DisruptionTarget from the taint manager) stay.
pub fn merge(pod: &mut Value, fields: Map<String, Value>) {
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let status = pod["status"].as_object_mut().expect("just made an object");
    let written: Vec<String> = fields
        .get("conditions")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(|c| c.get("type").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default();
    let others: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|c| !written.iter().any(|w| Some(w.as_str()) == c.get("type").and_then(Value::as_str)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for (key, value) in fields {
        if key == "conditions" {
            let mut conditions: Vec<Value> = value.as_array().cloned().unwrap_or_default();
            // Kubernetes lists PodScheduled last.
            conditions.extend(others.iter().cloned());
            status.insert(key, Value::Array(conditions));
        } else {
            status.insert(key, value);
        }
    }
}
