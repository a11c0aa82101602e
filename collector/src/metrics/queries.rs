//! Which PromQL queries make the metric context of an incident: for the pods of the incident's workloads
//! (the target, what it calls, what calls it), memory against the limit over time, restarts, CPU throttling
//! and usage; for their services, the error rate and the 99th percentile latency; for the datastores among
//! them, connections against the maximum, and who holds them.
//!
//! The series are the ones a cluster has: cAdvisor (`container_*`), kube-state-metrics (`kube_*`), the
//! services' own `http_requests_total{code}` and `http_request_duration_seconds` histograms, the datastore
//! exporters (postgres, mysqld, redis, mongodb, memcached) and client pool gauges
//! (`db_client_connections_usage{pool}`). A pure function of the context: one query per signal, whatever
//! the number of pods (the pods and services are alternatives of one regex).
use medic_core::IncidentContext;
use medic_core::context::signals;
use std::collections::BTreeSet;
use std::time::Duration;

/// The windows of the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySettings {
    /// The window of `rate()`.
    pub rate_window: Duration,
    /// How far back trends reach.
    pub range: Duration,
    pub step: Duration,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self { rate_window: Duration::from_secs(60), range: Duration::from_secs(900), step: Duration::from_secs(15) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    Instant,
    /// Over the last `window`, one point per `step`.
    Range {
        window: Duration,
        step: Duration,
    },
}

/// One query of the metric context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricQuery {
    /// What the values mean (`medic_core::context::signals`).
    pub signal: &'static str,
    pub promql: String,
    pub kind: QueryKind,
}

/// The queries for an incident's context; none when it names no pod and no service.
pub fn plan(context: &IncidentContext, settings: &QuerySettings) -> Vec<MetricQuery> {
    let scope = Scope::of(context);
    let w = duration(settings.rate_window);
    let trend = QueryKind::Range { window: settings.range, step: settings.step };
    let mut queries = Vec::new();
    if let Some(pods) = scope.pod_selector() {
        let containers = format!("{pods}, container!=\"\", container!=\"POD\"");
        let by = "by (namespace, pod, container)";
        queries.extend([
            MetricQuery {
                signal: signals::MEMORY_WORKING_SET_BYTES,
                promql: format!("max {by} (container_memory_working_set_bytes{{{containers}}})"),
                kind: trend,
            },
            MetricQuery {
                signal: signals::MEMORY_WORKING_SET_RATIO,
                promql: format!(
                    "max {by} (container_memory_working_set_bytes{{{containers}}}) / on (namespace, pod, container) \
                     (max {by} (container_spec_memory_limit_bytes{{{containers}}}) > 0)"
                ),
                kind: trend,
            },
            MetricQuery {
                signal: signals::RESTART_RATE,
                promql: format!("sum {by} (rate(kube_pod_container_status_restarts_total{{{pods}}}[{w}]))"),
                kind: QueryKind::Instant,
            },
            MetricQuery {
                signal: signals::CPU_THROTTLED_RATIO,
                promql: format!(
                    "sum {by} (rate(container_cpu_cfs_throttled_periods_total{{{containers}}}[{w}])) / on (namespace, pod, container) \
                     (sum {by} (rate(container_cpu_cfs_periods_total{{{containers}}}[{w}])) > 0)"
                ),
                kind: QueryKind::Instant,
            },
            MetricQuery {
                signal: signals::CPU_USAGE_RATIO,
                promql: format!(
                    "sum {by} (rate(container_cpu_usage_seconds_total{{{containers}}}[{w}])) / on (namespace, pod, container) \
                     (max {by} (kube_pod_container_resource_limits{{{pods}, resource=\"cpu\"}}) > 0)"
                ),
                kind: QueryKind::Instant,
            },
        ]);
    }
    if let Some(services) = scope.service_selector() {
        let by = "by (namespace, service)";
        let requests = format!("sum {by} (rate(http_requests_total{{{services}}}[{w}]))");
        let ratio = |used: &str, max: &str| {
            format!("sum {by} ({used}{{{services}}}) / on (namespace, service) max {by} ({max}{{{services}}})")
        };
        queries.extend([
            MetricQuery {
                signal: signals::ERROR_RATE,
                // Services without a single error count as 0, not as missing.
                promql: format!(
                    "(sum {by} (rate(http_requests_total{{{services}, code=~\"5..\"}}[{w}])) or {requests} * 0) \
                     / on (namespace, service) ({requests} > 0)"
                ),
                kind: QueryKind::Instant,
            },
            MetricQuery {
                signal: signals::LATENCY_P99_SECONDS,
                promql: format!(
                    "histogram_quantile(0.99, sum by (namespace, service, le) (rate(http_request_duration_seconds_bucket{{{services}}}[{w}])))"
                ),
                kind: QueryKind::Instant,
            },
            MetricQuery {
                signal: signals::DB_CONNECTIONS_RATIO,
                promql: [
                    ratio("pg_stat_database_numbackends", "pg_settings_max_connections"),
                    ratio("mysql_global_status_threads_connected", "mysql_global_variables_max_connections"),
                    ratio("redis_connected_clients", "redis_config_maxclients"),
                    ratio("memcached_current_connections", "memcached_max_connections"),
                    format!(
                        "sum {by} (mongodb_connections{{{services}, state=\"current\"}}) / on (namespace, service) \
                         sum {by} (mongodb_connections{{{services}, state=~\"current|available\"}})"
                    ),
                ]
                .map(|q| format!("({q})"))
                .join(" or "),
                kind: QueryKind::Instant,
            },
        ]);
    }
    if let Some(pools) = scope.pool_selector() {
        queries.push(MetricQuery {
            signal: signals::DB_CONNECTIONS_BY_CLIENT,
            promql: format!(
                "label_replace(sum by (namespace, service, pool) (db_client_connections_usage{{{pools}}}), \"client\", \"$1\", \"service\", \"(.*)\")"
            ),
            kind: QueryKind::Instant,
        });
    }
    queries
}

/// The namespaces, pods and services the context is about.
#[derive(Debug, Default)]
struct Scope<'a> {
    namespaces: BTreeSet<&'a str>,
    pods: BTreeSet<&'a str>,
    services: BTreeSet<&'a str>,
}

impl<'a> Scope<'a> {
    fn of(context: &'a IncidentContext) -> Self {
        let mut scope = Scope::default();
        for pod in &context.pods {
            scope.namespaces.insert(&pod.namespace);
            scope.pods.insert(&pod.name);
        }
        for w in &context.workloads {
            if let Some(ns) = w.workload.namespace() {
                scope.namespaces.insert(ns);
            }
            // Applications label their own series with the name they are deployed under, and scrape
            // configurations with the Service in front of them: ask for both.
            scope.services.insert(&w.workload.name);
            for s in context.services.iter().filter(|s| s.backend.as_ref() == Some(&w.workload)) {
                scope.services.insert(&s.name);
            }
        }
        scope
    }

    fn namespace_matcher(&self) -> String {
        format!("namespace=~{}", quote(&alternatives(&self.namespaces)))
    }

    fn pod_selector(&self) -> Option<String> {
        (!self.pods.is_empty())
            .then(|| format!("{}, pod=~{}", self.namespace_matcher(), quote(&alternatives(&self.pods))))
    }

    fn service_selector(&self) -> Option<String> {
        (!self.services.is_empty())
            .then(|| format!("{}, service=~{}", self.namespace_matcher(), quote(&alternatives(&self.services))))
    }

    /// Client pools whose `pool` label names one of the services.
    fn pool_selector(&self) -> Option<String> {
        (!self.services.is_empty())
            .then(|| format!("{}, pool=~{}", self.namespace_matcher(), quote(&alternatives(&self.services))))
    }
}

/// `a|b|c` with RE2's special characters escaped (a `.` in a name matches only a dot).
fn alternatives(names: &BTreeSet<&str>) -> String {
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        for c in name.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// A PromQL string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A PromQL duration (`1m`, `90s`).
fn duration(d: Duration) -> String {
    let secs = d.as_secs().max(1);
    if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::ObjectRef;
    use medic_core::context::DependencyVia;
    use medic_core::testkit::ContextBuilder;

    fn shop() -> IncidentContext {
        ContextBuilder::new()
            .target(ObjectRef::deployment("shop", "cart"))
            .deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {})
            .deployment("shop", "cart-redis", "redis:7", 1, "node-1", |_, _| {})
            .service("shop", "cart-redis", "cart-redis", 6379, 1)
            .dependency(
                ObjectRef::deployment("shop", "cart"),
                ObjectRef::deployment("shop", "cart-redis"),
                "cart-redis",
                DependencyVia::Config,
            )
            .build()
    }

    fn query<'a>(queries: &'a [MetricQuery], signal: &str) -> &'a MetricQuery {
        queries.iter().find(|q| q.signal == signal).unwrap_or_else(|| panic!("no {signal} query in {queries:#?}"))
    }

    #[test]
    fn one_query_per_signal_covers_every_pod_and_service() {
        let queries = plan(&shop(), &QuerySettings::default());
        let signals: Vec<&str> = queries.iter().map(|q| q.signal).collect();
        assert_eq!(
            signals,
            [
                signals::MEMORY_WORKING_SET_BYTES,
                signals::MEMORY_WORKING_SET_RATIO,
                signals::RESTART_RATE,
                signals::CPU_THROTTLED_RATIO,
                signals::CPU_USAGE_RATIO,
                signals::ERROR_RATE,
                signals::LATENCY_P99_SECONDS,
                signals::DB_CONNECTIONS_RATIO,
                signals::DB_CONNECTIONS_BY_CLIENT,
            ]
        );
        let memory = query(&queries, signals::MEMORY_WORKING_SET_RATIO);
        assert_eq!(
            memory.promql,
            "max by (namespace, pod, container) (container_memory_working_set_bytes{namespace=~\"shop\", \
             pod=~\"cart-7d9f8c6b5-abcde|cart-7d9f8c6b5-fghij|cart-redis-7d9f8c6b5-abcde\", container!=\"\", container!=\"POD\"}) \
             / on (namespace, pod, container) (max by (namespace, pod, container) (container_spec_memory_limit_bytes{namespace=~\"shop\", \
             pod=~\"cart-7d9f8c6b5-abcde|cart-7d9f8c6b5-fghij|cart-redis-7d9f8c6b5-abcde\", container!=\"\", container!=\"POD\"}) > 0)"
        );
        assert_eq!(memory.kind, QueryKind::Range { window: Duration::from_secs(900), step: Duration::from_secs(15) });
        let errors = query(&queries, signals::ERROR_RATE);
        assert!(errors.promql.contains("service=~\"cart|cart-redis\""), "{}", errors.promql);
        assert!(errors.promql.contains("[1m]"), "{}", errors.promql);
        assert_eq!(errors.kind, QueryKind::Instant);
    }

    #[test]
    fn windows_follow_the_settings() {
        let settings = QuerySettings {
            rate_window: Duration::from_secs(30),
            range: Duration::from_secs(300),
            step: Duration::from_secs(5),
        };
        let queries = plan(&shop(), &settings);
        assert!(query(&queries, signals::RESTART_RATE).promql.contains("[30s]"));
        assert_eq!(
            query(&queries, signals::MEMORY_WORKING_SET_BYTES).kind,
            QueryKind::Range { window: Duration::from_secs(300), step: Duration::from_secs(5) }
        );
        assert_eq!(duration(Duration::from_secs(120)), "2m");
        assert_eq!(duration(Duration::from_secs(7200)), "2h");
        assert_eq!(duration(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn names_are_escaped_and_an_empty_context_asks_nothing() {
        let names: BTreeSet<&str> = ["db.primary", "a\"b"].into_iter().collect();
        assert_eq!(quote(&alternatives(&names)), r#""a\"b|db\\.primary""#);
        assert!(plan(&IncidentContext::default(), &QuerySettings::default()).is_empty());
    }
}
