//! The Notifier against the Slack stand-in: threading per incident, order and completeness across an outage
//! and rate limits, plain-text fallback, Slack's limits on a huge incident, a misconfigured token, and
//! medic's own messages when writes are suspended and resume.
mod support;

use actix::{Actor, Addr};
use medic::notify::{DeliveryConfig, InteractionsConfig, Notifier, NotifyConfig, SinkConfig, WritesNote};
use medic_core::decision::{Decision, DecisionRecord, RankedHypothesis};
use medic_core::execution::{ExecutionOutcome, ExecutionReport};
use medic_core::messages::{IncidentEvent, Notify};
use medic_core::testkit::alert;
use medic_core::{
    ActionSpec, AuditKind, Evidence, EvidenceSource, Hypothesis, IncidentUid, ObjectRef, Plan, PlanId, Risk,
    RootCauseClass, VerifySpec,
};
use medic_slack::render::WritesChange;
use medic_store::{Store, StoreConfig};
use std::time::{Duration, Instant};
use support::slack_stand_in::{Posted, SlackStandIn};

const TOKEN: &str = "xoxb-stand-in-token";
const CHANNEL: &str = "C0MEDIC";
const HOOK: &str = "T000/B000/XXXXXXXX";

fn fast_delivery() -> DeliveryConfig {
    DeliveryConfig {
        poll_interval_ms: 50,
        retry_initial_ms: 100,
        retry_max_secs: 1,
        misconfigured_retry_secs: 1,
        request_timeout_ms: 2_000,
    }
}

fn sinks(slack: &SlackStandIn, token: &str) -> NotifyConfig {
    NotifyConfig {
        public_url: Some("https://medic.example.com".into()),
        sinks: vec![
            SinkConfig::SlackChat {
                name: None,
                channel: CHANNEL.into(),
                token: Some(medic::secrets::Secret::new(token)),
                token_env: None,
                token_file: None,
                api_url: slack.api_url(),
            },
            SinkConfig::SlackWebhook {
                name: None,
                url: None,
                url_env: Some("MEDIC_TEST_WEBHOOK".into()),
                url_file: None,
            },
        ],
        delivery: fast_delivery(),
        interactions: None,
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Store,
    notifier: Addr<Notifier>,
}

/// A store with `incidents` opened by alerts, and a Notifier sending to the stand-in.
async fn harness(slack: &SlackStandIn, token: &str, incidents: usize) -> (Harness, Vec<IncidentUid>) {
    harness_with(slack, token, incidents, None).await
}

/// [`harness`], with Slack's interactivity (plans get Approve/Reject buttons) when given. One Notifier
/// per store, as in medic: it alone delivers the outbox.
async fn harness_with(
    slack: &SlackStandIn,
    token: &str,
    incidents: usize,
    interactions: Option<InteractionsConfig>,
) -> (Harness, Vec<IncidentUid>) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
    let mut uids = Vec::new();
    for i in 0..incidents {
        let mut a = alert("KubePodCrashLooping", &[("namespace", &format!("ns-{i}")), ("pod", "cart-1")]);
        // One alert each: the kit's fingerprint depends on the name and the label count only.
        a.fingerprint = format!("{:016x}", 0x5eed + i);
        uids.extend(store.ingest(vec![a]).await.unwrap().new_incidents());
    }
    assert_eq!(uids.len(), incidents, "one incident per alert");
    let mut config = sinks(slack, token);
    config.interactions = interactions;
    let hook = slack.webhook_url(HOOK);
    let env = move |var: &str| (var == "MEDIC_TEST_WEBHOOK").then(|| hook.clone());
    let built = config.build_sinks(&env).unwrap();
    let notifier = Notifier::new(store.clone(), built, config.render_options(), config.delivery.clone()).start();
    (Harness { _dir: dir, store, notifier }, uids)
}

fn plan(incident: IncidentUid, steps: usize) -> Plan {
    Plan {
        id: PlanId::new(),
        incident,
        class: RootCauseClass::OomMemoryLimit,
        target: ObjectRef::deployment("shop", "cart"),
        playbook: "oom-memory-limit".into(),
        playbook_version: "1".into(),
        steps: (0..steps)
            .map(|i| ActionSpec::DeletePod { namespace: "shop".into(), pod: format!("cart-{i}") })
            .collect(),
        verify: VerifySpec { checks: vec![], timeout_secs: 60, stable_secs: 5 },
        rollback_on_failure: true,
        risk: Risk::Medium,
        requires_approval: true,
        rationale: "OOMKilled at the limit".into(),
    }
}

fn record(incident: IncidentUid, hypotheses: usize, evidence: usize) -> DecisionRecord {
    let ranked = (0..hypotheses)
        .map(|i| {
            let target = ObjectRef::deployment("shop", format!("svc-{i}"));
            RankedHypothesis {
                hypothesis: Hypothesis {
                    class: RootCauseClass::OomMemoryLimit,
                    target: target.clone(),
                    confidence: 0.8,
                    evidence: (0..evidence)
                        .map(|j| {
                            Evidence::new(
                                EvidenceSource::Log,
                                Some(target.clone()),
                                format!("line {j} {}", "x".repeat(300)),
                            )
                        })
                        .collect(),
                    playbook: None,
                    params: Default::default(),
                    specialist: "compute".into(),
                },
                score: 0.7,
                supported_by: vec!["compute".into()],
                notes: vec![],
            }
        })
        .collect();
    DecisionRecord {
        incident,
        decision: Decision::Escalate { reason: "ambiguous".into() },
        ranked,
        recalled: vec![],
        missing: vec![],
        min_confidence: 0.6,
        min_margin: 0.1,
    }
}

fn report(incident: IncidentUid, outcome: ExecutionOutcome) -> ExecutionReport {
    ExecutionReport { incident, plan: PlanId::new(), outcome, steps: vec![], verification: None }
}

/// An incident's life, in the order the Director reports it.
fn story(incident: IncidentUid) -> Vec<IncidentEvent> {
    vec![
        IncidentEvent::Opened { alert: Box::new(alert("KubePodCrashLooping", &[("namespace", "shop")])) },
        IncidentEvent::Diagnosed { record: Box::new(record(incident, 2, 3)) },
        IncidentEvent::ApprovalRequested { plan: Box::new(plan(incident, 2)) },
        IncidentEvent::Acted { report: Box::new(report(incident, ExecutionOutcome::Verified)) },
        IncidentEvent::Verified { report: Box::new(report(incident, ExecutionOutcome::Verified)) },
        IncidentEvent::Closed { summary: "resolved".into() },
    ]
}

/// The notification text starts with the incident's short uid and says which event it is.
fn event_of(text: &str) -> &'static str {
    for (needle, kind) in [
        ("opened:", "opened"),
        (": diagnosed", "diagnosed"),
        (": approval needed", "approval-requested"),
        (": acted", "acted"),
        (": the fix is verified", "verified"),
        (" closed:", "closed"),
        (" escalated:", "escalated"),
    ] {
        if text.contains(needle) {
            return kind;
        }
    }
    "unknown"
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn of(posted: &[Posted], incident: IncidentUid, via: &str) -> Vec<Posted> {
    posted.iter().filter(|p| p.via.starts_with(via) && p.text.starts_with(&incident.short())).cloned().collect()
}

#[actix_rt::test]
async fn slack_unreachable_for_a_while_then_every_message_arrives_in_order_and_threaded() {
    let mut slack = SlackStandIn::start(TOKEN, &[CHANNEL], &[HOOK]);
    let (h, incidents) = harness(&slack, TOKEN, 3).await;
    // The first incident's first messages get through; then Slack goes away.
    let first = story(incidents[0]);
    for event in &first[..2] {
        h.notifier.send(Notify { incident: incidents[0], event: event.clone() }).await.unwrap();
    }
    wait_for("the first messages", Duration::from_secs(10), || slack.posted().len() == 4).await;
    slack.go_down().await;

    // While Slack is unreachable, the three incidents go on, interleaved.
    let stories: Vec<Vec<IncidentEvent>> = incidents.iter().map(|&i| story(i)).collect();
    for step in 0..6 {
        for (k, (&incident, story)) in incidents.iter().zip(&stories).enumerate() {
            if k == 0 && step < 2 {
                continue;
            }
            h.notifier.send(Notify { incident, event: story[step].clone() }).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(slack.posted().len(), 4, "nothing reaches Slack while it is down: {:#?}", &slack.posted()[4..]);
    let unsent = h.store.outbox_unsent().await.unwrap();
    assert_eq!(unsent, 2 * (3 * 6 - 2), "everything since the outage waits in the outbox");

    // Slack comes back but rate-limits the first calls.
    slack.rate_limit(3);
    slack.come_back();
    let expected = 2 * 3 * 6;
    wait_for("every message", Duration::from_secs(30), || slack.posted().len() == expected).await;

    let posted = slack.posted();
    let wanted = ["opened", "diagnosed", "approval-requested", "acted", "verified", "closed"];
    for &incident in &incidents {
        let chat = of(&posted, incident, "chat");
        let kinds: Vec<&str> = chat.iter().map(|p| event_of(&p.text)).collect();
        assert_eq!(kinds, wanted, "chat.postMessage order of {}", incident.short());
        assert_eq!(chat[0].thread_ts, None, "the first message opens the thread");
        for reply in &chat[1..] {
            assert_eq!(reply.thread_ts.as_deref(), Some(chat[0].ts.as_str()), "later messages reply in the thread");
        }
        let hook = of(&posted, incident, "webhook");
        let kinds: Vec<&str> = hook.iter().map(|p| event_of(&p.text)).collect();
        assert_eq!(kinds, wanted, "incoming webhook order of {}", incident.short());
        // Every delivery is in the audit trail (recorded just after Slack took the message).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let timeline = h.store.timeline(incident).await.unwrap();
            let notified = timeline.iter().filter(|r| r.entry.kind == AuditKind::Notified).count();
            if notified == 12 {
                break;
            }
            assert!(notified < 12 && Instant::now() < deadline, "{notified} deliveries audited, 12 expected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(slack.refused().iter().filter(|r| *r == "ratelimited").count() == 3, "{:?}", slack.refused());
    assert_eq!(h.store.outbox_unsent().await.unwrap(), 0);
}

#[actix_rt::test]
async fn a_huge_incident_is_within_slacks_limits_and_keeps_its_buttons() {
    let slack = SlackStandIn::start(TOKEN, &[CHANNEL], &[HOOK]);
    let interactions = InteractionsConfig {
        signing_secret: Some(medic::secrets::Secret::new("s")),
        signing_secret_env: None,
        signing_secret_file: None,
        max_age_secs: 300,
        approvers: vec![],
    };
    let (h, incidents) = harness_with(&slack, TOKEN, 1, Some(interactions)).await;
    let incident = incidents[0];
    let huge = [
        IncidentEvent::Diagnosed { record: Box::new(record(incident, 300, 200)) },
        IncidentEvent::ApprovalRequested { plan: Box::new(plan(incident, 500)) },
        IncidentEvent::Escalated { reason: "r".repeat(10_000), record: Some(Box::new(record(incident, 300, 200))) },
    ];
    for event in huge {
        h.notifier.send(Notify { incident, event }).await.unwrap();
    }
    wait_for("three messages in each sink", Duration::from_secs(20), || slack.posted().len() == 6).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.store.outbox_unsent().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the outbox still has unsent messages");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(slack.posted().len(), 6, "each message once");
    assert!(slack.refused().is_empty(), "Slack refused: {:?}", slack.refused());
    for posted in slack.posted() {
        let blocks = posted.blocks.as_array().expect("block kit");
        assert!(blocks.len() <= 50);
        assert!(blocks.iter().all(|b| b["type"] != "section"
            || !b["text"]["text"].is_string()
            || b["text"]["text"].as_str().unwrap().chars().count() <= 3000));
    }
    let approval =
        slack.posted().into_iter().find(|p| p.via == "chat" && event_of(&p.text) == "approval-requested").unwrap();
    let buttons = approval.blocks.as_array().unwrap().iter().find(|b| b["type"] == "actions").expect("buttons survive");
    assert_eq!(buttons["block_id"], incident.to_string());
    assert_eq!(buttons["elements"][0]["action_id"], "approve");
    assert_eq!(buttons["elements"][1]["action_id"], "reject");
}

#[actix_rt::test]
async fn blocks_slack_refuses_are_sent_again_as_plain_text() {
    let slack = SlackStandIn::start(TOKEN, &[CHANNEL], &[HOOK]);
    let (h, incidents) = harness(&slack, TOKEN, 1).await;
    let incident = incidents[0];
    // A message written by something that did not know the limits: 60 blocks.
    let blocks: Vec<_> = (0..60)
        .map(|i| serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{i}")}}))
        .collect();
    let payload = serde_json::json!({"event": "diagnosed", "message": {"text": format!("{} too many blocks", incident.short()), "blocks": blocks}});
    h.store.outbox_enqueue_for_sink(incident, "slack-chat", &payload).await.unwrap();
    h.notifier.send(Notify { incident, event: IncidentEvent::Closed { summary: "done".into() } }).await.unwrap();
    wait_for("both messages", Duration::from_secs(10), || of(&slack.posted(), incident, "chat").len() == 2).await;
    let chat = of(&slack.posted(), incident, "chat");
    assert!(chat[0].text.ends_with("too many blocks") && chat[0].blocks.is_null(), "sent as text: {:?}", chat[0]);
    assert_eq!(event_of(&chat[1].text), "closed", "and the next one after it");
    assert_eq!(slack.refused(), ["invalid_blocks"]);
}

#[actix_rt::test]
async fn a_revoked_token_keeps_messages_queued_rather_than_dropped() {
    let slack = SlackStandIn::start(TOKEN, &[CHANNEL], &[HOOK]);
    let (h, incidents) = harness(&slack, "xoxb-revoked", 1).await;
    let incident = incidents[0];
    for event in story(incident).into_iter().take(2) {
        h.notifier.send(Notify { incident, event }).await.unwrap();
    }
    wait_for("the refusal", Duration::from_secs(10), || slack.refused().contains(&"invalid_auth".to_string())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Both chat messages wait (the second behind the first); the webhook, unaffected, delivered both.
    let queued = h.store.outbox_due(10, jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).await.unwrap();
    let head = queued.iter().find(|m| m.sink == "slack-chat").expect("the chat message is still queued");
    assert_eq!(head.last_error.as_deref(), Some("misconfigured: invalid_auth"));
    assert_eq!(h.store.outbox_unsent().await.unwrap(), 2);
    wait_for("the webhook's messages", Duration::from_secs(10), || of(&slack.posted(), incident, "webhook").len() == 2)
        .await;
}

#[actix_rt::test]
async fn writes_suspended_then_resumed_reach_every_sink_in_order_after_an_outage_outside_any_thread() {
    let mut slack = SlackStandIn::start(TOKEN, &[CHANNEL], &[HOOK]);
    let (h, incidents) = harness(&slack, TOKEN, 1).await;
    let incident = incidents[0];
    let events = story(incident);
    h.notifier.send(Notify { incident, event: events[0].clone() }).await.unwrap();
    wait_for("the opened messages", Duration::from_secs(10), || slack.posted().len() == 2).await;
    slack.go_down().await;

    // While Slack is unreachable, writes are suspended, the incident goes on, and writes resume.
    let since: jiff::Timestamp = "2026-11-22T19:04:12Z".parse().unwrap();
    let suspended =
        WritesChange::Suspended { reason: "m answered in 72.0 s, slower than the 60 s threshold".into(), since };
    let at = since + jiff::SignedDuration::from_secs(200);
    let resumed = WritesChange::Resumed { reason: "m answered in 0.4 s".into(), suspended_since: Some(since), at };
    h.notifier.send(WritesNote(suspended)).await.unwrap();
    h.notifier.send(Notify { incident, event: events[1].clone() }).await.unwrap();
    h.notifier.send(WritesNote(resumed)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slack.posted().len(), 2, "nothing reaches Slack while it is down");
    assert_eq!(h.store.outbox_unsent().await.unwrap(), 6, "three messages wait for each sink");

    slack.come_back();
    wait_for("every message", Duration::from_secs(20), || slack.posted().len() == 8).await;
    let posted = slack.posted();
    for via in ["chat", "webhook"] {
        let writes: Vec<&Posted> =
            posted.iter().filter(|p| p.via.starts_with(via) && p.text.starts_with("medic: writes")).collect();
        let texts: Vec<&str> = writes.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts.len(), 2, "{via}: {texts:#?}");
        assert!(texts[0].starts_with("medic: writes suspended") && texts[0].contains("60 s threshold"), "{texts:?}");
        assert!(texts[1].starts_with("medic: writes resume"), "{via}: {texts:?}");
        assert!(writes.iter().all(|p| p.thread_ts.is_none()), "{via}: not in the incident's thread: {writes:#?}");
        assert!(writes.iter().all(|p| !p.text.contains(&incident.short())), "names no incident");
        let thread = of(&posted, incident, via);
        assert_eq!(thread.len(), 2, "{via}: the incident's own messages");
    }
    let chat = of(&posted, incident, "chat");
    assert_eq!(chat[1].thread_ts.as_deref(), Some(chat[0].ts.as_str()), "the incident's thread is unaffected");
    // Each delivery of the writes messages is in the audit trail, about no incident.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = h.store.audit_after(0, 1_000).await.unwrap();
        let notified = audit
            .iter()
            .filter(|r| r.entry.kind == AuditKind::Notified && r.entry.incident.is_none())
            .filter(|r| r.entry.summary.contains("writes_"))
            .count();
        if notified == 4 {
            break;
        }
        assert!(notified < 4 && Instant::now() < deadline, "{notified} deliveries audited, 4 expected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.store.outbox_unsent().await.unwrap(), 0);
}
