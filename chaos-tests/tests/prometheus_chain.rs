//! The real observability chain at real speed: a fault in the lab → Prometheus (Debian's package) scrapes
//! it and fires a rule → Alertmanager (Debian's package) groups it and posts to medic's webhook with a
//! bearer token → medic collects the cluster context and the metric context from the same Prometheus,
//! diagnoses, acts through the Kubernetes API and verifies → Prometheus sees the service recover and
//! Alertmanager's resolved notification closes the loop. One scenario per root-cause class; each prints the
//! decomposition of its time to repair.
//!
//! The scenarios are spread over three chains (each a lab, a medic, a Prometheus and an Alertmanager) that run
//! at once; on each chain its scenarios run one after the other, the next fault injected when the last repair
//! is confirmed by its resolved notification and the application is healthy again. (Faults injected together
//! into one application make medic's diagnoses about each other: that is what a correlated incident is, and
//! not what these tests measure.) Skipped, with a message, where Debian's `prometheus` and
//! `prometheus-alertmanager` are not installed (`scripts/setup.sh` installs them; CI runs it).
use anyhow::{Context, Result, ensure};
use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use medic_chaos_tests::prometheus::{Chain, ChainConfig, RepairReport, binaries_or_skip, report};
use medic_chaos_tests::{Rig, RigConfig, experiment};
use medic_collector::metrics::{MISSING, PrometheusConfig};
use medic_core::{AuditKind, RootCauseClass};
use medic_promstack::Binaries;
use medic_store::{Incident, IncidentFilter, IncidentStatus};
use std::time::Duration;

/// From the fault to a settled incident, at real speed.
const REPAIR: Duration = Duration::from_secs(150);
/// From the repair to Alertmanager's resolved notification of the alert that opened the incident.
const RESOLVE: Duration = Duration::from_secs(120);
/// From a wave's last resolution to every deployment available again.
const RECOVER: Duration = Duration::from_secs(90);

/// How a scenario breaks the lab.
enum Fault {
    /// A file of `chaos-tests/experiments/`.
    Experiment(&'static str),
    /// `kubectl set image deployment/<deployment> <container>=<image>`.
    SetImage { deployment: &'static str, container: &'static str, image: &'static str },
    /// `kubectl set env deployment/<deployment> <name>=<value>` (replacing a ConfigMap reference).
    SetEnv { deployment: &'static str, container: &'static str, name: &'static str, value: &'static str },
}

struct Scenario {
    name: &'static str,
    fault: Fault,
    class: RootCauseClass,
    target: &'static str,
    /// Part of the applied action's description.
    action: &'static str,
}

/// The chains, each with its seed and its scenarios in order, balanced so that they end at about the same
/// time (a node is declared not ready only after 40 s without heartbeats; a crash-looping pod's alert looks
/// back a minute). A fault that leaves something behind once repaired (a stressor still running under a
/// raised limit, a drained node) comes after the ones it could disturb.
const CHAINS: &[(u64, &[Scenario])] = &[
    (
        31,
        &[
            Scenario {
                name: "oom-memory-limit",
                fault: Fault::Experiment("cart-memory-stress.yaml"),
                class: RootCauseClass::OomMemoryLimit,
                target: "Deployment/shop/cart",
                action: "limits.memory=512Mi",
            },
            Scenario {
                name: "image-pull",
                fault: Fault::SetImage {
                    deployment: "frontend",
                    container: "frontend",
                    image: "ghcr.io/medic-lab/shop-frontend:1.8.3",
                },
                class: RootCauseClass::ImagePull,
                target: "Deployment/shop/frontend",
                action: "rollout undo",
            },
            Scenario {
                name: "crash-transient",
                fault: Fault::Experiment("catalog-pod-failure-one.yaml"),
                class: RootCauseClass::CrashTransient,
                target: "Deployment/shop/catalog",
                action: "delete pod",
            },
        ],
    ),
    (
        32,
        &[
            Scenario {
                name: "dependency-down",
                fault: Fault::Experiment("redis-pod-failure.yaml"),
                class: RootCauseClass::DependencyDown,
                target: "Deployment/shop/cart-redis",
                action: "rollout restart",
            },
            Scenario {
                name: "node-not-ready",
                fault: Fault::Experiment("worker-node-failure.yaml"),
                class: RootCauseClass::NodeNotReady,
                target: "Node/lab-worker-2",
                action: "drain node lab-worker-2",
            },
        ],
    ),
    (
        33,
        &[
            Scenario {
                name: "config-error",
                fault: Fault::SetEnv {
                    deployment: "cart",
                    container: "cart",
                    name: "CART_TTL_SECONDS",
                    value: "one day",
                },
                class: RootCauseClass::ConfigError,
                target: "Deployment/shop/cart",
                action: "rollout undo",
            },
            Scenario {
                name: "cpu-saturation",
                fault: Fault::Experiment("catalog-traffic-surge.yaml"),
                class: RootCauseClass::CpuSaturation,
                target: "Deployment/shop/catalog",
                action: "scale",
            },
        ],
    ),
];

async fn inject(chain: &Chain, fault: &Fault) -> Result<Timestamp> {
    match fault {
        Fault::Experiment(file) => chain.inject(&experiment(file)?),
        Fault::SetImage { deployment, container, image } => {
            let api: Api<Deployment> = Api::namespaced(chain.rig.client().await?, &chain.namespace);
            let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
                {"name": container, "image": image}]}}}});
            let at = chain.now();
            api.patch(deployment, &PatchParams::default(), &Patch::Strategic(patch)).await?;
            Ok(at)
        }
        Fault::SetEnv { deployment, container, name, value } => {
            let api: Api<Deployment> = Api::namespaced(chain.rig.client().await?, &chain.namespace);
            let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
                {"name": container, "env": [{"name": name, "value": value, "valueFrom": null}]}]}}}});
            let at = chain.now();
            api.patch(deployment, &PatchParams::default(), &Patch::Strategic(patch)).await?;
            Ok(at)
        }
    }
}

fn settled(incident: &Incident) -> bool {
    matches!(incident.status, IncidentStatus::Resolved | IncidentStatus::Escalated | IncidentStatus::Failed)
}

/// The settled incident of the scenario's class and target that acted itself (other incidents with the same
/// cause follow its fix).
async fn wait_for_repair(chain: &Chain, scenario: &Scenario) -> Result<Incident> {
    let class = scenario.class;
    let deadline = std::time::Instant::now() + REPAIR;
    let store = &chain.rig.medic.store;
    loop {
        for incident in store.incidents(IncidentFilter::default().limit(100)).await? {
            let target = incident.target.as_ref().map(ToString::to_string);
            if incident.root_cause != Some(class) || target.as_deref() != Some(scenario.target) || !settled(&incident) {
                continue;
            }
            let timeline = store.timeline(incident.uid).await?;
            if timeline.iter().any(|r| matches!(r.entry.kind, AuditKind::ActionApplied | AuditKind::ActionFailed)) {
                return Ok(incident);
            }
        }
        if std::time::Instant::now() > deadline {
            let seen: Vec<String> = store
                .incidents(IncidentFilter::default().limit(20))
                .await?
                .iter()
                .map(|i| {
                    let target = i.target.as_ref().map(ToString::to_string).unwrap_or_default();
                    format!("{} {} {} {target} {:?}", i.uid.short(), i.status.as_str(), i.title, i.root_cause)
                })
                .collect();
            anyhow::bail!(
                "no {class} incident on {} acted and settled within {REPAIR:?}; incidents: {seen:#?}",
                scenario.target
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn repair(chain: &Chain, scenario: &Scenario) -> Result<RepairReport> {
    let fault = inject(chain, &scenario.fault).await?;
    let incident = wait_for_repair(chain, scenario).await?;
    let story = chain.rig.timeline(&incident).await?;
    ensure!(incident.status == IncidentStatus::Resolved, "not resolved:\n{story}");
    ensure!(
        incident.target.as_ref().map(ToString::to_string).as_deref() == Some(scenario.target),
        "wrong target:\n{story}"
    );
    let store = &chain.rig.medic.store;
    let alerts = store.incident_alerts(incident.uid).await?;
    let evaluated_here = |a: &&medic_store::AlertRecord| {
        a.alert.generator_url.as_deref().is_some_and(|u| u.starts_with(chain.stack.prometheus_url()))
    };
    ensure!(
        alerts.first().filter(evaluated_here).is_some(),
        "the incident was opened by an alert this Prometheus evaluated (its generatorURL):\n{story}"
    );
    let timeline = store.timeline(incident.uid).await?;
    for kind in [AuditKind::ContextCollected, AuditKind::Decision, AuditKind::ActionApplied, AuditKind::Verified] {
        ensure!(timeline.iter().any(|r| r.entry.kind == kind), "{kind} missing:\n{story}");
    }
    ensure!(
        timeline.iter().any(|r| r.entry.kind == AuditKind::ActionApplied && r.entry.summary.contains(scenario.action)),
        "no action like {:?}:\n{story}",
        scenario.action
    );
    let context = timeline.iter().find(|r| r.entry.kind == AuditKind::ContextCollected).expect("checked above");
    let queries = context.entry.detail.get("metrics").and_then(|m| m.as_array()).map_or(0, Vec::len);
    ensure!(queries > 0, "the context has no metric context from Prometheus:\n{story}");
    let gaps = context.entry.detail["gaps"].to_string();
    ensure!(!gaps.contains(MISSING), "Prometheus was up, yet: {gaps}");
    ensure!(story.contains("promql "), "the timeline shows the queries:\n{story}");

    chain.wait_opening_alert_resolved(&incident, RESOLVE).await?;
    let report = chain.report(scenario.name, fault, &incident).await?;
    ensure!(report.is_complete(), "a stage is missing or out of order:\n{report}\n{story}");
    println!("{report}");
    Ok(report)
}

/// One chain: its scenarios one after the other, each repaired and resolved before the next fault.
async fn run_chain(binaries: &Binaries, seed: u64, scenarios: &[&Scenario]) -> Vec<Result<RepairReport>> {
    let started = std::time::Instant::now();
    let chain = match Chain::start(binaries, ChainConfig { seed, ..ChainConfig::default() }).await {
        Ok(chain) => chain,
        Err(e) => return vec![Err(e.context(format!("starting the chain of seed {seed}")))],
    };
    println!("chain {seed} ready after {:.0?}", started.elapsed());
    let mut outcomes = Vec::new();
    for (n, scenario) in scenarios.iter().enumerate() {
        if n > 0
            && let Err(e) = chain.rig.wait_healthy(&chain.namespace, RECOVER).await
        {
            outcomes.push(Err(e.context(format!("before scenario {}", scenario.name))));
            break;
        }
        let outcome = repair(&chain, scenario).await.with_context(|| format!("scenario {}", scenario.name));
        let failed = outcome.is_err();
        outcomes.push(
            outcome.map_err(|e| anyhow::anyhow!("{e:#}\nPrometheus and Alertmanager logs:\n{}", chain.stack.logs(8))),
        );
        if failed {
            break;
        }
    }
    chain.stop().await;
    println!("chain {seed} done after {:.0?}", started.elapsed());
    outcomes
}

#[actix_rt::test]
async fn faults_of_seven_classes_go_through_prometheus_and_alertmanager_to_the_fix_and_the_resolution() {
    let Some(binaries) = binaries_or_skip() else { return };
    let only = std::env::var("MEDIC_CHAIN_SCENARIOS").ok();
    let chosen = |s: &&Scenario| only.as_deref().is_none_or(|names| names.split(',').any(|n| n == s.name));
    let started = std::time::Instant::now();
    let chains: Vec<(u64, Vec<&Scenario>)> = CHAINS
        .iter()
        .map(|(seed, scenarios)| (*seed, scenarios.iter().filter(chosen).collect::<Vec<_>>()))
        .filter(|(_, scenarios)| !scenarios.is_empty())
        .collect();
    let ran: usize = chains.iter().map(|(_, s)| s.len()).sum();
    let outcomes = join_all(chains.iter().map(|(seed, scenarios)| run_chain(&binaries, *seed, scenarios))).await;
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for outcome in outcomes.into_iter().flatten() {
        match outcome {
            Ok(report) => reports.push(report),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let table = report::table(&reports);
    println!(
        "\nTime to repair through the real chain (lab at real speed; {} chains at once, {:.0?} in all):\n{table}",
        chains.len(),
        started.elapsed()
    );
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("prometheus-chain-report.md");
    let _ = std::fs::write(&out, &table);
    assert!(failures.is_empty(), "of {ran} scenarios, these failed:\n{}", failures.join("\n\n"));
    assert_eq!(reports.len(), ran, "every scenario reported");
    let classes: std::collections::BTreeSet<_> = reports.iter().filter_map(|r| r.class).collect();
    assert!(only.is_some() || classes.len() >= 6, "six classes or more went through the chain: {classes:?}");
}

/// With Prometheus down, medic diagnoses from the cluster alone and every context says that its metric
/// context is missing; the timeline shows it. (The alerts come from the lab's own evaluator here, since the
/// Prometheus that would send them is the one that is down; no binary is needed.)
#[actix_rt::test]
async fn with_prometheus_down_medic_repairs_from_the_cluster_alone_and_says_the_metric_context_is_missing() {
    let down = format!("http://127.0.0.1:{}", medic_promstack::free_port().unwrap());
    let url = down.clone();
    let rig = Rig::start(RigConfig { seed: 41, ..RigConfig::default() }, move |medic| {
        medic.prometheus = Some(PrometheusConfig::new(url));
    })
    .await
    .unwrap();
    rig.wait_healthy("shop", Duration::from_secs(600)).await.unwrap();
    rig.apply(&experiment("cart-memory-stress.yaml").unwrap()).unwrap();
    let incident = rig
        .wait_for_incident(Duration::from_secs(1800), |i| {
            i.root_cause == Some(RootCauseClass::OomMemoryLimit) && settled(i)
        })
        .await
        .unwrap();
    let story = rig.timeline(&incident).await.unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved, "{story}");
    let timeline = rig.medic.store.timeline(incident.uid).await.unwrap();
    let context = timeline.iter().find(|r| r.entry.kind == AuditKind::ContextCollected).unwrap();
    let gaps: Vec<String> = serde_json::from_value(context.entry.detail["gaps"].clone()).unwrap();
    let gap = gaps.iter().find(|g| g.ends_with(MISSING)).unwrap_or_else(|| panic!("{gaps:?}"));
    assert!(gap.starts_with(&format!("metrics: prometheus at {down} unavailable")), "{gap}");
    assert!(context.entry.detail.get("metrics").is_none(), "no metric values without Prometheus");
    assert!(story.contains(gap.as_str()), "the timeline shows the gap:\n{story}");
    rig.stop().await;
}
