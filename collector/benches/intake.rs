//! How many alerts per second the intake accepts with persistence on: Alertmanager v4 bodies, parsed,
//! authenticated, committed to SQLite (WAL, synchronous=FULL) before each answer, by concurrent senders.
//! Prints alerts/s and checks that every alert was stored.
//!
//! `cargo bench -p medic-collector --bench intake` (MEDIC_BENCH_ALERTS=20000 to change the volume).
use actix::{Actor, Context, Handler};
use medic_collector::intake::{AuthConfig, IntakeConfig, IntakeOutputs, ReceiverConfig, Secret};
use medic_core::AlertSource;
use medic_core::messages::{AlertResolved, OpenIncident};
use medic_core::ports::SystemClock;
use medic_store::StoreConfig;
use std::sync::Arc;
use std::time::Instant;

/// Takes the intake's messages and drops them: the bench measures intake, not the pipeline behind it.
struct Sink;
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<OpenIncident> for Sink {
    type Result = ();
    fn handle(&mut self, _: OpenIncident, _: &mut Context<Self>) {}
}
impl Handler<AlertResolved> for Sink {
    type Result = ();
    fn handle(&mut self, _: AlertResolved, _: &mut Context<Self>) {}
}

/// One Alertmanager body of `per_body` alerts, numbered from `first`.
fn body(first: usize, per_body: usize) -> Vec<u8> {
    let alerts: Vec<String> = (first..first + per_body)
        .map(|n| {
            format!(
                r#"{{"status":"firing","labels":{{"alertname":"KubePodCrashLooping","namespace":"bench","pod":"w{w}-5d4f8c7b9-x{n:05}","container":"app","job":"kube-state-metrics","severity":"warning"}},"annotations":{{"summary":"Pod is crash looping.","description":"Pod bench/w{w} is in waiting state."}},"startsAt":"2026-03-01T12:00:00.{ms:03}Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"{n:016x}"}}"#,
                w = n % 100,
                ms = n % 1000,
            )
        })
        .collect();
    format!(
        r#"{{"receiver":"medic","status":"firing","alerts":[{}],"groupLabels":{{"alertname":"KubePodCrashLooping"}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://alertmanager:9093","version":"4","groupKey":"{{}}:{{alertname=\"KubePodCrashLooping\"}}","truncatedAlerts":0}}"#,
        alerts.join(",")
    )
    .into_bytes()
}

/// The intake's own share: authentication and parsing alone, on one core.
fn parse_only(total: usize) {
    let auth =
        AuthConfig::Bearer { token: Some(Secret::new("bench-token")), token_env: None }.build("bench").expect("auth");
    for per_body in [1usize, 10] {
        let bodies: Vec<Vec<u8>> = (0..total / per_body).map(|i| body(i * per_body, per_body)).collect();
        let started = Instant::now();
        let mut parsed = 0;
        for body in &bodies {
            auth.check(Some("Bearer bench-token")).expect("authenticated");
            parsed += medic_collector::intake::alertmanager::parse(body).expect("parses").len();
        }
        let elapsed = started.elapsed();
        println!(
            "auth + parse only, {per_body:>2} alert(s)/body: {:>8.0} alerts/s ({:.1} µs per body of {} bytes)",
            parsed as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / bodies.len() as f64,
            bodies[0].len(),
        );
    }
}

fn main() {
    let total: usize = std::env::var("MEDIC_BENCH_ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    parse_only(total);
    let system = actix::System::new();
    system.block_on(async move {
        for (per_body, senders) in [(1usize, 64usize), (10, 16)] {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = StoreConfig::new(dir.path().join("medic.db"))
                .build_async(Arc::new(SystemClock))
                .await
                .expect("store opens");
            let sink = Sink.start();
            let outputs = IntakeOutputs { open_incident: sink.clone().recipient(), alert_resolved: sink.recipient() };
            let config = IntakeConfig {
                alertmanager: Some(ReceiverConfig {
                    auth: AuthConfig::Bearer { token: Some(Secret::new("bench-token")), token_env: None },
                }),
                ..IntakeConfig::default()
            };
            let intake = Arc::new(config.build(store.clone(), outputs).expect("intake builds"));
            let bodies: Vec<Vec<u8>> = (0..total / per_body).map(|i| body(i * per_body, per_body)).collect();
            let bodies = Arc::new(bodies);
            let started = Instant::now();
            let tasks: Vec<_> = (0..senders)
                .map(|sender| {
                    let (intake, bodies) = (intake.clone(), bodies.clone());
                    actix::spawn(async move {
                        let mut latencies = Vec::new();
                        for body in bodies.iter().skip(sender).step_by(senders) {
                            let sent = Instant::now();
                            let ack = intake
                                .receive(AlertSource::Alertmanager, Some("Bearer bench-token"), body)
                                .await
                                .expect("accepted");
                            assert_eq!(ack.new, ack.received);
                            latencies.push(sent.elapsed());
                        }
                        latencies
                    })
                })
                .collect();
            let mut latencies = Vec::new();
            for task in tasks {
                latencies.extend(task.await.expect("sender finished"));
            }
            let elapsed = started.elapsed();
            let stored = store.alert_count().await.expect("count") as usize;
            latencies.sort();
            let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
            println!(
                "intake {per_body:>2} alert(s)/body, {senders:>2} senders: {:>8.0} alerts/s ({:>7.0} bodies/s), \
                 ack latency p50 {:>6.2} ms p99 {:>6.2} ms; stored {stored}/{total}{}",
                stored as f64 / elapsed.as_secs_f64(),
                latencies.len() as f64 / elapsed.as_secs_f64(),
                pct(0.50).as_secs_f64() * 1e3,
                pct(0.99).as_secs_f64() * 1e3,
                if stored == total { "" } else { "  LOST ALERTS" },
            );
            assert_eq!(stored, total, "every acknowledged alert is stored");
            store.close().await;
        }
    });
}
