//! The ContextCollector actor: on `OpenIncident`, reads the incident's context from the cluster, records
//! what it gathered in the audit trail, and sends `Diagnose` on.
use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, WrapFuture};
use medic_core::context::DependencyVia;
use medic_core::messages::{Diagnose, OpenIncident};
use medic_core::ports::{AuditSink, Clock, ClusterRead, SystemClock};
use medic_core::{AuditEntry, AuditKind, IncidentContext};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use crate::gather::{self, CollectConfig};
use crate::metrics::{self, MetricContext, QuerySummary};

/// Collects incident contexts, several at once (each collection runs beside the actor's mailbox).
pub struct ContextCollector {
    cluster: Arc<dyn ClusterRead>,
    audit: Arc<dyn AuditSink>,
    diagnose: Recipient<Diagnose>,
    config: Arc<CollectConfig>,
    clock: Arc<dyn Clock>,
    /// Where the metric context comes from; none asked (and no gap recorded) when `None`.
    metrics: Option<Arc<MetricContext>>,
}

impl ContextCollector {
    /// `diagnose` is the next actor's mailbox (the Director's).
    pub fn new(
        cluster: Arc<dyn ClusterRead>,
        audit: Arc<dyn AuditSink>,
        diagnose: Recipient<Diagnose>,
        config: CollectConfig,
    ) -> Self {
        Self { cluster, audit, diagnose, config: Arc::new(config), clock: Arc::new(SystemClock), metrics: None }
    }

    /// Adds the metric context (Prometheus) to every context; an unconfigured one records the gap.
    pub fn with_metrics(mut self, metrics: MetricContext) -> Self {
        self.metrics = Some(Arc::new(metrics));
        self
    }

    /// The clock medic runs on (the lab's virtual clock in the lab), for `collected_at` and audit times.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl Actor for ContextCollector {
    type Context = Context<Self>;
}

impl Handler<OpenIncident> for ContextCollector {
    type Result = ();

    fn handle(&mut self, message: OpenIncident, ctx: &mut Self::Context) {
        let span = tracing::info_span!("incident", incident = %message.incident);
        let work = collect_and_send(
            self.cluster.clone(),
            self.audit.clone(),
            self.diagnose.clone(),
            self.config.clone(),
            self.clock.clone(),
            self.metrics.clone(),
            message,
        )
        .instrument(span);
        ctx.spawn(work.into_actor(self).map(|(), _, _| ()));
    }
}

async fn collect_and_send(
    cluster: Arc<dyn ClusterRead>,
    audit: Arc<dyn AuditSink>,
    diagnose: Recipient<Diagnose>,
    config: Arc<CollectConfig>,
    clock: Arc<dyn Clock>,
    metrics: Option<Arc<MetricContext>>,
    message: OpenIncident,
) {
    let incident = message.incident;
    let started = Instant::now();
    let mut context = gather::collect(cluster.as_ref(), incident, message.alerts, &config, clock.now()).await;
    if let Some(metrics) = &metrics {
        metrics.enrich(&mut context).await;
    }
    let summary = ContextSummary::of(&context, started.elapsed());
    tracing::info!(
        target = summary.target.as_deref().unwrap_or("-"),
        pods = summary.pods,
        events = summary.events,
        log_lines = summary.log_lines,
        dependencies = summary.dependencies.len(),
        gaps = summary.gaps.len(),
        ms = summary.duration_ms,
        "context collected"
    );
    for gap in &context.gaps {
        tracing::debug!(gap = %gap, "context gap");
    }
    let mut entry =
        AuditEntry::new(incident, AuditKind::ContextCollected, "collector", summary.sentence()).with_detail(&summary);
    entry.at = clock.now();
    if let Err(e) = audit.append(entry).await {
        // The diagnosis goes on: an audit trail that cannot be written is reported, not a reason to stop.
        tracing::error!(error = %e, "writing the context-collected audit entry failed");
    }
    // do_send, not try_send: several collections finishing at once must not be dropped at a full mailbox.
    if diagnose.connected() {
        diagnose.do_send(Diagnose { incident, context: Arc::new(context) });
    } else {
        tracing::error!("the director is gone: the context is not diagnosed");
    }
}

/// What the audit trail records about a collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextSummary {
    pub target: Option<String>,
    pub workloads: Vec<String>,
    pub pods: usize,
    pub unready_pods: usize,
    pub events: usize,
    pub log_lines: usize,
    pub rollouts: usize,
    pub services: usize,
    pub nodes: usize,
    /// `from → to (via)`.
    pub dependencies: Vec<String>,
    pub gaps: Vec<String>,
    /// The metric context: each PromQL query and what it answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<QuerySummary>,
    pub duration_ms: u64,
}

impl ContextSummary {
    pub fn of(context: &IncidentContext, took: Duration) -> Self {
        Self {
            target: context.target.as_ref().map(ToString::to_string),
            workloads: context.workloads.iter().map(|w| w.workload.to_string()).collect(),
            pods: context.pods.len(),
            unready_pods: context.pods.iter().filter(|p| !p.ready).count(),
            events: context.events.len(),
            log_lines: context.logs.iter().map(|l| l.lines.len()).sum(),
            rollouts: context.rollouts.len(),
            services: context.services.len(),
            nodes: context.nodes.len(),
            dependencies: context
                .dependencies
                .iter()
                .map(|d| {
                    format!(
                        "{} → {} ({})",
                        d.from,
                        d.to,
                        match d.via {
                            DependencyVia::Config => "config",
                            DependencyVia::Log => "log",
                            DependencyVia::Annotation => "annotation",
                        }
                    )
                })
                .collect(),
            gaps: context.gaps.clone(),
            metrics: metrics::summarise(context),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The line of the timeline: `context of Deployment/shop/cart: 3 pods (2 not ready), ...`.
    pub fn sentence(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "context of {}: {} ({} not ready), {}, {}, {}, {} in {} ms",
            self.target.as_deref().unwrap_or("an unresolved target"),
            plural(self.pods, "pod", "pods"),
            self.unready_pods,
            plural(self.events, "event", "events"),
            plural(self.log_lines, "log line", "log lines"),
            plural(self.dependencies.len(), "dependency", "dependencies"),
            plural(self.gaps.len(), "gap", "gaps"),
            self.duration_ms,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{InMemoryCluster, alert, crashing, deployment, pod, probe, service, settle};
    use medic_core::messages::OpenIncident;
    use medic_core::{IncidentUid, ObjectRef};
    use std::sync::Mutex;

    /// An audit sink that keeps what it is given.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<AuditEntry>>);

    #[async_trait::async_trait]
    impl AuditSink for Recorded {
        async fn append(&self, entry: AuditEntry) -> medic_core::Result<()> {
            self.0.lock().unwrap().push(entry);
            Ok(())
        }
    }

    fn shop() -> InMemoryCluster {
        let mut redis = service("shop", "cart-redis", Some(ObjectRef::deployment("shop", "cart-redis")), 0);
        redis.cluster_ip = Some("10.96.3.4".into());
        let mut cluster = InMemoryCluster {
            deployments: vec![
                deployment("shop", "cart", &[("REDIS_ADDR", "cart-redis:6379")]),
                deployment("shop", "cart-redis", &[]),
            ],
            pods: vec![
                crashing(pod("shop", "cart-5d4f8c7b9-x2x4z", "cart", "node-1"), "Error", 1, 4),
                crashing(pod("shop", "cart-redis-5d4f8c7b9-r3d1s", "cart-redis", "node-1"), "OOMKilled", 137, 7),
            ],
            services: vec![redis],
            nodes: vec![crate::testing::node("node-1", Some(true))],
            ..InMemoryCluster::default()
        };
        cluster.logs.insert(
            InMemoryCluster::log_key("shop", "cart-5d4f8c7b9-x2x4z", "app", true),
            vec!["dial tcp 10.96.3.4:6379: connect: connection refused".into()],
        );
        cluster
    }

    #[actix_rt::test]
    async fn an_opened_incident_is_collected_audited_and_sent_to_diagnosis() {
        let audit = Arc::new(Recorded::default());
        let (diagnose, diagnosed) = probe::<Diagnose>();
        let collector =
            ContextCollector::new(Arc::new(shop()), audit.clone(), diagnose, CollectConfig::default()).start();
        let incident = IncidentUid::new();
        let alerts = vec![alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", "cart-5d4f8c7b9-x2x4z")])];
        collector.send(OpenIncident { incident, alerts }).await.unwrap();
        for _ in 0..50 {
            settle().await;
            if !diagnosed.lock().unwrap().is_empty() {
                break;
            }
        }
        let diagnosed = diagnosed.lock().unwrap();
        assert_eq!(diagnosed.len(), 1);
        let context = &diagnosed[0].context;
        assert_eq!(diagnosed[0].incident, incident);
        assert_eq!(context.incident, Some(incident));
        assert_eq!(context.target, Some(ObjectRef::deployment("shop", "cart")));
        assert_eq!(context.alerts[0].name, "KubePodCrashLooping");
        assert!(context.collected_at.is_some());
        assert!(context.dependencies.iter().any(|d| d.to == ObjectRef::deployment("shop", "cart-redis")));

        let entries = audit.0.lock().unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(
            (entry.kind, entry.actor.as_str(), entry.incident),
            (AuditKind::ContextCollected, "collector", Some(incident))
        );
        assert!(
            entry.summary.starts_with("context of Deployment/shop/cart: 2 pods (2 not ready)"),
            "{}",
            entry.summary
        );
        assert_eq!(entry.detail["pods"], 2);
        assert_eq!(entry.detail["dependencies"][0], "Deployment/shop/cart → Deployment/shop/cart-redis (config)");
        assert_eq!(entry.detail["gaps"].as_array().map(Vec::len), Some(0));
    }

    #[actix_rt::test]
    async fn a_cluster_that_does_not_answer_still_yields_a_diagnosis_with_gaps() {
        tokio::time::pause();
        let mut cluster = shop();
        cluster.slow = ["deployments", "pods", "services", "events", "network_policies", "nodes"]
            .into_iter()
            .map(|call| (call, Duration::from_secs(3600)))
            .collect();
        let audit = Arc::new(Recorded::default());
        let (diagnose, diagnosed) = probe::<Diagnose>();
        let config = CollectConfig { deadline_ms: 2_000, ..CollectConfig::default() };
        let collector = ContextCollector::new(Arc::new(cluster), audit.clone(), diagnose, config).start();
        let alerts = vec![alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", "cart-5d4f8c7b9-x2x4z")])];
        collector.send(OpenIncident { incident: IncidentUid::new(), alerts }).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        settle().await;
        let diagnosed = diagnosed.lock().unwrap();
        assert_eq!(diagnosed.len(), 1, "observing continues without the cluster");
        let gaps = &diagnosed[0].context.gaps;
        assert!(gaps.iter().any(|g| g == "pods of shop: no answer within the 2000 ms collection deadline"), "{gaps:?}");
        assert!(gaps.iter().any(|g| g.starts_with("nodes: no answer")), "{gaps:?}");
        assert!(audit.0.lock().unwrap()[0].summary.contains("gaps"));
    }

    #[actix_rt::test]
    async fn many_incidents_at_once_are_all_diagnosed() {
        let (diagnose, diagnosed) = probe::<Diagnose>();
        let audit = Arc::new(Recorded::default());
        let collector =
            ContextCollector::new(Arc::new(shop()), audit.clone(), diagnose, CollectConfig::default()).start();
        for _ in 0..40 {
            let alerts = vec![alert("KubePodCrashLooping", &[("namespace", "shop"), ("deployment", "cart")])];
            collector.do_send(OpenIncident { incident: IncidentUid::new(), alerts });
        }
        for _ in 0..100 {
            settle().await;
            if diagnosed.lock().unwrap().len() == 40 {
                break;
            }
        }
        assert_eq!(diagnosed.lock().unwrap().len(), 40);
        assert_eq!(audit.0.lock().unwrap().len(), 40);
    }
}
