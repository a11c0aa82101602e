//! The webhook intake through medic's real HTTP endpoint: redelivery is idempotent, and unauthenticated,
//! malformed or oversized requests are refused with a reason and store nothing.
use medic_chaos_tests::{Rig, RigConfig};
use std::path::PathBuf;
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/alertmanager").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

async fn post(rig: &Rig, auth: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{}/v1/webhooks/alertmanager", rig.medic.url()))
        .header("content-type", "application/json")
        .body(body);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.expect("medic answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

#[actix_rt::test]
async fn redelivery_is_one_alert_and_bad_requests_store_nothing() {
    let rig = Rig::start(RigConfig { lab_alerts: false, ..RigConfig::default() }, |_| {}).await.unwrap();
    let bearer = format!("Bearer {}", rig.token);
    let body = fixture("alertmanager_payload_from_prometheus.json");

    let (status, ack) = post(&rig, Some(&bearer), body.clone()).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["new"], 1);
    assert_eq!(ack["opened"].as_array().unwrap().len(), 1);

    // Alertmanager retries quickly after a 5xx or a timeout: the same alert again is nothing new.
    let (status, again) = post(&rig, Some(&bearer), body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicates"], 1);
    assert!(again["opened"].as_array().unwrap().is_empty());
    assert_eq!(rig.medic.store.alert_count().await.unwrap(), 1);

    let refusals: Vec<(Option<String>, Vec<u8>, u16, &str)> = vec![
        (None, body.clone(), 401, "authentication required"),
        (Some("Bearer wrong-token".into()), body.clone(), 401, "do not match"),
        (
            Some(bearer.clone()),
            b"{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"labels\":7}]}".to_vec(),
            400,
            "alerts[0].labels",
        ),
        (Some(bearer.clone()), b"not json".to_vec(), 400, "not valid JSON"),
        (Some(bearer.clone()), vec![b' '; 2 * 1024 * 1024], 413, "larger than the limit"),
    ];
    for (auth, body, expected, reason) in refusals {
        let (status, answer) = post(&rig, auth.as_deref(), body).await;
        assert_eq!(status, expected, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{expected}: expected the reason to mention {reason:?}, got {error:?}");
    }
    assert_eq!(rig.medic.store.alert_count().await.unwrap(), 1, "a refused request stored something");

    // The one incident is diagnosed once: redelivery caused no second decision.
    let incident = rig.wait_until_settled(Duration::from_secs(600)).await.unwrap();
    let decisions = rig
        .medic
        .store
        .timeline(incident.uid)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.entry.kind == medic_core::AuditKind::Decision)
        .count();
    assert_eq!(decisions, 1);
    assert_eq!(rig.medic.store.incidents(Default::default()).await.unwrap().len(), 1);
    rig.stop().await;
}
