//! A model's hypothesis is used only if it checks out: its class is in the taxonomy, its target is an
//! object of the context, every line it quotes as evidence occurs in the context medic sent, and its
//! playbook is in the catalog, remedies that class on that kind of target and renders a plan from the
//! parameters given. Anything else is discarded, with the reason, for the audit trail.
use medic_core::{Evidence, EvidenceSource, Hypothesis, IncidentContext, ObjectRef, RootCauseClass};
use medic_playbooks::Catalog;
use serde::{Deserialize, Serialize};

use crate::llm::answer::{ModelAnswer, ModelHypothesis};
use crate::llm::prompt::PromptRef;
use crate::llm::render::Digest;

/// The longest explanation kept from a model.
const MAX_EXPLANATION_CHARS: usize = 600;

/// A hypothesis that did not check out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discarded {
    pub hypothesis: ModelHypothesis,
    pub reason: String,
}

/// What survived validation and what did not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdicts {
    pub accepted: Vec<Hypothesis>,
    pub discarded: Vec<Discarded>,
}

/// Checks one answer against the context it was given.
#[derive(Debug, Clone, Copy)]
pub struct Validator<'a> {
    pub context: &'a IncidentContext,
    pub digest: &'a Digest,
    pub catalog: &'a Catalog,
    /// The confidence a model's hypothesis is capped at.
    pub max_confidence: f64,
    /// At most this many hypotheses are taken; the rest are discarded.
    pub max_hypotheses: usize,
    /// The name the accepted hypotheses carry (`llm:<model>`).
    pub author: &'a str,
    pub prompt: &'a PromptRef,
}

impl Validator<'_> {
    pub fn check_all(&self, answer: ModelAnswer) -> Verdicts {
        let mut verdicts = Verdicts::default();
        for (i, raw) in answer.hypotheses.into_iter().enumerate() {
            if i >= self.max_hypotheses {
                verdicts.discarded.push(Discarded {
                    hypothesis: raw,
                    reason: format!("more than {} hypotheses", self.max_hypotheses),
                });
                continue;
            }
            match self.check(&raw) {
                Ok(h) => {
                    if verdicts.accepted.iter().any(|a| a.class == h.class && a.target == h.target) {
                        verdicts.discarded.push(Discarded {
                            hypothesis: raw,
                            reason: format!("repeats {} at {}", h.class, h.target),
                        });
                    } else {
                        verdicts.accepted.push(h);
                    }
                }
                Err(reason) => verdicts.discarded.push(Discarded { hypothesis: raw, reason }),
            }
        }
        verdicts.accepted.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        verdicts
    }

    pub fn check(&self, raw: &ModelHypothesis) -> Result<Hypothesis, String> {
        let class: RootCauseClass =
            raw.class.trim().parse().map_err(|_| format!("class {:?} is not in the taxonomy", raw.class))?;
        let target: ObjectRef =
            raw.target.trim().parse().map_err(|_| format!("target {:?} is not an object reference", raw.target))?;
        if !self.digest.objects().contains(&target) {
            return Err(format!("target {target} is not in the context"));
        }
        if !raw.confidence.is_finite() || !(0.0..=1.0).contains(&raw.confidence) {
            return Err(format!("confidence {} is not within 0..1", raw.confidence));
        }
        if raw.evidence.iter().all(|e| e.trim().is_empty()) {
            return Err("no evidence quoted".into());
        }
        let mut evidence = Vec::with_capacity(raw.evidence.len() + 1);
        for quote in raw.evidence.iter().filter(|e| !e.trim().is_empty()) {
            let line = self
                .digest
                .find(quote)
                .ok_or_else(|| format!("evidence {:?} does not occur in the context", cut(quote, 160)))?;
            evidence.push(Evidence::new(line.source, line.object.clone(), line.text.trim()));
        }
        let playbook = raw.playbook.as_deref().map(str::trim).filter(|p| !p.is_empty() && *p != "null" && *p != "none");
        let explanation = cut(raw.explanation.trim(), MAX_EXPLANATION_CHARS);
        let said = if explanation.is_empty() { String::new() } else { format!(": {explanation}") };
        evidence.push(Evidence::new(
            EvidenceSource::Model,
            None,
            format!("{}{said} (prompt {})", self.author, self.prompt),
        ));
        let hypothesis = Hypothesis {
            class,
            target,
            confidence: raw.confidence.min(self.max_confidence),
            evidence,
            playbook: playbook.map(str::to_string),
            params: raw.params.clone(),
            specialist: self.author.to_string(),
        };
        match (class, playbook) {
            (RootCauseClass::NoFault, Some(p)) => return Err(format!("playbook {p} proposed for no-fault")),
            (_, None) => {}
            (_, Some(id)) => {
                let Some(p) = self.catalog.get(id) else {
                    return Err(format!("playbook {id} is not in the catalog"));
                };
                if !p.matches(class, hypothesis.target.kind) {
                    return Err(format!("playbook {id} does not remedy {class} on a {}", hypothesis.target.kind));
                }
                let incident = self.context.incident.unwrap_or_default();
                p.plan(&hypothesis, incident, self.context)
                    .map_err(|e| format!("playbook {id} cannot plan it: {e}"))?;
            }
        }
        Ok(hypothesis)
    }
}

/// `text` cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::config::ContextBudget;
    use crate::llm::redact::Redactor;
    use medic_core::testkit::{ContextBuilder, oom_killed};
    use std::collections::BTreeMap;

    fn context() -> IncidentContext {
        ContextBuilder::new()
            .target(ObjectRef::deployment("shop", "cart"))
            .node("node-1", Some(true))
            .deployment("shop", "cart", "cart:1.4", 2, "node-1", oom_killed(Some("256Mi")))
            .with_workload(|w| {
                w.containers[0].limits.insert("memory".into(), "256Mi".into());
            })
            .build()
    }

    fn oom(target: &str) -> ModelHypothesis {
        ModelHypothesis {
            class: "oom-memory-limit".into(),
            target: target.into(),
            confidence: 0.97,
            evidence: vec!["last=terminated reason=OOMKilled exit=137".into()],
            playbook: Some("oom-memory-limit".into()),
            params: BTreeMap::from([("container".into(), "app".into()), ("memory_limit".into(), "512Mi".into())]),
            explanation: "The kernel kills the container at its 256Mi limit.".into(),
        }
    }

    #[test]
    fn a_hypothesis_is_used_only_if_everything_in_it_checks_out() {
        let ctx = context();
        let digest = Digest::of(&ctx, &Redactor::default(), &ContextBudget::default());
        let catalog = Catalog::builtin().unwrap();
        let prompt = PromptRef { id: "specialist".into(), version: 1, sha256: "ab".repeat(32) };
        let v = Validator {
            context: &ctx,
            digest: &digest,
            catalog: &catalog,
            max_confidence: 0.9,
            max_hypotheses: 5,
            author: "llm:qwen",
            prompt: &prompt,
        };

        let good = v.check(&oom("Deployment/shop/cart")).unwrap();
        assert_eq!(
            (good.class, good.confidence, good.specialist.as_str()),
            (RootCauseClass::OomMemoryLimit, 0.9, "llm:qwen")
        );
        assert_eq!(good.evidence[0].source, EvidenceSource::PodStatus);
        let said = &good.evidence.last().unwrap().detail;
        assert!(said.contains("256Mi limit") && said.contains(&prompt.sha256), "{said}");

        let cases: Vec<(ModelHypothesis, &str)> = vec![
            (oom("Deployment/shop/payments"), "target Deployment/shop/payments is not in the context"),
            (ModelHypothesis { class: "cosmic-rays".into(), ..oom("Deployment/shop/cart") }, "not in the taxonomy"),
            (
                ModelHypothesis { playbook: Some("delete-namespace".into()), ..oom("Deployment/shop/cart") },
                "playbook delete-namespace is not in the catalog",
            ),
            (
                ModelHypothesis { playbook: Some("node-not-ready".into()), ..oom("Deployment/shop/cart") },
                "does not remedy",
            ),
            (ModelHypothesis { params: BTreeMap::new(), ..oom("Deployment/shop/cart") }, "cannot plan it"),
            (
                ModelHypothesis {
                    evidence: vec!["FATAL: too many clients already".into()],
                    ..oom("Deployment/shop/cart")
                },
                "does not occur in the context",
            ),
            (ModelHypothesis { evidence: vec![], ..oom("Deployment/shop/cart") }, "no evidence"),
            (ModelHypothesis { confidence: f64::NAN, ..oom("Deployment/shop/cart") }, "confidence"),
            (ModelHypothesis { target: "the cart".into(), ..oom("Deployment/shop/cart") }, "not an object reference"),
            (ModelHypothesis { class: "no-fault".into(), ..oom("Deployment/shop/cart") }, "proposed for no-fault"),
        ];
        for (raw, reason) in cases {
            let error = v.check(&raw).unwrap_err();
            assert!(error.contains(reason), "{reason}: {error}");
        }

        let answer = ModelAnswer {
            hypotheses: vec![oom("Deployment/shop/cart"), oom("Deployment/shop/cart"), oom("Deployment/shop/x")],
        };
        let verdicts = v.check_all(answer);
        assert_eq!(verdicts.accepted.len(), 1);
        assert_eq!(verdicts.discarded.len(), 2);
        assert!(verdicts.discarded[0].reason.starts_with("repeats"));
    }
}
