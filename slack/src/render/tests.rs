use super::*;
use crate::blocks::{Block, MAX_BLOCKS, Text};
use medic_core::decision::Recollection;
use medic_core::execution::VerificationRecord;
use medic_core::testkit::alert;
use medic_core::{ActionSpec, Evidence, EvidenceSource, Hypothesis, ObjectRef, RootCauseClass, VerifySpec};
use proptest::prelude::*;

fn hypothesis(class: RootCauseClass, name: &str, evidence: usize, detail: &str) -> Hypothesis {
    let target = ObjectRef::deployment("shop", name);
    Hypothesis {
        class,
        target: target.clone(),
        confidence: 0.82,
        evidence: (0..evidence)
            .map(|i| Evidence::new(EvidenceSource::PodStatus, Some(target.clone()), format!("{detail} #{i}")))
            .collect(),
        playbook: Some(class.to_string()),
        params: Default::default(),
        specialist: "compute".into(),
    }
}

fn ranked(h: Hypothesis, score: f64) -> RankedHypothesis {
    RankedHypothesis { hypothesis: h, score, supported_by: vec!["compute".into(), "network".into()], notes: vec![] }
}

fn plan(incident: IncidentUid, steps: usize) -> Plan {
    Plan {
        id: PlanId::new(),
        incident,
        class: RootCauseClass::OomMemoryLimit,
        target: ObjectRef::deployment("shop", "cart"),
        playbook: "oom-memory-limit".into(),
        playbook_version: "1.0.0".into(),
        steps: (0..steps)
            .map(|i| ActionSpec::DeletePod { namespace: "shop".into(), pod: format!("cart-{i}") })
            .collect(),
        verify: VerifySpec { checks: vec![], timeout_secs: 60, stable_secs: 10 },
        rollback_on_failure: true,
        risk: Risk::Medium,
        requires_approval: true,
        rationale: "cart was OOMKilled at its 128Mi limit".into(),
    }
}

fn record(incident: IncidentUid, hypotheses: usize, evidence: usize, decision: Decision) -> DecisionRecord {
    DecisionRecord {
        incident,
        decision,
        ranked: (0..hypotheses)
            .map(|i| {
                ranked(hypothesis(RootCauseClass::OomMemoryLimit, &format!("svc-{i}"), evidence, "OOMKilled"), 0.9)
            })
            .collect(),
        recalled: vec![Recollection {
            incident: IncidentUid::new(),
            similarity: 0.93,
            class: RootCauseClass::OomMemoryLimit,
            target: None,
            playbook: None,
            fix_worked: true,
            approved_by: None,
        }],
        missing: vec!["database".into()],
        min_confidence: 0.6,
        min_margin: 0.15,
    }
}

fn report(incident: IncidentUid, outcome: ExecutionOutcome, steps: usize) -> ExecutionReport {
    ExecutionReport {
        incident,
        plan: PlanId::new(),
        outcome,
        steps: (0..steps)
            .map(|i| StepRecord {
                action: ActionSpec::RolloutRestart { namespace: "shop".into(), deployment: format!("d{i}") },
                api_calls: vec!["PATCH /apis/apps/v1/namespaces/shop/deployments/d".into()],
                dry_run_ok: Some(true),
                applied_at: Some(medic_core::testkit::t0()),
                error: None,
                rollback: i % 2 == 1,
            })
            .collect(),
        verification: Some(VerificationRecord { ok: false, elapsed_secs: 61.0, detail: "2/3 ready".into() }),
    }
}

/// Every kind of event, at the given size (hypotheses, evidence lines, steps).
fn every_event(incident: IncidentUid, size: usize) -> Vec<IncidentEvent> {
    let mut opened =
        alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", "cart-1"), ("severity", "critical")]);
    opened.annotations.insert("summary".into(), "cart is crash looping".repeat(size.max(1)));
    let plan = plan(incident, size);
    vec![
        IncidentEvent::Opened { alert: Box::new(opened) },
        IncidentEvent::Diagnosed {
            record: Box::new(record(incident, size, size, Decision::Act { plan: plan.clone() })),
        },
        IncidentEvent::ApprovalRequested { plan: Box::new(plan) },
        IncidentEvent::Acted {
            report: Box::new(report(
                incident,
                ExecutionOutcome::Failed { step: 0, error: "conflict".into(), rolled_back: false },
                size,
            )),
        },
        IncidentEvent::Verified { report: Box::new(report(incident, ExecutionOutcome::Verified, size)) },
        IncidentEvent::RolledBack {
            report: Box::new(report(incident, ExecutionOutcome::VerificationFailed { rolled_back: true }, size)),
        },
        IncidentEvent::Escalated {
            reason: "no hypothesis is confident enough".into(),
            record: Some(Box::new(record(incident, size, size, Decision::Escalate { reason: "ambiguous".into() }))),
        },
        IncidentEvent::Closed { summary: "resolved: oom-memory-limit fixed by oom-memory-limit".into() },
    ]
}

fn options() -> RenderOptions {
    RenderOptions {
        title: Some("KubePodCrashLooping shop/cart".into()),
        base_url: Some("https://medic.example.com/".into()),
        interactive: true,
    }
}

fn texts(message: &Message) -> String {
    let mut all = vec![message.text.clone()];
    for block in &message.blocks {
        match block {
            Block::Header { text, .. } => all.push(text.as_str().to_string()),
            Block::Section { text, fields, .. } => {
                all.extend(text.iter().map(|t| t.as_str().to_string()));
                all.extend(fields.iter().map(|t| t.as_str().to_string()));
            }
            Block::Context { elements, .. } => all.extend(elements.iter().map(|t| t.as_str().to_string())),
            Block::Divider { .. } | Block::Actions { .. } => {}
        }
    }
    all.join("\n")
}

fn actions(message: &Message) -> Vec<&Block> {
    message.blocks.iter().filter(|b| matches!(b, Block::Actions { .. })).collect()
}

#[test]
fn every_event_renders_what_people_need() {
    let incident = IncidentUid::new();
    let expectations: &[(&str, &[&str])] = &[
        ("opened", &[":rotating_light: KubePodCrashLooping", "*Namespace*\nshop", "pod cart-1", "critical"]),
        (
            "diagnosed",
            &[
                "Diagnosed: oom-memory-limit at Deployment/shop/svc-0",
                "82%",
                "OOMKilled #0",
                "compute, network",
                "act: oom-memory-limit (medium risk)",
                "Similar past incidents",
                "No answer from: database",
                "Other hypotheses",
            ],
        ),
        (
            "approval-requested",
            &["Approval needed: oom-memory-limit", "1. delete pod shop/cart-0", "128Mi limit", "medium"],
        ),
        ("acted", &["Acted: step 1 failed", "conflict"]),
        ("verified", &["Verified", "rollout restart deployment shop/d0: :white_check_mark: applied"]),
        ("rolled-back", &["Rolled back", "Verification failed* after 61 s: 2/3 ready", "rollback: rollout restart"]),
        (
            "escalated",
            &[
                "Escalated",
                "*Why:* no hypothesis is confident enough",
                "Competing hypotheses",
                "confidence ≥ 60%",
                "*2. `oom-memory-limit` at `Deployment/shop/svc-1`*",
            ],
        ),
        ("closed", &["*Closed:* resolved"]),
    ];
    for (event, (kind, wanted)) in every_event(incident, 3).iter().zip(expectations) {
        assert_eq!(event.kind(), *kind);
        let message = render(incident, event, &options());
        assert!(message.violations().is_empty(), "{kind}: {:?}", message.violations());
        let text = texts(&message);
        for want in *wanted {
            assert!(text.contains(want), "{kind}: {want:?} not in\n{text}");
        }
        let link = format!("<https://medic.example.com/v1/incidents/{incident}|{}>", incident.short());
        assert!(text.contains(&link), "{kind}: no link to the incident in\n{text}");
        assert!(message.text.starts_with(&incident.short()), "{kind}: {}", message.text);
    }
}

#[test]
fn a_plan_waiting_for_approval_has_approve_and_reject_buttons_when_interactive() {
    let incident = IncidentUid::new();
    let plan = plan(incident, 2);
    let event = IncidentEvent::ApprovalRequested { plan: Box::new(plan.clone()) };
    let message = render(incident, &event, &options());
    let json = serde_json::to_value(&message).unwrap();
    let actions = json["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").expect("buttons");
    assert_eq!(actions["block_id"], incident.to_string());
    let buttons: Vec<(&str, &str, &str)> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action_id"].as_str().unwrap(), e["value"].as_str().unwrap(), e["style"].as_str().unwrap()))
        .collect();
    let id = plan.id.to_string();
    assert_eq!(buttons, vec![("approve", id.as_str(), "primary"), ("reject", id.as_str(), "danger")]);

    let quiet = render(incident, &event, &RenderOptions { interactive: false, ..options() });
    assert!(actions_of(&quiet).is_empty(), "no buttons without interactivity");
    assert!(texts(&quiet).contains(&format!("POST /v1/plans/{id}/approve")));
}

fn actions_of(message: &Message) -> Vec<&Block> {
    actions(message)
}

#[test]
fn a_huge_incident_stays_within_slacks_limits() {
    let incident = IncidentUid::new();
    for event in every_event(incident, 400) {
        let message = render(incident, &event, &options());
        assert!(message.violations().is_empty(), "{}: {:?}", event.kind(), message.violations());
        assert!(message.blocks.len() <= MAX_BLOCKS);
        assert!(matches!(message.blocks.last(), Some(Block::Context { .. })), "{}: identity kept", event.kind());
        if event.kind() == "approval-requested" {
            assert_eq!(actions(&message).len(), 1, "the buttons survive");
            assert!(texts(&message).contains("…and "), "left-out steps are counted");
        }
        if event.kind() == "escalated" {
            assert!(texts(&message).contains("390 more hypotheses not shown"), "{}", texts(&message));
        }
    }
}

#[test]
fn outside_text_is_escaped() {
    let incident = IncidentUid::new();
    let mut a = alert("<!channel> Boom & <http://evil|click>", &[("namespace", "<@U999>")]);
    a.annotations.insert("description".into(), "<!here> please".into());
    let message = render(incident, &IncidentEvent::Opened { alert: Box::new(a) }, &options());
    // Headers are plain text, which Slack shows literally; everything else is markdown and must be escaped.
    let markdown = Message { blocks: message.blocks[1..].to_vec(), ..message.clone() };
    let text = texts(&markdown);
    assert!(!text.contains("<!channel>") && !text.contains("<!here>") && !text.contains("<@U999>"), "{text}");
    assert!(text.contains("&lt;!here&gt; please"), "{text}");
    // A header is plain text: Slack shows it literally.
    assert!(matches!(&message.blocks[0], Block::Header { text: Text::PlainText { .. }, .. }));
}

#[test]
fn verdicts_mention_the_slack_user() {
    let incident = IncidentUid::new();
    let plan = PlanId::new();
    let approved = render_verdict(incident, plan, true, "slack:U2CERLKJA", None, &options());
    assert!(texts(&approved).contains(&format!(":thumbsup: Plan `{plan}` approved by <@U2CERLKJA>")));
    let refused = render_verdict(incident, plan, false, "api:alice", Some("already approved by slack:U1"), &options());
    assert!(texts(&refused).contains("`api:alice` rejected plan"), "{}", texts(&refused));
    assert!(texts(&refused).contains("not applied: already approved by slack:U1"));
}

proptest! {
    #[test]
    fn any_alert_and_evidence_render_within_the_limits(
        name in "\\PC{0,300}",
        labels in proptest::collection::btree_map("[a-z]{1,12}", "\\PC{0,300}", 0..12),
        annotation in "\\PC{0,5000}",
        details in proptest::collection::vec("\\PC{0,3500}", 0..30),
        reason in "\\PC{0,5000}",
    ) {
        let incident = IncidentUid::new();
        let mut a = alert(&name, &[]);
        a.labels.extend(labels);
        a.annotations.insert("summary".into(), annotation.clone());
        a.annotations.insert("description".into(), annotation);
        let mut h = hypothesis(RootCauseClass::BadRollout, "web", 0, "");
        h.evidence = details.iter().map(|d| Evidence::new(EvidenceSource::Log, None, d.clone())).collect();
        let record = DecisionRecord {
            incident,
            decision: Decision::Escalate { reason: reason.clone() },
            ranked: vec![ranked(h.clone(), 0.5), ranked(h, 0.4)],
            recalled: vec![],
            missing: details.clone(),
            min_confidence: 0.6,
            min_margin: 0.1,
        };
        let events = [
            IncidentEvent::Opened { alert: Box::new(a) },
            IncidentEvent::Diagnosed { record: Box::new(record.clone()) },
            IncidentEvent::Escalated { reason: reason.clone(), record: Some(Box::new(record)) },
            IncidentEvent::Closed { summary: reason },
        ];
        for event in &events {
            let message = render(incident, event, &options());
            prop_assert!(message.violations().is_empty(), "{}: {:?}", event.kind(), message.violations());
        }
    }
}
