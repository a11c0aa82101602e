//! The watchtower end to end on the lab: the reasoning backend (the Ollama stand-in) answers slower than
//! the threshold (configured at 1 s here, 60 s by default), so medic turns monitor-only — it still
//! diagnoses the fault, the Executor answers `Suspended` instead of writing, the incident is escalated
//! saying why, and `GET /v1/health` reports the suspension and the routing state. When the backend answers
//! promptly again, the watchtower's probes release the writes and health says so. Slack (a stand-in for
//! Slack's incoming webhook: Slack cannot be reached from here) hears that writes are suspended and why,
//! the escalation, and then that writes resume, in that order.
use medic_agents::llm::stand_in::{OllamaStandIn, Reply};
use medic_agents::llm::{LlmConfig, ModelConfig};
use medic_chaos_tests::{Rig, RigConfig, experiment};
use medic_core::{AuditKind, RootCauseClass};
use medic_store::{Incident, IncidentStatus};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MODEL: &str = "llama3.1:8b";

fn settled(i: &Incident) -> bool {
    matches!(i.status, IncidentStatus::Resolved | IncidentStatus::Escalated | IncidentStatus::Failed)
}

/// A stand-in for a Slack incoming webhook: it takes a JSON body with `text` (and optional `blocks`) as
/// Slack does, answers `ok`, or `400 invalid_payload` / `400 no_text` like Slack; it keeps what it took.
struct SlackWebhookStandIn {
    url: String,
    posted: Arc<Mutex<Vec<Value>>>,
    handle: actix_web::dev::ServerHandle,
}

impl SlackWebhookStandIn {
    fn start() -> SlackWebhookStandIn {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let posted: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = posted.clone();
        let server = HttpServer::new(move || {
            let kept = kept.clone();
            App::new().route(
                "/services/T000/B000/XXXX",
                web::post().to(move |body: web::Bytes| {
                    let kept = kept.clone();
                    async move {
                        let Ok(value) = serde_json::from_slice::<Value>(&body) else {
                            return HttpResponse::BadRequest().body("invalid_payload");
                        };
                        if !value.get("text").is_some_and(Value::is_string) {
                            return HttpResponse::BadRequest().body("no_text");
                        }
                        kept.lock().unwrap().push(value);
                        HttpResponse::Ok().body("ok")
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let url = format!("http://{}/services/T000/B000/XXXX", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        SlackWebhookStandIn { url, posted, handle }
    }

    fn texts(&self) -> Vec<String> {
        self.posted.lock().unwrap().iter().map(|v| v.to_string()).collect()
    }

    /// The position of the first message whose notification text starts with `prefix`.
    fn first(&self, prefix: &str) -> Option<usize> {
        self.posted.lock().unwrap().iter().position(|v| v["text"].as_str().is_some_and(|t| t.starts_with(prefix)))
    }

    /// Waits up to 20 s for a message whose notification text starts with `prefix`; its position.
    async fn wait_for(&self, prefix: &str) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(at) = self.first(prefix) {
                return at;
            }
            assert!(Instant::now() < deadline, "no Slack message {prefix:?}: {:#?}", self.texts());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SlackWebhookStandIn {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_rt::spawn(async move { handle.stop(false).await });
    }
}

async fn health(rig: &Rig) -> Value {
    reqwest::get(format!("{}/v1/health", rig.medic.url())).await.unwrap().json().await.unwrap()
}

#[actix_rt::test]
async fn a_slow_model_suspends_writes_medic_keeps_diagnosing_and_recovery_releases_them() {
    let ollama = OllamaStandIn::start(&[MODEL]).await;
    ollama.always(MODEL, Reply::hypotheses(json!([])).after(Duration::from_millis(1_300)));
    let url = ollama.url().to_string();
    let slack = SlackWebhookStandIn::start();
    let webhook = slack.url.clone();
    let rig = Rig::start(RigConfig { seed: 41, ..RigConfig::default() }, move |c| {
        let mut llm = LlmConfig { url, models: vec![ModelConfig::new(MODEL)], retries: 0, ..LlmConfig::default() };
        llm.watchtower.slow_after_secs = 1.0;
        llm.watchtower.probe_backoff_ms = 100;
        llm.watchtower.probe_backoff_max_secs = 0.5;
        c.llm = Some(llm);
        // Room for the slow answer (1.3 s) to arrive before the specialists' reports, even on a busy machine.
        c.director.specialist_deadline_ms = 5_000;
        c.notify.sinks = vec![medic::notify::SinkConfig::SlackWebhook {
            name: None,
            url: Some(medic::secrets::Secret::new(webhook)),
            url_env: None,
            url_file: None,
        }];
    })
    .await
    .expect("the rig starts");
    rig.wait_healthy("shop", Duration::from_secs(600)).await.expect("the shop comes up");
    let before = health(&rig).await;
    assert_eq!(before["watchtower"]["writes"], "enabled", "{before}");
    assert_eq!(before["llm"]["routing"]["models"][0]["model"], MODEL, "{before}");

    rig.apply(&experiment("cart-memory-stress.yaml").unwrap()).unwrap();
    let incident = rig
        .wait_for_incident(Duration::from_secs(30 * 60), |i| {
            i.root_cause == Some(RootCauseClass::OomMemoryLimit) && settled(i)
        })
        .await
        .expect("the OOM is diagnosed and the incident settles");
    let story = rig.timeline(&incident).await.unwrap();
    assert_eq!(incident.status, IncidentStatus::Escalated, "{story}");
    let timeline = rig.medic.store.timeline(incident.uid).await.unwrap();
    assert!(!timeline.iter().any(|r| r.entry.kind == AuditKind::ActionApplied), "nothing written:\n{story}");
    let escalated = timeline.iter().find(|r| r.entry.kind == AuditKind::Escalated).expect("escalated");
    assert!(escalated.entry.summary.contains("writes suspended: watchtower:"), "{story}");
    assert!(escalated.entry.summary.contains("slower than the 1 s threshold"), "{story}");

    // Slack hears it: the incident is escalated because writes are suspended, and says why.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !slack.texts().iter().any(|t| t.contains("writes suspended: watchtower:")) {
        assert!(Instant::now() < deadline, "no Slack message about the suspension: {:#?}", slack.texts());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // medic's own message: writes are suspended, and why.
    let suspended = slack.wait_for("medic: writes suspended").await;
    let message = slack.posted.lock().unwrap()[suspended].to_string();
    assert!(message.contains("slower than the 1 s threshold"), "{message}");
    assert!(message.contains("Writes suspended: medic is monitor-only"), "{message}");
    assert_eq!(slack.first("medic: writes resume"), None, "{:#?}", slack.texts());

    let during = health(&rig).await;
    assert_eq!(during["status"], "degraded", "{during}");
    assert_eq!(during["watchtower"]["writes"], "suspended", "{during}");
    assert!(during["watchtower"]["reason"].as_str().unwrap().contains(MODEL), "{during}");
    assert_eq!(during["llm"]["watchtower"]["slow_after_secs"], 1.0, "{during}");
    assert!(during["llm"]["routing"]["models"][0]["calls"].as_u64().unwrap() >= 1, "{during}");

    // The backend recovers: the watchtower's probes see prompt answers and writes resume.
    ollama.always(MODEL, Reply::hypotheses(json!([])));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let after = health(&rig).await;
        if after["watchtower"]["writes"] == "enabled" {
            assert_eq!(after["status"], "ok", "{after}");
            assert!(after["llm"]["watchtower"]["engagements"].as_u64().unwrap() >= 1, "{after}");
            break;
        }
        assert!(Instant::now() < deadline, "writes still suspended: {after}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Slack hears that writes resume, after it heard they were suspended.
    let resumed = slack.wait_for("medic: writes resume").await;
    assert!(suspended < resumed, "{:#?}", slack.texts());
    let message = slack.posted.lock().unwrap()[resumed].to_string();
    assert!(message.contains("prompt answers in a row"), "{message}");
    rig.stop().await;
}
