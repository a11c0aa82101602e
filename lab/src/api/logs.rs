//! `GET pods/{name}/log`: container, previous, tailLines, sinceSeconds, sinceTime, timestamps, follow,
//! with the kubelet's answers when there is nothing to show.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::ApiState;
use super::handlers::Query;
use crate::error::{Error, Result};
use crate::logs::{LogQuery, LogStore};
use crate::runtime::ContainerKey;
use crate::store::{Kind, Store};

/// How often `follow=true` looks for new lines (real time).
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The node's InternalIP, as the API server dials its kubelet (its name when it has none).
fn node_address(store: &Store, node: &str) -> String {
    let object = store.get(Kind::Node, None, node);
    let addresses = object.as_ref().and_then(|n| n.value.pointer("/status/addresses")).and_then(Value::as_array);
    addresses
        .and_then(|all| all.iter().find(|a| a["type"] == "InternalIP"))
        .and_then(|a| a["address"].as_str())
        .unwrap_or(node)
        .to_string()
}

pub fn logs(state: &ApiState, namespace: &str, name: &str, query: &Query) -> Result<HttpResponse> {
    let pod = state.store.get(Kind::Pod, Some(namespace), name).ok_or_else(|| Error::not_found(Kind::Pod, name))?;
    let container = choose_container(&pod.value, name, query.get("container").map(String::as_str))?;
    let key = ContainerKey { namespace: namespace.into(), pod: name.into(), container: container.clone() };
    let previous = query.get("previous").is_some_and(|v| v == "true" || v == "1");
    let node = pod.value.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if node.is_empty() {
        return Err(Error::BadRequest(format!("pod {name} does not have a host assigned")));
    }
    // Logs come from the node's kubelet, through the API server: a dead node has none to give.
    if state.kubelet_gone.as_ref().is_some_and(|gone| gone(node)) {
        let address = node_address(&state.store, node);
        return Err(Error::Internal(format!(
            "Get \"https://{address}:10250/containerLogs/{namespace}/{name}/{container}\": dial tcp {address}:10250: \
             connect: no route to host"
        )));
    }
    if previous {
        if !state.logs.has_previous(&key) {
            return Err(Error::BadRequest(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
    } else if let Some(reason) = waiting_to_start(&pod.value, &container) {
        return Err(Error::BadRequest(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let now = state.store.clock().now();
    let since = match (query.get("sinceSeconds"), query.get("sinceTime")) {
        (Some(seconds), _) => {
            let seconds: i64 =
                seconds.parse().map_err(|_| Error::BadRequest(format!("invalid sinceSeconds {seconds:?}")))?;
            Some(now - SignedDuration::from_secs(seconds))
        }
        (None, Some(time)) => {
            Some(time.parse::<Timestamp>().map_err(|_| Error::BadRequest(format!("invalid sinceTime {time:?}")))?)
        }
        (None, None) => None,
    };
    let tail_lines = query
        .get("tailLines")
        .map(|t| t.parse::<i64>().map_err(|_| Error::BadRequest(format!("invalid tailLines {t:?}"))))
        .transpose()?
        .map(|t| t.max(0) as usize);
    let log_query =
        LogQuery { previous, tail_lines, since, timestamps: query.get("timestamps").is_some_and(|v| v == "true") };
    let mut text = state.logs.read(&key, &log_query);
    if let Some(limit) = query.get("limitBytes").and_then(|l| l.parse::<usize>().ok()) {
        let mut cut = limit.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let follow = query.get("follow").is_some_and(|v| v == "true" || v == "1") && !previous;
    if !follow {
        return Ok(HttpResponse::Ok().content_type("text/plain").body(text));
    }
    let follower = Follower {
        logs: state.logs.clone(),
        store: state.store.clone(),
        key,
        uid: pod.uid().to_string(),
        timestamps: log_query.timestamps,
        seen: 0,
        first: Some(text),
    };
    let stream = futures::stream::unfold(follower, Follower::next);
    Ok(HttpResponse::Ok().content_type("text/plain").streaming(stream))
}

/// The container a log request reads: the one named, the pod's default, or its only one.
fn choose_container(pod: &Value, name: &str, requested: Option<&str>) -> Result<String> {
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let init: Vec<&str> = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let default = pod.pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container").and_then(Value::as_str);
    match requested.filter(|c| !c.is_empty()).or(default) {
        Some(container) if containers.contains(&container) || init.contains(&container) => Ok(container.to_string()),
        Some(container) => Err(Error::BadRequest(format!("container {container} is not valid for pod {name}"))),
        None if containers.len() == 1 => Ok(containers[0].to_string()),
        None => Err(Error::BadRequest(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            containers.join(" ")
        ))),
    }
}

/// Why a container that never ran cannot show logs yet, as the kubelet says it.
fn waiting_to_start(pod: &Value, container: &str) -> Option<String> {
    let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array);
    let status = statuses.into_iter().flatten().find(|s| s.get("name").and_then(Value::as_str) == Some(container));
    let Some(status) = status else { return Some("ContainerCreating".into()) };
    let reason = status.pointer("/state/waiting/reason").and_then(Value::as_str)?;
    let ran_before = status.pointer("/lastState/terminated").is_some()
        || status.get("restartCount").and_then(Value::as_i64).unwrap_or(0) > 0;
    if ran_before {
        return None;
    }
    Some(match reason {
        "ErrImagePull" | "ImagePullBackOff" => "trying and failing to pull image".into(),
        other => other.into(),
    })
}

struct Follower {
    logs: Arc<LogStore>,
    store: Arc<Store>,
    key: ContainerKey,
    uid: String,
    timestamps: bool,
    /// Lines of the current log already sent.
    seen: usize,
    first: Option<String>,
}

impl Follower {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        if let Some(first) = self.first.take() {
            self.seen = self.all().lines().count();
            return Some((Ok(Bytes::from(first)), self));
        }
        loop {
            tokio::time::sleep(FOLLOW_POLL).await;
            let alive = self
                .store
                .get(Kind::Pod, Some(&self.key.namespace), &self.key.pod)
                .is_some_and(|p| p.uid() == self.uid);
            if !alive {
                return None;
            }
            let all = self.all();
            let total = all.lines().count();
            if total < self.seen {
                // The container restarted: its log began again.
                return None;
            }
            if total > self.seen {
                let fresh: String = all.lines().skip(self.seen).flat_map(|l| [l, "\n"]).collect();
                self.seen = total;
                return Some((Ok(Bytes::from(fresh)), self));
            }
        }
    }

    fn all(&self) -> String {
        self.logs.read(&self.key, &LogQuery { timestamps: self.timestamps, ..LogQuery::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_choice() {
        let one = json!({"spec": {"containers": [{"name": "app"}]}});
        assert_eq!(choose_container(&one, "p", None).unwrap(), "app");
        assert_eq!(
            choose_container(&one, "p", Some("nope")).unwrap_err().to_string(),
            "container nope is not valid for pod p"
        );
        let two = json!({"spec": {"containers": [{"name": "app"}, {"name": "proxy"}]}});
        assert_eq!(
            choose_container(&two, "p", None).unwrap_err().to_string(),
            "a container name must be specified for pod p, choose one of: [app proxy]"
        );
        let mut annotated = two.clone();
        annotated["metadata"] = json!({"annotations": {"kubectl.kubernetes.io/default-container": "proxy"}});
        assert_eq!(choose_container(&annotated, "p", None).unwrap(), "proxy");
    }

    #[test]
    fn waiting_reasons() {
        let pod = |status: Value| json!({"status": {"containerStatuses": [status]}});
        let pulling =
            pod(json!({"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}));
        assert_eq!(waiting_to_start(&pulling, "app").as_deref(), Some("trying and failing to pull image"));
        let creating =
            pod(json!({"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}));
        assert_eq!(waiting_to_start(&creating, "app").as_deref(), Some("ContainerCreating"));
        let crashing =
            pod(json!({"name": "app", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}));
        assert_eq!(waiting_to_start(&crashing, "app"), None, "a crash-looping container serves its last log");
        let running = pod(json!({"name": "app", "restartCount": 0, "state": {"running": {}}}));
        assert_eq!(waiting_to_start(&running, "app"), None);
    }
}
