//! Plans that wait for a human, end to end on the lab: medic diagnoses a broken rollout, posts the plan with
//! Approve/Reject buttons to Slack (the stand-in), and acts only after an approval — through the API with
//! an approver's token, or through a signed Slack callback; a rejected plan is never applied. Wrong tokens,
//! low roles, second verdicts and forged, stale or unsigned callbacks are refused, and nothing is applied
//! before the approval.
mod support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use medic::MedicConfig;
use medic::http::auth::{Role, TokenConfig};
use medic::lab_rig::{Rig, RigConfig};
use medic::notify::{DeliveryConfig, InteractionsConfig, NotifyConfig, SinkConfig};
use medic::secrets::Secret;
use medic_core::AuditKind;
use medic_slack::Verifier;
use medic_store::{Incident, IncidentStatus, PlanStatus};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::slack_stand_in::SlackStandIn;

const SETTLE: Duration = Duration::from_secs(600);
const REPAIR: Duration = Duration::from_secs(30 * 60);
const BOT_TOKEN: &str = "xoxb-approvals";
const CHANNEL: &str = "C0OPS";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const VIEWER: &str = "viewer-token-3f9a";
const APPROVER: &str = "approver-token-77c1";
const SLACK_APPROVER: &str = "U2CERLKJA";

fn token(name: &str, role: Role, token: &str) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        role,
        token: Some(Secret::new(token)),
        token_env: None,
        token_file: None,
        token_sha256: None,
    }
}

fn configure(config: &mut MedicConfig, slack: &SlackStandIn) {
    config.director.always_require_approval = true;
    config.api.tokens = vec![token("vera", Role::Viewer, VIEWER), token("alice", Role::Approver, APPROVER)];
    config.notify = NotifyConfig {
        public_url: None,
        sinks: vec![SinkConfig::SlackChat {
            name: None,
            channel: CHANNEL.into(),
            token: Some(Secret::new(BOT_TOKEN)),
            token_env: None,
            token_file: None,
            api_url: slack.api_url(),
        }],
        delivery: DeliveryConfig {
            poll_interval_ms: 50,
            retry_initial_ms: 100,
            retry_max_secs: 2,
            ..Default::default()
        },
        interactions: Some(InteractionsConfig {
            signing_secret: Some(Secret::new(SIGNING_SECRET)),
            signing_secret_env: None,
            signing_secret_file: None,
            max_age_secs: 300,
            approvers: vec![SLACK_APPROVER.into()],
        }),
    };
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// A lab whose frontend rolled out an image the registry does not have, and the incident medic opened for
/// it, waiting for approval.
async fn broken_rollout(slack: &SlackStandIn, seed: u64) -> (Rig, Incident) {
    let rig =
        Rig::start(RigConfig { seed, ..RigConfig::default() }, |c| configure(c, slack)).await.expect("the rig starts");
    rig.wait_healthy("shop", SETTLE).await.expect("the shop comes up");
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "frontend", "image": "ghcr.io/medic-lab/shop-frontend:1.8.3"}]}}}});
    deployments.patch("frontend", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    let incident = rig
        .wait_for_incident(REPAIR, |i| i.status == IncidentStatus::AwaitingApproval)
        .await
        .expect("a plan waits for approval");
    (rig, incident)
}

async fn frontend_image(rig: &Rig) -> String {
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    let frontend = deployments.get("frontend").await.unwrap();
    frontend.spec.template.spec.unwrap().containers[0].image.clone().unwrap()
}

async fn kinds(rig: &Rig, incident: &Incident) -> Vec<(AuditKind, String)> {
    rig.medic.store.timeline(incident.uid).await.unwrap().into_iter().map(|r| (r.entry.kind, r.entry.summary)).collect()
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The plan id on the Approve button of the incident's approval message, as a user sees it in Slack.
async fn plan_on_the_button(slack: &SlackStandIn, incident: &Incident) -> String {
    let mut found = None;
    wait_until("the approval message in Slack", Duration::from_secs(30), async || {
        found = slack.posted().into_iter().find_map(|p| {
            let actions = p.blocks.as_array()?.iter().find(|b| b["type"] == "actions")?.clone();
            (actions["block_id"] == incident.uid.to_string())
                .then(|| actions["elements"][0]["value"].as_str().map(str::to_string))?
        });
        found.is_some()
    })
    .await;
    found.unwrap()
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"].as_str().unwrap_or_default().to_string())
}

#[actix_rt::test]
async fn a_plan_waits_and_runs_only_after_an_approval_through_the_api() {
    let slack = SlackStandIn::start(BOT_TOKEN, &[CHANNEL], &[]);
    let (rig, incident) = broken_rollout(&slack, 31).await;
    let client = http();
    let url = rig.medic.url();
    let plan_id = plan_on_the_button(&slack, &incident).await;

    // Nothing was applied while the plan waits.
    assert!(!kinds(&rig, &incident).await.iter().any(|(k, _)| *k == AuditKind::ActionApplied));
    assert_eq!(frontend_image(&rig).await, "ghcr.io/medic-lab/shop-frontend:1.8.3");

    // Reading needs a token; a viewer may read.
    let (status, reason) = error_of(client.get(format!("{url}/v1/plans")).send().await.unwrap()).await;
    assert_eq!(
        (status, reason.as_str()),
        (StatusCode::UNAUTHORIZED, "authentication required: send Authorization: Bearer <token>")
    );
    let response = client.get(format!("{url}/v1/plans")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"medic\"");
    assert_eq!(error_of(response).await, (StatusCode::UNAUTHORIZED, "authentication failed: unknown token".into()));
    let plans: Value =
        client.get(format!("{url}/v1/plans")).bearer_auth(VIEWER).send().await.unwrap().json().await.unwrap();
    let listed =
        plans["plans"].as_array().unwrap().iter().find(|p| p["id"] == plan_id.as_str()).expect("the plan is listed");
    assert_eq!(
        (listed["status"].as_str(), listed["incident"].as_str()),
        (Some("pending"), Some(incident.uid.to_string().as_str()))
    );
    let shown = client.get(format!("{url}/v1/incidents/{}", incident.uid)).bearer_auth(VIEWER).send().await.unwrap();
    assert_eq!(shown.status(), StatusCode::OK);

    // A viewer may not approve; unknown and malformed plans are named.
    let approve = format!("{url}/v1/plans/{plan_id}/approve");
    let (status, reason) = error_of(client.post(&approve).bearer_auth(VIEWER).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(reason.contains("needs the approver role") && reason.contains("\"vera\" has the viewer role"), "{reason}");
    let unknown = format!("{url}/v1/plans/{}/approve", medic_core::PlanId::new());
    assert_eq!(client.post(&unknown).bearer_auth(APPROVER).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let garbage = format!("{url}/v1/plans/not-a-plan/approve");
    assert_eq!(client.post(&garbage).bearer_auth(APPROVER).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert!(
        !kinds(&rig, &incident).await.iter().any(|(k, _)| *k == AuditKind::ActionApplied),
        "refused calls do nothing"
    );

    // The approver approves; medic acts and the service recovers.
    let approved: Value = client.post(&approve).bearer_auth(APPROVER).send().await.unwrap().json().await.unwrap();
    assert_eq!((approved["status"].as_str(), approved["decided_by"].as_str()), (Some("approved"), Some("api:alice")));
    let (status, reason) = error_of(client.post(&approve).bearer_auth(APPROVER).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(reason.contains("already approved by api:alice"), "{reason}");
    let reject = format!("{url}/v1/plans/{plan_id}/reject");
    assert_eq!(client.post(&reject).bearer_auth(APPROVER).send().await.unwrap().status(), StatusCode::CONFLICT);

    let resolved =
        rig.wait_for_incident(REPAIR, |i| i.uid == incident.uid && i.status == IncidentStatus::Resolved).await;
    let story = kinds(&rig, &incident).await;
    assert!(resolved.is_ok(), "not resolved: {story:#?}");
    let approved_at = story
        .iter()
        .position(|(k, s)| *k == AuditKind::Approved && s.contains("by api:alice"))
        .expect("approval audited");
    let applied_at = story.iter().position(|(k, _)| *k == AuditKind::ActionApplied).expect("the plan was applied");
    assert!(approved_at < applied_at, "applied before the approval: {story:#?}");
    assert_eq!(story.iter().filter(|(k, _)| *k == AuditKind::Approved).count(), 1, "one verdict");
    assert_eq!(frontend_image(&rig).await, "ghcr.io/medic-lab/shop-frontend:1.8.2");

    // The incident's Slack thread heard about the verdict.
    wait_until("the verdict in the thread", Duration::from_secs(30), async || {
        slack.posted().iter().any(|p| p.blocks.to_string().contains("approved by `api:alice`"))
    })
    .await;
    rig.stop().await;
}

fn click(user: &str, action: &str, plan: &str) -> Vec<u8> {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": "roadrunner", "team_id": "T1DC2JH3J"},
        "team": {"id": "T1DC2JH3J"},
        "channel": {"id": CHANNEL},
        "response_url": "https://hooks.slack.com/actions/T1DC2JH3J/1/x",
        "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": plan, "action_ts": "1.2"}]
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap().into_bytes()
}

async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    timestamp: Option<i64>,
    secret: &str,
) -> reqwest::Response {
    let mut request =
        client.post(format!("{url}/v1/slack/interactions")).header("content-type", "application/x-www-form-urlencoded");
    if let Some(ts) = timestamp {
        let signature = Verifier::new(secret.as_bytes(), 300).sign(&ts.to_string(), &body);
        request = request.header("X-Slack-Request-Timestamp", ts.to_string()).header("X-Slack-Signature", signature);
    }
    request.body(body).send().await.unwrap()
}

#[actix_rt::test]
async fn a_plan_runs_after_a_signed_slack_approval_and_forged_stale_or_unsigned_ones_are_refused() {
    let slack = SlackStandIn::start(BOT_TOKEN, &[CHANNEL], &[]);
    let (rig, incident) = broken_rollout(&slack, 32).await;
    let client = http();
    let url = rig.medic.url();
    let plan_id = plan_on_the_button(&slack, &incident).await;
    let now = jiff::Timestamp::now().as_second();
    let body = click(SLACK_APPROVER, "approve", &plan_id);

    let unsigned = client
        .post(format!("{url}/v1/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, reason) = error_of(unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(reason.starts_with("unsigned request"), "{reason}");
    let (status, reason) = error_of(post_signed(&client, &url, body.clone(), Some(now), "not-the-secret").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(reason.starts_with("forged request"), "{reason}");
    let (status, reason) =
        error_of(post_signed(&client, &url, body.clone(), Some(now - 600), SIGNING_SECRET).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(reason.starts_with("stale request"), "{reason}");
    // Signed for one body, sent with another (the plan swapped for the reject button).
    let signature = Verifier::new(SIGNING_SECRET.as_bytes(), 300).sign(&now.to_string(), &body);
    let swapped = client
        .post(format!("{url}/v1/slack/interactions"))
        .header("X-Slack-Request-Timestamp", now.to_string())
        .header("X-Slack-Signature", signature)
        .body(click(SLACK_APPROVER, "reject", &plan_id))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(swapped).await.0, StatusCode::UNAUTHORIZED);
    // Someone who is not among the approvers clicks: acknowledged, not applied.
    let outsider =
        post_signed(&client, &url, click("U0OUTSIDER", "approve", &plan_id), Some(now), SIGNING_SECRET).await;
    assert_eq!(outsider.status(), StatusCode::OK);
    wait_until("the refusal in the thread", Duration::from_secs(30), async || {
        slack.posted().iter().any(|p| p.blocks.to_string().contains("is not among the approvers"))
    })
    .await;
    let plan = medic_core::PlanId::from_uuid(plan_id.parse().unwrap());
    assert_eq!(rig.medic.store.plan(plan).await.unwrap().unwrap().status, PlanStatus::Pending);
    assert!(
        !kinds(&rig, &incident).await.iter().any(|(k, _)| *k == AuditKind::ActionApplied),
        "refused callbacks do nothing"
    );

    // The approver's signed click: answered at once, then the plan runs.
    let accepted = post_signed(&client, &url, body.clone(), Some(now), SIGNING_SECRET).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert!(accepted.text().await.unwrap().is_empty());
    let resolved =
        rig.wait_for_incident(REPAIR, |i| i.uid == incident.uid && i.status == IncidentStatus::Resolved).await;
    let story = kinds(&rig, &incident).await;
    assert!(resolved.is_ok(), "not resolved: {story:#?}");
    let stored = rig.medic.store.plan(plan).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.decided_by.as_deref()), (PlanStatus::Approved, Some("slack:U2CERLKJA")));
    let approved_at = story
        .iter()
        .position(|(k, s)| *k == AuditKind::Approved && s.contains("by slack:U2CERLKJA"))
        .expect("approval audited");
    let applied_at = story.iter().position(|(k, _)| *k == AuditKind::ActionApplied).expect("applied");
    assert!(approved_at < applied_at, "{story:#?}");
    assert_eq!(frontend_image(&rig).await, "ghcr.io/medic-lab/shop-frontend:1.8.2");

    // The same click again (a replay within the window) changes nothing: the plan took its one verdict.
    let replay = post_signed(&client, &url, body, Some(now), SIGNING_SECRET).await;
    assert_eq!(replay.status(), StatusCode::OK);
    wait_until("the thread to say so", Duration::from_secs(30), async || {
        let posted = slack.posted();
        posted.iter().any(|p| p.blocks.to_string().contains("approved by <@U2CERLKJA>"))
            && posted.iter().any(|p| p.blocks.to_string().contains("already approved by slack:U2CERLKJA"))
    })
    .await;
    assert_eq!(kinds(&rig, &incident).await.iter().filter(|(k, _)| *k == AuditKind::Approved).count(), 1);
    rig.stop().await;
}

#[actix_rt::test]
async fn a_plan_rejected_in_slack_is_never_applied_and_takes_no_second_verdict() {
    let slack = SlackStandIn::start(BOT_TOKEN, &[CHANNEL], &[]);
    let (rig, incident) = broken_rollout(&slack, 33).await;
    let client = http();
    let url = rig.medic.url();
    let plan_id = plan_on_the_button(&slack, &incident).await;
    let now = jiff::Timestamp::now().as_second();

    let rejected =
        post_signed(&client, &url, click(SLACK_APPROVER, "reject", &plan_id), Some(now), SIGNING_SECRET).await;
    assert_eq!(rejected.status(), StatusCode::OK);
    let escalated =
        rig.wait_for_incident(SETTLE, |i| i.uid == incident.uid && i.status == IncidentStatus::Escalated).await;
    let story = kinds(&rig, &incident).await;
    assert!(escalated.is_ok(), "not handed to a human: {story:#?}");
    let plan = medic_core::PlanId::from_uuid(plan_id.parse().unwrap());
    let stored = rig.medic.store.plan(plan).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.decided_by.as_deref()), (PlanStatus::Rejected, Some("slack:U2CERLKJA")));
    assert!(story.iter().any(|(k, s)| *k == AuditKind::Rejected && s.contains("by slack:U2CERLKJA")), "{story:#?}");

    // An approval afterwards, through the API, finds the plan decided.
    let approve = format!("{url}/v1/plans/{plan_id}/approve");
    let (status, reason) = error_of(client.post(&approve).bearer_auth(APPROVER).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(reason.contains("already rejected by slack:U2CERLKJA"), "{reason}");
    wait_until("the verdict in the thread", Duration::from_secs(30), async || {
        slack.posted().iter().any(|p| p.blocks.to_string().contains("rejected by <@U2CERLKJA>"))
    })
    .await;
    let story = kinds(&rig, &incident).await;
    assert!(!story.iter().any(|(k, _)| *k == AuditKind::ActionApplied), "a rejected plan was applied: {story:#?}");
    assert_eq!(frontend_image(&rig).await, "ghcr.io/medic-lab/shop-frontend:1.8.3", "the cluster is untouched");
    rig.stop().await;
}
