//! Intake throughput: many tasks ingesting batches of alerts concurrently into one store file, with
//! persistence on (WAL, group commit). Prints alerts/s for each durability setting.
//!
//! `cargo bench -p medic-store --bench ingest` (environment: `INGEST_TASKS`, `INGEST_ALERTS_PER_TASK`,
//! `INGEST_BATCH`).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use medic_core::{Alert, AlertSource, AlertStatus};
use medic_store::{Durability, StoreConfig};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `INGEST_GROUP_KEYS=0` sends alerts without a group key, so that grouping goes by workload.
fn group_keys() -> bool {
    std::env::var("INGEST_GROUP_KEYS").map_or(true, |v| v != "0")
}

/// Alerts spread over 40 namespaces × 25 workloads, so grouping finds and opens incidents as in a real
/// storm.
fn alert(task: usize, i: usize, run: usize) -> Alert {
    let namespace = format!("ns-{}", (task * 7 + i) % 40);
    let workload = format!("app-{}", i % 25);
    let labels: BTreeMap<String, String> = [
        ("alertname", "KubePodCrashLooping".to_string()),
        ("namespace", namespace.clone()),
        ("pod", format!("{workload}-5d4f8c7b9-x2x4z")),
        ("container", "main".to_string()),
        ("severity", "warning".to_string()),
        ("job", "kube-state-metrics".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Alert {
        source: AlertSource::Alertmanager,
        status: AlertStatus::Firing,
        fingerprint: format!("{run:04x}{task:04x}{i:08x}"),
        name: "KubePodCrashLooping".into(),
        labels,
        annotations: BTreeMap::from([("summary".to_string(), "Pod is crash looping.".to_string())]),
        starts_at: Timestamp::now(),
        ends_at: None,
        group_key: group_keys()
            .then(|| format!("{{}}:{{alertname=\"KubePodCrashLooping\", namespace=\"{namespace}\"}}")),
        generator_url: None,
    }
}

/// CPU time this process has used (all threads), from /proc/self/stat: on a machine shared with other
/// work, alerts per CPU-second is steadier than alerts per second.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command; 100 ticks a second.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Ingests `tasks × per_task` alerts in batches of `batch` into a fresh file; returns the wall-clock and
/// CPU time it took.
fn run_once(
    rt: &tokio::runtime::Runtime,
    durability: Durability,
    tasks: usize,
    per_task: usize,
    batch: usize,
    run: usize,
) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StoreConfig::new(dir.path().join("medic.db")).with_durability(durability).build().expect("open store");
    let batches: Vec<Vec<Vec<Alert>>> = (0..tasks)
        .map(|task| {
            let alerts: Vec<Alert> = (0..per_task).map(|i| alert(task, i, run)).collect();
            alerts.chunks(batch).map(<[Alert]>::to_vec).collect()
        })
        .collect();
    let started = Instant::now();
    let cpu_before = process_cpu();
    rt.block_on(async {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|task_batches| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut stored = 0;
                    for batch in task_batches {
                        let outcome = store.ingest(batch).await.expect("ingest");
                        stored += outcome.alerts.iter().filter(|a| a.new_alert).count();
                    }
                    stored
                })
            })
            .collect();
        let mut stored = 0;
        for handle in handles {
            stored += handle.await.expect("task");
        }
        assert_eq!(stored, tasks * per_task, "every alert is stored once");
    });
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    rt.block_on(store.close());
    (elapsed, cpu)
}

/// A load shape: `tasks` concurrent senders, each ingesting `per_task` alerts, `batch` alerts a call.
struct Scenario {
    name: &'static str,
    tasks: usize,
    per_task: usize,
    batch: usize,
}

fn ingest(c: &mut Criterion) {
    let scenarios = [
        // Bulk intake (a storm through Alertmanager's grouped notifications).
        Scenario {
            name: "batched",
            tasks: env_or("INGEST_TASKS", 8),
            per_task: env_or("INGEST_ALERTS_PER_TASK", 20_000),
            batch: env_or("INGEST_BATCH", 100),
        },
        // One alert per webhook call, many calls in flight: what group commit is for.
        Scenario { name: "single", tasks: 64, per_task: env_or("INGEST_SINGLE_PER_TASK", 500), batch: 1 },
    ];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_secs(30));
    for scenario in &scenarios {
        let Scenario { name, tasks, per_task, batch } = *scenario;
        let total = tasks * per_task;
        group.throughput(Throughput::Elements(total as u64));
        for durability in [Durability::Full, Durability::Normal] {
            let id = format!("{name}/{tasks}x{per_task}/batch{batch}/synchronous={}", durability.pragma_name());
            let mut runs = 0;
            let mut best = f64::MAX;
            let mut cpu = Duration::ZERO;
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let mut total_time = Duration::ZERO;
                    for _ in 0..iters {
                        runs += 1;
                        let (elapsed, used) = run_once(&rt, durability, tasks, per_task, batch, runs);
                        best = best.min(elapsed.as_secs_f64());
                        cpu += used;
                        total_time += elapsed;
                    }
                    total_time
                })
            });
            if runs > 0 {
                let per_cpu_second = (total * runs) as f64 / cpu.as_secs_f64().max(1e-9);
                println!(
                    "ingest {id}: best {:.0} alerts/s ({total} alerts in {best:.2} s); {per_cpu_second:.0} alerts per CPU-second",
                    total as f64 / best
                );
            }
        }
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
