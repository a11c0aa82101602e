//! Contract tests of the model assist against the Ollama stand-in (Ollama cannot run here): the stand-in
//! speaks `/api/chat` as documented and rejects what Ollama rejects; each test scripts what the model
//! answers, how fast, or that it fails, and checks what medic sent and what it made of the answer.
use async_trait::async_trait;
use medic_agents::llm::reasoner::Consultation;
use medic_agents::llm::stand_in::{OllamaStandIn, Reply};
use medic_agents::llm::{AssistedSpecialist, Known, LlmConfig, ModelConfig, Reasoner, Task, Writes};
use medic_agents::{Specialist, SpecialistConfig};
use medic_core::messages::Investigate;
use medic_core::ports::AuditSink;
use medic_core::testkit::{ContextBuilder, alert, oom_killed};
use medic_core::{AuditEntry, AuditKind, EvidenceSource, IncidentContext, IncidentUid, ObjectRef, RootCauseClass};
use medic_director::Adjudicator;
use medic_director::ModelAdjudicator;
use medic_playbooks::Catalog;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The audit trail, in memory.
#[derive(Default)]
struct Trail(Mutex<Vec<AuditEntry>>);

#[async_trait]
impl AuditSink for Trail {
    async fn append(&self, entry: AuditEntry) -> medic_core::Result<()> {
        self.0.lock().unwrap().push(entry);
        Ok(())
    }
}

impl Trail {
    fn of(&self, kind: AuditKind) -> Vec<AuditEntry> {
        self.0.lock().unwrap().iter().filter(|e| e.kind == kind).cloned().collect()
    }
}

const POD: &str = "cart-7d9f8c6b5-abcde";

/// The cart's pods are OOM-killed at their 256Mi limit; the environment and logs hold secrets.
fn oom_context() -> IncidentContext {
    let mut context = ContextBuilder::new()
        .alert(alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", POD)]))
        .target(ObjectRef::deployment("shop", "cart"))
        .node("node-1", Some(true))
        .deployment("shop", "cart", "cart:1.4", 2, "node-1", oom_killed(Some("256Mi")))
        .with_workload(|w| {
            let c = &mut w.containers[0];
            c.limits.insert("memory".into(), "256Mi".into());
            c.env.insert("DB_PASSWORD".into(), "hunter2-db".into());
            c.env.insert("STRIPE_API_KEY".into(), "sk_live_51Habcdefghijklmnop".into());
            c.env.insert("REDIS_ADDR".into(), "cart-redis:6379".into());
        })
        .logs(
            "shop",
            POD,
            true,
            &[
                "connecting to postgres://cart:Tr0ub4dor@orders-db:5432/cart",
                "sending Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYXJ0In0.c2lnbmF0dXJl",
                "login with password=hunter2-log ok",
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "java.lang.OutOfMemoryError: Java heap space",
            ],
        )
        .build();
    context.incident = Some(IncidentUid::default());
    context
}

const SECRETS: &[&str] = &[
    "hunter2-db",
    "sk_live_51Habcdefghijklmnop",
    "Tr0ub4dor",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYXJ0In0.c2lnbmF0dXJl",
    "hunter2-log",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
];

fn oom_answer(target: &str) -> Value {
    json!({
        "class": "oom-memory-limit",
        "target": target,
        "confidence": 0.8,
        "evidence": ["last=terminated reason=OOMKilled exit=137", "java.lang.OutOfMemoryError: Java heap space"],
        "playbook": "oom-memory-limit",
        "params": {"container": "app", "memory_limit": "512Mi"},
        "explanation": "The JVM outgrows the 256Mi limit and the kernel kills it."
    })
}

fn config(url: &str, models: &[&str]) -> LlmConfig {
    let mut config = LlmConfig {
        url: url.to_string(),
        models: models.iter().map(|m| ModelConfig::new(*m)).collect(),
        timeout_secs: 5.0,
        retries: 0,
        retry_backoff_ms: 10,
        ..LlmConfig::default()
    };
    // Small thresholds: a test never waits a minute for the watchtower.
    config.watchtower.slow_after_secs = 1.0;
    config.watchtower.failures = 2;
    config.watchtower.recover_after = 2;
    config.watchtower.probe_backoff_ms = 50;
    config.watchtower.probe_backoff_max_secs = 0.2;
    config.routing.seed = Some(7);
    config
}

fn reasoner(config: LlmConfig, trail: &Arc<Trail>) -> Arc<Reasoner> {
    let audit: Arc<dyn AuditSink> = trail.clone();
    Reasoner::build(config, Arc::new(Catalog::builtin().unwrap()), Some(audit), None).unwrap()
}

async fn consult(reasoner: &Reasoner, context: &IncidentContext) -> Consultation {
    reasoner.consult(Task::Specialist { name: "compute" }, context, &[]).await
}

#[actix_rt::test]
async fn a_valid_hypothesis_is_used_and_the_request_is_ollamas_chat_with_a_schema() {
    let ollama = OllamaStandIn::start(&["qwen2.5:7b-instruct"]).await;
    ollama.script("qwen2.5:7b-instruct", Reply::hypotheses(json!([oom_answer("Deployment/shop/cart")])));
    let trail = Arc::new(Trail::default());
    let reasoner = reasoner(config(ollama.url(), &["qwen2.5:7b-instruct"]), &trail);
    let rules: Arc<dyn Specialist> = Arc::from(SpecialistConfig::Compute(Default::default()).build().unwrap());
    let specialist = actix::Actor::start(AssistedSpecialist::new(rules, reasoner.clone(), Duration::from_secs(5)));
    let context = Arc::new(oom_context());
    let incident = context.incident.unwrap();
    let report = specialist.send(Investigate { incident, context }).await.unwrap();

    let by_model: Vec<_> = report.hypotheses.iter().filter(|h| h.specialist == "llm:qwen2.5:7b-instruct").collect();
    assert_eq!(by_model.len(), 1, "{:#?}", report.hypotheses);
    let h = by_model[0];
    assert_eq!((h.class, h.target.to_string().as_str()), (RootCauseClass::OomMemoryLimit, "Deployment/shop/cart"));
    assert!(h.confidence <= reasoner.config().max_confidence);
    assert_eq!(h.evidence[0].source, EvidenceSource::PodStatus, "evidence quoted from the context: {:?}", h.evidence);
    let prompt = &reasoner.prompts().specialist.reference;
    assert!(h.evidence.iter().any(|e| e.source == EvidenceSource::Model && e.detail.contains(&prompt.sha256)));
    // The rules' own hypotheses are still there.
    assert!(report.hypotheses.iter().any(|h| h.specialist == "compute"), "{:#?}", report.hypotheses);

    let chats = ollama.chats();
    assert_eq!(chats.len(), 1);
    let request = chats[0].json();
    assert_eq!(request["model"], "qwen2.5:7b-instruct");
    assert_eq!(request["stream"], false);
    assert_eq!(request["messages"][0]["role"], "system");
    assert_eq!(request["messages"][1]["role"], "user");
    let user = request["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("last=terminated reason=OOMKilled exit=137"), "{user}");
    let schema = &request["format"];
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"]["hypotheses"].is_object(), "a JSON schema for structured outputs: {schema}");
    assert_eq!(request["options"]["temperature"], 0.0);

    let consulted = trail.of(AuditKind::ModelConsulted);
    assert_eq!(consulted.len(), 1);
    assert_eq!(consulted[0].detail["prompt"]["sha256"], prompt.sha256.as_str());
    assert_eq!(consulted[0].detail["accepted"].as_array().unwrap().len(), 1);

    // Another specialist asking the same model about the same context: its opinion counts once.
    ollama.script("qwen2.5:7b-instruct", Reply::hypotheses(json!([oom_answer("Deployment/shop/cart")])));
    let again = reasoner.consult(Task::Specialist { name: "network" }, &oom_context_of(incident), &[]).await;
    assert!(again.accepted.is_empty(), "{:#?}", again.accepted);
}

fn oom_context_of(incident: IncidentUid) -> IncidentContext {
    IncidentContext { incident: Some(incident), ..oom_context() }
}

#[actix_rt::test]
async fn a_hallucinated_workload_class_or_action_is_discarded_and_recorded() {
    let ollama = OllamaStandIn::start(&["m"]).await;
    let mut ghost = oom_answer("Deployment/shop/payments");
    ghost["explanation"] = json!("payments is not in this incident");
    let mut class = oom_answer("Deployment/shop/cart");
    class["class"] = json!("solar-flare");
    let mut action = oom_answer("Deployment/shop/cart");
    action["playbook"] = json!("delete-namespace");
    let mut quote = oom_answer("Deployment/shop/cart");
    quote["evidence"] = json!(["FATAL: sorry, too many clients already"]);
    ollama.script("m", Reply::hypotheses(json!([ghost, class, action, quote])));
    let trail = Arc::new(Trail::default());
    let reasoner = reasoner(config(ollama.url(), &["m"]), &trail);

    let consultation = consult(&reasoner, &oom_context()).await;
    assert!(consultation.accepted.is_empty(), "{:#?}", consultation.accepted);
    let reasons: Vec<&str> = consultation.discarded.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for (reason, expected) in reasons.iter().zip([
        "target Deployment/shop/payments is not in the context",
        "class \"solar-flare\" is not in the taxonomy",
        "playbook delete-namespace is not in the catalog",
        "does not occur in the context",
    ]) {
        assert!(reason.contains(expected), "{reason} / {expected}");
    }
    let consulted = trail.of(AuditKind::ModelConsulted);
    assert_eq!(consulted.len(), 1);
    assert!(consulted[0].summary.contains("discarded 4"), "{}", consulted[0].summary);
    assert_eq!(consulted[0].detail["discarded"].as_array().unwrap().len(), 4);
}

#[actix_rt::test]
async fn secrets_never_appear_in_a_request() {
    let ollama = OllamaStandIn::start(&["m"]).await;
    let trail = Arc::new(Trail::default());
    let reasoner = reasoner(config(ollama.url(), &["m"]), &trail);
    let context = oom_context();
    consult(&reasoner, &context).await;
    // The Director's adjudication shows the rules' hypotheses and their evidence too.
    let mut leaky = medic_core::Hypothesis {
        class: RootCauseClass::DbConnectionExhaustion,
        target: ObjectRef::deployment("shop", "cart"),
        confidence: 0.5,
        evidence: vec![medic_core::Evidence::new(
            EvidenceSource::Log,
            None,
            "connecting to postgres://cart:Tr0ub4dor@orders-db:5432/cart",
        )],
        playbook: None,
        params: Default::default(),
        specialist: "database".into(),
    };
    leaky.evidence.push(medic_core::Evidence::new(EvidenceSource::Log, None, "login with password=hunter2-log ok"));
    reasoner.consult(Task::Adjudicate, &context, &[Known { hypothesis: &leaky, score: 0.5 }]).await;

    let requests = ollama.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        for secret in SECRETS {
            assert!(!request.body.contains(secret), "{secret} was sent:\n{}", request.body);
        }
        // What is not secret still reaches the model.
        assert!(request.body.contains("REDIS_ADDR=cart-redis:6379"), "{}", request.body);
        assert!(request.body.contains("orders-db:5432"), "{}", request.body);
    }
}

#[actix_rt::test]
async fn a_slow_model_suspends_writes_and_prompt_answers_release_them() {
    let ollama = OllamaStandIn::start(&["m"]).await;
    ollama.always("m", Reply::hypotheses(json!([])).after(Duration::from_millis(1_300)));
    let trail = Arc::new(Trail::default());
    let reasoner = reasoner(config(ollama.url(), &["m"]), &trail);
    let watchtower = reasoner.watchtower().clone();
    let gate: &dyn medic_core::ports::WriteGate = watchtower.as_ref();
    assert!(gate.suspended().is_none());

    consult(&reasoner, &oom_context()).await;
    let status = watchtower.status();
    assert_eq!(status.writes, Writes::Suspended);
    assert!(status.reason.as_deref().unwrap().contains("slower than the 1 s threshold"), "{status:?}");
    assert!(gate.suspended().unwrap().starts_with("watchtower: "));

    // The backend recovers: the watchtower's probes (jittered back-off) see prompt answers and release.
    ollama.always("m", Reply::hypotheses(json!([])));
    let mut changes = watchtower.subscribe();
    tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|s| s.writes == Writes::Enabled))
        .await
        .expect("released once the model answers promptly")
        .unwrap();
    assert!(gate.suspended().is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(trail.of(AuditKind::WatchtowerEngaged).len(), 1);
    assert_eq!(trail.of(AuditKind::WatchtowerReleased).len(), 1);
    // The probes are health checks, through the same chat endpoint.
    assert!(ollama.chats().len() >= 3);
}

#[actix_rt::test]
async fn repeated_failures_suspend_writes_until_the_backend_answers_again() {
    let ollama = OllamaStandIn::start(&["m"]).await;
    ollama.always("m", Reply::error(500, "llama runner process has terminated: signal: killed"));
    let trail = Arc::new(Trail::default());
    let mut config = config(ollama.url(), &["m"]);
    config.retries = 1;
    let reasoner = reasoner(config, &trail);
    let consultation = consult(&reasoner, &oom_context()).await;
    assert_eq!(consultation.attempts, 2, "one retry after back-off");
    assert!(consultation.error.as_deref().unwrap().contains("llama runner process has terminated"));
    assert_eq!(reasoner.watchtower().status().writes, Writes::Suspended);

    ollama.always("m", Reply::hypotheses(json!([])));
    let mut changes = reasoner.watchtower().subscribe();
    tokio::time::timeout(Duration::from_secs(10), changes.wait_for(|s| s.writes == Writes::Enabled))
        .await
        .expect("released once the model answers again")
        .unwrap();
}

#[actix_rt::test]
async fn routing_shifts_toward_the_model_that_is_right() {
    let ollama = OllamaStandIn::start(&["small", "large"]).await;
    // Both answer validly; only the large model's cause is the one verification confirms.
    let mut wrong = oom_answer("Deployment/shop/cart");
    wrong["class"] = json!("crash-transient");
    wrong["playbook"] = json!(null);
    ollama.always("small", Reply::hypotheses(json!([wrong])).tokens(400, 80));
    ollama.always("large", Reply::hypotheses(json!([oom_answer("Deployment/shop/cart")])).tokens(900, 200));
    let trail = Arc::new(Trail::default());
    let mut config = config(ollama.url(), &["small", "large"]);
    config.routing.epsilon = 0.2;
    let reasoner = reasoner(config, &trail);
    let adjudicator = ModelAdjudicator::new(reasoner.clone());
    let mut picks = Vec::new();
    for _ in 0..40 {
        let context = oom_context();
        let consultation = consult(&reasoner, &context).await;
        let model = consultation.model.clone().unwrap();
        let right = consultation.accepted.iter().any(|h| h.class == RootCauseClass::OomMemoryLimit);
        // What the Director does once the fix is verified or refuted: credit whoever backed the cause.
        adjudicator.credit(&[Consultation::author(&model)], right);
        picks.push(model);
    }
    let late_large = picks[20..].iter().filter(|m| *m == "large").count();
    assert!(late_large >= 14, "the last 20 picks: {:?}", &picks[20..]);
    let status = reasoner.router().status();
    assert_eq!(status.preferred.as_deref(), Some("large"), "{status:#?}");
    let by_name = |name: &str| status.models.iter().find(|m| m.model == name).unwrap().clone();
    assert!(by_name("large").success > by_name("small").success, "{status:#?}");
    assert!(by_name("small").stats.refuted > 0 && by_name("large").stats.confirmed > 0);
}

/// The same stand-in serves `/api/embed` as Ollama documents it; medic's Ollama embedder (incident memory)
/// gets one unit vector per input from it, and a model the server does not have is an error that says so.
#[actix_rt::test]
async fn the_embed_endpoint_answers_medics_embedder_as_ollama_does() {
    use medic_core::ports::Embedder;
    let ollama = OllamaStandIn::start(&["all-minilm"]).await;
    let embedder = medic_memory::OllamaEmbedder::new(ollama.url(), "all-minilm", 384, Duration::from_secs(5)).unwrap();
    let texts: Vec<String> = [
        "OOMKilled exit 137 memory limit 256Mi",
        "OOMKilled exit 137 memory limit 512Mi",
        "FATAL: sorry, too many clients already",
    ]
    .map(String::from)
    .to_vec();
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 3);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    for v in &vectors {
        assert_eq!(v.len(), 384);
        assert!((dot(v, v) - 1.0).abs() < 1e-3);
    }
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]));
    let request = ollama.requests().into_iter().find(|r| r.path == "/api/embed").unwrap().json();
    assert_eq!(request["model"], "all-minilm");
    assert_eq!(request["input"].as_array().unwrap().len(), 3);

    let missing = medic_memory::OllamaEmbedder::new(ollama.url(), "nomic-embed-text", 768, Duration::from_secs(5))
        .unwrap()
        .embed(&texts)
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("not found"), "{missing}");
}
