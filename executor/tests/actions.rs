//! Each action's API calls, asserted request by request against kube-rs's verifying mock service:
//! method, path, query (dryRun, fieldManager), content type and body; and the calls it records.
mod support;

use medic_core::{ActionSpec, IncidentUid};
use medic_executor::actions::{self, Applied, WriteContext};
use medic_executor::{Calls, ExecutorConfig, KubeApi};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use support::{Exchange, Script, TickClock, get, not_found};

const UID: &str = "01937a3e-0000-7000-8000-0000000000aa";
const SMP: &str = "application/strategic-merge-patch+json";
const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const JSON: &str = "application/json";
const FM: &str = "fieldManager=medic";
const DRY_FM: &str = "dryRun=All&fieldManager=medic";

fn uid() -> IncidentUid {
    IncidentUid::from_str(UID).unwrap()
}

async fn run(
    spec: ActionSpec,
    exchanges: Vec<Exchange>,
    dry_run: bool,
) -> (medic_executor::Result<Applied>, Vec<String>, Script) {
    run_with(spec, exchanges, dry_run, ExecutorConfig::default()).await
}

async fn run_with(
    spec: ActionSpec,
    exchanges: Vec<Exchange>,
    dry_run: bool,
    config: ExecutorConfig,
) -> (medic_executor::Result<Applied>, Vec<String>, Script) {
    let script = Script::new(exchanges);
    let api = KubeApi::new(script.client.clone(), "medic");
    let clock = TickClock::new(Duration::ZERO);
    let cx = WriteContext { api: &api, incident: uid(), config: &config, clock: &clock };
    let action = actions::build(&spec, &config).unwrap();
    let mut calls = Calls::default();
    let result = action.apply(&cx, &mut calls, dry_run).await;
    let recorded = calls.into_lines();
    (result, recorded, script)
}

fn incident_annotation() -> Value {
    json!({"metadata": {"annotations": {"medic.io/incident-uid": UID}}})
}

fn deployment(name: &str, replicas: i64, image: &str, revision: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "generation": 3,
                     "annotations": {"deployment.kubernetes.io/revision": revision.to_string()}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}}}]}
            }
        }
    })
}

/// The request kubectl made for the same change, from the recorded fixtures.
fn kubectl_request(file: &str, method: &str, path_suffix: &str) -> (Option<String>, Value) {
    let path = format!("{}/../../shared/fixtures/kubectl-requests/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let line = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["method"] == method && l["path"].as_str().unwrap().ends_with(path_suffix))
        .unwrap();
    (line["ctype"].as_str().map(str::to_string), serde_json::from_str(line["body"].as_str().unwrap()).unwrap())
}

#[tokio::test]
async fn delete_pod_deletes_in_the_background_and_annotates_the_deployment() {
    let pod = json!({"metadata": {"name": "cart-abc-1", "namespace": "shop",
        "ownerReferences": [{"kind": "ReplicaSet", "name": "cart-abc", "controller": true}]}});
    let rs = json!({"metadata": {"name": "cart-abc", "namespace": "shop",
        "ownerReferences": [{"kind": "Deployment", "name": "cart", "controller": true}]}});
    let spec = ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-abc-1".into() };
    for dry_run in [true, false] {
        let (delete_query, patch_query) = if dry_run { ("dryRun=All", DRY_FM) } else { ("", FM) };
        let (result, calls, script) = run(
            spec.clone(),
            vec![
                get("/api/v1/namespaces/shop/pods/cart-abc-1", pod.clone()),
                Exchange::write(
                    "DELETE",
                    "/api/v1/namespaces/shop/pods/cart-abc-1",
                    delete_query,
                    JSON,
                    json!({"propagationPolicy": "Background"}),
                    pod.clone(),
                ),
                get("/apis/apps/v1/namespaces/shop/replicasets/cart-abc", rs.clone()),
                Exchange::write(
                    "PATCH",
                    "/apis/apps/v1/namespaces/shop/deployments/cart",
                    patch_query,
                    MERGE,
                    incident_annotation(),
                    json!({}),
                ),
            ],
            dry_run,
        )
        .await;
        let applied = result.unwrap();
        script.assert_done();
        assert_eq!(calls, script.calls());
        assert!(applied.changed);
        assert!(applied.undo.irreversible.as_deref().unwrap().contains("cannot be restored"));
    }
    // kubectl sends the same delete body.
    let (ctype, body) = kubectl_request("req_132.log", "DELETE", "/pods/x");
    assert_eq!((ctype.as_deref(), body), (Some(JSON), json!({"propagationPolicy": "Background"})));
}

#[tokio::test]
async fn delete_pod_twice_deletes_once() {
    let spec = ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-abc-1".into() };
    let (result, _, script) =
        run(spec.clone(), vec![not_found("GET", "/api/v1/namespaces/shop/pods/cart-abc-1")], false).await;
    assert!(!result.unwrap().changed);
    script.assert_done();
    let terminating = json!({"metadata": {"name": "cart-abc-1", "deletionTimestamp": "2026-11-22T14:42:06Z"}});
    let (result, _, script) = run(spec, vec![get("/api/v1/namespaces/shop/pods/cart-abc-1", terminating)], false).await;
    assert!(!result.unwrap().changed);
    script.assert_done();
}

#[tokio::test]
async fn delete_pod_honours_the_configured_grace_period() {
    let pod = json!({"metadata": {"name": "p", "namespace": "shop"}});
    let config = ExecutorConfig { pod_grace_period_secs: Some(10), ..Default::default() };
    let (result, _, script) = run_with(
        ActionSpec::DeletePod { namespace: "shop".into(), pod: "p".into() },
        vec![
            get("/api/v1/namespaces/shop/pods/p", pod.clone()),
            Exchange::write(
                "DELETE",
                "/api/v1/namespaces/shop/pods/p",
                "",
                JSON,
                json!({"propagationPolicy": "Background", "gracePeriodSeconds": 10}),
                pod,
            ),
        ],
        false,
        config,
    )
    .await;
    let applied = result.unwrap();
    script.assert_done();
    assert!(applied.notes[0].contains("no controller to carry the incident annotation"), "{:?}", applied.notes);
}

#[tokio::test]
async fn rollout_restart_patches_the_template_annotation_as_kubectl_does() {
    let d = deployment("cart", 2, "shop/cart:2", 2);
    let (kubectl_ctype, kubectl_body) = kubectl_request("req_120_patch_ct.log", "PATCH", "/deployments/web");
    let expected = json!({
        "metadata": {"annotations": {"medic.io/incident-uid": UID, "medic.io/restarted-for": UID}},
        "spec": kubectl_body["spec"].clone(),
    });
    let (result, calls, script) = run(
        ActionSpec::RolloutRestart { namespace: "shop".into(), deployment: "cart".into() },
        vec![
            get("/apis/apps/v1/namespaces/shop/deployments/cart", d.clone()),
            Exchange::write("PATCH", "/apis/apps/v1/namespaces/shop/deployments/cart", FM, SMP, expected, d),
        ],
        false,
    )
    .await;
    assert!(result.unwrap().changed);
    script.assert_done();
    assert_eq!(kubectl_ctype.as_deref(), Some(SMP));
    assert_eq!(
        calls,
        ["GET /apis/apps/v1/namespaces/shop/deployments/cart", "PATCH /apis/apps/v1/namespaces/shop/deployments/cart"]
    );
}

#[tokio::test]
async fn scale_patches_the_scale_subresource_then_annotates() {
    let d = deployment("cart", 2, "shop/cart:2", 2);
    let (kubectl_ctype, kubectl_body) = kubectl_request("req_120_patch_ct.log", "PATCH", "/deployments/web/scale");
    assert_eq!(kubectl_ctype.as_deref(), Some(MERGE));
    assert_eq!(kubectl_body, json!({"spec": {"replicas": 5}}));
    let (result, _, script) = run(
        ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 5 },
        vec![
            get("/apis/apps/v1/namespaces/shop/deployments/cart", d.clone()),
            Exchange::write(
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/cart/scale",
                DRY_FM,
                MERGE,
                kubectl_body,
                json!({}),
            ),
            Exchange::write(
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/cart",
                DRY_FM,
                MERGE,
                incident_annotation(),
                d,
            ),
        ],
        true,
    )
    .await;
    let applied = result.unwrap();
    script.assert_done();
    // The policy gate sees the deployment with the new replica count even on a dry run.
    assert_eq!(applied.written[0].object["spec"]["replicas"], 5);
    assert_eq!(
        applied.undo.restore,
        vec![actions::Restore::Replicas { namespace: "shop".into(), deployment: "cart".into(), replicas: 2 }]
    );
}

#[tokio::test]
async fn patch_resources_merges_the_container_by_name() {
    let d = deployment("cart", 2, "shop/cart:2", 2);
    let expected = json!({
        "metadata": {"annotations": {"medic.io/incident-uid": UID}},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "100m"}}}]}}},
    });
    let (result, _, script) = run(
        ActionSpec::PatchResources {
            namespace: "shop".into(),
            deployment: "cart".into(),
            container: "app".into(),
            requests: BTreeMap::from([("cpu".into(), "100m".into())]),
            limits: BTreeMap::from([("memory".into(), "512Mi".into())]),
        },
        vec![
            get("/apis/apps/v1/namespaces/shop/deployments/cart", d.clone()),
            Exchange::write("PATCH", "/apis/apps/v1/namespaces/shop/deployments/cart", FM, SMP, expected, d),
        ],
        false,
    )
    .await;
    let applied = result.unwrap();
    script.assert_done();
    // Undo puts back 128Mi and removes the cpu request that was not there.
    let actions::Restore::Resources { values, .. } = &applied.undo.restore[0] else { panic!() };
    assert_eq!(values["limits"]["memory"].as_deref(), Some("128Mi"));
    assert_eq!(values["requests"]["cpu"], None);
}

#[tokio::test]
async fn patch_resources_refuses_a_missing_container_and_skips_a_done_change() {
    let d = deployment("cart", 2, "shop/cart:2", 2);
    let spec = |c: &str, m: &str| ActionSpec::PatchResources {
        namespace: "shop".into(),
        deployment: "cart".into(),
        container: c.into(),
        requests: BTreeMap::new(),
        limits: BTreeMap::from([("memory".into(), m.into())]),
    };
    let (result, _, _) =
        run(spec("sidecar", "1Gi"), vec![get("/apis/apps/v1/namespaces/shop/deployments/cart", d.clone())], false)
            .await;
    assert!(result.unwrap_err().to_string().contains("has no container \"sidecar\""));
    let (result, _, script) =
        run(spec("app", "128Mi"), vec![get("/apis/apps/v1/namespaces/shop/deployments/cart", d)], false).await;
    assert!(!result.unwrap().changed);
    script.assert_done();
}

fn replica_set(revision: i64, image: &str, hash: &str) -> Value {
    json!({
        "metadata": {"name": format!("cart-{hash}"), "namespace": "shop",
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string(), "kubernetes.io/change-cause": format!("image {image}")},
            "ownerReferences": [{"kind": "Deployment", "name": "cart", "uid": "uid-cart", "controller": true}]},
        "spec": {"template": {
            "metadata": {"labels": {"app": "cart", "pod-template-hash": hash}},
            "spec": {"containers": [{"name": "app", "image": image, "resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}}}]}
        }}
    })
}

#[tokio::test]
async fn rollback_copies_the_previous_revisions_template_without_its_hash() {
    let d = deployment("cart", 2, "shop/cart:3", 3);
    let foreign = json!({"metadata": {"name": "other", "annotations": {"deployment.kubernetes.io/revision": "9"},
        "ownerReferences": [{"kind": "Deployment", "name": "other", "uid": "uid-other", "controller": true}]}});
    let list = json!({"kind": "ReplicaSetList", "items": [replica_set(1, "shop/cart:1", "h1"), replica_set(2, "shop/cart:2", "h2"), replica_set(3, "shop/cart:3", "h3"), foreign]});
    let expected = json!([
        {"op": "replace", "path": "/spec/template", "value": {
            "metadata": {"labels": {"app": "cart"}},
            "spec": {"containers": [{"name": "app", "image": "shop/cart:2", "resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}}}]}}},
        {"op": "replace", "path": "/metadata/annotations", "value": {
            "deployment.kubernetes.io/revision": "3",
            "kubernetes.io/change-cause": "image shop/cart:2",
            "medic.io/incident-uid": UID,
            "medic.io/rolled-back-for": UID}},
    ]);
    let (result, calls, script) = run(
        ActionSpec::RollbackDeployment { namespace: "shop".into(), deployment: "cart".into(), to_revision: None },
        vec![
            get("/apis/apps/v1/namespaces/shop/deployments/cart", d.clone()),
            get("/apis/apps/v1/namespaces/shop/replicasets", list).query("labelSelector=app%3Dcart"),
            Exchange::write("PATCH", "/apis/apps/v1/namespaces/shop/deployments/cart", FM, JSON_PATCH, expected, d),
        ],
        false,
    )
    .await;
    let applied = result.unwrap();
    script.assert_done();
    assert_eq!(calls.len(), 3);
    assert_eq!(applied.notes, ["rolled back to revision 2"]);
    let actions::Restore::Template { template, revision, .. } = &applied.undo.restore[0] else { panic!() };
    assert_eq!(template["spec"]["containers"][0]["image"], "shop/cart:3");
    assert_eq!(*revision, Some(3));
}

#[tokio::test]
async fn rollback_errors_and_no_ops_say_why() {
    let list = json!({"items": [replica_set(1, "shop/cart:1", "h1"), replica_set(2, "shop/cart:2", "h2")]});
    let spec = |r: Option<i64>| ActionSpec::RollbackDeployment {
        namespace: "shop".into(),
        deployment: "cart".into(),
        to_revision: r,
    };
    let d = deployment("cart", 2, "shop/cart:2", 2);
    let reads = |d: &Value| {
        vec![
            get("/apis/apps/v1/namespaces/shop/deployments/cart", d.clone()),
            get("/apis/apps/v1/namespaces/shop/replicasets", list.clone()).query("labelSelector=app%3Dcart"),
        ]
    };

    let (result, _, _) = run(spec(Some(7)), reads(&d), false).await;
    assert!(result.unwrap_err().to_string().contains("unable to find the specified revision 7"));

    // Revision 2 is what runs: nothing to do.
    let (result, _, script) = run(spec(Some(2)), reads(&d), false).await;
    let applied = result.unwrap();
    assert!(!applied.changed && applied.notes[0].contains("already matches revision 2"), "{:?}", applied.notes);
    script.assert_done();

    let mut done = d.clone();
    done["metadata"]["annotations"]["medic.io/rolled-back-for"] = json!(UID);
    let (result, _, script) =
        run(spec(None), vec![get("/apis/apps/v1/namespaces/shop/deployments/cart", done)], false).await;
    assert!(!result.unwrap().changed, "a second rollback for the same incident does nothing");
    script.assert_done();

    let mut paused = d.clone();
    paused["spec"]["paused"] = json!(true);
    let (result, _, _) =
        run(spec(None), vec![get("/apis/apps/v1/namespaces/shop/deployments/cart", paused)], false).await;
    assert!(result.unwrap_err().to_string().contains("cannot roll back paused deployment"));

    let single = json!({"items": [replica_set(1, "shop/cart:1", "h1")]});
    let (result, _, _) = run(
        spec(None),
        vec![
            get("/apis/apps/v1/namespaces/shop/deployments/cart", d.clone()),
            get("/apis/apps/v1/namespaces/shop/replicasets", single).query("labelSelector=app%3Dcart"),
        ],
        false,
    )
    .await;
    assert!(result.unwrap_err().to_string().contains("no rollout history found"));
}

#[tokio::test]
async fn cordon_and_uncordon_patch_spec_unschedulable() {
    let node = |unschedulable: bool| json!({"metadata": {"name": "node-2"}, "spec": {"unschedulable": unschedulable}});
    let (result, _, script) = run(
        ActionSpec::Cordon { node: "node-2".into(), unschedulable: true },
        vec![
            get("/api/v1/nodes/node-2", json!({"metadata": {"name": "node-2"}, "spec": {}})),
            Exchange::write(
                "PATCH",
                "/api/v1/nodes/node-2",
                FM,
                SMP,
                json!({"metadata": {"annotations": {"medic.io/incident-uid": UID}}, "spec": {"unschedulable": true}}),
                node(true),
            ),
        ],
        false,
    )
    .await;
    assert!(result.unwrap().changed);
    script.assert_done();
    let (result, _, script) = run(
        ActionSpec::Cordon { node: "node-2".into(), unschedulable: false },
        vec![
            get("/api/v1/nodes/node-2", node(true)),
            Exchange::write(
                "PATCH",
                "/api/v1/nodes/node-2",
                DRY_FM,
                SMP,
                json!({"metadata": {"annotations": {"medic.io/incident-uid": UID}}, "spec": {"unschedulable": null}}),
                node(false),
            ),
        ],
        true,
    )
    .await;
    assert!(result.unwrap().changed);
    script.assert_done();
}

fn node_pod(name: &str, owner: Option<(&str, &str)>, extra: Value) -> Value {
    let mut pod = json!({"metadata": {"name": name, "namespace": "shop"}, "spec": {"nodeName": "node-2"}, "status": {"phase": "Running"}});
    if let Some((kind, owner)) = owner {
        pod["metadata"]["ownerReferences"] = json!([{"kind": kind, "name": owner, "controller": true}]);
    }
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            pod["metadata"][k] = v;
        }
    }
    pod
}

fn eviction(pod: &str, dry_run: bool) -> Value {
    let mut options = json!({"propagationPolicy": "Background"});
    if dry_run {
        options["dryRun"] = json!(["All"]);
    }
    json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "shop"}, "deleteOptions": options})
}

#[tokio::test]
async fn drain_cordons_then_evicts_all_but_daemonset_mirror_and_terminating_pods() {
    let pods = json!({"items": [
        node_pod("cart-1", Some(("ReplicaSet", "cart-abc")), json!({})),
        node_pod("agent-1", Some(("DaemonSet", "agent")), json!({})),
        node_pod("static-1", Some(("Node", "node-2")), json!({"annotations": {"kubernetes.io/config.mirror": "x"}})),
        node_pod("old-1", Some(("ReplicaSet", "old")), json!({"deletionTimestamp": "2026-11-22T14:00:00Z"})),
        node_pod("db-0", Some(("StatefulSet", "db")), json!({})),
    ]});
    let too_many = json!({"kind": "Status", "code": 429, "reason": "TooManyRequests", "message": "Cannot evict pod as it would violate the pod's disruption budget."});
    let evict = |pod: &str| {
        Exchange::write(
            "POST",
            format!("/api/v1/namespaces/shop/pods/{pod}/eviction"),
            FM,
            JSON,
            eviction(pod, false),
            json!({"kind": "Status", "code": 201}),
        )
    };
    let config = ExecutorConfig { eviction_retry_secs: 1.0, ..Default::default() };
    let (result, calls, script) = run_with(
        ActionSpec::Drain { node: "node-2".into() },
        vec![
            get("/api/v1/nodes/node-2", json!({"metadata": {"name": "node-2"}, "spec": {}})),
            Exchange::write(
                "PATCH",
                "/api/v1/nodes/node-2",
                FM,
                SMP,
                json!({"metadata": {"annotations": {"medic.io/incident-uid": UID}}, "spec": {"unschedulable": true}}),
                json!({}),
            ),
            get("/api/v1/pods", pods).query("fieldSelector=spec.nodeName%3Dnode-2"),
            evict("cart-1"),
            evict("db-0").status(429, too_many),
            evict("db-0"),
        ],
        false,
        config,
    )
    .await;
    let applied = result.unwrap();
    script.assert_done();
    assert_eq!(calls.iter().filter(|c| c.ends_with("/eviction")).count(), 3, "{calls:?}");
    assert_eq!(
        applied.undo.restore,
        vec![actions::Restore::Schedulable { node: "node-2".into(), unschedulable: false }]
    );
    assert!(applied.undo.irreversible.as_deref().unwrap().contains("shop/cart-1, shop/db-0"));
}

#[tokio::test]
async fn drain_dry_run_does_not_wait_and_refuses_unmanaged_pods() {
    let cordoned = json!({"metadata": {"name": "node-2"}, "spec": {"unschedulable": true}});
    let pods = json!({"items": [node_pod("cart-1", Some(("ReplicaSet", "cart-abc")), json!({}))]});
    let (result, _, script) = run(
        ActionSpec::Drain { node: "node-2".into() },
        vec![
            get("/api/v1/nodes/node-2", cordoned.clone()),
            get("/api/v1/pods", pods).query("fieldSelector=spec.nodeName%3Dnode-2"),
            Exchange::write(
                "POST",
                "/api/v1/namespaces/shop/pods/cart-1/eviction",
                DRY_FM,
                JSON,
                eviction("cart-1", true),
                json!({}),
            ),
        ],
        true,
    )
    .await;
    assert!(result.unwrap().changed);
    script.assert_done();

    let bare = json!({"items": [node_pod("debug", None, json!({}))]});
    let (result, _, _) = run(
        ActionSpec::Drain { node: "node-2".into() },
        vec![
            get("/api/v1/nodes/node-2", cordoned),
            get("/api/v1/pods", bare).query("fieldSelector=spec.nodeName%3Dnode-2"),
        ],
        false,
    )
    .await;
    assert!(
        result.unwrap_err().to_string().contains("pods that declare no controller would not come back: shop/debug")
    );
}

#[tokio::test]
async fn a_drain_that_a_budget_blocks_too_long_fails() {
    let pods = json!({"items": [node_pod("db-0", Some(("StatefulSet", "db")), json!({}))]});
    let too_many = json!({"kind": "Status", "code": 429, "message": "Cannot evict pod as it would violate the pod's disruption budget."});
    let refuse = || {
        Exchange::write(
            "POST",
            "/api/v1/namespaces/shop/pods/db-0/eviction",
            FM,
            JSON,
            eviction("db-0", false),
            json!({}),
        )
        .status(429, too_many.clone())
    };
    // The clock moves 2 s per read; the drain gives up after 5 s with retries every 2 s.
    let config = ExecutorConfig { eviction_retry_secs: 2.0, drain_timeout_secs: 5.0, ..Default::default() };
    let script = Script::new(vec![
        get("/api/v1/nodes/node-2", json!({"spec": {"unschedulable": true}})),
        get("/api/v1/pods", pods).query("fieldSelector=spec.nodeName%3Dnode-2"),
        refuse(),
        refuse(),
    ]);
    let api = KubeApi::new(script.client.clone(), "medic");
    let clock = TickClock::new(Duration::from_secs(2));
    let cx = WriteContext { api: &api, incident: uid(), config: &config, clock: &clock };
    let mut calls = Calls::default();
    let err = actions::build(&ActionSpec::Drain { node: "node-2".into() }, &config)
        .unwrap()
        .apply(&cx, &mut calls, false)
        .await
        .unwrap_err();
    script.assert_done();
    assert!(err.to_string().contains("drain of node node-2 did not finish: shop/db-0: Cannot evict pod"), "{err}");
}

#[tokio::test]
async fn quarantine_creates_a_deny_all_policy_once() {
    let body = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "medic-quarantine-cart", "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "medic"}, "annotations": {"medic.io/incident-uid": UID}},
        "spec": {"podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Ingress", "Egress"]},
    });
    let spec = ActionSpec::Quarantine {
        namespace: "shop".into(),
        policy: "medic-quarantine-cart".into(),
        pod_selector: BTreeMap::from([("app".into(), "cart".into())]),
    };
    let (result, _, script) = run(
        spec.clone(),
        vec![
            not_found("GET", "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/medic-quarantine-cart"),
            Exchange::write(
                "POST",
                "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
                FM,
                JSON,
                body.clone(),
                body.clone(),
            ),
        ],
        false,
    )
    .await;
    assert!(result.unwrap().changed);
    script.assert_done();
    let (result, _, script) = run(
        spec.clone(),
        vec![get("/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/medic-quarantine-cart", body)],
        false,
    )
    .await;
    assert!(!result.unwrap().changed);
    script.assert_done();
    let foreign = json!({"metadata": {"name": "medic-quarantine-cart", "labels": {}}});
    let (result, _, _) = run(
        spec,
        vec![get("/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/medic-quarantine-cart", foreign)],
        false,
    )
    .await;
    assert!(result.unwrap_err().to_string().contains("was not created by medic"));
}

#[tokio::test]
async fn unquarantine_deletes_only_medics_policy() {
    let ours =
        json!({"metadata": {"name": "q", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "medic"}}});
    let spec = ActionSpec::Unquarantine { namespace: "shop".into(), policy: "q".into() };
    let path = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/q";
    let (result, _, script) = run(
        spec.clone(),
        vec![
            get(path, ours.clone()),
            Exchange::write("DELETE", path, "dryRun=All", JSON, json!({"propagationPolicy": "Background"}), ours),
        ],
        true,
    )
    .await;
    assert!(result.unwrap().changed);
    script.assert_done();
    let (result, _, script) = run(spec, vec![not_found("GET", path)], false).await;
    assert!(!result.unwrap().changed);
    script.assert_done();
}

#[test]
fn invalid_specs_are_refused_when_built() {
    let config = ExecutorConfig::default();
    let cases = [
        (ActionSpec::DeletePod { namespace: "shop".into(), pod: "Bad_Name".into() }, "not a valid Kubernetes name"),
        (ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: -1 }, "negative"),
        (
            ActionSpec::PatchResources {
                namespace: "shop".into(),
                deployment: "cart".into(),
                container: "app".into(),
                requests: BTreeMap::new(),
                limits: BTreeMap::new(),
            },
            "neither requests nor limits",
        ),
        (
            ActionSpec::PatchResources {
                namespace: "shop".into(),
                deployment: "cart".into(),
                container: "app".into(),
                requests: BTreeMap::new(),
                limits: BTreeMap::from([("memory".into(), "lots".into())]),
            },
            "is not a resource quantity",
        ),
        (
            ActionSpec::RollbackDeployment {
                namespace: "shop".into(),
                deployment: "cart".into(),
                to_revision: Some(0),
            },
            "must be positive",
        ),
        (
            ActionSpec::Quarantine { namespace: "shop".into(), policy: "q".into(), pod_selector: BTreeMap::new() },
            "whole namespace",
        ),
    ];
    for (spec, expected) in cases {
        let err = actions::build(&spec, &config).unwrap_err().to_string();
        assert!(err.contains(expected), "{spec}: {err}");
    }
}
