//! Intake throughput: concurrent senders post Alertmanager v4 bodies over loopback to medic's real
//! webhook endpoint, with the store persisting every alert (WAL, fsync per group commit) before each 2xx.
//! At the end the store must hold exactly the alerts that were acknowledged.
use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::MedicConfig;
use crate::{Overrides, start};
use medic_collector::intake::{AuthConfig, ReceiverConfig, Secret};

#[derive(Debug, Clone)]
pub struct IntakeBench {
    pub senders: usize,
    pub alerts_per_body: usize,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct IntakeFigures {
    pub bodies: u64,
    pub alerts_acked: u64,
    pub alerts_stored: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
}

impl IntakeFigures {
    pub fn alerts_per_second(&self) -> f64 {
        self.alerts_acked as f64 / self.seconds
    }
}

impl std::fmt::Display for IntakeFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "bodies acknowledged   {}", self.bodies)?;
        writeln!(
            f,
            "alerts acknowledged   {} in {:.1} s = {:.0} alerts/s",
            self.alerts_acked,
            self.seconds,
            self.alerts_per_second()
        )?;
        writeln!(
            f,
            "alerts in the store   {} ({})",
            self.alerts_stored,
            if self.alerts_stored == self.alerts_acked { "nothing lost" } else { "MISMATCH" }
        )?;
        writeln!(f, "refused or failed     {}", self.errors)?;
        write!(f, "ack latency           p50 {:.2} ms, p99 {:.2} ms", self.ack_p50_ms, self.ack_p99_ms)
    }
}

fn body(sender: usize, sequence: u64, alerts: usize) -> String {
    let items: Vec<String> = (0..alerts)
        .map(|i| {
            format!(
                r#"{{"status":"firing","labels":{{"alertname":"IntakeBench","namespace":"bench","sender":"{sender}","n":"{sequence}-{i}"}},"annotations":{{"summary":"load"}},"startsAt":"2026-03-01T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://bench","fingerprint":"{sender:04x}{sequence:08x}{i:04x}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"receiver":"medic","status":"firing","alerts":[{}],"groupLabels":{{"alertname":"IntakeBench"}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://bench","version":"4","groupKey":"{{}}:{{alertname=\"IntakeBench\"}}","truncatedAlerts":0}}"#,
        items.join(",")
    )
}

/// Starts medic on a fresh store (no cluster needed: every alert groups into one incident whose context
/// collection fails fast) and drives it for `duration`.
pub async fn run(bench: &IntakeBench) -> Result<IntakeFigures> {
    let dir = tempfile::tempdir()?;
    let token = "intake-bench-token";
    let mut config = MedicConfig::default();
    config.store.path = dir.path().join("medic.db");
    config.server.listen = "127.0.0.1:0".parse()?;
    config.intake.alertmanager =
        Some(ReceiverConfig { auth: AuthConfig::Bearer { token: Some(Secret::new(token)), token_env: None } });
    // Nothing listens on the discard port: context collection fails at once and the incident is observed.
    let cluster = kube::Config::new("http://127.0.0.1:9".parse()?);
    let client = kube::Client::try_from(cluster)?;
    let medic = start(config, Overrides { kube_client: Some(client), ..Overrides::default() }).await?;
    let url = format!("{}/v1/webhooks/alertmanager", medic.url());
    let http = super::http_client()?;
    let acked = Arc::new(AtomicU64::new(0));
    let bodies = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + bench.duration;
    let mut tasks = Vec::new();
    for sender in 0..bench.senders {
        let (http, url, acked, bodies, errors) =
            (http.clone(), url.clone(), acked.clone(), bodies.clone(), errors.clone());
        let per_body = bench.alerts_per_body;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut sequence = 0u64;
            while Instant::now() < deadline {
                let payload = body(sender, sequence, per_body);
                sequence += 1;
                let sent = Instant::now();
                let answer = http
                    .post(&url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status().is_success() => {
                        let ack: serde_json::Value = r.json().await.unwrap_or_default();
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        acked.fetch_add(ack["new"].as_u64().unwrap_or(0), Ordering::Relaxed);
                        bodies.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("a sender failed")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let stored = medic.store.alert_count().await?;
    medic.stop().await;
    Ok(IntakeFigures {
        bodies: bodies.load(Ordering::Relaxed),
        alerts_acked: acked.load(Ordering::Relaxed),
        alerts_stored: stored,
        errors: errors.load(Ordering::Relaxed),
        seconds,
        ack_p50_ms: super::percentile(&latencies, 50.0),
        ack_p99_ms: super::percentile(&latencies, 99.0),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bench_bodies_are_valid_alertmanager_webhooks() {
        let body = super::body(3, 7, 2);
        let alerts = medic_collector::intake::alertmanager::parse(body.as_bytes()).unwrap();
        assert_eq!(alerts.len(), 2);
        assert_ne!(alerts[0].fingerprint, alerts[1].fingerprint);
        assert_eq!(alerts[0].group_key.as_deref(), Some("{}:{alertname=\"IntakeBench\"}"));
    }
}
