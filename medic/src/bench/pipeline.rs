//! Alert received → decision → first action applied, on the lab, for the deterministic path.
//!
//! Every deployment of the topology is broken the same way (`kubectl set image` to a tag the registry does
//! not have), then one Alertmanager webhook per broken workload is posted to medic's real endpoint, one at a
//! time. medic runs on the wall clock here, so the audit trail's timestamps are real time: the figures are
//! medic's own latency (intake, context collection through kube-rs, specialists, decision, dry run, policy
//! gate, the write), not the lab's.
use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use medic_core::{AuditKind, IncidentUid};
use std::time::{Duration, Instant};

use crate::lab_rig::{Rig, RigConfig};

#[derive(Debug, Clone)]
pub struct PipelineBench {
    pub rounds: usize,
    pub speed: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct PipelineFigures {
    /// Alert received → context collected (cluster reads through kube-rs), ms.
    pub context_ms: Vec<f64>,
    /// Alert received → decision, ms.
    pub decision_ms: Vec<f64>,
    /// Alert received → first action applied, ms.
    pub first_action_ms: Vec<f64>,
    /// Incidents that did not act within the wait: the workload and what medic did instead.
    pub missed: Vec<String>,
}

impl std::fmt::Display for PipelineFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut context = self.context_ms.clone();
        context.sort_by(f64::total_cmp);
        let mut decision = self.decision_ms.clone();
        let mut action = self.first_action_ms.clone();
        decision.sort_by(f64::total_cmp);
        action.sort_by(f64::total_cmp);
        let p = super::percentile;
        writeln!(f, "incidents measured          {} ({} did not act)", action.len(), self.missed.len())?;
        for missed in &self.missed {
            writeln!(f, "  did not act: {missed}")?;
        }
        writeln!(
            f,
            "alert → context collected   p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            p(&context, 50.0),
            p(&context, 99.0),
            context.last().copied().unwrap_or(f64::NAN)
        )?;
        writeln!(
            f,
            "alert → decision            p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            p(&decision, 50.0),
            p(&decision, 99.0),
            decision.last().copied().unwrap_or(f64::NAN)
        )?;
        write!(
            f,
            "alert → first action applied p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            p(&action, 50.0),
            p(&action, 99.0),
            action.last().copied().unwrap_or(f64::NAN)
        )
    }
}

fn webhook(namespace: &str, pod: &str, n: usize) -> String {
    format!(
        r#"{{"receiver":"medic","status":"firing","alerts":[{{"status":"firing","labels":{{"alertname":"KubePodNotReady","namespace":"{namespace}","pod":"{pod}","job":"kube-state-metrics","severity":"warning"}},"annotations":{{"summary":"Pod has been in a non-ready state for more than 15 minutes."}},"startsAt":"2026-03-01T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://bench","fingerprint":"bench{n:011x}"}}],"groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://bench","version":"4","groupKey":"{{}}:{{pod=\"{pod}\"}}","truncatedAlerts":0}}"#
    )
}

pub async fn run(bench: &PipelineBench, progress: &mut dyn std::io::Write) -> Result<PipelineFigures> {
    let mut figures = PipelineFigures::default();
    for round in 0..bench.rounds {
        // A fresh lab and medic per round: an incident stays open through its verification window (medic
        // runs on the wall clock here), and a second alert for the same workload would join it.
        run_round(bench, bench.seed + round as u64, &mut figures).await?;
        writeln!(
            progress,
            "round {}/{}: {} incidents measured so far",
            round + 1,
            bench.rounds,
            figures.first_action_ms.len()
        )?;
    }
    Ok(figures)
}

async fn run_round(bench: &PipelineBench, seed: u64, figures: &mut PipelineFigures) -> Result<()> {
    let config =
        RigConfig { speed: bench.speed, seed, lab_alerts: false, medic_on_wall_clock: true, ..RigConfig::default() };
    let rig = Rig::start(config, |c| {
        c.telemetry.filter = "warn".into();
        // Every workload breaks within a minute here: the hourly rate limit would otherwise be the figure.
        c.executor.max_actions_per_namespace_per_hour = 100_000;
    })
    .await?;
    let namespace = rig.lab.topology().namespace.clone();
    rig.wait_healthy(&namespace, Duration::from_secs(900)).await?;
    let client = rig.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let http = super::http_client()?;
    let url = format!("{}/v1/webhooks/alertmanager", rig.medic.url());
    let names: Vec<(String, String, String)> = deployments
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|d| {
            let name = d.metadata.name?;
            let container = d.spec.template.spec?.containers.into_iter().next()?;
            let image = container.image?;
            Some((name, container.name, image))
        })
        .collect();
    // One workload at a time, so each incident is medic's answer to one fault (a broken dependency would
    // otherwise be localised and fixed from its dependents' alerts).
    for (n, (name, container, image)) in names.iter().enumerate() {
        let repository = image.rsplit_once(':').map_or(image.as_str(), |(r, _)| r);
        let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": container, "image": format!("{repository}:medic-bench-missing")}]}}}});
        deployments.patch(name, &PatchParams::default(), &Patch::Strategic(patch)).await?;
        let pod = wait_for_pull_failure(&pods, name).await?;
        let before = Instant::now();
        let answer = http
            .post(&url)
            .bearer_auth(&rig.token)
            .header("content-type", "application/json")
            .body(webhook(&namespace, &pod, n))
            .send()
            .await?;
        let ack: serde_json::Value = answer.error_for_status()?.json().await?;
        match serde_json::from_value::<IncidentUid>(ack["opened"][0].clone()) {
            Ok(incident) => {
                if let Some(instead) = measure(&rig, incident, before, figures).await? {
                    figures.missed.push(format!("{name}: {instead}"));
                }
            }
            Err(_) => figures.missed.push(format!("{name}: the alert opened no incident ({ack})")),
        }
        rig.wait_healthy(&namespace, Duration::from_secs(1800)).await?;
    }
    rig.stop().await;
    Ok(())
}

/// Reads the incident's audit trail until it shows the decision and the first applied action; otherwise
/// says what medic did instead (escalated, closed the incident, or nothing within 30 s).
async fn measure(
    rig: &Rig,
    incident: IncidentUid,
    since: Instant,
    figures: &mut PipelineFigures,
) -> Result<Option<String>> {
    while since.elapsed() < Duration::from_secs(30) {
        let timeline = rig.medic.store.timeline(incident).await?;
        let at = |kind| timeline.iter().find(|r| r.entry.kind == kind).map(|r| r.entry.at);
        if let (Some(received), Some(collected), Some(decided), Some(applied)) = (
            at(AuditKind::AlertReceived).or(at(AuditKind::IncidentOpened)),
            at(AuditKind::ContextCollected),
            at(AuditKind::Decision),
            at(AuditKind::ActionApplied),
        ) {
            figures.context_ms.push(collected.duration_since(received).as_secs_f64() * 1000.0);
            figures.decision_ms.push(decided.duration_since(received).as_secs_f64() * 1000.0);
            figures.first_action_ms.push(applied.duration_since(received).as_secs_f64() * 1000.0);
            return Ok(None);
        }
        let ended = timeline.iter().find(|r| matches!(r.entry.kind, AuditKind::Escalated | AuditKind::IncidentClosed));
        if let Some(record) = ended {
            return Ok(Some(format!("{}: {}", record.entry.kind.as_str(), record.entry.summary)));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(Some("no action within 30 s".into()))
}

/// The name of a pod of `deployment` that cannot pull its image.
async fn wait_for_pull_failure(pods: &Api<Pod>, deployment: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        for pod in pods.list(&ListParams::default()).await?.items {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if !name.starts_with(&format!("{deployment}-")) {
                continue;
            }
            let waiting = pod.status.and_then(|s| s.container_statuses).unwrap_or_default().into_iter().any(|c| {
                c.state.and_then(|s| s.waiting).and_then(|w| w.reason).is_some_and(|r| r.contains("ImagePull"))
            });
            if waiting {
                return Ok(name);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{deployment} never failed to pull its image");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
