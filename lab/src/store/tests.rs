use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;

fn store() -> Store {
    let clock = Arc::new(LabClock::new("2026-01-01T00:00:00Z".parse().unwrap(), 1.0));
    let store = Store::with_seed(clock, 7);
    store.create(Kind::Namespace, json!({"metadata": {"name": "shop"}})).unwrap();
    store
}

fn pod(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop", "labels": {"app": "cart"}},
           "spec": {"containers": [{"name": "app", "image": "shop/cart:1.0"}]}})
}

fn deployment(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "x:1"}]}}}})
}

fn owned_by(mut value: Value, kind: Kind, owner: &Object) -> Value {
    value["metadata"]["ownerReferences"] = json!([{"apiVersion": kind.api_version(), "kind": kind.kind(),
        "name": owner.name(), "uid": owner.uid(), "controller": true, "blockOwnerDeletion": true}]);
    value
}

#[test]
fn create_sets_system_metadata_and_caches_json() {
    let store = store();
    let created = store.create(Kind::Pod, pod("cart-1")).unwrap();
    let metadata = &created.value["metadata"];
    assert_eq!(metadata["creationTimestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(metadata["resourceVersion"], created.resource_version.to_string());
    assert_eq!(metadata["uid"].as_str().unwrap().len(), 36);
    assert_eq!(created.value["apiVersion"], "v1");
    assert_eq!(created.value["kind"], "Pod");
    let reparsed: Value = serde_json::from_slice(&created.json).unwrap();
    assert_eq!(reparsed, created.value);

    let again = store.create(Kind::Pod, pod("cart-1")).unwrap_err();
    assert_eq!(again.code(), 409);
    assert_eq!(again.to_string(), "pods \"cart-1\" already exists");

    let elsewhere = store.create(
        Kind::Pod,
        json!({"metadata": {"name": "x", "namespace": "nope"},
        "spec": {"containers": [{"name": "a", "image": "b"}]}}),
    );
    assert_eq!(elsewhere.unwrap_err().to_string(), "namespaces \"nope\" not found");
}

#[test]
fn generate_name_is_deterministic_under_a_seed() {
    let names = || {
        let store = store();
        (0..3)
            .map(|_| {
                let mut value = pod("");
                value["metadata"]["generateName"] = json!("cart-7d9f-");
                store.create(Kind::Pod, value).unwrap().name().to_string()
            })
            .collect::<Vec<_>>()
    };
    let first = names();
    assert_eq!(first, names());
    assert!(first.iter().all(|n| n.starts_with("cart-7d9f-") && n.len() == "cart-7d9f-".len() + 5));
}

#[test]
fn stale_updates_conflict_and_spec_changes_bump_generation() {
    let store = store();
    let created = store.create(Kind::Deployment, deployment("web")).unwrap();
    assert_eq!(created.value["metadata"]["generation"], 1);

    let mut changed = created.value.clone();
    changed["spec"]["replicas"] = json!(3);
    let updated = store.update(Kind::Deployment, changed).unwrap();
    assert_eq!(updated.value["metadata"]["generation"], 2);
    assert!(updated.resource_version > created.resource_version);

    let mut stale = created.value.clone();
    stale["spec"]["replicas"] = json!(5);
    let conflict = store.update(Kind::Deployment, stale).unwrap_err();
    assert_eq!(conflict.code(), 409);
    assert!(conflict.to_string().starts_with("Operation cannot be fulfilled on deployments.apps \"web\""));

    // Status through the main resource is ignored; through the subresource it is taken alone.
    let mut with_status = updated.value.clone();
    with_status["status"] = json!({"replicas": 9});
    let ignored = store.update(Kind::Deployment, with_status.clone()).unwrap();
    assert_eq!(ignored.value.get("status"), None);
    with_status["spec"]["replicas"] = json!(7);
    let status = store.update_status(Kind::Deployment, with_status).unwrap();
    assert_eq!(status.value["status"]["replicas"], 9);
    assert_eq!(status.value["spec"]["replicas"], 3);
    assert_eq!(status.value["metadata"]["generation"], 2);
}

#[test]
fn concurrent_modifies_lose_no_update() {
    let store = Arc::new(store());
    store.create(Kind::Deployment, deployment("web")).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    store
                        .modify(Kind::Deployment, Some("shop"), "web", |d| {
                            let n = d["spec"]["replicas"].as_i64().unwrap();
                            d["spec"]["replicas"] = json!(n + 1);
                            Ok(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let web = store.get(Kind::Deployment, Some("shop"), "web").unwrap();
    assert_eq!(web.value["spec"]["replicas"], 2 + 8 * 50);
    assert_eq!(web.value["metadata"]["generation"], 1 + 8 * 50);
}

#[test]
fn concurrent_updates_from_the_same_version_let_exactly_one_win() {
    let store = Arc::new(store());
    let created = store.create(Kind::ConfigMap, json!({"metadata": {"name": "c", "namespace": "shop"}})).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mut value = created.value.clone();
            value["data"] = json!({"writer": i.to_string()});
            std::thread::spawn(move || store.update(Kind::ConfigMap, value).is_ok())
        })
        .collect();
    let wins = threads.into_iter().filter_map(|t| t.join().unwrap().then_some(())).count();
    assert_eq!(wins, 1);
}

#[test]
fn modify_without_change_publishes_nothing() {
    let store = store();
    let created = store.create(Kind::Pod, pod("cart-1")).unwrap();
    let mut watch = store.watch(Kind::Pod, None, created.resource_version).unwrap();
    let same = store.modify(Kind::Pod, Some("shop"), "cart-1", |_| Ok(())).unwrap();
    assert_eq!(same.resource_version, created.resource_version);
    assert!(watch.try_recv().is_none());
}

#[test]
fn watch_replays_in_order_then_goes_live() {
    let store = store();
    let (_, start) = store.list(Kind::Pod, None);
    store.create(Kind::Pod, pod("a")).unwrap();
    store
        .modify(Kind::Pod, Some("shop"), "a", |p| {
            p["status"]["phase"] = json!("Running");
            Ok(())
        })
        .unwrap();
    store.create(Kind::ConfigMap, json!({"metadata": {"name": "unrelated", "namespace": "shop"}})).unwrap();
    store.delete(Kind::Pod, Some("shop"), "a").unwrap();

    let mut watch = store.watch(Kind::Pod, Some("shop"), start).unwrap();
    store.create(Kind::Pod, pod("b")).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = watch.try_recv() {
        seen.push((event.event_type, event.object.name().to_string(), event.resource_version()));
    }
    let kinds: Vec<_> = seen.iter().map(|(t, n, _)| (*t, n.as_str())).collect();
    assert_eq!(
        kinds,
        [(EventType::Added, "a"), (EventType::Modified, "a"), (EventType::Deleted, "a"), (EventType::Added, "b")]
    );
    assert!(seen.windows(2).all(|w| w[0].2 < w[1].2), "resourceVersions increase: {seen:?}");

    // Resuming from the middle replays only what came after.
    let mut resumed = store.watch(Kind::Pod, None, seen[1].2).unwrap();
    assert_eq!(resumed.try_recv().unwrap().event_type, EventType::Deleted);

    // A watch on another namespace sees nothing of shop.
    store.create(Kind::Namespace, json!({"metadata": {"name": "other"}})).unwrap();
    let mut other = store.watch(Kind::Pod, Some("other"), start).unwrap();
    assert!(other.try_recv().is_none());
}

#[test]
fn watching_from_before_the_history_is_gone() {
    let store = store();
    let (_, start) = store.list(Kind::ConfigMap, None);
    store.create(Kind::ConfigMap, json!({"metadata": {"name": "c", "namespace": "shop"}})).unwrap();
    for i in 0..HISTORY_PER_KIND + 5 {
        store
            .modify(Kind::ConfigMap, Some("shop"), "c", |c| {
                c["data"] = json!({"i": i.to_string()});
                Ok(())
            })
            .unwrap();
    }
    let gone = store.watch(Kind::ConfigMap, None, start).unwrap_err();
    assert_eq!(gone.code(), 410);
    assert_eq!(gone.to_status()["reason"], "Expired");
    let (_, now) = store.list(Kind::ConfigMap, None);
    assert!(store.watch(Kind::ConfigMap, None, now).is_ok());
}

#[test]
fn scheduled_pods_terminate_gracefully_and_unscheduled_ones_go_at_once() {
    let store = store();
    store.create(Kind::Pod, pod("pending")).unwrap();
    let gone = store.delete_with(Kind::Pod, Some("shop"), "pending", &DeleteOptions::default()).unwrap();
    assert!(gone.gone);
    assert!(store.get(Kind::Pod, Some("shop"), "pending").is_none());

    let mut running = pod("running");
    running["spec"]["nodeName"] = json!("node-1");
    store.create(Kind::Pod, running).unwrap();
    store.clock().advance(Duration::from_secs(10));
    let terminating = store.delete_with(Kind::Pod, Some("shop"), "running", &DeleteOptions::default()).unwrap();
    assert!(!terminating.gone);
    assert_eq!(terminating.object.value["metadata"]["deletionTimestamp"], "2026-01-01T00:00:40Z");
    assert_eq!(terminating.object.value["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(store.get(Kind::Pod, Some("shop"), "running").unwrap().is_terminating());

    let forced = DeleteOptions { grace_period_seconds: Some(0), ..Default::default() };
    assert!(store.delete_with(Kind::Pod, Some("shop"), "running", &forced).unwrap().gone);
}

#[test]
fn background_propagation_deletes_the_owned_tree() {
    let store = store();
    let web = store.create(Kind::Deployment, deployment("web")).unwrap();
    let mut rs = deployment("web-abc");
    rs["spec"]["selector"] = json!({"matchLabels": {"app": "web"}});
    rs["spec"]["template"]["metadata"]["labels"] = json!({"app": "web"});
    let rs = store.create(Kind::ReplicaSet, owned_by(rs, Kind::Deployment, &web)).unwrap();
    store.create(Kind::Pod, owned_by(pod("web-abc-1"), Kind::ReplicaSet, &rs)).unwrap();

    let deleted = store.delete_with(Kind::Deployment, Some("shop"), "web", &DeleteOptions::default()).unwrap();
    assert!(deleted.gone);
    assert!(store.get(Kind::ReplicaSet, Some("shop"), "web-abc").is_none());
    assert!(store.get(Kind::Pod, Some("shop"), "web-abc-1").is_none());
}

#[test]
fn orphan_propagation_keeps_dependents_without_the_reference() {
    let store = store();
    let web = store.create(Kind::Deployment, deployment("web")).unwrap();
    store.create(Kind::Pod, owned_by(pod("p"), Kind::Deployment, &web)).unwrap();
    let orphan = DeleteOptions { propagation: Some(Propagation::Orphan), ..Default::default() };
    store.delete_with(Kind::Deployment, Some("shop"), "web", &orphan).unwrap();
    let p = store.get(Kind::Pod, Some("shop"), "p").unwrap();
    assert_eq!(p.value["metadata"]["ownerReferences"], json!([]));
}

#[test]
fn foreground_propagation_waits_for_terminating_dependents() {
    let store = store();
    let web = store.create(Kind::Deployment, deployment("web")).unwrap();
    let mut scheduled = owned_by(pod("p"), Kind::Deployment, &web);
    scheduled["spec"]["nodeName"] = json!("node-1");
    store.create(Kind::Pod, scheduled).unwrap();

    let foreground = DeleteOptions { propagation: Some(Propagation::Foreground), ..Default::default() };
    let deletion = store.delete_with(Kind::Deployment, Some("shop"), "web", &foreground).unwrap();
    assert!(!deletion.gone);
    assert_eq!(deletion.object.value["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert!(store.get(Kind::Pod, Some("shop"), "p").unwrap().is_terminating());

    // The kubelet finishes the pod; the owner goes with it.
    store.delete(Kind::Pod, Some("shop"), "p").unwrap();
    assert!(store.get(Kind::Deployment, Some("shop"), "web").is_none());
}

#[test]
fn garbage_collection_removes_orphans_whose_owner_is_gone() {
    let store = store();
    let web = store.create(Kind::Deployment, deployment("web")).unwrap();
    store.delete(Kind::Deployment, Some("shop"), "web").unwrap();
    // A controller raced the delete and created a pod for the old owner.
    store.create(Kind::Pod, owned_by(pod("late"), Kind::Deployment, &web)).unwrap();
    assert_eq!(store.collect_garbage(), 1);
    assert!(store.get(Kind::Pod, Some("shop"), "late").is_none());
    assert_eq!(store.collect_garbage(), 0);
}

#[test]
fn finalizers_hold_an_object_until_removed() {
    let store = store();
    let mut cm = json!({"metadata": {"name": "c", "namespace": "shop", "finalizers": ["example.com/hold"]}});
    cm["data"] = json!({"a": "b"});
    store.create(Kind::ConfigMap, cm).unwrap();
    let held = store.delete_with(Kind::ConfigMap, Some("shop"), "c", &DeleteOptions::default()).unwrap();
    assert!(!held.gone);
    let mut watch = store.watch(Kind::ConfigMap, None, held.object.resource_version).unwrap();
    store
        .modify(Kind::ConfigMap, Some("shop"), "c", |c| {
            c["metadata"]["finalizers"] = json!([]);
            Ok(())
        })
        .unwrap();
    assert!(store.get(Kind::ConfigMap, Some("shop"), "c").is_none());
    assert_eq!(watch.try_recv().unwrap().event_type, EventType::Deleted);
}

#[test]
fn deleting_a_namespace_deletes_its_objects() {
    let store = store();
    store.create(Kind::Pod, pod("a")).unwrap();
    store.delete_with(Kind::Namespace, None, "shop", &DeleteOptions::default()).unwrap();
    assert!(store.list(Kind::Pod, None).0.is_empty());
}

#[test]
fn dry_run_changes_nothing() {
    let store = store();
    let dry = WriteOptions { dry_run: true };
    let would = store.create_with(Kind::Pod, pod("a"), dry).unwrap();
    assert_eq!(would.name(), "a");
    assert!(store.get(Kind::Pod, Some("shop"), "a").is_none());
    let created = store.create(Kind::Pod, pod("a")).unwrap();
    let mut changed = created.value.clone();
    changed["metadata"]["labels"]["x"] = json!("y");
    store.update_with(Kind::Pod, changed, dry).unwrap();
    assert_eq!(store.get(Kind::Pod, Some("shop"), "a").unwrap().resource_version, created.resource_version);
}

#[test]
fn invalid_objects_are_rejected_with_causes() {
    let store = store();
    let error = store
        .create(Kind::Pod, json!({"metadata": {"name": "Bad_Name", "namespace": "shop"}, "spec": {}}))
        .unwrap_err();
    assert_eq!(error.code(), 422);
    let causes = &error.to_status()["details"]["causes"];
    assert_eq!(causes[0]["field"], "metadata.name");
    assert_eq!(causes[1]["field"], "spec.containers");
}

#[test]
fn pages_follow_key_order() {
    let store = store();
    for name in ["c", "a", "b", "d"] {
        store.create(Kind::Pod, pod(name)).unwrap();
    }
    let (first, _, next) = store.list_page(Kind::Pod, Some("shop"), None, 3, |_| true);
    assert_eq!(first.iter().map(|p| p.name()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(next.as_deref(), Some("shop/c"));
    let (rest, _, more) = store.list_page(Kind::Pod, Some("shop"), next.as_deref(), 3, |_| true);
    assert_eq!(rest.iter().map(|p| p.name()).collect::<Vec<_>>(), ["d"]);
    assert_eq!(more, None);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Pages of any size, followed by their continue keys, list every object once, in key order.
        #[test]
        fn pages_cover_the_list_exactly(names in proptest::collection::btree_set("[a-z][a-z0-9]{0,8}", 0..30), limit in 1usize..7) {
            let store = store();
            for name in &names {
                store.create(Kind::ConfigMap, json!({"metadata": {"name": name, "namespace": "shop"}})).unwrap();
            }
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let (page, _, more) = store.list_page(Kind::ConfigMap, Some("shop"), after.as_deref(), limit, |_| true);
                prop_assert!(page.len() <= limit);
                seen.extend(page.iter().map(|o| o.name().to_string()));
                match more {
                    Some(key) => after = Some(key),
                    None => break,
                }
            }
            prop_assert_eq!(seen, names.into_iter().collect::<Vec<_>>());
        }

        /// Whatever the interleaving of writes, a watch from any past version replays exactly the
        /// later events, in increasing resourceVersion order.
        #[test]
        fn watch_replay_is_the_suffix_of_history(ops in proptest::collection::vec((0u8..3, 0usize..4), 1..40), from in 0usize..40) {
            let store = store();
            let (_, start) = store.list(Kind::ConfigMap, None);
            let mut versions = Vec::new();
            for (op, i) in ops {
                let name = format!("c{i}");
                let written = match op {
                    0 => store.create(Kind::ConfigMap, json!({"metadata": {"name": name, "namespace": "shop"}})),
                    1 => store.modify(Kind::ConfigMap, Some("shop"), &name, |c| {
                        c["data"] = json!({"v": c["metadata"]["resourceVersion"].clone()});
                        Ok(())
                    }),
                    _ => store.delete(Kind::ConfigMap, Some("shop"), &name),
                };
                if let Ok(object) = written {
                    versions.push(object.resource_version);
                }
            }
            let since = if from == 0 || versions.is_empty() { start } else { versions[(from - 1) % versions.len()] };
            let mut watch = store.watch(Kind::ConfigMap, None, since).unwrap();
            let mut replayed = Vec::new();
            while let Some(event) = watch.try_recv() {
                replayed.push(event.resource_version());
            }
            let expected: Vec<u64> = versions.iter().copied().filter(|v| *v > since).collect();
            prop_assert_eq!(replayed, expected);
        }
    }
}
