//! Fixtures shared by the runner, journal and lab tests: a `shop/cart` deployment as the API server and as the
//! `ClusterRead` snapshots show it, healthy or crashing, and plans over it.
use medic_core::context::{ContainerState, ContainerStatusSnapshot, PodSnapshot, RolloutSnapshot, WorkloadSnapshot};
use medic_core::{ActionSpec, IncidentUid, ObjectRef, Plan, PlanId, Risk, RootCauseClass, VerifyCheck, VerifySpec};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::Snapshots;

pub const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/cart";

pub fn deployment_object(replicas: i64, memory: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cart", "namespace": "shop", "uid": "uid-cart", "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "cart"}},
            "template": {"metadata": {"labels": {"app": "cart"}},
                "spec": {"containers": [{"name": "app", "image": "shop/cart:3", "resources": {"limits": {"memory": memory}}}]}}}
    })
}

pub fn workload(available: i32) -> WorkloadSnapshot {
    WorkloadSnapshot {
        workload: ObjectRef::deployment("shop", "cart"),
        labels: BTreeMap::new(),
        selector: BTreeMap::from([("app".into(), "cart".into())]),
        replicas_desired: 2,
        replicas_ready: available,
        replicas_available: available,
        replicas_updated: 2,
        generation: 4,
        observed_generation: 4,
        revision: Some(3),
        conditions: Vec::new(),
        containers: Vec::new(),
        annotations: BTreeMap::new(),
    }
}

pub fn pod(name: &str, restarts: i32, waiting: Option<&str>) -> PodSnapshot {
    PodSnapshot {
        namespace: "shop".into(),
        name: name.into(),
        labels: BTreeMap::from([("app".into(), "cart".into())]),
        owner: Some(ObjectRef::deployment("shop", "cart")),
        replica_set: Some("cart-h3".into()),
        node: Some("node-1".into()),
        phase: "Running".into(),
        reason: None,
        message: None,
        ready: waiting.is_none(),
        created_at: None,
        deleting: false,
        pod_ip: None,
        conditions: Vec::new(),
        containers: vec![ContainerStatusSnapshot {
            name: "app".into(),
            image: "shop/cart:3".into(),
            ready: waiting.is_none(),
            restart_count: restarts,
            state: match waiting {
                Some(r) => ContainerState::Waiting { reason: Some(r.into()), message: None },
                None => ContainerState::Running { started_at: None },
            },
            last_state: None,
            requests: BTreeMap::new(),
            limits: BTreeMap::new(),
        }],
    }
}

pub fn rollout() -> RolloutSnapshot {
    RolloutSnapshot {
        deployment: ObjectRef::deployment("shop", "cart"),
        revision: 3,
        replica_set: "cart-h3".into(),
        created_at: None,
        images: Vec::new(),
        replicas: 2,
        ready_replicas: 2,
        template_hash: None,
        change_cause: None,
        limits: BTreeMap::new(),
        env: BTreeMap::new(),
    }
}

pub fn healthy() -> Snapshots {
    let s = Snapshots::default();
    *s.deployments.lock().unwrap() = vec![workload(2)];
    *s.pods.lock().unwrap() = vec![pod("cart-h3-a", 0, None), pod("cart-h3-b", 0, None)];
    *s.rollouts.lock().unwrap() = vec![rollout()];
    s
}

pub fn crashing() -> Snapshots {
    let s = healthy();
    *s.deployments.lock().unwrap() = vec![workload(1)];
    s.pods.lock().unwrap()[1] = pod("cart-h3-b", 4, Some("CrashLoopBackOff"));
    s
}

pub fn raise_memory() -> ActionSpec {
    ActionSpec::PatchResources {
        namespace: "shop".into(),
        deployment: "cart".into(),
        container: "app".into(),
        requests: BTreeMap::new(),
        limits: BTreeMap::from([("memory".into(), "512Mi".into())]),
    }
}

pub fn plan(steps: Vec<ActionSpec>) -> Plan {
    Plan {
        id: PlanId::new(),
        incident: IncidentUid::new(),
        class: RootCauseClass::OomMemoryLimit,
        target: ObjectRef::deployment("shop", "cart"),
        playbook: "oom-memory-limit".into(),
        playbook_version: "1.0.0".into(),
        steps,
        verify: VerifySpec {
            checks: vec![VerifyCheck::WorkloadHealthy { namespace: "shop".into(), deployment: "cart".into() }],
            timeout_secs: 30,
            stable_secs: 10,
        },
        rollback_on_failure: true,
        risk: Risk::Medium,
        requires_approval: false,
        rationale: String::new(),
    }
}

/// A Kyverno policy the gate tests judge against: no container memory limit above 1Gi.
pub const MEMORY_CEILING: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: memory-ceiling
spec:
  validationFailureAction: Enforce
  rules:
  - name: limit-at-most-1gi
    match:
      any:
      - resources:
          kinds: [Pod]
    validate:
      message: "memory limits above 1Gi need a capacity review"
      pattern:
        spec:
          containers:
          - =(resources):
              =(limits):
                =(memory): "<=1Gi"
"#;
