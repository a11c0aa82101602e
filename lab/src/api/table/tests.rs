use super::*;

fn now() -> Timestamp {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

fn pod(status: Value) -> Value {
    json!({"metadata": {"name": "cart-1", "creationTimestamp": "2026-01-01T00:55:00Z"},
           "spec": {"nodeName": "node-1", "containers": [{"name": "app"}]}, "status": status})
}

#[test]
fn human_durations_match_apimachinery() {
    let cases = [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 5, "3h5m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(human_duration(seconds), expected, "{seconds}");
    }
}

#[test]
fn pod_status_column_table() {
    let cases = [
        (
            "running and ready",
            json!({"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:55:00Z"}}}]}),
            ("1/1", "Running", "0"),
        ),
        (
            "crash loop shows the waiting reason and the last restart",
            json!({"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": false, "restartCount": 4,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-01-01T00:59:20Z"}}}]}),
            ("0/1", "CrashLoopBackOff", "4 (40s ago)"),
        ),
        (
            "terminated with a reason",
            json!({"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": false, "restartCount": 1, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
            ("0/1", "OOMKilled", "1"),
        ),
        (
            "terminated without a reason shows the exit code",
            json!({"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]}),
            ("0/1", "ExitCode:2", "0"),
        ),
        (
            "image pull",
            json!({"phase": "Pending", "containerStatuses": [
                {"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
            ("0/1", "ImagePullBackOff", "0"),
        ),
        ("pending without statuses", json!({"phase": "Pending"}), ("0/1", "Pending", "0")),
        ("evicted", json!({"phase": "Failed", "reason": "Evicted"}), ("0/1", "Evicted", "0")),
    ];
    for (name, status, (ready, reason, restarts)) in cases {
        let cells = pod_cells(&pod(status), now());
        assert_eq!(cells[1], ready, "{name}");
        assert_eq!(cells[2], reason, "{name}");
        assert_eq!(cells[3], restarts, "{name}");
        assert_eq!(cells[4], "5m", "{name}");
        assert_eq!(cells[6], "node-1", "{name}");
    }
    let mut deleting = pod(json!({"phase": "Running"}));
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T01:00:30Z");
    assert_eq!(pod_cells(&deleting, now())[2], "Terminating");
    assert_eq!(pod_cells(&pod(json!({"phase": "Running", "podIP": "10.244.1.5"})), now())[5], "10.244.1.5");
    assert_eq!(pod_cells(&pod(json!({"phase": "Pending"})), now())[5], "<none>");
}

#[test]
fn deployment_and_replicaset_rows() {
    let deployment = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "app", "image": "web:1"}, {"name": "proxy", "image": "envoy:1"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    let cells = cells(Kind::Deployment, &deployment, now());
    assert_eq!(
        cells,
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("60m"),
            json!("app,proxy"),
            json!("web:1,envoy:1"),
            json!("app=web")
        ]
    );
    let rs = json!({"metadata": {"name": "web-5d4f", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d4f"}},
                 "template": {"spec": {"containers": [{"name": "app", "image": "web:1"}]}}},
        "status": {"replicas": 3, "readyReplicas": 1}});
    let rs_cells = super::cells(Kind::ReplicaSet, &rs, now());
    assert_eq!(&rs_cells[..4], &[json!("web-5d4f"), json!(3), json!(3), json!(1)]);
    assert_eq!(rs_cells[7], "app=web,pod-template-hash=5d4f");
}

#[test]
fn node_rows() {
    let node = json!({"metadata": {"name": "node-1", "creationTimestamp": "2026-01-01T00:00:00Z",
                                   "labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/hostname": "node-1"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "False"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}],
                   "nodeInfo": {"kubeletVersion": "v1.31.4", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.7.13"}}});
    let cells = cells(Kind::Node, &node, now());
    assert_eq!(
        &cells[..6],
        &[
            json!("node-1"),
            json!("NotReady,SchedulingDisabled"),
            json!("worker"),
            json!("60m"),
            json!("v1.31.4"),
            json!("10.0.0.11")
        ]
    );
    assert_eq!(cells[6], "<none>");
}

#[test]
fn event_rows() {
    let event = json!({"metadata": {"name": "cart-1.17a"}, "type": "Warning", "reason": "BackOff",
        "message": "Back-off restarting failed container app in pod cart-1_shop(uid)\n",
        "involvedObject": {"kind": "Pod", "name": "cart-1", "fieldPath": "spec.containers{app}"},
        "source": {"component": "kubelet", "host": "node-1"}, "count": 7,
        "firstTimestamp": "2026-01-01T00:50:00Z", "lastTimestamp": "2026-01-01T00:59:30Z"});
    let cells = cells(Kind::Event, &event, now());
    assert_eq!(
        cells,
        vec![
            json!("30s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/cart-1"),
            json!("spec.containers{app}"),
            json!("kubelet, node-1"),
            json!("Back-off restarting failed container app in pod cart-1_shop(uid)"),
            json!("10m"),
            json!(7),
            json!("cart-1.17a")
        ]
    );
}

#[test]
fn service_and_other_rows() {
    let service = json!({"metadata": {"name": "cart", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.12", "selector": {"app": "cart"},
                 "ports": [{"port": 80, "protocol": "TCP"}, {"port": 9090, "protocol": "TCP"}]}});
    assert_eq!(
        cells(Kind::Service, &service, now()),
        vec![
            json!("cart"),
            json!("ClusterIP"),
            json!("10.96.0.12"),
            json!("<none>"),
            json!("80/TCP,9090/TCP"),
            json!("60m"),
            json!("app=cart")
        ]
    );
    let endpoints = json!({"metadata": {"name": "cart"}, "subsets": [{"addresses": [
        {"ip": "10.244.0.1"}, {"ip": "10.244.0.2"}, {"ip": "10.244.0.3"}, {"ip": "10.244.0.4"}], "ports": [{"port": 8080}]}]});
    assert_eq!(
        cells(Kind::Endpoints, &endpoints, now())[1],
        "10.244.0.1:8080,10.244.0.2:8080,10.244.0.3:8080 + 1 more..."
    );
    let chaos = json!({"metadata": {"name": "kill"}, "spec": {"action": "pod-kill", "duration": "30s"}});
    assert_eq!(&cells(Kind::PodChaos, &chaos, now())[..3], &[json!("kill"), json!("pod-kill"), json!("30s")]);
    for kind in Kind::ALL {
        assert_eq!(columns(kind).len(), cells(kind, &json!({}), now()).len(), "{kind}");
    }
}

#[test]
fn table_bytes_equal_the_table_value() {
    let objects: Vec<Object> = (0..3)
        .map(|i| {
            let value = pod(json!({"phase": "Running"}));
            let mut value = value;
            value["metadata"]["name"] = json!(format!("cart-{i}"));
            std::sync::Arc::new(crate::store::StoredObject {
                json: bytes::Bytes::from(serde_json::to_vec(&value).unwrap()),
                value,
                resource_version: 9,
            })
        })
        .collect();
    for include in [IncludeObject::None, IncludeObject::Metadata, IncludeObject::Object] {
        let bytes = table_bytes(Kind::Pod, &objects, 9, Some("tok"), include, now());
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, table(Kind::Pod, &objects, 9, Some("tok"), include, now()), "{include:?}");
    }
}
