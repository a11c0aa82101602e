//! Incidents as the collector would see them, built with medic-core's testkit. The variable parts (pod
//! names, addresses, timestamps) are parameters, so tests can show that they do not change the memory.
#![allow(dead_code)]
use medic_core::context::DependencyVia;
use medic_core::messages::IncidentMemory;
use medic_core::plan::ActionSpec;
use medic_core::testkit::{ContextBuilder, alert, running, terminated, waiting};
use medic_core::{IncidentContext, IncidentUid, ObjectRef, RootCauseClass};
use std::sync::Arc;

/// A timestamp as log lines print it, different for each `seed`.
pub fn log_time(seed: u32) -> String {
    format!(
        "2026-0{}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + seed % 9,
        1 + seed % 28,
        seed % 24,
        (seed * 7) % 60,
        (seed * 13) % 60,
        seed % 1000
    )
}

/// `app` in namespace `shop` crash-looping after being OOM-killed.
pub fn crash_loop(app: &str, pod: &str, ip: &str, seed: u32) -> IncidentContext {
    let ts = log_time(seed);
    ContextBuilder::new()
        .alert(alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", pod), ("container", "app")]))
        .target(ObjectRef::deployment("shop", app))
        .deployment("shop", app, &format!("registry.local/{app}:1.4.{seed}"), 1, &format!("node-{seed}"), |_, p| {
            p.name = pod.to_string();
            p.pod_ip = Some(ip.to_string());
            p.containers[0] = running("app", "img", -60).crashed(
                3 + seed as i32,
                terminated("OOMKilled", 137, -120, -60),
                waiting(
                    "CrashLoopBackOff",
                    &format!("back-off {}s restarting failed container=app pod={pod}", 10 * seed),
                ),
            );
        })
        .event(
            "Pod",
            "shop",
            pod,
            "Warning",
            "BackOff",
            &format!("Back-off restarting failed container app in pod {pod}_shop"),
        )
        .logs(
            "shop",
            pod,
            true,
            &[
                &format!("{ts} INFO connected to cache at {ip}:6379 in {}ms", 3 + seed),
                &format!("{ts} INFO request id=req{seed:08x}a1 served"),
                &format!(
                    "{ts} ERROR java.lang.OutOfMemoryError: Java heap space (allocating {} bytes)",
                    1 << (20 + seed % 5)
                ),
            ],
        )
        .build()
}

/// `app` unable to pull its image.
pub fn image_pull(app: &str, pod: &str) -> IncidentContext {
    let image = format!("registry.local/{app}:9.9.9");
    ContextBuilder::new()
        .alert(alert("KubePodNotReady", &[("namespace", "shop"), ("pod", pod)]))
        .target(ObjectRef::deployment("shop", app))
        .deployment("shop", app, &image, 1, "node-1", |_, p| {
            p.name = pod.to_string();
            p.phase = "Pending".into();
            p.containers[0].ready = false;
            p.containers[0].state = waiting("ImagePullBackOff", &format!("Back-off pulling image \"{image}\""));
        })
        .event("Pod", "shop", pod, "Warning", "Failed", &format!("Failed to pull image \"{image}\": not found"))
        .event("Pod", "shop", pod, "Normal", "BackOff", &format!("Back-off pulling image \"{image}\""))
        .build()
}

/// `app` failing because the database it calls refuses connections.
pub fn dependency_down(app: &str, pod: &str, db_ip: &str) -> IncidentContext {
    ContextBuilder::new()
        .alert(alert("HighErrorRate", &[("namespace", "shop"), ("service", app)]))
        .target(ObjectRef::deployment("shop", "postgres"))
        .deployment("shop", app, "registry.local/app:2.0.0", 1, "node-2", |_, p| p.name = pod.to_string())
        .deployment("shop", "postgres", "postgres:16", 1, "node-3", |_, p| {
            p.containers[0] = running("app", "postgres:16", -30).crashed(
                7,
                terminated("Error", 1, -90, -30),
                waiting("CrashLoopBackOff", "back-off 2m40s restarting failed container"),
            );
        })
        .dependency(
            ObjectRef::deployment("shop", app),
            ObjectRef::deployment("shop", "postgres"),
            "postgres",
            DependencyVia::Log,
        )
        .service("shop", "postgres", "postgres", 5432, 0)
        .logs("shop", pod, false, &[&format!("dial tcp {db_ip}:5432: connect: connection refused")])
        .metric("error_rate", &[("service", app)], 0.42)
        .build()
}

/// A node that stopped reporting.
pub fn node_not_ready(node: &str) -> IncidentContext {
    ContextBuilder::new()
        .alert(alert("KubeNodeNotReady", &[("node", node)]))
        .target(ObjectRef::node(node))
        .node(node, Some(false))
        .event("Node", "default", node, "Normal", "NodeNotReady", &format!("Node {node} status is now: NodeNotReady"))
        .build()
}

/// What the Director remembers of a closed incident.
pub fn memory_of(
    context: &IncidentContext,
    class: RootCauseClass,
    playbook: &str,
    fix_worked: bool,
    approved_by: Option<&str>,
) -> IncidentMemory {
    let target = context.target.clone();
    let steps = match &target {
        Some(t) if t.kind == medic_core::ObjectKind::Deployment => vec![ActionSpec::RollbackDeployment {
            namespace: t.namespace.clone().unwrap_or_default(),
            deployment: t.name.clone(),
            to_revision: None,
        }],
        Some(t) => vec![ActionSpec::Cordon { node: t.name.clone(), unschedulable: true }],
        None => vec![],
    };
    IncidentMemory {
        incident: context.incident.unwrap_or_default(),
        context: Arc::new(context.clone()),
        class,
        target,
        playbook: Some(playbook.to_string()),
        steps,
        fix_worked,
        approved_by: approved_by.map(str::to_string),
    }
}

/// A fresh incident uid for a context built again (the same fault, later).
pub fn later(mut context: IncidentContext) -> IncidentContext {
    context.incident = Some(IncidentUid::new());
    context
}
