//! The Deployment and ReplicaSet controllers, the scheduler and the kubelet together: a Deployment
//! becomes a ReplicaSet and ready pods; template changes roll out within maxSurge/maxUnavailable with
//! revisions; a rollback re-uses the old ReplicaSet; a bad rollout stalls and `rollout undo` clears it.
#[path = "controllers/support.rs"]
mod support;

use k8s_openapi::api::apps::v1::ReplicaSet;
use medic_lab::controllers::hash::POD_TEMPLATE_HASH_LABEL;
use medic_lab::store::Kind;
use serde_json::{Value, json};
use support::*;

fn revision(annotations: Option<&std::collections::BTreeMap<String, String>>) -> Option<String> {
    annotations.and_then(|a| a.get("deployment.kubernetes.io/revision")).cloned()
}

fn condition(cluster: &Cluster, name: &str, type_: &str) -> (String, String) {
    let deployment = cluster.deployment("shop", name);
    let condition = deployment
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.into_iter().find(|c| c.type_.as_deref() == Some(type_)))
        .unwrap_or_else(|| panic!("no {type_} condition"));
    (condition.status.unwrap_or_default(), condition.reason.unwrap_or_default())
}

fn all_ready(cluster: &Cluster, name: &str, replicas: usize) -> bool {
    let pods = cluster.live_pods("shop", name);
    pods.len() == replicas && pods.iter().all(is_ready)
}

#[test]
fn a_deployment_becomes_a_replica_set_of_scheduled_started_ready_pods() {
    let mut cluster = Cluster::new(7);
    cluster.create(Kind::Deployment, deployment("web", 3, "shop/web:1.0"));
    cluster.run_until(60, "three ready pods", |c| all_ready(c, "web", 3));

    let replica_sets = cluster.replica_sets("shop");
    assert_eq!(replica_sets.len(), 1);
    let rs = &replica_sets[0];
    let rs_name = rs.metadata.name.clone().unwrap();
    let hash = rs.metadata.labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL].clone();
    assert_eq!(rs_name, format!("web-{hash}"));
    assert_eq!(revision(rs.metadata.annotations.as_ref()).as_deref(), Some("1"));
    assert_eq!(rs.spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH_LABEL], hash);
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.controller), ("Deployment", "web", Some(true)));

    let pods = cluster.live_pods("shop", "web");
    let nodes: std::collections::BTreeSet<_> =
        pods.iter().map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap()).collect();
    assert_eq!(nodes.len(), 3, "replicas spread over the nodes");
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap();
        assert!(name.starts_with(&format!("{rs_name}-")) && name.len() == rs_name.len() + 6, "{name}");
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.pod_ip.as_deref().unwrap().starts_with("10.244."));
        assert!(status.host_ip.as_deref().unwrap().starts_with("10.0.0."));
        let container = container_status(pod);
        assert!(container.ready && container.started == Some(true));
        assert_eq!(container.image, "docker.io/shop/web:1.0");
        assert!(container.container_id.unwrap().starts_with("containerd://"));
        assert!(container.image_id.starts_with("docker.io/shop/web@sha256:"));
        let reasons: Vec<String> =
            cluster.events_for(&name).iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
        assert_eq!(reasons, ["Scheduled", "Pulling", "Pulled", "Created", "Started"], "{name}");
        let scheduled = &cluster.events_for(&name)[0];
        assert_eq!(scheduled["source"]["component"], "default-scheduler");
        let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
        assert_eq!(scheduled["message"], format!("Successfully assigned shop/{name} to {node}"));
        let started = &cluster.events_for(&name)[4];
        assert_eq!(started["source"], json!({"component": "kubelet", "host": node}));
        assert_eq!(started["involvedObject"]["fieldPath"], "spec.containers{app}");
        assert_eq!(started["message"], "Started container app");
    }
    let scaled = cluster.events("ScalingReplicaSet");
    assert_eq!(scaled.len(), 1);
    assert_eq!(scaled[0]["message"], format!("Scaled up replica set {rs_name} from 0 to 3"));
    assert_eq!(cluster.events("SuccessfulCreate").len(), 3);

    cluster.run(2);
    let deployment = cluster.deployment("shop", "web");
    let status = deployment.status.clone().unwrap();
    assert_eq!(
        (status.replicas, status.updated_replicas, status.ready_replicas, status.available_replicas),
        (Some(3), Some(3), Some(3), Some(3))
    );
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(revision(deployment.metadata.annotations.as_ref()).as_deref(), Some("1"));
    assert_eq!(condition(&cluster, "web", "Available"), ("True".into(), "MinimumReplicasAvailable".into()));
    assert_eq!(condition(&cluster, "web", "Progressing"), ("True".into(), "NewReplicaSetAvailable".into()));
}

#[test]
fn a_template_change_rolls_out_within_max_surge_and_max_unavailable() {
    let mut cluster = Cluster::new(11);
    let mut manifest = deployment("web", 4, "shop/web:1.0");
    manifest["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}});
    cluster.create(Kind::Deployment, manifest);
    cluster.run_until(60, "four ready pods", |c| all_ready(c, "web", 4));
    cluster.run(2);

    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("shop/web:2.0")
    });
    let mut most_pods = 0;
    let mut fewest_available = usize::MAX;
    cluster.run_until(120, "the rollout to finish", |c| {
        let pods = c.live_pods("shop", "web");
        most_pods = most_pods.max(pods.len());
        fewest_available = fewest_available.min(pods.iter().filter(|p| is_ready(p)).count());
        pods.len() == 4
            && pods.iter().all(|p| is_ready(p) && container_status(p).image.ends_with("web:2.0"))
            && c.deployment("shop", "web").status.and_then(|s| s.updated_replicas) == Some(4)
    });
    assert!(most_pods <= 5, "maxSurge 1: at most 5 pods, saw {most_pods}");
    assert!(fewest_available >= 3, "maxUnavailable 1: at least 3 ready, saw {fewest_available}");

    cluster.run(3);
    let mut replica_sets = cluster.replica_sets("shop");
    replica_sets.sort_by_key(|rs| revision(rs.metadata.annotations.as_ref()));
    assert_eq!(replica_sets.len(), 2);
    assert_eq!(revision(replica_sets[0].metadata.annotations.as_ref()).as_deref(), Some("1"));
    assert_eq!(replica_sets[0].spec.replicas, Some(0));
    assert_eq!(revision(replica_sets[1].metadata.annotations.as_ref()).as_deref(), Some("2"));
    assert_eq!(replica_sets[1].spec.replicas, Some(4));
    let deployment = cluster.deployment("shop", "web");
    assert_eq!(revision(deployment.metadata.annotations.as_ref()).as_deref(), Some("2"));
    assert_eq!(deployment.status.unwrap().observed_generation, Some(2));
    assert_eq!(condition(&cluster, "web", "Progressing"), ("True".into(), "NewReplicaSetAvailable".into()));
    let messages: Vec<String> =
        cluster.events("ScalingReplicaSet").iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
    let new_rs = replica_sets[1].metadata.name.clone().unwrap();
    let old_rs = replica_sets[0].metadata.name.clone().unwrap();
    assert!(messages.contains(&format!("Scaled up replica set {new_rs} from 0 to 1")), "{messages:?}");
    assert!(messages.contains(&format!("Scaled down replica set {old_rs} from 1 to 0")), "{messages:?}");
}

/// What `kubectl rollout undo` sends: the older ReplicaSet's template without its hash label.
fn undo_to(cluster: &Cluster, rs: &ReplicaSet) {
    let raw = cluster.store.get(Kind::ReplicaSet, Some("shop"), rs.metadata.name.as_deref().unwrap()).unwrap();
    let mut template = raw.value["spec"]["template"].clone();
    template["metadata"]["labels"].as_object_mut().unwrap().remove(POD_TEMPLATE_HASH_LABEL);
    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| d["spec"]["template"] = template);
}

fn by_revision(cluster: &Cluster) -> Vec<(String, String, i32)> {
    let mut list: Vec<(String, String, i32)> = cluster
        .replica_sets("shop")
        .into_iter()
        .map(|rs| {
            (
                revision(rs.metadata.annotations.as_ref()).unwrap_or_default(),
                rs.metadata.name.clone().unwrap(),
                rs.spec.replicas.unwrap_or_default(),
            )
        })
        .collect();
    list.sort();
    list
}

#[test]
fn a_rollback_reuses_the_old_replica_set_under_a_new_revision() {
    let mut cluster = Cluster::new(3);
    cluster.create(Kind::Deployment, deployment("web", 2, "shop/web:1.0"));
    cluster.run_until(60, "v1 ready", |c| all_ready(c, "web", 2));
    let first = cluster.replica_sets("shop").remove(0);
    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("shop/web:2.0")
    });
    cluster.run_until(120, "v2 rolled out", |c| {
        all_ready(c, "web", 2) && c.live_pods("shop", "web").iter().all(|p| container_status(p).image.ends_with(":2.0"))
    });
    cluster.run(3);

    undo_to(&cluster, &first);
    cluster.run_until(120, "back on v1", |c| {
        all_ready(c, "web", 2) && c.live_pods("shop", "web").iter().all(|p| container_status(p).image.ends_with(":1.0"))
    });
    cluster.run(3);

    let revisions = by_revision(&cluster);
    assert_eq!(revisions.len(), 2, "no third ReplicaSet: {revisions:?}");
    let reused =
        cluster.get::<ReplicaSet>(Kind::ReplicaSet, Some("shop"), first.metadata.name.as_deref().unwrap()).unwrap();
    let annotations = reused.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["deployment.kubernetes.io/revision"], "3");
    assert_eq!(annotations["deployment.kubernetes.io/revision-history"], "1");
    assert_eq!(reused.spec.replicas, Some(2));
    assert_eq!(revision(cluster.deployment("shop", "web").metadata.annotations.as_ref()).as_deref(), Some("3"));
    assert_eq!(revisions[0].0, "2");
    assert_eq!(revisions[0].2, 0);
}

#[test]
fn a_bad_image_rollout_stalls_past_its_deadline_and_undo_clears_it() {
    let mut cluster = Cluster::new(5);
    cluster.model.remove_image("shop/web:9.9-typo");
    let mut manifest = deployment("web", 4, "shop/web:1.0");
    manifest["spec"]["progressDeadlineSeconds"] = json!(120);
    cluster.create(Kind::Deployment, manifest);
    cluster.run_until(60, "v1 ready", |c| all_ready(c, "web", 4));
    cluster.run(2);
    let good = cluster.replica_sets("shop").remove(0);

    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("shop/web:9.9-typo")
    });
    cluster.run_until(200, "ProgressDeadlineExceeded", |c| {
        condition(c, "web", "Progressing").1 == "ProgressDeadlineExceeded"
    });
    assert_eq!(condition(&cluster, "web", "Progressing").0, "False");
    // The old pods keep serving: maxUnavailable 25% of 4 is 1.
    let ready = cluster.live_pods("shop", "web").into_iter().filter(is_ready).count();
    assert!(ready >= 3, "{ready} ready");
    assert_eq!(condition(&cluster, "web", "Available").0, "True");
    let stuck: Vec<_> = cluster.live_pods("shop", "web").into_iter().filter(|p| waiting_reason(p).is_some()).collect();
    assert!(!stuck.is_empty());
    assert!(stuck.iter().all(|p| waiting_reason(p).as_deref() == Some("ImagePullBackOff")), "{}", cluster.describe());

    undo_to(&cluster, &good);
    cluster.run_until(120, "all four back on v1", |c| {
        let pods = c.live_pods("shop", "web");
        pods.len() == 4 && pods.iter().all(|p| is_ready(p) && container_status(p).image.ends_with(":1.0"))
    });
    cluster.run(3);
    assert_eq!(condition(&cluster, "web", "Progressing"), ("True".into(), "NewReplicaSetAvailable".into()));
    let revisions = by_revision(&cluster);
    assert_eq!(revisions.iter().map(|r| r.2).collect::<Vec<_>>(), [0, 4], "{revisions:?}");
}

#[test]
fn recreate_stops_every_old_pod_before_starting_new_ones() {
    let mut cluster = Cluster::new(9);
    let mut manifest = deployment("db", 2, "postgres:16.1");
    manifest["spec"]["strategy"] = json!({"type": "Recreate"});
    cluster.create(Kind::Deployment, manifest);
    cluster.run_until(60, "v1 ready", |c| all_ready(c, "db", 2));
    cluster.modify(Kind::Deployment, Some("shop"), "db", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:16.2")
    });
    let mut mixed = false;
    cluster.run_until(120, "v2 ready", |c| {
        let images: std::collections::BTreeSet<String> = c
            .pods("shop")
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some())
            .map(|p| container_status(p).image.rsplit(':').next().unwrap().to_string())
            .collect();
        mixed |= images.len() > 1;
        all_ready(c, "db", 2) && c.live_pods("shop", "db").iter().all(|p| container_status(p).image.ends_with(":16.2"))
    });
    assert!(!mixed, "old and new pods never ran side by side");
}

#[test]
fn scaling_adds_and_removes_pods_and_endpoints_follow_readiness() {
    let mut cluster = Cluster::new(13);
    cluster.create(Kind::Deployment, deployment("web", 2, "shop/web:1.0"));
    cluster.create(
        Kind::Service,
        json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
    );
    cluster.run_until(60, "two ready", |c| all_ready(c, "web", 2));
    cluster.run(1);
    let endpoints = cluster.store.get(Kind::Endpoints, Some("shop"), "web").unwrap().value.clone();
    let addresses = endpoints["subsets"][0]["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 2);
    assert_eq!(endpoints["subsets"][0]["ports"], json!([{"name": "http", "port": 8080, "protocol": "TCP"}]));
    assert_eq!(addresses[0]["targetRef"]["kind"], "Pod");

    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| d["spec"]["replicas"] = json!(5));
    cluster.run_until(60, "five ready", |c| all_ready(c, "web", 5));
    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| d["spec"]["replicas"] = json!(1));
    cluster.run_until(60, "one left", |c| c.live_pods("shop", "web").len() == 1 && c.pods("shop").len() == 1);
    cluster.run(1);
    let endpoints = cluster.store.get(Kind::Endpoints, Some("shop"), "web").unwrap().value.clone();
    assert_eq!(endpoints["subsets"][0]["addresses"].as_array().unwrap().len(), 1);
    assert_eq!(cluster.events("SuccessfulDelete").len(), 4);
    let messages: Vec<Value> = cluster.events("ScalingReplicaSet").iter().map(|e| e["message"].clone()).collect();
    assert!(messages.iter().any(|m| m.as_str().unwrap().ends_with("from 5 to 1")), "{messages:?}");
}

#[test]
fn a_paused_deployment_scales_but_rolls_out_only_when_resumed() {
    let mut cluster = Cluster::new(15);
    cluster.create(Kind::Deployment, deployment("web", 2, "shop/web:1.0"));
    cluster.run_until(60, "v1 ready", |c| all_ready(c, "web", 2));
    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| {
        d["spec"]["paused"] = json!(true);
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("shop/web:2.0");
        d["spec"]["replicas"] = json!(3);
    });
    cluster.run(20);
    assert_eq!(cluster.replica_sets("shop").len(), 1, "no rollout while paused");
    assert!(all_ready(&cluster, "web", 3), "but scaling still happens");
    assert_eq!(condition(&cluster, "web", "Progressing"), ("Unknown".into(), "DeploymentPaused".into()));

    cluster.modify(Kind::Deployment, Some("shop"), "web", |d| d["spec"]["paused"] = json!(false));
    cluster.run_until(120, "v2 rolled out", |c| {
        all_ready(c, "web", 3) && c.live_pods("shop", "web").iter().all(|p| container_status(p).image.ends_with(":2.0"))
    });
    cluster.run(3);
    assert_eq!(condition(&cluster, "web", "Progressing"), ("True".into(), "NewReplicaSetAvailable".into()));
}
