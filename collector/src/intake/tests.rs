//! The intake against a real SQLite store and probe actors: what is stored, what is answered, what is sent on.
use super::*;
use crate::testing::{probe, settle};
use medic_core::AlertStatus;
use medic_store::StoreConfig;
use std::path::PathBuf;
use std::sync::Arc;

const TOKEN: &str = "am-token-1234";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/alertmanager").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

struct Harness {
    intake: Intake,
    store: Store,
    opened: Arc<std::sync::Mutex<Vec<OpenIncident>>>,
    resolved: Arc<std::sync::Mutex<Vec<AlertResolved>>>,
    _dir: tempfile::TempDir,
}

async fn harness(config: IntakeConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig::new(dir.path().join("medic.db")).build_async(Arc::new(SystemClock)).await.unwrap();
    let (open_incident, opened) = probe::<OpenIncident>();
    let (alert_resolved, resolved) = probe::<AlertResolved>();
    let env = |var: &str| (var == "MEDIC_AM_TOKEN").then(|| TOKEN.to_string());
    let intake = config
        .build_with(store.clone(), IntakeOutputs { open_incident, alert_resolved }, Arc::new(SystemClock), env)
        .unwrap();
    Harness { intake, store, opened, resolved, _dir: dir }
}

fn config() -> IntakeConfig {
    let bearer = AuthConfig::Bearer { token: None, token_env: Some("MEDIC_AM_TOKEN".into()) };
    IntakeConfig {
        max_body_bytes: 4096,
        alertmanager: Some(ReceiverConfig { auth: bearer.clone() }),
        goalert: Some(ReceiverConfig { auth: bearer }),
        generic: Some(ReceiverConfig { auth: AuthConfig::None }),
    }
}

fn bearer() -> Option<&'static str> {
    Some("Bearer am-token-1234")
}

#[actix_rt::test]
async fn an_alertmanager_webhook_is_stored_before_the_ack_and_opens_one_incident() {
    let h = harness(config()).await;
    let ack =
        h.intake.receive(AlertSource::Alertmanager, bearer(), &fixture("alertmanager_payload.json")).await.unwrap();
    assert_eq!((ack.received, ack.new, ack.duplicates, ack.opened.len()), (1, 1, 0, 1));
    let incident = ack.opened[0];
    assert_eq!(ack.incidents, vec![incident]);
    // Durable once answered: a fresh read sees the alert and the incident's first audit entries.
    assert_eq!(h.store.alert_count().await.unwrap(), 1);
    let timeline = h.store.timeline(incident).await.unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|r| r.entry.kind.as_str()).collect();
    assert!(kinds.contains(&"incident-opened") && kinds.contains(&"alert-received"), "{kinds:?}");

    settle().await;
    let opened = h.opened.lock().unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].incident, incident);
    assert_eq!(opened[0].alerts[0].fingerprint, "75d4aa544bbbfc2f");
    assert_eq!(opened[0].alerts[0].label("pod"), Some("web-7d9f8-abcde"));
}

#[actix_rt::test]
async fn a_redelivery_is_a_duplicate_and_opens_nothing_more() {
    let h = harness(config()).await;
    let body = fixture("alertmanager_payload.json");
    let first = h.intake.receive(AlertSource::Alertmanager, bearer(), &body).await.unwrap();
    // Alertmanager retries quickly after a 5xx; the body is byte for byte the same.
    for _ in 0..3 {
        let again = h.intake.receive(AlertSource::Alertmanager, bearer(), &body).await.unwrap();
        assert_eq!((again.new, again.duplicates, again.opened.len()), (0, 1, 0));
        assert_eq!(again.incidents, first.opened, "the duplicate still names its incident");
    }
    settle().await;
    assert_eq!(h.store.alert_count().await.unwrap(), 1);
    assert_eq!(h.opened.lock().unwrap().len(), 1, "one OpenIncident, one collection, one action");
}

#[actix_rt::test]
async fn a_resolution_is_recorded_on_its_incident_and_handed_on() {
    let h = harness(config()).await;
    let opened =
        h.intake.receive(AlertSource::Alertmanager, bearer(), &fixture("alertmanager_payload.json")).await.unwrap();
    let ack = h
        .intake
        .receive(AlertSource::Alertmanager, bearer(), &fixture("alertmanager_payload_resolved.json"))
        .await
        .unwrap();
    assert_eq!((ack.new, ack.resolved, ack.opened.len()), (0, 1, 0));
    assert_eq!(ack.incidents, opened.opened);
    // The resolution redelivered is a duplicate: no second AlertResolved.
    let again = h
        .intake
        .receive(AlertSource::Alertmanager, bearer(), &fixture("alertmanager_payload_resolved.json"))
        .await
        .unwrap();
    assert_eq!((again.resolved, again.duplicates), (0, 1));
    settle().await;
    {
        let resolved = h.resolved.lock().unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].incident, opened.opened[0]);
        assert_eq!(resolved[0].alert.status, AlertStatus::Resolved);
    }
    let alerts = h.store.incident_alerts(opened.opened[0]).await.unwrap();
    assert_eq!(alerts[0].alert.status, AlertStatus::Resolved);
}

#[actix_rt::test]
async fn refused_requests_store_and_send_nothing() {
    let h = harness(config()).await;
    let good = fixture("alertmanager_payload.json");
    let mut oversized = good.clone();
    oversized.resize(5000, b' ');
    let malformed = String::from_utf8(good.clone()).unwrap().replace("\"startsAt\"", "\"startedAt\"");
    /// What, to which receiver, with which credentials, which body, and the status and reason expected.
    type Case<'a> = (&'a str, AlertSource, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("no credentials", AlertSource::Alertmanager, None, good.clone(), 401, "authentication required"),
        ("wrong token", AlertSource::Alertmanager, Some("Bearer nope"), good.clone(), 401, "do not match"),
        ("basic instead of bearer", AlertSource::Alertmanager, Some("Basic YTpi"), good.clone(), 401, "Bearer"),
        ("oversized", AlertSource::Alertmanager, bearer(), oversized, 413, "larger than the limit of 4096"),
        ("malformed", AlertSource::Alertmanager, bearer(), malformed.into_bytes(), 400, "alerts[0].startedAt"),
        ("not json", AlertSource::Alertmanager, bearer(), b"alert!".to_vec(), 400, "not valid JSON"),
        ("wrong receiver", AlertSource::Generic, None, good.clone(), 400, "unknown field `receiver`"),
        ("watch is not a webhook", AlertSource::Watch, None, good, 404, "not enabled"),
    ];
    for (what, source, auth, body, status, needle) in cases {
        let err = h.intake.receive(source, auth, &body).await.expect_err(what);
        assert_eq!(err.status(), status, "{what}: {err}");
        assert!(err.reason().contains(needle), "{what}: {err}");
        assert!(!err.reason().contains(TOKEN), "{what}: the secret never shows");
    }
    settle().await;
    assert_eq!(h.store.alert_count().await.unwrap(), 0);
    assert!(h.opened.lock().unwrap().is_empty());
}

#[actix_rt::test]
async fn a_receiver_that_is_not_configured_is_disabled() {
    let h = harness(IntakeConfig { goalert: None, ..config() }).await;
    let err = h.intake.receive(AlertSource::Goalert, bearer(), br#"{"Type":"Test"}"#).await.unwrap_err();
    assert_eq!((err.status(), err.reason()), (404, "the goalert receiver is not enabled".to_string()));
}

#[actix_rt::test]
async fn goalert_renotifications_are_one_alert_and_a_close_resolves_it() {
    let h = harness(config()).await;
    let alert = br#"{"AppName":"GoAlert","Type":"Alert","AlertID":42,"Summary":"cart is down","Details":"",
        "ServiceID":"s1","ServiceName":"shop","Meta":{"namespace":"shop","deployment":"cart"}}"#;
    let first = h.intake.receive(AlertSource::Goalert, bearer(), alert).await.unwrap();
    assert_eq!((first.new, first.opened.len()), (1, 1));
    let again = h.intake.receive(AlertSource::Goalert, bearer(), alert).await.unwrap();
    assert_eq!((again.new, again.duplicates), (0, 1));
    let test =
        h.intake.receive(AlertSource::Goalert, bearer(), br#"{"AppName":"GoAlert","Type":"Test"}"#).await.unwrap();
    assert_eq!(test, IntakeAck::default());
    let close =
        br#"{"AppName":"GoAlert","Type":"AlertStatus","AlertID":42,"LogEntry":"Closed by Ann","AlertState":"Closed"}"#;
    let closed = h.intake.receive(AlertSource::Goalert, bearer(), close).await.unwrap();
    assert_eq!((closed.resolved, closed.incidents.clone()), (1, first.opened.clone()));
    settle().await;
    assert_eq!(h.resolved.lock().unwrap()[0].incident, first.opened[0]);
}

#[actix_rt::test]
async fn generic_alerts_of_one_workload_group_into_one_incident() {
    let h = harness(config()).await;
    let body = br#"{"alerts":[
        {"name":"CartErrors","status":"firing","startsAt":"2026-03-01T12:00:00Z","labels":{"namespace":"shop","deployment":"cart"}},
        {"name":"CartLatency","status":"firing","startsAt":"2026-03-01T12:00:05Z","labels":{"namespace":"shop","deployment":"cart"}}]}"#;
    let ack = h.intake.receive(AlertSource::Generic, None, body).await.unwrap();
    assert_eq!((ack.new, ack.opened.len(), ack.incidents.len()), (2, 1, 1));
    settle().await;
    let opened = h.opened.lock().unwrap();
    let names: Vec<&str> = opened[0].alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["CartErrors", "CartLatency"]);
}

#[test]
fn content_types_other_than_json_are_unsupported() {
    for ok in [None, Some("application/json"), Some("application/json; charset=utf-8"), Some("Application/JSON")] {
        assert!(Intake::check_content_type(ok).is_ok(), "{ok:?}");
    }
    let err = Intake::check_content_type(Some("text/plain")).unwrap_err();
    assert_eq!(err.status(), 415);
}

#[test]
fn the_config_has_defaults_and_refuses_typos_and_silly_limits() {
    let config: IntakeConfig = serde_json::from_str(
        r#"{"alertmanager":{"auth":{"scheme":"bearer","token_env":"MEDIC_AM_TOKEN"}},"generic":{"auth":{"scheme":"none"}}}"#,
    )
    .unwrap();
    assert_eq!(config.max_body_bytes, 1024 * 1024);
    assert!(config.goalert.is_none());
    let typo = serde_json::from_str::<IntakeConfig>(r#"{"max_body_byte":10}"#).unwrap_err();
    assert!(typo.to_string().contains("max_body_byte"), "{typo}");
    let tiny = IntakeConfig { max_body_bytes: 10, ..IntakeConfig::default() };
    assert!(tiny.validate().unwrap_err().to_string().contains("intake.max_body_bytes"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// No input makes a parser panic; every refusal is a 4xx with a reason.
        #[test]
        fn parsers_never_panic_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let now = Timestamp::UNIX_EPOCH;
            for result in [alertmanager::parse(&body), generic::parse(&body), goalert::parse(&body, now)] {
                if let Err(e) = result {
                    prop_assert!((400..500).contains(&e.status()));
                    prop_assert!(!e.reason().is_empty());
                }
            }
        }

        /// Nor does JSON of the right outline with wrong pieces.
        #[test]
        fn parsers_never_panic_on_json_shapes(
            version in prop_oneof![Just("\"4\"".to_string()), Just("4".to_string()), "\"[0-9]\"", Just("null".to_string())],
            status in prop_oneof![Just("firing"), Just("resolved"), Just("bogus")],
            starts in prop_oneof![Just("2026-01-01T00:00:00Z".to_string()), Just("0001-01-01T00:00:00Z".to_string()), "[0-9T:Z-]{0,25}"],
            ends in prop_oneof![Just("0001-01-01T00:00:00Z".to_string()), Just("2025-01-01T00:00:00Z".to_string()), "[0-9T:Z-]{0,25}"],
            label in "[a-z_]{0,8}",
            value in prop_oneof![Just("\"v\"".to_string()), Just("1".to_string()), Just("[]".to_string()), Just("{}".to_string())],
        ) {
            let am = format!(r#"{{"version":{version},"status":"{status}","receiver":"r","groupKey":"g","alerts":[{{"status":"{status}","labels":{{"{label}":{value}}},"annotations":{{}},"startsAt":"{starts}","endsAt":"{ends}"}}]}}"#);
            let generic = format!(r#"{{"alerts":[{{"name":"{label}","status":"{status}","labels":{{"{label}":{value}}},"startsAt":"{starts}","endsAt":"{ends}"}}]}}"#);
            let goalert = format!(r#"{{"Type":"{status}","AlertID":{value},"Summary":"{label}","Meta":{{"{label}":{value}}}}}"#);
            for result in [alertmanager::parse(am.as_bytes()), generic::parse(generic.as_bytes()), goalert::parse(goalert.as_bytes(), Timestamp::UNIX_EPOCH)] {
                match result {
                    Ok(alerts) => for a in alerts {
                        prop_assert!(!a.fingerprint.is_empty());
                        prop_assert!(a.ends_at.is_none_or(|end| end >= a.starts_at));
                    },
                    Err(e) => prop_assert!((400..500).contains(&e.status()), "{e}"),
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever order and however often alerts are delivered, each is stored once, and each incident
        /// is handed to the collector exactly once.
        #[test]
        fn redeliveries_never_duplicate_alerts_or_incidents(
            deliveries in proptest::collection::vec((0usize..4, 0usize..3), 1..12),
        ) {
            let system = actix::System::new();
            system.block_on(async {
                let h = harness(config()).await;
                let mut distinct = std::collections::BTreeSet::new();
                for (workload, start) in &deliveries {
                    distinct.insert((workload, start));
                    let body = format!(
                        r#"{{"alerts":[{{"name":"Down","status":"firing","startsAt":"2026-03-01T12:0{start}:00Z","labels":{{"namespace":"shop","deployment":"w{workload}"}}}}]}}"#
                    );
                    h.intake.receive(AlertSource::Generic, None, body.as_bytes()).await.unwrap();
                }
                settle().await;
                assert_eq!(h.store.alert_count().await.unwrap() as usize, distinct.len());
                let workloads: std::collections::BTreeSet<_> = deliveries.iter().map(|(w, _)| w).collect();
                let opened = h.opened.lock().unwrap();
                assert_eq!(opened.len(), workloads.len(), "one incident per workload within the window");
                let uids: std::collections::BTreeSet<_> = opened.iter().map(|o| o.incident).collect();
                assert_eq!(uids.len(), opened.len());
            });
        }
    }
}

#[actix_rt::test]
async fn a_burst_of_incidents_all_reach_the_collector() {
    let h = harness(IntakeConfig { max_body_bytes: 1024 * 1024, ..config() }).await;
    // More incidents in one body than an actor mailbox holds by default (16).
    let alerts: Vec<String> = (0..40)
        .map(|i| {
            format!(
                r#"{{"name":"Down","status":"firing","startsAt":"2026-03-01T12:00:00Z","labels":{{"namespace":"shop","deployment":"w{i}"}}}}"#
            )
        })
        .collect();
    let body = format!(r#"{{"alerts":[{}]}}"#, alerts.join(","));
    let ack = h.intake.receive(AlertSource::Generic, None, body.as_bytes()).await.unwrap();
    assert_eq!(ack.opened.len(), 40);
    settle().await;
    assert_eq!(h.opened.lock().unwrap().len(), 40);
}
