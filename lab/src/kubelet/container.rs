//! One container as the kubelet tracks it: where it is in its lifecycle, its restarts and back-off,
//! its probes, and the `containerStatuses[]` entry it shows.
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container as ContainerSpec;
use serde_json::{Value, json};

use super::backoff::Backoff;
use super::images;
use super::probes::{ProbeKind, ProbeState};
use crate::controllers::api_time;
use crate::runtime::{ContainerInfo, Exit};

/// How a container instance ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub container_id: String,
}

impl Terminated {
    pub fn from_exit(exit: &Exit, started_at: Timestamp, finished_at: Timestamp, container_id: &str) -> Self {
        Self {
            exit_code: exit.code,
            reason: exit.reason.clone(),
            message: exit.message.clone(),
            started_at,
            finished_at,
            container_id: container_id.to_string(),
        }
    }

    fn json(&self) -> Value {
        let mut terminated = json!({
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": api_time(self.started_at),
            "finishedAt": api_time(self.finished_at),
            "containerID": self.container_id,
        });
        if let Some(message) = &self.message {
            terminated["message"] = json!(message);
        }
        json!({"terminated": terminated})
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Not created yet; the image comes first.
    NeedsImage,
    Pulling {
        started: Timestamp,
        until: Timestamp,
    },
    /// `ErrImagePull`, `ImagePullBackOff`, `ErrImageNeverPull`.
    ImageError {
        reason: &'static str,
        message: String,
    },
    /// `CreateContainerConfigError`: a ConfigMap, key or Secret the container needs is missing.
    ConfigError {
        message: String,
    },
    Running {
        started_at: Timestamp,
        container_id: String,
    },
    /// The instance ended. `reported`: its Terminated state has been shown once already.
    Exited {
        terminated: Terminated,
        reported: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
    /// An init container: runs to completion, one after another, before the app containers start.
    pub init: bool,
    pub image: String,
    pub pull_policy: String,
    pub phase: Phase,
    pub restart_count: i32,
    /// The instance before the current one.
    pub last_terminated: Option<Terminated>,
    pub ever_started: bool,
    pub backoff: Backoff,
    pub pull_backoff: Backoff,
    pub liveness: Option<ProbeState>,
    pub readiness: Option<ProbeState>,
    pub startup: Option<ProbeState>,
    /// What the model was told at the last start.
    pub info: Option<ContainerInfo>,
    /// When the last back-off event was recorded (they repeat while the back-off lasts).
    pub last_backoff_event: Option<Timestamp>,
}

impl Container {
    pub fn new(spec: &ContainerSpec) -> Self {
        let image = spec.image.clone().unwrap_or_default();
        Self {
            name: spec.name.clone(),
            init: false,
            pull_policy: spec.image_pull_policy.clone().unwrap_or_else(|| default_pull_policy(&image).into()),
            image,
            phase: Phase::NeedsImage,
            restart_count: 0,
            last_terminated: None,
            ever_started: false,
            backoff: Backoff::default(),
            pull_backoff: Backoff::default(),
            liveness: spec.liveness_probe.as_ref().map(|p| ProbeState::new(ProbeKind::Liveness, p)),
            readiness: spec.readiness_probe.as_ref().map(|p| ProbeState::new(ProbeKind::Readiness, p)),
            startup: spec.startup_probe.as_ref().map(|p| ProbeState::new(ProbeKind::Startup, p)),
            info: None,
            last_backoff_event: None,
        }
    }

    /// An init container (probes do not apply to those).
    pub fn new_init(spec: &ContainerSpec) -> Self {
        Self { init: true, liveness: None, readiness: None, startup: None, ..Self::new(spec) }
    }

    /// An init container that exited 0: done for good.
    pub fn completed(&self) -> bool {
        self.init && matches!(&self.phase, Phase::Exited { terminated, .. } if terminated.exit_code == 0)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }

    pub fn container_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Running { container_id, .. } => Some(container_id),
            Phase::Exited { terminated, .. } => Some(&terminated.container_id),
            _ => None,
        }
    }

    /// Started: running and past its startup probe.
    pub fn started(&self) -> bool {
        self.is_running() && self.startup.as_ref().is_none_or(|p| p.passing)
    }

    /// Ready: started, and the readiness probe (if any) passes. A completed init container is ready.
    pub fn ready(&self) -> bool {
        if self.init {
            return self.completed();
        }
        self.started() && self.readiness.as_ref().is_none_or(|p| p.passing)
    }

    /// The instance started: probes start over.
    pub fn reset_probes(&mut self) {
        for probe in [&mut self.liveness, &mut self.readiness, &mut self.startup].into_iter().flatten() {
            probe.reset();
        }
    }

    /// The `containerStatuses[]` entry. `restarts` tells whether an exited container will restart
    /// (then it shows as `CrashLoopBackOff` while it waits).
    /// `initializing`: the pod's init containers have not all completed (app containers then wait
    /// with `PodInitializing`).
    pub fn status(&self, pod_label: &str, restarts: bool, initializing: bool, now: Timestamp) -> Value {
        let mut last_state = self.last_terminated.as_ref().map_or_else(|| json!({}), Terminated::json);
        let state = match &self.phase {
            Phase::NeedsImage if initializing && !self.init => json!({"waiting": {"reason": "PodInitializing"}}),
            Phase::NeedsImage | Phase::Pulling { .. } => json!({"waiting": {"reason": "ContainerCreating"}}),
            Phase::ImageError { reason, message } => json!({"waiting": {"reason": reason, "message": message}}),
            Phase::ConfigError { message } => {
                json!({"waiting": {"reason": "CreateContainerConfigError", "message": message}})
            }
            Phase::Running { started_at, .. } => json!({"running": {"startedAt": api_time(*started_at)}}),
            Phase::Exited { terminated, reported } => {
                if restarts && *reported && self.backoff.is_in_backoff_since(terminated.finished_at, now) {
                    last_state = terminated.json();
                    let message = format!(
                        "back-off {} restarting failed container={} pod={pod_label}",
                        images::go_duration(self.backoff.current()),
                        self.name
                    );
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}})
                } else {
                    terminated.json()
                }
            }
        };
        let created = self.container_id().is_some();
        let mut status = json!({
            "name": self.name,
            "state": state,
            "lastState": last_state,
            "ready": self.ready(),
            "restartCount": self.restart_count,
            "image": if created { images::normalize(&self.image) } else { self.image.clone() },
            "imageID": if created { images::image_id(&self.image) } else { String::new() },
            "started": self.started() && !self.init,
        });
        if let Some(id) = self.container_id() {
            status["containerID"] = json!(id);
        }
        status
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise.
pub fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else {
        match last.rsplit_once(':') {
            Some((_, "latest")) | None => "Always",
            Some(_) => "IfNotPresent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn spec(image: &str) -> ContainerSpec {
        ContainerSpec { name: "app".into(), image: Some(image.into()), ..Default::default() }
    }

    #[test]
    fn a_crashed_container_shows_terminated_once_then_crash_loop_back_off() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut container = Container::new(&spec("shop/cart:1.0"));
        assert_eq!(container.pull_policy, "IfNotPresent");
        assert_eq!(
            container.status("cart-x_shop(u)", true, false, t0)["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        let terminated = Terminated {
            exit_code: 137,
            reason: "OOMKilled".into(),
            message: None,
            started_at: t0,
            finished_at: t0 + SignedDuration::from_secs(30),
            container_id: "containerd://abc".into(),
        };
        container.backoff.next(terminated.finished_at, terminated.finished_at);
        container.phase = Phase::Exited { terminated, reported: false };
        let now = t0 + SignedDuration::from_secs(31);
        let first = container.status("cart-x_shop(u)", true, false, now);
        assert_eq!(first["state"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(first["state"]["terminated"]["exitCode"], 137);
        assert_eq!(first["lastState"], json!({}));
        if let Phase::Exited { reported, .. } = &mut container.phase {
            *reported = true;
        }
        let later = container.status("cart-x_shop(u)", true, false, now);
        assert_eq!(later["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            later["state"]["waiting"]["message"],
            "back-off 10s restarting failed container=app pod=cart-x_shop(u)"
        );
        assert_eq!(later["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(later["image"], "docker.io/shop/cart:1.0");
        assert_eq!(later["containerID"], "containerd://abc");
    }

    #[test]
    fn pull_policies_default_like_the_api_server() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/app"), "Always");
        assert_eq!(default_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }
}
