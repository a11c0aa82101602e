//! The log lines a process writes during a step, from its condition: start-up done, requests,
//! failing or slow dependencies, exhausted pools and servers, memory pressure, periodic chatter.
//!
//! Each kind of line is rate-limited per process (an error storm writes a line every couple of
//! seconds, not one per failed request) so logs stay readable and the lab stays cheap.
use jiff::Timestamp;
use rand::Rng;
use std::time::Duration;

use super::AppState;
use crate::app::flow::{Cause, InstanceFlow};
use crate::app::phrases::{Condition, LogVars};
use crate::runtime::ContainerKey;

fn cause_condition(cause: Cause) -> Condition {
    match cause {
        Cause::Refused => Condition::DependencyRefused,
        Cause::Timeout => Condition::DependencyTimeout,
        Cause::Unresolvable => Condition::DependencyUnresolvable,
        Cause::UpstreamError => Condition::DependencyError,
        Cause::PoolExhausted => Condition::PoolExhausted,
        Cause::TooManyConnections => Condition::TooManyConnections,
    }
}

impl AppState {
    pub(super) fn write_step_lines(
        &mut self,
        key: &ContainerKey,
        instance: Option<usize>,
        flow: &InstanceFlow,
        egress: &[(String, bool, f64)],
        out_of_memory: bool,
        now: Timestamp,
    ) {
        let topology = self.topology.clone();
        let Some(process) = self.processes.get(key) else { return };
        if process.paused {
            return;
        }
        let service = process.service.map(|s| &topology.services[s]);
        let service_name = service.map_or(key.container.clone(), |s| s.name.clone());
        let port = service.map_or(process.technology.default_port(), |s| s.port);
        let version = process.version.clone();
        let uptime = process.uptime;
        let (memory, limit, heap) = (process.memory_bytes, process.memory_limit_bytes, process.heap_limit_bytes);
        let ready_now = process.is_ready() && !process.announced_ready;
        let pod = key.pod.clone();
        let base = LogVars {
            now: Some(now),
            service: &service_name,
            pod: &pod,
            port,
            version: &version,
            uptime_ms: uptime.as_millis() as u64,
            startup_s: uptime.as_secs_f64(),
            path: "",
            ..Default::default()
        };
        let path = format!("/api/v1/{service_name}");

        if ready_now {
            self.write_lines(key, Condition::Ready, None, &base);
            if let Some(p) = self.processes.get_mut(key) {
                p.announced_ready = true;
            }
        }
        if out_of_memory {
            let vars = LogVars { used_bytes: memory, heap_bytes: heap.unwrap_or(memory), path: &path, ..base.clone() };
            self.write_lines(key, Condition::OutOfMemory, None, &vars);
            return;
        }

        // Memory close to what the runtime or the container allows.
        let cap = heap.map(|h| h + self.processes[key].non_heap_bytes).or(limit);
        if let Some(cap) = cap
            && memory as f64 > 0.9 * cap as f64
            && self.due(key, "memory", now, Duration::from_secs(30))
        {
            let used = self.processes[key].heap_used().unwrap_or(memory);
            let vars = LogVars { used_bytes: used, heap_bytes: heap.unwrap_or(cap), ..base.clone() };
            self.write_lines(key, Condition::MemoryPressure, None, &vars);
        }

        if instance.is_some() && flow.rate > 0.0 {
            if self.due(key, "request", now, Duration::from_secs(5)) {
                let failed = self.rng.random_bool(flow.error_fraction.clamp(0.0, 1.0));
                let status = if failed { super::advance::error_code(flow) } else { 200 };
                let latency = if failed { flow.latency_err_ms } else { flow.latency_ok_ms };
                let client_ip = self.some_client_ip(key);
                let method = if self.rng.random_bool(0.8) { "GET" } else { "POST" };
                let bytes = self.rng.random_range(180..4200);
                let vars = LogVars {
                    method,
                    path: &path,
                    status,
                    latency_ms: latency,
                    bytes,
                    client_ip: &client_ip,
                    ..base.clone()
                };
                self.write_lines(key, Condition::Request, None, &vars);
            }
            if flow.overload_fraction > 0.02 && self.due(key, "overloaded", now, Duration::from_secs(2)) {
                let vars = LogVars { path: &path, latency_ms: flow.latency_err_ms, ..base.clone() };
                self.write_lines(key, Condition::Overloaded, None, &vars);
            } else if flow.latency_ok_ms > 500.0 && self.due(key, "slow", now, Duration::from_secs(5)) {
                let vars = LogVars { path: &path, latency_ms: flow.latency_ok_ms, method: "GET", ..base.clone() };
                self.write_lines(key, Condition::SlowRequest, None, &vars);
            }
        }

        if let Some(service) = service {
            for (d, outcome) in flow.deps.iter().enumerate() {
                let Some(dep) = service.dependencies.get(d) else { continue };
                if outcome.rate <= 0.0 {
                    continue;
                }
                let callee = &topology.services[dep.service];
                let address = self.processes[key].dependencies.get(d).cloned().flatten();
                let (host, dep_port) = address.map_or((callee.name.clone(), callee.port), |a| (a.host, a.port));
                let cluster_ip = self
                    .view
                    .resolve(&key.namespace, &host)
                    .and_then(|(ns, name)| self.view.service(&ns, &name))
                    .map(|s| s.cluster_ip.clone())
                    .unwrap_or_default();
                let vars = LogVars {
                    dep: &callee.name,
                    dep_host: &host,
                    dep_ip: &cluster_ip,
                    dep_port,
                    dep_latency_ms: outcome.latency_ms,
                    db: &callee.database,
                    db_user: &callee.database,
                    pool: dep.pool.unwrap_or(0),
                    pool_active: outcome.pool_in_use.round() as u32,
                    pool_waiting: outcome.pool_waiting.round() as u32,
                    path: &path,
                    ..base.clone()
                };
                match outcome.cause {
                    Some(cause) if outcome.failure > 0.02 => {
                        let what = format!("dep-{d}-{cause:?}");
                        if self.due(key, &what, now, Duration::from_secs(2)) {
                            self.write_lines(key, cause_condition(cause), Some(dep.protocol), &vars);
                        }
                    }
                    _ if outcome.latency_ms > 300.0
                        && self.due(key, &format!("dep-{d}-slow"), now, Duration::from_secs(10)) =>
                    {
                        self.write_lines(key, Condition::DependencySlow, Some(dep.protocol), &vars);
                    }
                    _ => {}
                }
            }
            if service.max_connections.is_some()
                && flow.server_refused > 0.0
                && self.due(key, "exhausted", now, Duration::from_secs(1))
            {
                let client_ip = self.some_client_ip(key);
                let vars = LogVars {
                    client_ip: &client_ip,
                    conn_count: flow.server_connections.round() as u32,
                    db: &service.database,
                    db_user: &service.database,
                    ..base.clone()
                };
                self.write_lines(key, Condition::ConnectionsExhausted, None, &vars);
            }
        }

        let accepted = LogVars {
            conn_count: flow.server_connections.round() as u32,
            db: service.map_or("", |s| s.database.as_str()),
            db_user: service.map_or("", |s| s.database.as_str()),
            ..base.clone()
        };
        self.write_accepted_lines(key, &accepted);

        if uptime > Duration::from_secs(30) && self.due(key, "periodic", now, Duration::from_secs(240)) {
            let client_ip = self.some_client_ip(key);
            let vars = LogVars {
                client_ip: &client_ip,
                conn_count: flow.server_connections.round() as u32,
                db: service.map_or("", |s| s.database.as_str()),
                db_user: service.map_or("", |s| s.database.as_str()),
                ..base.clone()
            };
            self.write_lines(key, Condition::Periodic, None, &vars);
        }

        for (address, allowed, bytes) in egress {
            if *allowed && self.due(key, &format!("egress-{address}"), now, Duration::from_secs(30)) {
                let vars = LogVars { egress_address: address, bytes: (*bytes * 30.0) as u64, ..base.clone() };
                self.write_lines(key, Condition::Egress, None, &vars);
            }
        }
    }

    /// One line per whole connection the server accepted since the last step, with the client's address;
    /// past a few per step the rest go unlogged (as a log shipper's rate limit would drop them).
    fn write_accepted_lines(&mut self, key: &ContainerKey, vars: &LogVars<'_>) {
        const MOST_PER_STEP: usize = 8;
        let Some(process) = self.processes.get_mut(key) else { return };
        if process.accepted_from.is_empty() {
            return;
        }
        let mut due: Vec<String> = Vec::new();
        for (ip, count) in &mut process.accepted_from {
            while *count >= 1.0 {
                *count -= 1.0;
                if due.len() < MOST_PER_STEP {
                    due.push(ip.clone());
                }
            }
        }
        process.accepted_from.retain(|_, count| *count > 1e-6);
        for ip in due {
            let vars = LogVars { client_ip: &ip, ..vars.clone() };
            self.write_lines(key, Condition::ConnectionAccepted, None, &vars);
        }
    }

    /// The pod IP of some process that calls this one (for access and connection log lines).
    fn some_client_ip(&mut self, key: &ContainerKey) -> String {
        let topology = self.topology.clone();
        let Some(service) = self.processes.get(key).and_then(|p| p.service) else { return String::new() };
        let clients: Vec<&ContainerKey> = self
            .processes
            .iter()
            .filter(|(_, p)| {
                p.service.is_some_and(|s| topology.services[s].dependencies.iter().any(|d| d.service == service))
            })
            .map(|(k, _)| k)
            .collect();
        if clients.is_empty() {
            return "10.244.0.1".into();
        }
        let pick = clients[self.rng.random_range(0..clients.len())].clone();
        self.view
            .pod(&pick.namespace, &pick.pod)
            .and_then(|p| p.ip)
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "10.244.0.1".into())
    }
}
