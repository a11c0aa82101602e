//! What the processes report: cAdvisor's container series (memory, CPU, CFS throttling, network),
//! the applications' own HTTP metrics (requests by code, latency histograms), client connection
//! pools, and each datastore's exporter series (PostgreSQL, MySQL, Redis, MongoDB, memcached).
use serde_json::Value;
use std::collections::HashMap;

use super::text::{Exposition, MetricType::*};
use crate::app::process::BUCKETS;
use crate::app::{AppState, Technology};
use crate::store::{Kind, Store};

fn declare(out: &mut Exposition) {
    out.family("container_memory_working_set_bytes", Gauge, "Current working set of the container in bytes");
    out.family("container_spec_memory_limit_bytes", Gauge, "Memory limit for the container.");
    out.family("container_cpu_usage_seconds_total", Counter, "Cumulative cpu time consumed in seconds.");
    out.family("container_cpu_cfs_periods_total", Counter, "Number of elapsed enforcement period intervals.");
    out.family("container_cpu_cfs_throttled_periods_total", Counter, "Number of throttled period intervals.");
    out.family("container_network_transmit_bytes_total", Counter, "Cumulative count of bytes transmitted");
    out.family("container_network_receive_bytes_total", Counter, "Cumulative count of bytes received");
    out.family("http_requests_total", Counter, "Total number of HTTP requests served, by status code.");
    out.family("http_request_duration_seconds", Histogram, "Latency of HTTP requests served.");
    out.family("db_client_connections_usage", Gauge, "Connections of the client pool, by state (used, idle).");
    out.family("db_client_connections_max", Gauge, "The most connections the client pool may open.");
    out.family("db_client_connections_pending_requests", Gauge, "Requests waiting for a connection from the pool.");
    out.family(
        "lab_egress_connections_total",
        Counter,
        "Connections opened to addresses outside the cluster, by verdict of the network policy (the lab's flow log).",
    );
    out.family("pg_stat_database_numbackends", Gauge, "Number of backends currently connected to this database.");
    out.family("pg_settings_max_connections", Gauge, "Sets the maximum number of concurrent connections.");
    out.family("mysql_global_status_threads_connected", Gauge, "Generic metric from SHOW GLOBAL STATUS.");
    out.family("mysql_global_variables_max_connections", Gauge, "Generic gauge metric from SHOW GLOBAL VARIABLES.");
    out.family("redis_connected_clients", Gauge, "connected_clients metric");
    out.family("redis_config_maxclients", Gauge, "config_maxclients metric");
    out.family("mongodb_connections", Gauge, "The number of incoming connections from clients to the database server");
    out.family("memcached_current_connections", Gauge, "Current number of open connections.");
    out.family("memcached_max_connections", Gauge, "Maximum number of clients allowed.");
}

/// `pod name → deployment name`, through the pod's ReplicaSet.
pub(crate) fn deployments_of_pods(store: &Store) -> HashMap<(String, String), String> {
    let (sets, _) = store.list(Kind::ReplicaSet, None);
    let owner = |v: &Value| -> Option<(String, String)> {
        let o = v.pointer("/metadata/ownerReferences")?.as_array()?.first()?;
        Some((o.get("kind")?.as_str()?.to_string(), o.get("name")?.as_str()?.to_string()))
    };
    let set_owner: HashMap<(String, String), String> = sets
        .iter()
        .filter_map(|rs| {
            let (kind, name) = owner(&rs.value)?;
            (kind == "Deployment")
                .then(|| ((rs.namespace().unwrap_or_default().to_string(), rs.name().to_string()), name))
        })
        .collect();
    let (pods, _) = store.list(Kind::Pod, None);
    pods.iter()
        .filter_map(|pod| {
            let (kind, name) = owner(&pod.value)?;
            let namespace = pod.namespace().unwrap_or_default().to_string();
            let deployment =
                if kind == "ReplicaSet" { set_owner.get(&(namespace.clone(), name))?.clone() } else { return None };
            Some(((namespace, pod.name().to_string()), deployment))
        })
        .collect()
}

pub fn write(store: &Store, state: &AppState, out: &mut Exposition) {
    declare(out);
    let deployments = deployments_of_pods(store);
    let topology = state.topology.clone();
    let flow_of: HashMap<&crate::runtime::ContainerKey, usize> =
        state.instances.iter().enumerate().filter_map(|(i, r)| r.process.as_ref().map(|k| (k, i))).collect();
    let mut le_text: Vec<String> = BUCKETS.iter().map(|b| b.to_string()).collect();
    le_text.push("+Inf".into());
    for (key, process) in &state.processes {
        let (namespace, pod, container) = (key.namespace.as_str(), key.pod.as_str(), key.container.as_str());
        let cadvisor =
            [("namespace", namespace), ("pod", pod), ("container", container), ("image", process.image.as_str())];
        let counters = &process.counters;
        out.sample("container_memory_working_set_bytes", "", &cadvisor, process.memory_bytes as f64);
        if let Some(limit) = process.memory_limit_bytes {
            out.sample("container_spec_memory_limit_bytes", "", &cadvisor, limit as f64);
        }
        let cpu = [cadvisor[0], cadvisor[1], cadvisor[2], cadvisor[3], ("cpu", "total")];
        out.sample("container_cpu_usage_seconds_total", "", &cpu, round(counters.cpu_seconds, 6));
        if process.cpu_limit_millis.is_some() {
            out.sample("container_cpu_cfs_periods_total", "", &cadvisor, counters.cfs_periods.floor());
            out.sample(
                "container_cpu_cfs_throttled_periods_total",
                "",
                &cadvisor,
                counters.cfs_throttled_periods.floor(),
            );
        }
        let network = [("namespace", namespace), ("pod", pod), ("interface", "eth0")];
        out.sample("container_network_transmit_bytes_total", "", &network, counters.transmit_bytes.floor());
        out.sample("container_network_receive_bytes_total", "", &network, counters.receive_bytes.floor());
        for ((destination, allowed), count) in &counters.egress_connections {
            let verdict = if *allowed { "forwarded" } else { "dropped" };
            out.sample(
                "lab_egress_connections_total",
                "",
                &[("namespace", namespace), ("pod", pod), ("destination", destination), ("verdict", verdict)],
                count.floor(),
            );
        }

        let Some(s) = process.service else { continue };
        let service = &topology.services[s];
        let deployment =
            deployments.get(&(namespace.to_string(), pod.to_string())).map_or(service.name.as_str(), String::as_str);
        let app =
            [("namespace", namespace), ("service", service.name.as_str()), ("deployment", deployment), ("pod", pod)];
        if !service.technology.is_datastore() {
            for (code, count) in &counters.requests {
                let code = code.to_string();
                out.sample(
                    "http_requests_total",
                    "",
                    &[app[0], app[1], app[2], app[3], ("code", &code)],
                    count.floor(),
                );
            }
            let mut cumulative = 0.0;
            for (i, le) in le_text.iter().enumerate() {
                cumulative += counters.duration_buckets[i];
                out.sample(
                    "http_request_duration_seconds",
                    "_bucket",
                    &[app[0], app[1], app[2], app[3], ("le", le)],
                    cumulative.floor(),
                );
            }
            out.sample("http_request_duration_seconds", "_sum", &app, round(counters.duration_sum, 3));
            out.sample("http_request_duration_seconds", "_count", &app, counters.duration_count.floor());
        }
        let flow = flow_of.get(key).and_then(|&i| state.flow.instances.get(i));
        if let Some(flow) = flow {
            for (d, dep) in service.dependencies.iter().enumerate() {
                let (Some(pool), Some(outcome)) = (dep.pool, flow.deps.get(d)) else { continue };
                let target = &topology.services[dep.service].name;
                let labels = [app[0], app[1], app[3], ("pool", target.as_str())];
                let used = outcome.pool_in_use.round();
                let idle = (outcome.connections_open
                    - outcome.pool_in_use
                    - process.leaked_connections.get(d).copied().unwrap_or(0.0))
                .max(0.0)
                .round();
                out.sample(
                    "db_client_connections_usage",
                    "",
                    &[labels[0], labels[1], labels[2], labels[3], ("state", "used")],
                    used,
                );
                out.sample(
                    "db_client_connections_usage",
                    "",
                    &[labels[0], labels[1], labels[2], labels[3], ("state", "idle")],
                    idle,
                );
                out.sample("db_client_connections_max", "", &labels, pool as f64);
                out.sample("db_client_connections_pending_requests", "", &labels, outcome.pool_waiting.round());
            }
            if let Some(max) = service.max_connections {
                let open = flow.server_connections.round();
                let exporter = [app[0], app[1], app[3]];
                match service.technology {
                    Technology::Postgres => {
                        let labels = [exporter[0], exporter[1], exporter[2], ("datname", service.database.as_str())];
                        out.sample("pg_stat_database_numbackends", "", &labels, open);
                        out.sample("pg_settings_max_connections", "", &exporter, f64::from(max));
                    }
                    Technology::Mysql => {
                        out.sample("mysql_global_status_threads_connected", "", &exporter, open);
                        out.sample("mysql_global_variables_max_connections", "", &exporter, f64::from(max));
                    }
                    Technology::Redis => {
                        out.sample("redis_connected_clients", "", &exporter, open);
                        out.sample("redis_config_maxclients", "", &exporter, f64::from(max));
                    }
                    Technology::Mongodb => {
                        out.sample(
                            "mongodb_connections",
                            "",
                            &[exporter[0], exporter[1], exporter[2], ("state", "current")],
                            open,
                        );
                        out.sample(
                            "mongodb_connections",
                            "",
                            &[exporter[0], exporter[1], exporter[2], ("state", "available")],
                            (f64::from(max) - open).max(0.0),
                        );
                    }
                    Technology::Memcached => {
                        out.sample("memcached_current_connections", "", &exporter, open);
                        out.sample("memcached_max_connections", "", &exporter, f64::from(max));
                    }
                    _ => {}
                }
            }
        }
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}
