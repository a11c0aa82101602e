//! The scheduler and node lifecycle: unschedulable pods, cordon, node failure with taint-based
//! eviction and rescheduling, cordon + drain as a remedy, and determinism of the whole simulation.
#[path = "controllers/support.rs"]
mod support;

use k8s_openapi::api::core::v1::Pod;
use medic_lab::store::Kind;
use serde_json::{Value, json};
use support::*;

fn node_of(pod: &Pod) -> String {
    pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default()
}

fn ready_condition(cluster: &Cluster, node: &str) -> (String, String) {
    let node = cluster.node(node);
    let ready = node.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    (ready.status, ready.reason.unwrap_or_default())
}

fn taints(cluster: &Cluster, node: &str) -> Vec<(String, String)> {
    let node = cluster.node(node);
    node.spec.and_then(|s| s.taints).unwrap_or_default().into_iter().map(|t| (t.key, t.effect)).collect()
}

#[test]
fn a_pod_that_fits_nowhere_stays_pending_with_failed_scheduling() {
    let mut cluster = Cluster::new(1);
    let mut manifest = deployment("big", 1, "shop/big:1.0");
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "100m", "memory": "16Gi"}, "limits": {"memory": "16Gi"}});
    cluster.create(Kind::Deployment, manifest);
    cluster.run(5);
    let pods = cluster.live_pods("shop", "big");
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(node_of(pod), "");
    let status = pod.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    let scheduled = status.conditions.unwrap().into_iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!((scheduled.status.as_str(), scheduled.reason.as_deref()), ("False", Some("Unschedulable")));
    let expected = "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: \
                    3 No preemption victims found for incoming pod.";
    assert_eq!(scheduled.message.as_deref(), Some(expected));
    let events = cluster.events("FailedScheduling");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["message"], expected);
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["source"]["component"], "default-scheduler");
}

#[test]
fn a_cordoned_node_gets_no_new_pods() {
    let mut cluster = Cluster::new(2);
    cluster.run(6);
    cluster.modify(Kind::Node, None, "node-1", |n| n["spec"]["unschedulable"] = json!(true));
    cluster.run(6);
    assert!(taints(&cluster, "node-1").contains(&("node.kubernetes.io/unschedulable".into(), "NoSchedule".into())));
    assert!(cluster.events_for("node-1").iter().any(|e| e["reason"] == "NodeNotSchedulable"));
    cluster.create(Kind::Deployment, deployment("web", 6, "shop/web:1.0"));
    cluster.run(20);
    let pods = cluster.live_pods("shop", "web");
    assert_eq!(pods.len(), 6);
    assert!(pods.iter().all(|p| node_of(p) != "node-1" && is_ready(p)), "{}", cluster.describe());

    // Uncordoned, the node takes pods again.
    cluster.modify(Kind::Node, None, "node-1", |n| n["spec"]["unschedulable"] = json!(false));
    cluster.run(6);
    assert!(taints(&cluster, "node-1").is_empty());
    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| d["spec"]["replicas"] = json!(9));
    cluster.run(10);
    assert!(cluster.live_pods("shop", "web").iter().any(|p| node_of(p) == "node-1"));
}

#[test]
fn a_silent_node_goes_not_ready_and_its_pods_are_evicted_and_rescheduled() {
    let mut cluster = Cluster::new(3);
    cluster.create(Kind::Deployment, deployment("web", 3, "shop/web:1.0"));
    cluster.run_until(60, "three ready", |c| c.live_pods("shop", "web").iter().filter(|p| is_ready(p)).count() == 3);
    let victim = node_of(&cluster.live_pods("shop", "web")[0]);
    let doomed: Vec<String> = cluster
        .live_pods("shop", "web")
        .iter()
        .filter(|p| node_of(p) == victim)
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    let failed_at = cluster.now();
    cluster.sim.control().stop_node(&victim);

    cluster.run_until(60, "the node NotReady", |c| ready_condition(c, &victim).0 == "Unknown");
    let silent_for = cluster.now().duration_since(failed_at).as_secs();
    assert!((40..=47).contains(&silent_for), "marked after the 40 s grace period ({silent_for} s)");
    assert_eq!(ready_condition(&cluster, &victim).1, "NodeStatusUnknown");
    cluster.run(1);
    let node_taints = taints(&cluster, &victim);
    assert!(node_taints.contains(&("node.kubernetes.io/unreachable".into(), "NoExecute".into())), "{node_taints:?}");
    assert!(node_taints.contains(&("node.kubernetes.io/unreachable".into(), "NoSchedule".into())));
    assert!(
        cluster
            .events_for(&victim)
            .iter()
            .any(|e| e["reason"] == "NodeNotReady" && e["source"]["component"] == "node-controller")
    );
    for name in &doomed {
        let pod: Pod = cluster.get(Kind::Pod, Some("shop"), name).unwrap();
        assert!(!is_ready(&pod), "{name} marked not ready");
        assert!(
            cluster
                .events_for(name)
                .iter()
                .any(|e| e["reason"] == "NodeNotReady" && e["message"] == "Node is not ready")
        );
    }

    // The default toleration of unreachable nodes is 300 s; then the pods are evicted.
    let tainted_at = cluster.now();
    cluster.run_until(320, "evictions", |c| !c.events("TaintManagerEviction").is_empty());
    let waited = cluster.now().duration_since(tainted_at).as_secs();
    assert!((295..=306).contains(&waited), "evicted after {waited} s");
    let eviction = &cluster.events("TaintManagerEviction")[0];
    assert_eq!(eviction["message"], format!("Marking for deletion Pod shop/{}", doomed[0]));
    cluster.run_until(60, "three ready elsewhere", |c| {
        let pods = c.live_pods("shop", "web");
        pods.len() == 3 && pods.iter().all(|p| is_ready(p) && node_of(p) != victim)
    });
    // With the kubelet gone, the evicted pods stay Terminating, as on a real cluster.
    for name in &doomed {
        let pod: Pod = cluster.get(Kind::Pod, Some("shop"), name).expect("still there");
        assert!(pod.metadata.deletion_timestamp.is_some());
        let disruption =
            pod.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "DisruptionTarget").unwrap();
        assert_eq!(disruption.reason.as_deref(), Some("DeletionByTaintManager"));
    }

    // The node comes back: Ready again, taints gone, the stuck pods cleaned up.
    cluster.sim.control().start_node(&victim);
    cluster
        .run_until(30, "the node Ready", |c| ready_condition(c, &victim).0 == "True" && taints(c, &victim).is_empty());
    cluster.run(3);
    for name in &doomed {
        assert!(cluster.store.get(Kind::Pod, Some("shop"), name).is_none(), "{name} removed by the returning kubelet");
    }
    assert!(cluster.events_for(&victim).iter().any(|e| e["reason"] == "Rebooted"));
}

#[test]
fn cordon_and_drain_move_pods_off_a_failed_node_before_the_eviction_timeout() {
    let mut cluster = Cluster::new(4);
    cluster.create(Kind::Deployment, deployment("web", 3, "shop/web:1.0"));
    cluster.run_until(60, "three ready", |c| c.live_pods("shop", "web").iter().filter(|p| is_ready(p)).count() == 3);
    let victim = node_of(&cluster.live_pods("shop", "web")[0]);
    cluster.sim.control().stop_node(&victim);
    cluster.run_until(60, "NotReady", |c| ready_condition(c, &victim).0 == "Unknown");

    // The remedy, as kubectl does it: cordon, then evict every pod of the node.
    cluster.modify(Kind::Node, None, &victim, |n| n["spec"]["unschedulable"] = json!(true));
    for pod in cluster.live_pods("shop", "web").into_iter().filter(|p| node_of(p) == victim) {
        cluster.delete_pod("shop", pod.metadata.name.as_deref().unwrap());
    }
    let drained_at = cluster.now();
    cluster.run_until(60, "three ready elsewhere", |c| {
        let pods = c.live_pods("shop", "web");
        pods.len() == 3 && pods.iter().all(|p| is_ready(p) && node_of(p) != victim)
    });
    assert!(cluster.now().duration_since(drained_at).as_secs() < 30, "well before the 300 s eviction");
    assert!(cluster.events("TaintManagerEviction").is_empty());
}

/// The observable state of the cluster, without what the wall clock could change.
fn snapshot(cluster: &Cluster) -> Vec<Value> {
    let mut out = Vec::new();
    for kind in [Kind::Node, Kind::Pod, Kind::ReplicaSet, Kind::Deployment, Kind::Endpoints, Kind::Event] {
        for mut object in cluster.raw(kind, None) {
            object["metadata"].as_object_mut().unwrap().remove("resourceVersion");
            out.push(object);
        }
    }
    out
}

fn scenario(seed: u64) -> Vec<Value> {
    let mut cluster = Cluster::new(seed);
    cluster.model.behave("shop/cart:1.0", support::Behaviour::Grow { base: 100 * MI, per_second: 8 * MI });
    cluster.model.remove_image("shop/web:bad");
    cluster.create(Kind::Deployment, deployment("web", 3, "shop/web:1.0"));
    cluster.create(Kind::Deployment, deployment("cart", 2, "shop/cart:1.0"));
    cluster.create(
        Kind::Service,
        json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    );
    cluster.run(60);
    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("shop/web:bad")
    });
    cluster.sim.control().stop_node("node-2");
    cluster.run(400);
    snapshot(&cluster)
}

#[test]
fn the_same_seed_and_inputs_give_the_same_cluster() {
    let first = scenario(42);
    let second = scenario(42);
    assert!(first.len() > 50, "a busy cluster: {} objects", first.len());
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a, b);
    }
    let other = scenario(43);
    assert_ne!(first, other, "another seed names and places things differently");
}

#[test]
fn a_node_out_of_memory_evicts_the_pod_using_most_beyond_its_request() {
    let mut cluster = Cluster::new(6);
    cluster.model.behave("shop/leaky:1.0", support::Behaviour::Grow { base: 100 * MI, per_second: 64 * MI });
    cluster.create(Kind::Deployment, deployment("web", 3, "shop/web:1.0"));
    let mut leaky = deployment("leaky", 1, "shop/leaky:1.0");
    // No memory limit: only the node's memory bounds it.
    leaky["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}});
    cluster.create(Kind::Deployment, leaky);
    cluster.run_until(60, "the leak running", |c| c.live_pods("shop", "leaky").first().is_some_and(is_ready));
    let first = cluster.live_pods("shop", "leaky").remove(0);
    let first_name = first.metadata.name.clone().unwrap();
    let node = node_of(&first);

    cluster.run_until(200, "an eviction", |c| {
        c.get::<Pod>(Kind::Pod, Some("shop"), &first_name)
            .is_some_and(|p| p.status.and_then(|s| s.reason).as_deref() == Some("Evicted"))
    });
    let evicted: Pod = cluster.get(Kind::Pod, Some("shop"), &first_name).unwrap();
    let status = evicted.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    let message = status.message.clone().unwrap();
    assert!(
        message.starts_with("The node was low on resource: memory. Threshold quantity: 100Mi, available: "),
        "{message}"
    );
    assert!(
        message.contains("Container app was using ")
            && message.ends_with("request is 131072Ki, has larger consumption of memory."),
        "{message}"
    );
    let disruption = status.conditions.unwrap().into_iter().find(|c| c.type_ == "DisruptionTarget").unwrap();
    assert_eq!(disruption.reason.as_deref(), Some("TerminationByKubelet"));
    assert!(cluster.events_for(&first_name).iter().any(|e| e["reason"] == "Evicted" && e["type"] == "Warning"));
    assert!(cluster.events_for(&node).iter().any(|e| e["reason"] == "EvictionThresholdMet"));
    // The web pods on that node were not the ones using memory beyond their requests.
    assert!(
        cluster.live_pods("shop", "web").iter().all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
    );

    cluster.run(6);
    let pressure = cluster
        .node(&node)
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "MemoryPressure")
        .unwrap();
    assert_eq!((pressure.status.as_str(), pressure.reason.as_deref()), ("True", Some("KubeletHasInsufficientMemory")));
    assert!(taints(&cluster, &node).contains(&("node.kubernetes.io/memory-pressure".into(), "NoSchedule".into())));
    // The ReplicaSet replaces the failed pod, away from the node under pressure.
    let replacement = cluster
        .live_pods("shop", "leaky")
        .into_iter()
        .find(|p| {
            p.metadata.name.as_deref() != Some(first_name.as_str())
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Failed")
        })
        .expect("a replacement");
    assert_ne!(node_of(&replacement), node);

    // Five minutes without pressure clear the condition and the taint.
    cluster.run(320);
    let pressure = cluster
        .node(&node)
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "MemoryPressure")
        .unwrap();
    assert_eq!(pressure.status, "False");
    assert!(!taints(&cluster, &node).iter().any(|(k, _)| k == "node.kubernetes.io/memory-pressure"));
}
