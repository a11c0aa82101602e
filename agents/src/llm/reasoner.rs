//! The reasoner: one consultation of a model about an incident. It renders the context (bounded,
//! redacted), fills the versioned prompt, picks a model (adaptive routing), asks it through Ollama with a
//! JSON schema, retries failures with jittered exponential back-off, tells the watchtower and the router
//! how the backend did, validates the answer and records the whole consultation in the audit trail.
use jiff::Timestamp;
use medic_core::ports::{AuditSink, Clock, SystemClock};
use medic_core::{AuditEntry, AuditKind, Hypothesis, IncidentContext, IncidentUid, ObjectRef, RootCauseClass};
use medic_playbooks::Catalog;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Result;
use crate::llm::answer::{self, ModelAnswer};
use crate::llm::client::ChatClient;
use crate::llm::config::LlmConfig;
use crate::llm::prompt::{PromptRef, Prompts};
use crate::llm::redact::Redactor;
use crate::llm::render::Digest;
use crate::llm::router::Router;
use crate::llm::validate::{Discarded, Validator};
use crate::llm::watchtower::{Observation, Watchtower};
use medic_core::Backoff;

const ACTOR: &str = "llm";

/// What the model is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task<'a> {
    /// Propose hypotheses in a specialist's domain, next to its rules.
    Specialist { name: &'a str },
    /// Choose between close hypotheses, or name a cause they missed.
    Adjudicate,
}

impl Task<'_> {
    fn label(&self) -> String {
        match self {
            Task::Specialist { name } => format!("{name} specialist"),
            Task::Adjudicate => "adjudication".into(),
        }
    }
}

/// A hypothesis already on the table, shown to the model with its score.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub hypothesis: &'a Hypothesis,
    pub score: f64,
}

/// One consultation, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consultation {
    pub task: String,
    /// The model that answered (the last one asked when none did).
    pub model: Option<String>,
    /// Routing chose the model at random, to explore.
    pub explored: bool,
    pub prompt: PromptRef,
    pub attempts: u32,
    /// Of the answer used (or of the last attempt).
    pub latency_ms: u64,
    pub tokens: Option<u64>,
    pub accepted: Vec<Hypothesis>,
    pub discarded: Vec<Discarded>,
    /// Why no answer could be used.
    pub error: Option<String>,
    pub context_chars: usize,
    pub context_lines_omitted: usize,
}

impl Consultation {
    /// The name accepted hypotheses carry: `llm:<model>`.
    pub fn author(model: &str) -> String {
        format!("llm:{model}")
    }

    pub fn summary(&self) -> String {
        let model = self.model.as_deref().unwrap_or("no model");
        if let Some(error) = &self.error {
            return format!("{}: no usable answer from {model} after {} attempt(s): {error}", self.task, self.attempts);
        }
        let mut out = format!("{}: {model} answered in {:.1} s", self.task, self.latency_ms as f64 / 1000.0);
        if self.accepted.is_empty() {
            out.push_str(", nothing used");
        } else {
            let used: Vec<String> =
                self.accepted.iter().map(|h| format!("{} at {} ({:.2})", h.class, h.target, h.confidence)).collect();
            let _ = write!(out, ", used {}", used.join(", "));
        }
        if !self.discarded.is_empty() {
            let why: Vec<&str> = self.discarded.iter().map(|d| d.reason.as_str()).collect();
            let _ = write!(out, "; discarded {}: {}", self.discarded.len(), why.join("; "));
        }
        let _ = write!(out, " [prompt {}@{}]", self.prompt.id, self.prompt.version);
        out
    }
}

/// The model's part of medic: shared by the assisted specialists and the Director.
pub struct Reasoner {
    config: LlmConfig,
    client: ChatClient,
    redactor: Redactor,
    prompts: Prompts,
    catalog: Arc<Catalog>,
    watchtower: Arc<Watchtower>,
    router: Arc<Router>,
    audit: Option<Arc<dyn AuditSink>>,
    clock: Arc<dyn Clock>,
    /// What each model has already proposed about a context (incident, collected at): the specialists ask
    /// the same model about the same context at once, and one model's opinion must count once in the
    /// Director's weighing, not once per specialist. Bounded, oldest forgotten first.
    proposed: Mutex<VecDeque<Proposed>>,
}

/// A hypothesis a model proposed about one context.
type Proposed = (Option<IncidentUid>, Option<Timestamp>, String, RootCauseClass, ObjectRef);

const PROPOSALS_REMEMBERED: usize = 1_024;

impl std::fmt::Debug for Reasoner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reasoner")
            .field("url", &self.client.url())
            .field("models", &self.config.models)
            .finish_non_exhaustive()
    }
}

impl Reasoner {
    /// Validates the config and builds the reasoner, its watchtower and its router. Consultations and the
    /// watchtower's changes go to `audit`, stamped with `clock`.
    pub fn build(
        config: LlmConfig,
        catalog: Arc<Catalog>,
        audit: Option<Arc<dyn AuditSink>>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Arc<Reasoner>> {
        config.validate()?;
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let prompts = match &config.prompts_dir {
            Some(dir) => Prompts::load_dir(dir)?,
            None => Prompts::builtin(),
        };
        let client = ChatClient::new(&config)?;
        let router = Arc::new(Router::new(config.models.clone(), config.routing.clone())?);
        let watchtower = Watchtower::with(config.watchtower.clone(), audit.clone(), clock.clone());
        watchtower.set_probe(probe(client.clone(), router.clone()));
        Ok(Arc::new(Reasoner {
            redactor: crate::llm::redact::Redactor::new(&config.redact)?,
            config,
            client,
            prompts,
            catalog,
            watchtower,
            router,
            audit,
            clock,
            proposed: Mutex::new(VecDeque::new()),
        }))
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    pub fn watchtower(&self) -> &Arc<Watchtower> {
        &self.watchtower
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// Asks a model about an incident; never fails — what went wrong is in the consultation.
    pub async fn consult(&self, task: Task<'_>, context: &IncidentContext, known: &[Known<'_>]) -> Consultation {
        let digest = Digest::of(context, &self.redactor, &self.config.context);
        let prompt = match task {
            Task::Specialist { .. } => &self.prompts.specialist,
            Task::Adjudicate => &self.prompts.adjudicate,
        };
        let classes: Vec<&str> = RootCauseClass::ALL.iter().map(|c| c.as_str()).collect();
        let mut playbooks: Vec<String> = self.catalog.iter().map(|p| p.id.clone()).collect();
        playbooks.sort();
        let (specialist, focus) = match task {
            Task::Specialist { name } => (capitalised(name), focus(name)),
            Task::Adjudicate => (String::new(), String::new()),
        };
        let max = self.config.max_hypotheses.to_string();
        let system = prompt.render(&[
            ("specialist", &specialist),
            ("focus", &focus),
            ("classes", &classes.join(", ")),
            ("playbooks", &playbooks.join(", ")),
            ("max_hypotheses", &max),
        ]);
        let user = self.user_message(&digest, known);
        let targets: Vec<String> = digest.objects().iter().map(ToString::to_string).collect();
        let schema = answer::schema(&classes, &targets, &playbooks, self.config.max_hypotheses);

        let mut consultation = Consultation {
            task: task.label(),
            model: None,
            explored: false,
            prompt: prompt.reference.clone(),
            attempts: 0,
            latency_ms: 0,
            tokens: None,
            accepted: Vec::new(),
            discarded: Vec::new(),
            error: None,
            context_chars: digest.text().len(),
            context_lines_omitted: digest.omitted,
        };
        let mut backoff = Backoff::new(Duration::from_millis(self.config.retry_backoff_ms), Duration::from_secs(10));
        let content = loop {
            consultation.attempts += 1;
            let pick = self.router.pick();
            consultation.model = Some(pick.model.clone());
            consultation.explored = pick.explored;
            match self.client.chat(&pick.model, system.clone(), user.clone(), &schema).await {
                Ok(reply) => {
                    self.watchtower.observe(Observation { model: &pick.model, latency: reply.latency, error: None });
                    consultation.latency_ms = millis(reply.latency);
                    consultation.tokens = reply.tokens;
                    let parsed = ModelAnswer::parse(&reply.content);
                    self.router.record_call(&pick.model, reply.latency, reply.tokens, parsed.is_ok());
                    break parsed;
                }
                Err(failure) => {
                    self.watchtower.observe(Observation {
                        model: &pick.model,
                        latency: failure.latency,
                        error: Some(&failure.message),
                    });
                    self.router.record_call(&pick.model, failure.latency, None, false);
                    consultation.latency_ms = millis(failure.latency);
                    tracing::warn!(model = %pick.model, attempt = consultation.attempts, error = %failure.message, "model request failed");
                    // While the watchtower holds writes, its probe retries; the incident goes on without the model.
                    if consultation.attempts > self.config.retries || self.watchtower.is_engaged() {
                        break Err(failure.message);
                    }
                    tokio::time::sleep(backoff.delay(consultation.attempts)).await;
                }
            }
        };
        match content {
            Ok(answer) => {
                let author = Consultation::author(consultation.model.as_deref().unwrap_or_default());
                let validator = Validator {
                    context,
                    digest: &digest,
                    catalog: &self.catalog,
                    max_confidence: self.config.max_confidence,
                    max_hypotheses: self.config.max_hypotheses,
                    author: &author,
                    prompt: &prompt.reference,
                };
                let verdicts = validator.check_all(answer);
                consultation.discarded = verdicts.discarded;
                let model = consultation.model.clone().unwrap_or_default();
                for hypothesis in verdicts.accepted {
                    if self.first_proposal(context, &model, &hypothesis) {
                        consultation.accepted.push(hypothesis);
                    } else {
                        tracing::debug!(class = %hypothesis.class, target = %hypothesis.target, "the model said this already");
                    }
                }
            }
            Err(error) => consultation.error = Some(error),
        }
        self.record(context, &consultation).await;
        consultation
    }

    /// Whether `model` proposes `hypothesis` about this context for the first time (and remembers it).
    fn first_proposal(&self, context: &IncidentContext, model: &str, hypothesis: &Hypothesis) -> bool {
        let key: Proposed =
            (context.incident, context.collected_at, model.to_string(), hypothesis.class, hypothesis.target.clone());
        let mut proposed = self.proposed.lock().unwrap_or_else(|e| e.into_inner());
        if proposed.contains(&key) {
            return false;
        }
        if proposed.len() >= PROPOSALS_REMEMBERED {
            proposed.pop_front();
        }
        proposed.push_back(key);
        true
    }

    fn user_message(&self, digest: &Digest, known: &[Known<'_>]) -> String {
        let mut out = String::with_capacity(digest.text().len() + 512);
        out.push_str("# Incident context\n\n");
        out.push_str(digest.text());
        out.push_str("\n# Hypotheses so far\n\n");
        if known.is_empty() {
            out.push_str("None: the rules found nothing they are sure of.\n");
        }
        for k in known {
            let h = k.hypothesis;
            let _ = write!(
                out,
                "- {} at {} (score {:.2}, from {}, playbook {})",
                h.class,
                h.target,
                k.score,
                h.specialist,
                h.playbook.as_deref().unwrap_or("none")
            );
            let evidence: Vec<String> = h
                .evidence
                .iter()
                .take(4)
                .map(|e| self.redactor.redact(&e.detail).chars().take(200).collect::<String>())
                .collect();
            if !evidence.is_empty() {
                let _ = write!(out, ": {}", evidence.join(" | "));
            }
            out.push('\n');
        }
        out.push_str("\nAnswer with the JSON object only.\n");
        out
    }

    async fn record(&self, context: &IncidentContext, consultation: &Consultation) {
        let (Some(audit), Some(incident)) = (&self.audit, context.incident) else { return };
        let mut entry = AuditEntry::new(incident, AuditKind::ModelConsulted, ACTOR, consultation.summary())
            .with_detail(consultation);
        entry.at = self.clock.now();
        if let Err(e) = audit.append(entry).await {
            tracing::warn!(error = %e, "could not record the model consultation");
        }
    }
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What a specialist's model looks at first.
fn focus(name: &str) -> String {
    match name {
        "network" => "Your domain is the network: services and their endpoints, DNS, connections refused or timing \
                      out between workloads, network policies, unusual egress."
            .into(),
        "database" => "Your domain is databases and their clients: connection pools, too many connections, slow \
                       queries, a database that is down or refusing clients."
            .into(),
        "compute" => "Your domain is compute: containers that crash, memory limits and leaks, CPU, images, \
                      rollouts, configuration, nodes."
            .into(),
        other => format!("Your domain is the {other} side of the incident."),
    }
}

/// How the watchtower probes the backend: the preferred model, asked for a one-field JSON object.
fn probe(client: ChatClient, router: Arc<Router>) -> crate::llm::watchtower::Probe {
    Arc::new(move || {
        let client = client.clone();
        let model = router.status().preferred.unwrap_or_default();
        Box::pin(async move {
            let schema: Value =
                json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]});
            let system = "You are a health check. Answer with the JSON object {\"ok\": true}.".to_string();
            match client.chat(&model, system, "Are you there?".into(), &schema).await {
                Ok(reply) => (model, reply.latency, Ok(())),
                Err(failure) => (model, failure.latency, Err(failure.message)),
            }
        })
    })
}
