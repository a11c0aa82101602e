//! The adapter against kube's verifying mock service: each test asserts the method, path and query of
//! every request the adapter makes and answers it as an API server would.
use super::*;
use http::{Request, Response};
use kube::client::Body;
use medic_core::context::ContainerState;
use medic_core::{ObjectKind, ObjectRef};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request the test expects: method, path, query pairs (order-insensitive), and the answer.
struct Expect {
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    status: u16,
    body: Value,
}

fn get(path: &'static str, query: &'static [(&'static str, &'static str)], body: Value) -> Expect {
    Expect { method: "GET", path, query, status: 200, body }
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":message,"reason":reason,"code":code})
}

/// Serves the expected requests in any order (concurrent requests may arrive in any order), failing the test
/// on an unexpected one or a missing one.
async fn serve(mut handle: Handle, mut expected: Vec<Expect>) {
    while !expected.is_empty() {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
            .await
            .expect("the adapter made fewer requests than expected")
            .expect("the client was dropped before making every expected request");
        let path = request.uri().path().to_string();
        let query: BTreeMap<String, String> = request
            .uri()
            .query()
            .map(|q| url_pairs(q).into_iter().filter(|(_, v)| !v.is_empty()).collect())
            .unwrap_or_default();
        let position = expected
            .iter()
            .position(|e| e.method == request.method().as_str() && e.path == path)
            .unwrap_or_else(|| panic!("unexpected request {} {}", request.method(), request.uri()));
        let expect = expected.remove(position);
        let want: BTreeMap<String, String> = expect.query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(query, want, "query of {} {}", expect.method, expect.path);
        let body = match &expect.body {
            Value::String(text) => text.clone().into_bytes(),
            other => serde_json::to_vec(other).unwrap(),
        };
        let response = Response::builder().status(expect.status).body(Body::from(body)).unwrap();
        send.send_response(response);
    }
}

/// Decodes `a=b&c=d%3De` into pairs.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("percent escape"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Runs `test` against an adapter whose API server answers `expected`, and checks every expectation was met.
async fn with_server<F, Fut, T>(expected: Vec<Expect>, test: F) -> T
where
    F: FnOnce(KubeClusterRead) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(serve(handle, expected));
    let read = KubeClusterRead::new(Client::new(service, "default"));
    let result = test(read).await;
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("server finished").expect("expectations met");
    result
}

fn crashing_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "cart-5d4f8c7b9-x2x4z", "namespace": "shop", "creationTimestamp": "2026-03-01T11:00:00Z",
            "labels": {"app": "cart", "pod-template-hash": "5d4f8c7b9"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cart-5d4f8c7b9",
                                 "uid": "u1", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "app", "image": "shop/cart:1.4.2",
                            "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}, "requests": {"memory": "64Mi"}},
                            "env": [{"name": "REDIS_ADDR", "value": "cart-redis:6379"}]}]
        },
        "status": {
            "phase": "Running", "podIP": "10.244.1.7",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                            "lastTransitionTime": "2026-03-01T11:58:00Z"}],
            "containerStatuses": [{
                "name": "app", "image": "shop/cart:1.4.2", "imageID": "", "ready": false, "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                             "startedAt": "2026-03-01T11:57:00Z", "finishedAt": "2026-03-01T11:58:00Z"}}
            }]
        }
    })
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
}

#[tokio::test]
async fn pods_by_selector_carry_owner_state_and_resources() {
    let expected = vec![get(
        "/api/v1/namespaces/shop/pods",
        &[("labelSelector", "app=cart,tier=web")],
        list("PodList", vec![crashing_pod()]),
    )];
    let selector: Labels = [("app", "cart"), ("tier", "web")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    let pods = with_server(expected, |read| async move { read.pods("shop", &selector).await.unwrap() }).await;
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(pod.owner, Some(ObjectRef::deployment("shop", "cart")));
    assert_eq!(pod.replica_set.as_deref(), Some("cart-5d4f8c7b9"));
    assert_eq!(pod.node.as_deref(), Some("node-1"));
    assert_eq!(pod.pod_ip.as_deref(), Some("10.244.1.7"));
    assert!(!pod.ready);
    assert_eq!(pod.restarts(), 5);
    let app = &pod.containers[0];
    assert_eq!(app.state.reason(), Some("CrashLoopBackOff"));
    let last = app.last_state.as_ref().unwrap();
    assert_eq!((last.reason(), last.exit_code()), (Some("OOMKilled"), Some(137)));
    assert_eq!(app.limits.get("memory").map(String::as_str), Some("128Mi"));
    assert_eq!(app.requests.get("memory").map(String::as_str), Some("64Mi"));
}

#[tokio::test]
async fn a_missing_pod_is_none_and_a_pod_without_statuses_is_waiting() {
    let mut pending = crashing_pod();
    pending["status"] = json!({"phase": "Pending"});
    pending["metadata"]["ownerReferences"][0]["kind"] = json!("StatefulSet");
    pending["metadata"]["ownerReferences"][0]["name"] = json!("cart-db");
    let expected = vec![
        Expect {
            method: "GET",
            path: "/api/v1/namespaces/shop/pods/gone",
            query: &[],
            status: 404,
            body: status_body(404, "NotFound", "pods \"gone\" not found"),
        },
        get("/api/v1/namespaces/shop/pods/cart-5d4f8c7b9-x2x4z", &[], pending),
    ];
    let (gone, pending) = with_server(expected, |read| async move {
        (read.pod("shop", "gone").await.unwrap(), read.pod("shop", "cart-5d4f8c7b9-x2x4z").await.unwrap())
    })
    .await;
    assert!(gone.is_none());
    let pending = pending.unwrap();
    assert_eq!(pending.phase, "Pending");
    assert_eq!(pending.owner, Some(ObjectRef::new(ObjectKind::StatefulSet, "shop", "cart-db")));
    assert_eq!(pending.containers[0].state, ContainerState::Waiting { reason: None, message: None });
    assert_eq!(pending.containers[0].image, "shop/cart:1.4.2");
}

#[tokio::test]
async fn pods_on_a_node_use_a_field_selector_across_namespaces() {
    let expected =
        vec![get("/api/v1/pods", &[("fieldSelector", "spec.nodeName=node-1")], list("PodList", vec![crashing_pod()]))];
    let pods = with_server(expected, |read| async move { read.pods_on_node("node-1").await.unwrap() }).await;
    assert_eq!(pods[0].name, "cart-5d4f8c7b9-x2x4z");
}

fn deployment_json() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cart", "namespace": "shop", "generation": 4, "labels": {"app": "cart"},
                     "annotations": {"deployment.kubernetes.io/revision": "3",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "cart"}},
            "template": {
                "metadata": {"labels": {"app": "cart", "tier": "web"}},
                "spec": {
                    "volumes": [{"name": "conf", "configMap": {"name": "cart-config"}}],
                    "containers": [{
                        "name": "app", "image": "shop/cart:1.4.2",
                        "resources": {"limits": {"memory": "128Mi"}},
                        "env": [
                            {"name": "REDIS_ADDR", "value": "cart-redis:6379"},
                            {"name": "DATABASE_URL", "value": "postgres://app:hunter2@orders-db:5432/orders"},
                            {"name": "API_TOKEN", "value": "tok-123"},
                            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cart-flags", "key": "mode"}}}
                        ],
                        "volumeMounts": [{"name": "conf", "mountPath": "/etc/cart"}]
                    }]
                }
            }
        },
        "status": {"observedGeneration": 4, "replicas": 3, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 3,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                   "lastUpdateTime": "2026-03-01T11:50:00Z"}]}
    })
}

#[tokio::test]
async fn a_deployment_snapshot_has_revision_env_and_config_maps_but_no_secrets() {
    let expected = vec![get("/apis/apps/v1/namespaces/shop/deployments/cart", &[], deployment_json())];
    let d = with_server(expected, |read| async move { read.deployment("shop", "cart").await.unwrap().unwrap() }).await;
    assert_eq!(d.workload, ObjectRef::deployment("shop", "cart"));
    assert_eq!((d.replicas_desired, d.replicas_ready, d.replicas_available), (3, 1, 1));
    assert_eq!(d.revision, Some(3));
    assert_eq!(d.condition("Progressing").and_then(|c| c.reason.as_deref()), Some("NewReplicaSetAvailable"));
    let app = &d.containers[0];
    assert_eq!(app.env.get("REDIS_ADDR").map(String::as_str), Some("cart-redis:6379"));
    assert!(!app.env.contains_key("DB_PASSWORD"), "a secret's value is never collected");
    assert_eq!(app.env["DATABASE_URL"], "postgres://app:[redacted]@orders-db:5432/orders");
    assert_eq!(app.env["API_TOKEN"], "[redacted]");
    assert_eq!(app.config_maps, vec!["cart-config".to_string(), "cart-flags".to_string()]);
    assert!(!d.annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
}

fn replicaset(name: &str, owner: &str, revision: &str, image: &str, memory: &str, created: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
                     "labels": {"app": owner, "pod-template-hash": name.rsplit('-').next().unwrap()},
                     "annotations": {"deployment.kubernetes.io/revision": revision},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": "d",
                                          "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": owner}},
                 "template": {"metadata": {"labels": {"app": owner}},
                              "spec": {"containers": [{"name": "app", "image": image,
                                                       "resources": {"limits": {"memory": memory}}}]}}},
        "status": {"replicas": 1, "readyReplicas": 0}
    })
}

#[tokio::test]
async fn rollouts_are_the_deployments_replicasets_newest_first() {
    let items = vec![
        replicaset("cart-6b7c9d8f5", "cart", "2", "shop/cart:1.4.1", "256Mi", "2026-03-01T10:00:00Z"),
        replicaset("cart-5d4f8c7b9", "cart", "3", "shop/cart:1.4.2", "128Mi", "2026-03-01T11:50:00Z"),
        replicaset("cart-redis-7f8d9c6b5", "cart-redis", "1", "redis:7", "1Gi", "2026-03-01T09:00:00Z"),
    ];
    let expected = vec![get("/apis/apps/v1/namespaces/shop/replicasets", &[], list("ReplicaSetList", items))];
    let rollouts = with_server(expected, |read| async move { read.rollouts("shop", "cart").await.unwrap() }).await;
    let summary: Vec<(i64, &str, &str)> =
        rollouts.iter().map(|r| (r.revision, r.replica_set.as_str(), r.limits["app"]["memory"].as_str())).collect();
    assert_eq!(summary, vec![(3, "cart-5d4f8c7b9", "128Mi"), (2, "cart-6b7c9d8f5", "256Mi")]);
    assert_eq!(rollouts[0].images, vec!["shop/cart:1.4.2".to_string()]);
    assert_eq!(rollouts[0].template_hash.as_deref(), Some("5d4f8c7b9"));
    assert_eq!(rollouts[0].deployment, ObjectRef::deployment("shop", "cart"));
}

#[tokio::test]
async fn events_come_oldest_first_with_counts_from_old_and_new_style_events() {
    let items = vec![
        json!({"metadata": {"name": "e2", "namespace": "shop"},
               "involvedObject": {"kind": "Pod", "name": "cart-5d4f8c7b9-x2x4z", "namespace": "shop"},
               "reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
               "count": 12, "firstTimestamp": "2026-03-01T11:40:00Z", "lastTimestamp": "2026-03-01T11:59:00Z",
               "source": {"component": "kubelet", "host": "node-1"}}),
        json!({"metadata": {"name": "e1", "namespace": "shop", "creationTimestamp": "2026-03-01T11:30:00Z"},
               "involvedObject": {"kind": "Deployment", "name": "cart", "namespace": "shop"},
               "reason": "ScalingReplicaSet", "message": "Scaled up replica set cart-5d4f8c7b9 to 3",
               "eventTime": "2026-03-01T11:30:00.000000Z", "series": {"count": 2, "lastObservedTime": "2026-03-01T11:31:00.000000Z"},
               "reportingComponent": "deployment-controller", "type": "Normal"}),
    ];
    let expected = vec![get("/api/v1/namespaces/shop/events", &[], list("EventList", items))];
    let events = with_server(expected, |read| async move { read.events(Some("shop")).await.unwrap() }).await;
    assert_eq!(events.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(), ["ScalingReplicaSet", "BackOff"]);
    assert_eq!((events[0].count, events[0].source.as_deref()), (2, Some("deployment-controller")));
    assert_eq!(events[0].last_seen, Some("2026-03-01T11:31:00Z".parse().unwrap()));
    assert_eq!((events[1].count, events[1].type_.as_str()), (12, "Warning"));
    assert_eq!(events[1].involved.name, "cart-5d4f8c7b9-x2x4z");
}

#[tokio::test]
async fn logs_are_bounded_by_lines_and_bytes_and_a_missing_previous_log_is_empty() {
    let expected = vec![
        get(
            "/api/v1/namespaces/shop/pods/cart-5d4f8c7b9-x2x4z/log",
            &[("container", "app"), ("tailLines", "200"), ("limitBytes", "262144")],
            Value::String("started\ndial tcp 10.96.3.4:6379: connect: connection refused\n".into()),
        ),
        Expect {
            method: "GET",
            path: "/api/v1/namespaces/shop/pods/web-1/log",
            query: &[("container", "app"), ("previous", "true"), ("tailLines", "200"), ("limitBytes", "262144")],
            status: 400,
            body: status_body(400, "BadRequest", "previous terminated container \"app\" in pod \"web-1\" not found"),
        },
    ];
    let (current, previous) = with_server(expected, |read| async move {
        let current = read.logs("shop", "cart-5d4f8c7b9-x2x4z", "app", false, 200).await.unwrap();
        let previous = read.logs("shop", "web-1", "app", true, 200).await.unwrap();
        (current, previous)
    })
    .await;
    assert_eq!(current, ["started", "dial tcp 10.96.3.4:6379: connect: connection refused"]);
    assert!(previous.is_empty());
}

#[tokio::test]
async fn nodes_report_readiness_taints_and_cordons() {
    let items = vec![
        json!({"metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
               "spec": {"unschedulable": true, "taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]},
               "status": {"allocatable": {"cpu": "4", "memory": "16Gi"},
                          "conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                                          "message": "Kubelet stopped posting node status."}]}}),
        json!({"metadata": {"name": "node-2"},
               "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                          "lastHeartbeatTime": "2026-03-01T11:58:00Z"}]}}),
    ];
    let leases = vec![json!({"metadata": {"name": "node-2", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "node-2", "leaseDurationSeconds": 40, "renewTime": "2026-03-01T12:00:05.000000Z"}})];
    let expected = vec![
        get("/api/v1/nodes", &[], list("NodeList", items)),
        get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", &[], list("LeaseList", leases)),
    ];
    let nodes = with_server(expected, |read| async move { read.nodes().await.unwrap() }).await;
    assert_eq!(nodes[0].lease_renewed, None, "no lease for node-1");
    assert_eq!(nodes[1].lease_renewed, Some("2026-03-01T12:00:05Z".parse().unwrap()), "the kubelet's heartbeat");
    assert_eq!(nodes[1].status_heartbeat, Some("2026-03-01T11:58:00Z".parse().unwrap()));
    assert_eq!((nodes[0].ready, nodes[0].unschedulable), (None, true));
    assert_eq!(nodes[0].taints[0].key, "node.kubernetes.io/unreachable");
    assert_eq!(nodes[0].allocatable.get("memory").map(String::as_str), Some("16Gi"));
    assert_eq!((nodes[1].ready, nodes[1].unschedulable), (Some(true), false));
}

#[tokio::test]
async fn services_get_endpoint_counts_and_backends_from_concurrent_lists() {
    let services = vec![
        json!({"metadata": {"name": "cart", "namespace": "shop"},
               "spec": {"selector": {"app": "cart", "tier": "web"}, "clusterIP": "10.96.1.2",
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
        json!({"metadata": {"name": "orders-db", "namespace": "shop"},
               "spec": {"selector": {"app": "orders-db"}, "clusterIP": "None", "ports": [{"port": 5432, "targetPort": "pg"}]}}),
        json!({"metadata": {"name": "payments-api", "namespace": "shop"},
               "spec": {"type": "ExternalName", "externalName": "api.example.com"}}),
    ];
    let endpoints = vec![json!({"metadata": {"name": "cart", "namespace": "shop"},
        "subsets": [{"addresses": [{"ip": "10.244.1.7"}, {"ip": "10.244.2.9"}], "notReadyAddresses": [{"ip": "10.244.1.8"}]}]})];
    let statefulset = json!({"metadata": {"name": "orders-db", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "orders-db"}}, "serviceName": "orders-db",
                 "template": {"metadata": {"labels": {"app": "orders-db"}}, "spec": {"containers": [{"name": "pg", "image": "postgres:16"}]}}}});
    let expected = vec![
        get("/api/v1/namespaces/shop/services", &[], list("ServiceList", services)),
        get("/api/v1/namespaces/shop/endpoints", &[], list("EndpointsList", endpoints)),
        get("/apis/apps/v1/namespaces/shop/deployments", &[], list("DeploymentList", vec![deployment_json()])),
        get("/apis/apps/v1/namespaces/shop/statefulsets", &[], list("StatefulSetList", vec![statefulset])),
    ];
    let services = with_server(expected, |read| async move { read.services("shop").await.unwrap() }).await;
    let cart = &services[0];
    assert_eq!((cart.ready_endpoints, cart.not_ready_endpoints), (2, 1));
    assert_eq!(cart.backend, Some(ObjectRef::deployment("shop", "cart")), "selected through the template labels");
    assert_eq!(cart.ports[0].target_port.as_deref(), Some("8080"));
    assert_eq!(cart.cluster_ip.as_deref(), Some("10.96.1.2"));
    let db = &services[1];
    assert_eq!(db.backend, Some(ObjectRef::new(ObjectKind::StatefulSet, "shop", "orders-db")));
    assert_eq!((db.ready_endpoints, db.ports[0].target_port.as_deref()), (0, Some("pg")));
    assert_eq!(db.cluster_ip, None, "headless");
    assert_eq!(services[2].backend, None, "no selector, no backend");
}

#[tokio::test]
async fn a_cluster_without_an_api_group_reads_as_empty() {
    let expected = vec![Expect {
        method: "GET",
        path: "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
        query: &[],
        status: 404,
        body: status_body(404, "NotFound", "the server could not find the requested resource"),
    }];
    let policies = with_server(expected, |read| async move { read.network_policies("shop").await.unwrap() }).await;
    assert!(policies.is_empty());
}

#[tokio::test]
async fn network_policies_keep_selector_types_and_annotations() {
    let policy = json!({"metadata": {"name": "deny-egress", "namespace": "shop", "annotations": {"medic.io/incident-uid": "u"}},
        "spec": {"podSelector": {"matchLabels": {"app": "cart"}}, "policyTypes": ["Egress"]}});
    let expected = vec![get(
        "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies",
        &[],
        list("NetworkPolicyList", vec![policy]),
    )];
    let policies = with_server(expected, |read| async move { read.network_policies("shop").await.unwrap() }).await;
    assert_eq!(policies[0].name, "deny-egress");
    assert_eq!(policies[0].pod_selector.get("app").map(String::as_str), Some("cart"));
    assert_eq!(policies[0].policy_types, vec!["Egress".to_string()]);
    assert!(policies[0].annotations.contains_key("medic.io/incident-uid"));
}

#[tokio::test]
async fn server_errors_and_a_dead_connection_become_port_errors_naming_what_was_read() {
    let expected = vec![Expect {
        method: "GET",
        path: "/apis/apps/v1/namespaces/shop/deployments",
        query: &[],
        status: 403,
        body: status_body(403, "Forbidden", "deployments.apps is forbidden: User \"medic\" cannot list"),
    }];
    let forbidden = with_server(expected, |read| async move { read.deployments("shop").await.unwrap_err() }).await;
    assert!(
        matches!(&forbidden, PortError::Backend { port: "cluster", message } if message.contains("deployments of shop") && message.contains("forbidden")),
        "{forbidden}"
    );

    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    drop(handle);
    let read = KubeClusterRead::new(Client::new(service, "default"));
    let dead = tokio::time::timeout(Duration::from_secs(5), read.nodes()).await.expect("fails, not hangs").unwrap_err();
    assert!(
        matches!(&dead, PortError::Unavailable { port: "cluster", message } if message.contains("nodes")),
        "{dead}"
    );
}

#[test]
fn credentials_in_env_values_are_redacted_but_hosts_stay() {
    let cases = [
        ("DATABASE_URL", "postgres://app:s3cret@orders-db:5432/x", "postgres://app:[redacted]@orders-db:5432/x"),
        ("SPRING_DATASOURCE_URL", "jdbc:postgresql://orders-db:5432/orders", "jdbc:postgresql://orders-db:5432/orders"),
        ("REDIS_URL", "redis://:pw@cart-redis:6379/0", "redis://:[redacted]@cart-redis:6379/0"),
        ("AMQP_URL", "amqp://guest@rabbit:5672", "amqp://guest@rabbit:5672"),
        ("STRIPE_API_KEY", "sk_live_x", "[redacted]"),
        ("db_password", "x", "[redacted]"),
        ("REDIS_ADDR", "cart-redis:6379", "cart-redis:6379"),
    ];
    for (name, value, want) in cases {
        assert_eq!(redact_env_value(name, value), want, "{name}");
    }
}
