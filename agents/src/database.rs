//! The Database specialist: data stores out of connections (and who holds them), and data stores that are
//! down under their clients.
use medic_core::context::{IncidentContext, signals as metric};
use medic_core::{Evidence, EvidenceSource, Hypothesis, ObjectRef, RootCauseClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::patterns::{self, LogSignal};
use crate::playbook_ids as playbook;
use crate::signals::{self as sig};
use crate::specialist::{Findings, Specialist, params};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connections in use over max_connections that counts as exhausted.
    pub exhaustion_ratio: f64,
    /// A client holding at least this share of a database's connections is the likely leak.
    pub leak_share: f64,
    /// Ports that identify a data store (PostgreSQL, MySQL, Redis, MongoDB, memcached, Cassandra).
    pub database_ports: Vec<u16>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { exhaustion_ratio: 0.95, leak_share: 0.5, database_ports: vec![5432, 3306, 6379, 27017, 11211, 9042] }
    }
}

impl DatabaseConfig {
    pub fn validate(&self) -> Result<()> {
        let invalid =
            |field, problem: &str| Err(Error::InvalidConfig { specialist: "database", field, problem: problem.into() });
        if !(0.0..=1.0).contains(&self.exhaustion_ratio) {
            return invalid("exhaustion_ratio", "must be within 0..1");
        }
        if !(0.0..=1.0).contains(&self.leak_share) {
            return invalid("leak_share", "must be within 0..1");
        }
        Ok(())
    }
}

/// Fewer accepted connections than this in a database's log say nothing about who opens them.
const MIN_CONNECTIONS_LOGGED: usize = 5;

#[derive(Debug)]
pub struct Database {
    config: DatabaseConfig,
}

impl Database {
    pub fn new(config: DatabaseConfig) -> Self {
        Self { config }
    }
}

impl Specialist for Database {
    fn name(&self) -> &'static str {
        "database"
    }

    fn analyse(&self, ctx: &IncidentContext) -> Vec<Hypothesis> {
        let mut findings = Findings::new(self.name());
        for (database, evidence) in self.exhausted(ctx) {
            self.find_leaking_client(ctx, &database, evidence, &mut findings);
        }
        self.down_databases(ctx, &mut findings);
        findings.ranked()
    }
}

impl Database {
    fn is_database(&self, ctx: &IncidentContext, workload: &ObjectRef) -> bool {
        ctx.services.iter().any(|s| {
            s.backend.as_ref() == Some(workload)
                && s.ports.iter().any(|p| u16::try_from(p.port).is_ok_and(|p| self.config.database_ports.contains(&p)))
        })
    }

    /// Databases with evidence of connection exhaustion: their own logs, their clients' logs naming them,
    /// or the connection-ratio metric.
    fn exhausted(&self, ctx: &IncidentContext) -> BTreeMap<ObjectRef, Vec<Evidence>> {
        let mut out: BTreeMap<ObjectRef, Vec<Evidence>> = BTreeMap::new();
        for w in &ctx.workloads {
            let logs = sig::log_findings(ctx, &w.workload);
            for f in logs.iter().filter(|f| f.signal == LogSignal::TooManyConnections) {
                let named = patterns::peer(f.line).and_then(|p| sig::resolve_peer(ctx, &p));
                let database = match named {
                    Some(d) if d != w.workload => d,
                    // A server saying it has too many clients speaks of itself.
                    _ if self.is_database(ctx, &w.workload) => w.workload.clone(),
                    _ => continue,
                };
                let entry = out.entry(database).or_default();
                if entry.len() < 3 {
                    entry.push(sig::log_evidence(f));
                }
            }
        }
        for sample in ctx.metrics.iter().filter(|s| s.signal == metric::DB_CONNECTIONS_RATIO) {
            if sample.value < self.config.exhaustion_ratio {
                continue;
            }
            let named = sample.labels.get("deployment").or_else(|| sample.labels.get("service"));
            let Some(w) = ctx.workloads.iter().find(|w| Some(&w.workload.name) == named) else { continue };
            out.entry(w.workload.clone()).or_default().push(Evidence::new(
                EvidenceSource::Metric,
                Some(w.workload.clone()),
                format!("{:.0}% of max_connections in use", sample.value * 100.0),
            ));
        }
        out
    }

    fn find_leaking_client(
        &self,
        ctx: &IncidentContext,
        database: &ObjectRef,
        evidence: Vec<Evidence>,
        findings: &mut Findings,
    ) {
        let mut candidates: BTreeMap<ObjectRef, (f64, Vec<Evidence>)> = BTreeMap::new();
        for edge in ctx.dependencies.iter().filter(|d| &d.to == database) {
            candidates.entry(edge.from.clone()).or_default();
        }
        for w in ctx.workloads.iter().filter(|w| &w.workload != database) {
            let logs = sig::log_findings(ctx, &w.workload);
            let names_database = logs
                .iter()
                .any(|f| patterns::peer(f.line).and_then(|p| sig::resolve_peer(ctx, &p)).as_ref() == Some(database));
            if names_database {
                candidates.entry(w.workload.clone()).or_default();
            }
            let Some((score, why)) = candidates.get_mut(&w.workload) else { continue };
            if let Some(f) = logs.iter().find(|f| f.signal == LogSignal::ConnectionLeak) {
                *score += 0.5;
                why.push(sig::log_evidence(f));
            }
            if let Some(f) = logs.iter().find(|f| f.signal == LogSignal::PoolExhausted) {
                *score += 0.15;
                why.push(sig::log_evidence(f));
            }
        }
        self.connections_opened(ctx, database, &mut candidates);
        let held: Vec<(&str, f64)> = ctx
            .metrics
            .iter()
            .filter(|s| s.signal == metric::DB_CONNECTIONS_BY_CLIENT)
            .filter_map(|s| Some((s.labels.get("client")?.as_str(), s.value)))
            .collect();
        let total: f64 = held.iter().map(|(_, v)| v).sum();
        if total > 0.0 {
            for (client, connections) in &held {
                let Some((target, (score, why))) = candidates.iter_mut().find(|(w, _)| w.name == *client) else {
                    continue;
                };
                let share = connections / total;
                if share >= self.config.leak_share {
                    *score += 0.4;
                    why.push(Evidence::new(
                        EvidenceSource::Metric,
                        Some(target.clone()),
                        format!("holds {connections:.0} of {total:.0} connections ({:.0}%)", share * 100.0),
                    ));
                }
            }
        }
        let mut ranked: Vec<(ObjectRef, f64, Vec<Evidence>)> =
            candidates.into_iter().map(|(w, (score, why))| (w, score, why)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let Some((client, score, why)) = ranked.first().cloned() else { return };
        let runner_up = ranked.get(1).map_or(0.0, |r| r.1);
        let confidence = if score == 0.0 {
            // Nothing singles a client out: only safe when there is one.
            if ranked.len() == 1 { 0.55 } else { 0.3 }
        } else if score - runner_up < 0.1 {
            0.45
        } else {
            (0.5 + score).min(0.9)
        };
        let mut all = evidence;
        all.extend(why);
        findings.add(
            RootCauseClass::DbConnectionExhaustion,
            client,
            confidence,
            all,
            Some(playbook::DB_CONNECTION_EXHAUSTION),
            params([("database", database.to_string())]),
        );
    }

    /// Who opened the connections the database's own log records (PostgreSQL's `log_connections`,
    /// MongoDB's network log): a pooled client opens its pool once, a leaking one opens connections until
    /// the server is full, so one client opening most of them is the likely leak.
    fn connections_opened(
        &self,
        ctx: &IncidentContext,
        database: &ObjectRef,
        candidates: &mut BTreeMap<ObjectRef, (f64, Vec<Evidence>)>,
    ) {
        let lines = ctx
            .pods_of(database)
            .flat_map(|pod| ctx.logs.iter().filter(move |l| l.pod == pod.name && l.namespace == pod.namespace))
            .filter(|excerpt| !excerpt.previous)
            .flat_map(|excerpt| excerpt.lines.iter().map(String::as_str));
        let mut opened: BTreeMap<&ObjectRef, usize> = BTreeMap::new();
        for (address, count) in patterns::accepted_connections(lines) {
            let client = ctx.pods.iter().find(|p| p.pod_ip.as_deref() == Some(address)).and_then(|p| p.owner.as_ref());
            if let Some(client) = client.filter(|c| *c != database) {
                *opened.entry(client).or_default() += count;
            }
        }
        let total: usize = opened.values().sum();
        if total < MIN_CONNECTIONS_LOGGED {
            return;
        }
        let mut ranked: Vec<(&ObjectRef, usize)> = opened.into_iter().collect();
        ranked.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        let runner_up = ranked.get(1).map_or(0, |(_, count)| *count);
        // The leak opens at least twice as many as any other client, and most of them.
        if let Some(&(client, count)) = ranked.first()
            && count >= 2 * runner_up
        {
            let share = count as f64 / total as f64;
            if share < self.config.leak_share {
                return;
            }
            let (score, why) = candidates.entry(client.clone()).or_default();
            *score += 0.4;
            why.push(Evidence::new(
                EvidenceSource::Log,
                Some(client.clone()),
                format!(
                    "{} opened {count} of the {total} connections {} logged as accepted ({:.0}%)",
                    client.name,
                    database.name,
                    share * 100.0
                ),
            ));
        }
    }

    /// A data store whose pods are down while clients fail to reach it.
    fn down_databases(&self, ctx: &IncidentContext, findings: &mut Findings) {
        for w in ctx.workloads.iter().filter(|w| self.is_database(ctx, &w.workload) && !sig::is_healthy(w)) {
            let refused: Vec<Evidence> = ctx
                .workloads
                .iter()
                .filter(|c| c.workload != w.workload)
                .flat_map(|c| sig::log_findings(ctx, &c.workload))
                .filter(|f| f.signal.is_peer_failure())
                .filter(|f| {
                    patterns::peer(f.line).and_then(|p| sig::resolve_peer(ctx, &p)).as_ref() == Some(&w.workload)
                })
                .take(2)
                .map(|f| sig::log_evidence(&f))
                .collect();
            if refused.is_empty() {
                continue;
            }
            let mut evidence = vec![Evidence::new(
                EvidenceSource::PodStatus,
                Some(w.workload.clone()),
                format!(
                    "data store {} has {}/{} replicas available",
                    w.workload.name, w.replicas_available, w.replicas_desired
                ),
            )];
            if let Some(c) = sig::crashes(ctx, &w.workload).first() {
                evidence.push(sig::crash_evidence(c));
            }
            evidence.extend(refused);
            findings.add(
                RootCauseClass::DependencyDown,
                w.workload.clone(),
                0.7,
                evidence,
                Some(playbook::DEPENDENCY_DOWN),
                params([]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::context::DependencyVia;
    use medic_core::testkit::*;

    fn database() -> Database {
        Database::new(DatabaseConfig::default())
    }

    fn shop_with_postgres() -> ContextBuilder {
        let orders_db = ObjectRef::deployment("shop", "postgres");
        ContextBuilder::new()
            .deployment("shop", "orders", "orders:1", 1, "node-1", |_, _| {})
            .deployment("shop", "reports", "reports:1", 1, "node-1", |_, _| {})
            .deployment("shop", "postgres", "postgres:15", 1, "node-1", |_, _| {})
            .service("shop", "orders-db", "postgres", 5432, 1)
            .dependency(ObjectRef::deployment("shop", "orders"), orders_db.clone(), "orders-db", DependencyVia::Config)
            .dependency(ObjectRef::deployment("shop", "reports"), orders_db, "orders-db", DependencyVia::Config)
            .logs("shop", "postgres-7d9f8c6b5-abcde", false, &["FATAL:  sorry, too many clients already"])
    }

    #[test]
    fn the_client_that_leaks_is_restarted_not_the_database() {
        let ctx = shop_with_postgres()
            .logs(
                "shop",
                "reports-7d9f8c6b5-abcde",
                false,
                &["HikariPool-1 - Connection leak detection triggered for org.postgresql.jdbc.PgConnection@5d1b9c2a"],
            )
            .logs(
                "shop",
                "orders-7d9f8c6b5-abcde",
                false,
                &["pq: sorry, too many clients already (connecting to orders-db:5432)"],
            )
            .build();
        let h = database().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.class, RootCauseClass::DbConnectionExhaustion);
        assert_eq!(h.target, ObjectRef::deployment("shop", "reports"));
        assert_eq!(h.playbook.as_deref(), Some(playbook::DB_CONNECTION_EXHAUSTION));
        assert!(h.confidence >= 0.8);
    }

    #[test]
    fn connection_counts_single_out_the_client() {
        let ctx = shop_with_postgres()
            .metric(metric::DB_CONNECTIONS_BY_CLIENT, &[("client", "orders")], 8.0)
            .metric(metric::DB_CONNECTIONS_BY_CLIENT, &[("client", "reports")], 90.0)
            .build();
        let h = database().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.target, ObjectRef::deployment("shop", "reports"));
    }

    /// The shop, with its clients at their own addresses and the database's log of `log_connections`:
    /// `opened` connections from each (client, address).
    fn postgres_that_logged_connections(opened: &[(&str, &str, usize)]) -> IncidentContext {
        let mut builder = shop_with_postgres();
        let mut lines = vec!["FATAL:  sorry, too many clients already".to_string()];
        let mut pid = 100;
        for (_, address, count) in opened {
            for _ in 0..*count {
                pid += 1;
                lines.push(format!("[{pid}] LOG:  connection received: host={address} port={}", 40000 + pid));
                lines.push(format!("[{pid}] LOG:  connection authorized: user=app database=orders"));
            }
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        builder = builder.logs("shop", "postgres-7d9f8c6b5-abcde", false, &lines);
        let mut ctx = builder.build();
        for pod in &mut ctx.pods {
            if let Some((_, address, _)) =
                opened.iter().find(|(client, ..)| pod.name.starts_with(&format!("{client}-")))
            {
                pod.pod_ip = Some((*address).to_string());
            }
        }
        ctx
    }

    #[test]
    fn the_client_that_opened_most_connections_the_database_logged_is_the_leak() {
        let ctx = postgres_that_logged_connections(&[("orders", "10.244.1.7", 3), ("reports", "10.244.2.9", 14)]);
        let h = database().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.class, RootCauseClass::DbConnectionExhaustion);
        assert_eq!(h.target, ObjectRef::deployment("shop", "reports"));
        assert!(h.confidence >= 0.8, "{}", h.confidence);
        assert!(h.evidence.iter().any(|e| e.detail.contains("opened 14 of the 17 connections")), "{:?}", h.evidence);
    }

    #[test]
    fn connections_opened_evenly_single_out_no_one() {
        let ctx = postgres_that_logged_connections(&[("orders", "10.244.1.7", 6), ("reports", "10.244.2.9", 7)]);
        let h = database().analyse(&ctx).into_iter().next().unwrap();
        assert!(h.confidence < 0.5, "{}", h.confidence);
    }

    #[test]
    fn without_anything_singling_a_client_out_confidence_stays_low() {
        let h = database().analyse(&shop_with_postgres().build()).into_iter().next().unwrap();
        assert!(h.confidence < 0.5, "two clients, no evidence: {}", h.confidence);
    }

    #[test]
    fn a_down_database_under_refusing_clients() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "orders", "orders:1", 1, "node-1", |_, _| {})
            .deployment("shop", "postgres", "postgres:15", 1, "node-1", |_, pod| {
                pod.containers[0].ready = false;
                pod.containers[0].state = waiting("CrashLoopBackOff", "back-off");
            })
            .with_workload(|w| w.replicas_available = 0)
            .service("shop", "orders-db", "postgres", 5432, 0)
            .logs(
                "shop",
                "orders-7d9f8c6b5-abcde",
                false,
                &["connection to server at \"orders-db\" (10.96.0.9), port 5432 failed: Connection refused"],
            )
            .build();
        let h = database().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.class, RootCauseClass::DependencyDown);
        assert_eq!(h.target, ObjectRef::deployment("shop", "postgres"));
    }
}
