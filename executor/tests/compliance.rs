//! The compliance test every action passes (Vector's `assert_transform_compliance` idea): it can be
//! dry-run (every write carries `dryRun=All`, nothing is written without it), it writes with
//! `fieldManager=medic` and the `medic.io/incident-uid` annotation, it names every API call it makes,
//! and it is idempotent: applied to the cluster as it left it, it writes nothing.
mod support;

use medic_core::{ActionSpec, IncidentUid};
use medic_executor::actions::{self, WriteContext};
use medic_executor::{Calls, ExecutorConfig, KubeApi};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::Duration;
use support::{Seen, TickClock, mock_client, objects_responder};

const UID: &str = "01937a3e-0000-7000-8000-0000000000bb";

struct Case {
    spec: ActionSpec,
    /// The cluster before the action.
    before: Vec<(&'static str, Value)>,
    /// The cluster as the action leaves it.
    after: Vec<(&'static str, Value)>,
    /// Why the action writes no incident annotation, for the one action that only removes what medic made.
    no_annotation: Option<&'static str>,
}

fn deployment(replicas: i64, memory: &str, annotations: Value) -> Value {
    let mut a = json!({"deployment.kubernetes.io/revision": "3"});
    if let Value::Object(extra) = annotations {
        a.as_object_mut().unwrap().extend(extra);
    }
    json!({
        "metadata": {"name": "cart", "namespace": "shop", "uid": "uid-cart", "annotations": a},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "cart"}},
            "template": {"metadata": {"labels": {"app": "cart"}},
                "spec": {"containers": [{"name": "app", "image": "shop/cart:3", "resources": {"limits": {"memory": memory}}}]}}}
    })
}

fn replica_set(revision: i64) -> Value {
    json!({"metadata": {"name": format!("cart-h{revision}"), "namespace": "shop",
        "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
        "ownerReferences": [{"kind": "Deployment", "name": "cart", "uid": "uid-cart", "controller": true}]},
        "spec": {"template": {"metadata": {"labels": {"app": "cart", "pod-template-hash": format!("h{revision}")}},
            "spec": {"containers": [{"name": "app", "image": format!("shop/cart:{revision}"), "resources": {"limits": {"memory": "128Mi"}}}]}}}})
}

fn pod(name: &str, owner_kind: &str, owner: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop",
        "ownerReferences": [{"kind": owner_kind, "name": owner, "controller": true}]},
        "spec": {"nodeName": "node-2"}, "status": {"phase": "Running"}})
}

fn node(unschedulable: bool) -> Value {
    json!({"metadata": {"name": "node-2"}, "spec": {"unschedulable": unschedulable}})
}

fn policy() -> Value {
    json!({"metadata": {"name": "medic-quarantine-cart", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "medic"}},
        "spec": {"podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Ingress", "Egress"]}})
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/cart";
const RS: &str = "/apis/apps/v1/namespaces/shop/replicasets/cart-h3";
const POLICY: &str = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/medic-quarantine-cart";

fn cases() -> Vec<Case> {
    let rs_owned = json!({"metadata": {"name": "cart-h3", "namespace": "shop",
        "ownerReferences": [{"kind": "Deployment", "name": "cart", "controller": true}]}});
    vec![
        Case {
            spec: ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-h3-x".into() },
            before: vec![
                ("/api/v1/namespaces/shop/pods/cart-h3-x", pod("cart-h3-x", "ReplicaSet", "cart-h3")),
                (RS, rs_owned.clone()),
                (DEPLOY, deployment(2, "128Mi", json!({}))),
            ],
            after: vec![(RS, rs_owned), (DEPLOY, deployment(2, "128Mi", json!({"medic.io/incident-uid": UID})))],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::RolloutRestart { namespace: "shop".into(), deployment: "cart".into() },
            before: vec![(DEPLOY, deployment(2, "128Mi", json!({})))],
            after: vec![(
                DEPLOY,
                deployment(2, "128Mi", json!({"medic.io/incident-uid": UID, "medic.io/restarted-for": UID})),
            )],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 5 },
            before: vec![(DEPLOY, deployment(2, "128Mi", json!({})))],
            after: vec![(DEPLOY, deployment(5, "128Mi", json!({"medic.io/incident-uid": UID})))],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::PatchResources {
                namespace: "shop".into(),
                deployment: "cart".into(),
                container: "app".into(),
                requests: BTreeMap::new(),
                limits: BTreeMap::from([("memory".into(), "512Mi".into())]),
            },
            before: vec![(DEPLOY, deployment(2, "128Mi", json!({})))],
            after: vec![(DEPLOY, deployment(2, "512Mi", json!({"medic.io/incident-uid": UID})))],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::RollbackDeployment {
                namespace: "shop".into(),
                deployment: "cart".into(),
                to_revision: None,
            },
            before: vec![
                (DEPLOY, deployment(2, "128Mi", json!({}))),
                ("/apis/apps/v1/namespaces/shop/replicasets/cart-h2", replica_set(2)),
                (RS, replica_set(3)),
            ],
            after: vec![(
                DEPLOY,
                deployment(2, "128Mi", json!({"medic.io/incident-uid": UID, "medic.io/rolled-back-for": UID})),
            )],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::Cordon { node: "node-2".into(), unschedulable: true },
            before: vec![("/api/v1/nodes/node-2", node(false))],
            after: vec![("/api/v1/nodes/node-2", node(true))],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::Drain { node: "node-2".into() },
            before: vec![
                ("/api/v1/nodes/node-2", node(false)),
                ("/api/v1/namespaces/shop/pods/cart-h3-x", pod("cart-h3-x", "ReplicaSet", "cart-h3")),
                ("/api/v1/namespaces/shop/pods/agent-1", pod("agent-1", "DaemonSet", "agent")),
            ],
            after: vec![
                ("/api/v1/nodes/node-2", node(true)),
                ("/api/v1/namespaces/shop/pods/agent-1", pod("agent-1", "DaemonSet", "agent")),
            ],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::Quarantine {
                namespace: "shop".into(),
                policy: "medic-quarantine-cart".into(),
                pod_selector: BTreeMap::from([("app".into(), "cart".into())]),
            },
            before: vec![],
            after: vec![(POLICY, policy())],
            no_annotation: None,
        },
        Case {
            spec: ActionSpec::Unquarantine { namespace: "shop".into(), policy: "medic-quarantine-cart".into() },
            before: vec![(POLICY, policy())],
            after: vec![],
            no_annotation: Some("it deletes the NetworkPolicy medic created; the audit record names the incident"),
        },
    ]
}

fn carries_incident(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| (k == "medic.io/incident-uid" && v == UID) || carries_incident(v)),
        Value::Array(a) => a.iter().any(carries_incident),
        _ => false,
    }
}

async fn apply(
    spec: &ActionSpec,
    state: &[(&str, Value)],
    dry_run: bool,
) -> (actions::Applied, Vec<String>, Vec<Seen>) {
    let objects: BTreeMap<String, Value> = state.iter().map(|(p, v)| (p.to_string(), v.clone())).collect();
    let (client, log) = mock_client(objects_responder(objects));
    let api = KubeApi::new(client, "medic");
    let config = ExecutorConfig::default();
    let clock = TickClock::new(Duration::ZERO);
    let cx = WriteContext { api: &api, incident: IncidentUid::from_str(UID).unwrap(), config: &config, clock: &clock };
    let action = actions::build(spec, &config).unwrap();
    assert!(action.supports_dry_run(), "{spec}: every action must support a server-side dry run");
    assert_eq!(&action.spec(), spec, "an action reports the spec it was built from");
    let mut calls = Calls::default();
    let applied = action.apply(&cx, &mut calls, dry_run).await.unwrap_or_else(|e| panic!("{spec}: {e}"));
    let seen = log.lock().unwrap().clone();
    (applied, calls.into_lines(), seen)
}

#[tokio::test]
async fn every_action_is_compliant() {
    let cases = cases();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.spec.name()).collect();
    let all: BTreeSet<&str> = medic_playbooks::schema::ACTIONS.iter().map(|a| a.name).collect();
    assert_eq!(covered, all, "every action needs a compliance case");

    for case in cases {
        let name = case.spec.name();

        // Dry run: every write says dryRun=All.
        let (dry, calls, seen) = apply(&case.spec, &case.before, true).await;
        assert!(dry.changed, "{name}: the dry run reports the change it would make");
        assert!(seen.iter().any(Seen::is_write), "{name}: the dry run asks the server");
        for s in seen.iter().filter(|s| s.is_write()) {
            assert!(s.dry_run(), "{name}: {} {} without dryRun=All", s.method, s.path);
        }
        assert_eq!(calls, seen.iter().map(Seen::as_call).collect::<Vec<_>>(), "{name}: recorded calls");

        // Apply: writes with fieldManager and the incident annotation; every call is named.
        let (applied, calls, seen) = apply(&case.spec, &case.before, false).await;
        assert!(applied.changed, "{name}");
        assert_eq!(calls, seen.iter().map(Seen::as_call).collect::<Vec<_>>(), "{name}: recorded calls");
        for s in seen.iter().filter(|s| s.is_write()) {
            assert!(!s.dry_run(), "{name}: {} {} is a dry run", s.method, s.path);
            if s.method != "DELETE" {
                assert!(
                    s.query.split('&').any(|q| q == "fieldManager=medic"),
                    "{name}: {} {} without fieldManager",
                    s.method,
                    s.path
                );
            }
        }
        let annotated = seen.iter().filter(|s| s.is_write()).any(|s| s.body.as_ref().is_some_and(carries_incident));
        match case.no_annotation {
            None => assert!(annotated, "{name}: no write carries medic.io/incident-uid"),
            Some(why) => assert!(!why.is_empty() && !annotated),
        }
        assert!(
            !applied.undo.restore.is_empty() || applied.undo.irreversible.is_some(),
            "{name}: an action that changed something says how to undo it, or why it cannot be"
        );

        // Idempotent: applied again to the cluster as it left it, it writes nothing.
        let (again, _, seen) = apply(&case.spec, &case.after, false).await;
        let writes: Vec<String> = seen.iter().filter(|s| s.is_write()).map(Seen::as_call).collect();
        assert!(writes.is_empty(), "{name}: applying twice wrote again: {writes:?}");
        assert!(!again.changed && !again.notes.is_empty(), "{name}: a no-op says why: {:?}", again.notes);
    }
}
