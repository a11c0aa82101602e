//! Durable intake: dedup, grouping, resolution, and alerts surviving a reopen.
use jiff::SignedDuration;

use medic_core::AlertStatus;
use medic_store::{IncidentFilter, IncidentStatus, StoreConfig};

use crate::common::{TestStore, firing, resolved, with_group_key};

fn crashloop(fp: &str, ns: &str, pod: &str) -> medic_core::Alert {
    firing(fp, &[("alertname", "KubePodCrashLooping"), ("namespace", ns), ("pod", pod)])
}

#[tokio::test]
async fn a_redelivered_alert_is_a_duplicate_of_the_first() {
    let t = TestStore::new();
    let alert = crashloop("aaa", "shop", "cart-5d4f8c7b9-x2x4z");
    let first = t.store.ingest(vec![alert.clone()]).await.unwrap();
    let again = t.store.ingest(vec![alert.clone(), alert.clone()]).await.unwrap();
    let first = &first.alerts[0];
    assert!(first.new_alert && first.new_incident && !first.duplicate());
    for redelivery in &again.alerts {
        assert!(redelivery.duplicate(), "{redelivery:?}");
        assert_eq!((redelivery.id, redelivery.incident), (first.id, first.incident));
    }
    assert_eq!(t.store.alert_count().await.unwrap(), 1);
    // Same fingerprint, later startsAt: a new occurrence.
    let mut later = alert.clone();
    later.starts_at = later.starts_at.checked_add(SignedDuration::from_mins(30)).unwrap();
    let next = t.store.ingest(vec![later]).await.unwrap();
    assert!(next.alerts[0].new_alert);
    // Same fingerprint from another source: another alert too.
    let mut other_source = alert;
    other_source.source = medic_core::AlertSource::Goalert;
    assert!(t.store.ingest(vec![other_source]).await.unwrap().alerts[0].new_alert);
}

#[tokio::test]
async fn alerts_of_one_workload_group_into_one_incident_within_the_window() {
    let t = TestStore::new();
    let pod_alert = crashloop("p1", "shop", "cart-5d4f8c7b9-x2x4z");
    let deploy_alert =
        firing("d1", &[("alertname", "KubeDeploymentReplicasMismatch"), ("namespace", "shop"), ("deployment", "cart")]);
    let other_workload = crashloop("p2", "shop", "payments-6c7b9d8f5-qq2zz");
    let outcome = t.store.ingest(vec![pod_alert, deploy_alert, other_workload]).await.unwrap();
    let [pod, deploy, other] = &outcome.alerts[..] else { panic!("three outcomes") };
    assert!(pod.new_incident);
    assert!(!deploy.new_incident && deploy.new_alert);
    assert_eq!(deploy.incident, pod.incident, "a deployment and its pod are one workload");
    assert!(other.new_incident);
    assert_ne!(other.incident, pod.incident);

    // Within the window (10 min by default) a new alert of the workload joins; after it, it opens anew.
    t.clock.advance(SignedDuration::from_mins(9));
    let joined = t.store.ingest(vec![crashloop("p3", "shop", "cart-5d4f8c7b9-abc12")]).await.unwrap();
    assert_eq!(joined.alerts[0].incident, pod.incident);
    t.clock.advance(SignedDuration::from_mins(2));
    let late = t.store.ingest(vec![crashloop("p4", "shop", "cart-5d4f8c7b9-zz9zz")]).await.unwrap();
    assert!(late.alerts[0].new_incident, "the first incident was opened 11 minutes ago");

    let incident = t.store.incident(pod.incident.unwrap()).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Open);
    assert_eq!(incident.namespace.as_deref(), Some("shop"));
    assert_eq!(incident.workload.as_deref(), Some("cart"));
    assert_eq!(incident.target.unwrap().to_string(), "Pod/shop/cart-5d4f8c7b9-x2x4z");
    assert_eq!(incident.title, "KubePodCrashLooping (shop/cart): something is wrong");
    assert_eq!((incident.alerts, incident.firing), (3, 3));
    let alerts = t.store.incident_alerts(incident.uid).await.unwrap();
    let fingerprints: Vec<_> = alerts.iter().map(|a| a.alert.fingerprint.as_str()).collect();
    assert_eq!(fingerprints, ["p1", "d1", "p3"]);
}

#[tokio::test]
async fn the_group_key_joins_alerts_of_a_namespace_but_never_across_namespaces() {
    let t = TestStore::new();
    let key = r#"{}:{alertname="KubePodCrashLooping"}"#;
    let a = with_group_key(crashloop("g1", "shop", "cart-5d4f8c7b9-x2x4z"), key);
    let b = with_group_key(crashloop("g2", "shop", "payments-6c7b9d8f5-qq2zz"), key);
    let c = with_group_key(crashloop("g3", "billing", "cart-5d4f8c7b9-x2x4z"), key);
    let outcome = t.store.ingest(vec![a, b, c]).await.unwrap();
    let [a, b, c] = &outcome.alerts[..] else { panic!("three outcomes") };
    assert_eq!(b.incident, a.incident, "same group key, same namespace");
    assert!(c.new_incident, "same group key and workload name, other namespace");
    // The group key has no window: a day later the open incident still takes the group's alerts.
    t.clock.advance(SignedDuration::from_hours(24));
    let d = with_group_key(crashloop("g4", "shop", "search-7b9d8f5c6-kk4zz"), key);
    assert_eq!(t.store.ingest(vec![d]).await.unwrap().alerts[0].incident, a.incident);
}

#[tokio::test]
async fn closed_incidents_take_no_new_alerts() {
    let t = TestStore::new();
    let first = t.store.ingest(vec![crashloop("c1", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap();
    let uid = first.alerts[0].incident.unwrap();
    assert_eq!(t.store.set_incident_status(uid, IncidentStatus::Escalated).await.unwrap(), IncidentStatus::Open);
    let escalated = t.store.ingest(vec![crashloop("c2", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap();
    assert_eq!(escalated.alerts[0].incident, Some(uid), "an escalated incident is still open");
    t.store.set_incident_status(uid, IncidentStatus::Resolved).await.unwrap();
    let after = t.store.ingest(vec![crashloop("c3", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap();
    assert!(after.alerts[0].new_incident);
    assert_ne!(after.alerts[0].incident, Some(uid));
}

#[tokio::test]
async fn a_resolution_updates_the_alert_and_is_recorded_on_its_incident() {
    let t = TestStore::new();
    let alert = crashloop("r1", "shop", "cart-5d4f8c7b9-x2x4z");
    let opened = t.store.ingest(vec![alert.clone()]).await.unwrap();
    let uid = opened.alerts[0].incident.unwrap();
    let resolution = t.store.ingest(vec![resolved(&alert)]).await.unwrap();
    let r = &resolution.alerts[0];
    assert!(r.resolved && !r.new_alert && !r.duplicate());
    assert_eq!((r.id, r.incident), (opened.alerts[0].id, Some(uid)));
    let again = t.store.ingest(vec![resolved(&alert), alert.clone()]).await.unwrap();
    assert!(again.alerts.iter().all(|a| a.duplicate()), "a late firing redelivery does not reopen it");

    let row = t.store.alert(r.id).await.unwrap().unwrap();
    assert_eq!(row.alert.status, AlertStatus::Resolved);
    assert_eq!(row.alert.ends_at, resolved(&alert).ends_at);
    let incident = t.store.incident(uid).await.unwrap().unwrap();
    assert_eq!((incident.alerts, incident.firing), (1, 0));
    let kinds: Vec<_> = t.store.timeline(uid).await.unwrap().iter().map(|r| r.entry.kind.as_str()).collect();
    assert_eq!(kinds, ["incident-opened", "alert-received", "alert-resolved"]);
}

#[tokio::test]
async fn a_resolution_never_seen_firing_is_kept_but_opens_nothing() {
    let t = TestStore::new();
    let unknown = resolved(&crashloop("u1", "shop", "cart-5d4f8c7b9-x2x4z"));
    let outcome = t.store.ingest(vec![unknown.clone()]).await.unwrap();
    let u = &outcome.alerts[0];
    assert!(u.new_alert && u.resolved && !u.new_incident && u.incident.is_none());
    assert!(t.store.incidents_open().await.unwrap().is_empty());
    // With an open incident of its workload, it is recorded there.
    let open = t.store.ingest(vec![crashloop("u2", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap();
    let other = resolved(&crashloop("u3", "shop", "cart-5d4f8c7b9-x2x4z"));
    let joined = t.store.ingest(vec![other]).await.unwrap();
    assert_eq!(joined.alerts[0].incident, open.alerts[0].incident);
    assert!(t.store.ingest(vec![unknown]).await.unwrap().alerts[0].duplicate());
}

#[tokio::test]
async fn incidents_list_newest_first_with_filters() {
    let t = TestStore::new();
    let mut uids = Vec::new();
    for (i, ns) in ["shop", "billing", "shop", "shop"].iter().enumerate() {
        let outcome = t.store.ingest(vec![crashloop(&format!("l{i}"), ns, &format!("app{i}-x7k2p"))]).await.unwrap();
        uids.push(outcome.alerts[0].incident.unwrap());
        t.clock.advance(SignedDuration::from_secs(1));
    }
    t.store.set_incident_status(uids[2], IncidentStatus::Diagnosed).await.unwrap();
    t.store.set_incident_status(uids[3], IncidentStatus::Closed).await.unwrap();
    let all: Vec<_> = t.store.incidents(IncidentFilter::default()).await.unwrap().into_iter().map(|i| i.uid).collect();
    assert_eq!(all, [uids[3], uids[2], uids[1], uids[0]]);
    let shop: Vec<_> = t
        .store
        .incidents(IncidentFilter::default().namespace("shop").limit(2))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.uid)
        .collect();
    assert_eq!(shop, [uids[3], uids[2]]);
    let filter = IncidentFilter::default().status(IncidentStatus::Open).status(IncidentStatus::Diagnosed);
    let some: Vec<_> = t.store.incidents(filter).await.unwrap().into_iter().map(|i| i.uid).collect();
    assert_eq!(some, [uids[2], uids[1], uids[0]]);
    let open: Vec<_> = t.store.incidents_open().await.unwrap().into_iter().map(|i| i.uid).collect();
    assert_eq!(open, [uids[2], uids[1], uids[0]]);
    let closed = t.store.incident(uids[3]).await.unwrap().unwrap();
    assert_eq!(closed.resolved_at, Some(t.clock_now()));
}

#[tokio::test]
async fn incidents_are_found_by_uid_or_short_form_and_take_a_diagnosis() {
    let t = TestStore::new();
    let uid = t.store.ingest(vec![crashloop("s1", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap().alerts[0]
        .incident
        .unwrap();
    assert_eq!(t.store.find_incident(&uid.to_string()).await.unwrap().unwrap().uid, uid);
    assert_eq!(t.store.find_incident(&uid.short()).await.unwrap().unwrap().uid, uid);
    assert_eq!(t.store.find_incident(&uid.short().to_uppercase()).await.unwrap().unwrap().uid, uid);
    assert!(t.store.find_incident("inc-zzzzzzzz").await.unwrap().is_none());
    assert!(t.store.find_incident("nonsense").await.unwrap().is_none());

    let diagnosis = medic_store::Diagnosis {
        class: medic_core::RootCauseClass::DependencyDown,
        target: Some(medic_core::ObjectRef::deployment("shop", "postgres")),
        summary: "cart crashes because postgres is down".into(),
    };
    t.store.set_diagnosis(uid, diagnosis).await.unwrap();
    let incident = t.store.incident(uid).await.unwrap().unwrap();
    assert_eq!(incident.root_cause, Some(medic_core::RootCauseClass::DependencyDown));
    assert_eq!(incident.target.unwrap().to_string(), "Deployment/shop/postgres");
    assert_eq!(incident.diagnosis.as_deref(), Some("cart crashes because postgres is down"));
    let missing = medic_core::IncidentUid::new();
    assert!(matches!(
        t.store.set_incident_status(missing, IncidentStatus::Closed).await,
        Err(medic_store::Error::IncidentNotFound(u)) if u == missing
    ));
}

#[tokio::test]
async fn every_acknowledged_alert_is_in_the_file_after_a_reopen() {
    let mut t = TestStore::new();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = t.store.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for batch in 0..25 {
                    let alerts: Vec<_> = (0..20)
                        .map(|i| {
                            crashloop(&format!("t{task}-b{batch}-{i}"), &format!("ns{}", i % 3), &format!("w{i}-x7k2p"))
                        })
                        .collect();
                    let outcome = store.ingest(alerts).await.unwrap();
                    acknowledged.extend(outcome.alerts.into_iter().map(|a| (a.alert.fingerprint, a.id, a.incident)));
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 8 * 25 * 20);
    // Drop every handle without closing: the writer thread may still be running when the file is reopened.
    let path = t.path();
    drop(std::mem::replace(&mut t.store, StoreConfig::new(t.dir.path().join("other.db")).build().unwrap()));
    let reopened = StoreConfig::new(&path).build_with_clock(t.clock.clone()).unwrap();
    assert_eq!(reopened.alert_count().await.unwrap(), acknowledged.len() as u64);
    for (fingerprint, id, incident) in acknowledged {
        let row = reopened.alert(id).await.unwrap().unwrap_or_else(|| panic!("alert {fingerprint} is missing"));
        assert_eq!((row.alert.fingerprint, row.incident), (fingerprint, incident));
    }
    assert_eq!(
        reopened.verify_audit().await.unwrap(),
        8 * 25 * 20 + reopened.incidents_open().await.unwrap().len() as u64
    );
}

#[tokio::test]
async fn reopening_keeps_grouping_and_the_audit_chain() {
    let mut t = TestStore::new();
    let first = t.store.ingest(vec![crashloop("o1", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap();
    t.reopen().await;
    let second = t.store.ingest(vec![crashloop("o2", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap();
    assert_eq!(second.alerts[0].incident, first.alerts[0].incident);
    assert!(t.store.ingest(vec![crashloop("o1", "shop", "cart-5d4f8c7b9-x2x4z")]).await.unwrap().alerts[0].duplicate());
    assert_eq!(t.store.verify_audit().await.unwrap(), 3);
}

#[tokio::test]
async fn after_its_incident_closes_a_group_moves_to_the_next_incident() {
    let t = TestStore::new();
    let key = r#"{}:{alertname="KubeNodeNotReady"}"#;
    let node =
        |fp: &str, name: &str| with_group_key(firing(fp, &[("alertname", "KubeNodeNotReady"), ("node", name)]), key);
    let first = t.store.ingest(vec![node("n1", "node-1"), node("n2", "node-2")]).await.unwrap();
    let uid = first.alerts[0].incident.unwrap();
    assert_eq!(first.alerts[1].incident, Some(uid), "cluster-scoped alerts share a group too");
    t.store.set_incident_status(uid, IncidentStatus::Closed).await.unwrap();
    let second = t.store.ingest(vec![node("n3", "node-3")]).await.unwrap();
    let next = second.alerts[0].incident.unwrap();
    assert!(second.alerts[0].new_incident && next != uid);
    t.clock.advance(SignedDuration::from_hours(2));
    let third = t.store.ingest(vec![node("n4", "node-1")]).await.unwrap();
    assert_eq!(third.alerts[0].incident, Some(next), "the group follows its latest incident");
    let incident = t.store.incident(next).await.unwrap().unwrap();
    assert_eq!((incident.namespace, incident.alerts), (None, 2));
}
