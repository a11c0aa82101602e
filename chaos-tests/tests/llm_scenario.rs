//! A fault the rules escalate, resolved with a model: a rollout makes the cart's new pods wait for a
//! ConfigMap nobody created (`CreateContainerConfigError`). The rules find nothing they can act on and hand
//! the incident to a human; with the model assist configured (Ollama, here its stand-in scripted with the
//! right answer), the model names the config error at the deployment, quoting the waiting reason from the
//! context, its hypothesis checks out, and medic rolls the deployment back and verifies the recovery.
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use medic::config::MedicConfig;
use medic_agents::llm::stand_in::{OllamaStandIn, Reply};
use medic_agents::llm::{LlmConfig, ModelConfig};
use medic_chaos_tests::{Rig, RigConfig};
use medic_core::{AuditKind, RootCauseClass};
use medic_store::{Incident, IncidentStatus};
use serde_json::json;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(600);
const MODEL: &str = "qwen2.5:7b-instruct";

fn settled(i: &Incident) -> bool {
    matches!(i.status, IncidentStatus::Resolved | IncidentStatus::Escalated | IncidentStatus::Failed)
}

async fn healthy_rig(seed: u64, customise: impl FnOnce(&mut MedicConfig)) -> Rig {
    let rig = Rig::start(RigConfig { seed, ..RigConfig::default() }, customise).await.expect("the rig starts");
    rig.wait_healthy("shop", SETTLE).await.expect("the shop comes up");
    rig
}

/// `kubectl set env deployment/cart --from=configmap/cart-tuning`: a ConfigMap that does not exist.
async fn roll_out_a_missing_config_map(rig: &Rig) {
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "cart", "envFrom": [{"configMapRef": {"name": "cart-tuning"}}]}]}}}});
    deployments.patch("cart", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
}

fn model_config(url: &str) -> LlmConfig {
    LlmConfig {
        url: url.to_string(),
        models: vec![ModelConfig::new(MODEL)],
        timeout_secs: 10.0,
        retries: 0,
        ..LlmConfig::default()
    }
}

#[actix_rt::test]
async fn without_a_model_the_rules_escalate_a_rollout_waiting_for_a_missing_config_map() {
    let rig = healthy_rig(31, |_| {}).await;
    roll_out_a_missing_config_map(&rig).await;
    let incident = rig.wait_for_incident(Duration::from_secs(30 * 60), settled).await.expect("an incident settles");
    let story = rig.timeline(&incident).await.unwrap();
    assert_eq!(incident.status, IncidentStatus::Escalated, "{story}");
    let kinds: Vec<AuditKind> =
        rig.medic.store.timeline(incident.uid).await.unwrap().iter().map(|r| r.entry.kind).collect();
    assert!(!kinds.contains(&AuditKind::ActionApplied), "{story}");
    assert!(!kinds.contains(&AuditKind::ModelConsulted), "no model is configured: {story}");
    // Without `[llm]`, health says nothing of a model.
    let health: serde_json::Value =
        reqwest::get(format!("{}/v1/health", rig.medic.url())).await.unwrap().json().await.unwrap();
    assert!(health.get("llm").is_none(), "{health}");
    assert_eq!(health["watchtower"]["writes"], "enabled", "{health}");
    rig.stop().await;
}

#[actix_rt::test]
async fn the_model_names_the_config_error_the_rules_escalate_and_medic_rolls_back() {
    resolved_with_the_model(32, |_| {}, "specialist").await;
}

/// The specialists run on their rules alone; their hypotheses are close (the best under the threshold), so
/// the Director asks the model to adjudicate, and its checked answer decides.
#[actix_rt::test]
async fn the_directors_adjudication_resolves_what_the_rules_leave_close() {
    resolved_with_the_model(33, |llm| llm.specialists.clear(), "adjudicate").await;
}

async fn resolved_with_the_model(seed: u64, customise: impl FnOnce(&mut LlmConfig), prompt_id: &str) {
    let ollama = OllamaStandIn::start(&[MODEL]).await;
    // What a model reading the context would answer: the new revision waits for a ConfigMap that does not
    // exist; roll back to the revision that ran.
    ollama.always(
        MODEL,
        Reply::hypotheses(json!([{
            "class": "config-error",
            "target": "Deployment/shop/cart",
            "confidence": 0.85,
            "evidence": ["waiting reason=CreateContainerConfigError"],
            "playbook": "config-error",
            "params": {"to_revision": "1"},
            "explanation": "Revision 2 reads its environment from ConfigMap cart-tuning, which does not exist."
        }])),
    );
    let mut llm = model_config(ollama.url());
    customise(&mut llm);
    let rig = healthy_rig(seed, move |c| c.llm = Some(llm)).await;
    roll_out_a_missing_config_map(&rig).await;
    let incident = rig
        .wait_for_incident(Duration::from_secs(30 * 60), |i| {
            i.root_cause == Some(RootCauseClass::ConfigError) && settled(i)
        })
        .await
        .expect("an incident diagnosed as a config error settles");
    let story = rig.timeline(&incident).await.unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved, "{story}");
    let timeline = rig.medic.store.timeline(incident.uid).await.unwrap();
    let consulted: Vec<_> = timeline.iter().filter(|r| r.entry.kind == AuditKind::ModelConsulted).collect();
    assert!(!consulted.is_empty(), "{story}");
    assert!(consulted.iter().all(|r| r.entry.detail["prompt"]["id"] == prompt_id), "{story}");
    // The decision carries the model's hypothesis, its evidence from the context and the prompt's hash.
    let decision = timeline.iter().find(|r| r.entry.kind == AuditKind::Decision).expect("a decision");
    let record = decision.entry.detail.to_string();
    assert!(record.contains("CreateContainerConfigError"), "{record}");
    assert!(record.contains(&format!("llm:{MODEL}")), "{record}");
    let prompts = medic_agents::llm::prompt::Prompts::builtin();
    let prompt = if prompt_id == "specialist" { prompts.specialist } else { prompts.adjudicate }.reference.sha256;
    assert!(record.contains(&prompt), "the prompt's SHA-256 is in the decision record: {record}");
    let applied = timeline.iter().find(|r| r.entry.kind == AuditKind::ActionApplied).expect("an action");
    assert!(applied.entry.summary.contains("rollout undo"), "{story}");
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    let cart = deployments.get("cart").await.unwrap();
    let env_from = cart.spec.template.spec.unwrap().containers[0].env_from.clone();
    assert!(env_from.is_none_or(|e| e.is_empty()), "the rollback removed the missing ConfigMap");
    assert!(!ollama.chats().is_empty());
    // The verified fix is credited to the model that named its cause: routing learns from it.
    let health: serde_json::Value =
        reqwest::get(format!("{}/v1/health", rig.medic.url())).await.unwrap().json().await.unwrap();
    let route = &health["llm"]["routing"]["models"][0];
    assert_eq!(route["model"], MODEL, "{health}");
    assert_eq!(route["confirmed"], 1, "{health}");
    rig.stop().await;
}
