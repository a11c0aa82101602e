//! One step of one process: memory, leaks, pools, CPU and counters, then what its probes see.
use jiff::Timestamp;
use std::time::Duration;

use super::AppState;
use crate::app::flow::{self, Cause, InstanceFlow};
use crate::app::topology::{Service, Topology};
use crate::faults::effects::{PodEffects, PodRef};
use crate::runtime::{ContainerInfo, ContainerKey, ContainerObservation, Exit};

impl AppState {
    /// Advance one running container by `dt` and say what its probes would see.
    pub(super) fn advance(
        &mut self,
        container: &ContainerInfo,
        instance: Option<usize>,
        now: Timestamp,
        dt: Duration,
    ) -> ContainerObservation {
        let key = &container.key;
        let pod: PodRef = (key.namespace.clone(), key.pod.clone());
        let effects = self.effects.pods.get(&pod).cloned().unwrap_or_default();
        let topology = self.topology.clone();
        let flow = instance.map(|i| self.flow.instances[i].clone()).unwrap_or_default();
        let seconds = dt.as_secs_f64();
        let Some(process) = self.processes.get_mut(key) else {
            return ContainerObservation {
                key: key.clone(),
                memory_working_set_bytes: 0,
                cpu_cores: 0.0,
                ready: false,
                live: true,
                exit: None,
            };
        };
        let service = process.service.map(|s| &topology.services[s]);

        // Memory: leaks and stressors, datastore connections.
        process.leaked_bytes += effects.memory_leak_bytes_per_second * seconds;
        let stress_memory = if effects.stresses(&key.container) { effects.stress_memory_bytes } else { 0 };
        let (growth, per_connection) =
            service.map_or((0, 0), |s| (s.memory_growth_bytes_per_hour, s.memory_per_connection_bytes));
        process.outside_heap_bytes = stress_memory;
        process.memory_bytes = if process.paused {
            1 << 20
        } else {
            process.working_set(growth, per_connection, flow.server_connections, stress_memory)
        };

        // The pool holds what it holds after this tick.
        let before: Vec<f64> =
            process.held_connections.iter().zip(&process.leaked_connections).map(|(h, l)| h + l).collect();
        for (d, outcome) in flow.deps.iter().enumerate() {
            if let Some(held) = process.held_connections.get_mut(d) {
                let leaked = process.leaked_connections.get(d).copied().unwrap_or(0.0);
                *held = (outcome.connections_open - leaked).max(0.0);
            }
        }
        // Connections to a server that went away (refused now) died with it, leaked ones included.
        for (d, outcome) in flow.deps.iter().enumerate() {
            if matches!(outcome.cause, Some(Cause::Refused | Cause::Unresolvable))
                && outcome.failure >= 0.999
                && let Some(leak) = process.leaked_connections.get_mut(d)
            {
                *leak = 0.0;
            }
        }
        // Connection leak: new connections the code never closes, while the server accepts them.
        if effects.connection_leak_per_minute > 0.0
            && let Some(s) = service
            && let Some(d) = leak_target(s, &topology, &effects)
            && let Some(leak) = process.leaked_connections.get_mut(d)
        {
            // Connections the server accepted from the leaking code are never closed.
            let accepted = flow.deps.get(d).map_or(0.0, |o| o.new_connections);
            *leak += (effects.connection_leak_per_minute * seconds / 60.0).min(accepted);
        }
        let opened: Vec<(usize, f64)> = before
            .iter()
            .enumerate()
            .map(|(d, was)| (d, process.held_connections[d] + process.leaked_connections[d] - was))
            .filter(|(_, n)| *n > 0.0)
            .collect();

        // CPU and what the counters see.
        let cpu_millis = if process.paused {
            0.0
        } else if instance.is_some() {
            flow.cpu_used_millis
        } else {
            2.0 + effects.stress_cpu_millis
        };
        process.cpu_cores = cpu_millis / 1000.0;
        let counters = &mut process.counters;
        counters.cpu_seconds += process.cpu_cores * seconds;
        counters.cfs_periods += 10.0 * seconds;
        counters.cfs_throttled_periods += 10.0 * seconds * flow.throttled_fraction;
        if flow.rate > 0.0 {
            let total = flow.rate * seconds;
            let errors = total * flow.error_fraction;
            let error_code = error_code(&flow);
            *counters.requests.entry(200).or_default() += total - errors;
            if errors > 0.0 {
                *counters.requests.entry(error_code).or_default() += errors;
                counters.observe_latency(errors, flow.latency_err_ms.max(1.0), 0.3);
            }
            counters.observe_latency(total - errors, flow.latency_ok_ms.max(0.5), 0.5);
            counters.receive_bytes += total * 900.0;
            counters.transmit_bytes += total * 2400.0;
        }
        for dep in &flow.deps {
            counters.transmit_bytes += dep.rate * seconds * 700.0;
            counters.receive_bytes += dep.rate * seconds * 1500.0 * (1.0 - dep.failure);
        }
        let mut egress_allowed = Vec::new();
        for egress in &effects.egress {
            let allowed = self.view.policy_allows_external((&key.namespace, &key.pod), egress.ip, Some(egress.port));
            let counters = &mut self.processes.get_mut(key).expect("present").counters;
            *counters.egress_connections.entry((egress.address.clone(), allowed)).or_default() += seconds / 5.0;
            if allowed {
                counters.transmit_bytes += egress.bytes_per_second * seconds;
            }
            egress_allowed.push((egress.address.clone(), allowed, egress.bytes_per_second));
        }

        self.book_accepted(key, &flow, &opened);
        let process = self.processes.get(key).expect("present");
        let ready = process.is_ready() && flow.overload_fraction < 0.5;
        // A saturated process answers its liveness probe too late; a paused one not at all.
        let live = !process.paused && flow.overload_fraction < 0.6;
        let memory = process.memory_bytes;
        let exit = match (process.heap_used(), process.heap_limit_bytes) {
            (Some(used), Some(limit)) if used > limit && !process.paused => Some(Exit {
                code: process.technology.runtime_oom_exit_code().unwrap_or(1),
                reason: "Error".into(),
                message: None,
            }),
            _ => None,
        };
        self.write_step_lines(key, instance, &flow, &egress_allowed, exit.is_some(), now);
        if exit.is_some() {
            self.processes.remove(key);
        }
        ContainerObservation {
            key: key.clone(),
            memory_working_set_bytes: memory,
            cpu_cores: cpu_millis / 1000.0,
            ready: ready && exit.is_none(),
            live,
            exit,
        }
    }
}

impl AppState {
    /// Books the connections this process opened on the servers that accepted them, under its address.
    fn book_accepted(&mut self, key: &ContainerKey, flow: &InstanceFlow, opened: &[(usize, f64)]) {
        if opened.is_empty() {
            return;
        }
        let Some(ip) = self.view.pod(&key.namespace, &key.pod).and_then(|p| p.ip) else { return };
        for &(d, count) in opened {
            let server = flow.deps.get(d).and_then(|o| o.target_instance).and_then(|q| self.instances.get(q));
            let Some(server) = server.and_then(|r| r.process.as_ref()) else { continue };
            if let Some(process) = self.processes.get_mut(server) {
                *process.accepted_from.entry(ip.to_string()).or_default() += count;
            }
        }
    }
}

/// The dependency a connection leak goes to: the one it names, or the first pooled one.
pub(super) fn leak_target(service: &Service, topology: &Topology, effects: &PodEffects) -> Option<usize> {
    match &effects.connection_leak_target {
        Some(name) => service.dependencies.iter().position(|d| topology.services[d.service].name == *name),
        None => service.dependencies.iter().position(|d| d.protocol.is_pooled()),
    }
}

/// The HTTP status an instance answers failed requests with.
pub(super) fn error_code(flow: &flow::InstanceFlow) -> u16 {
    if flow.overload_fraction > 0.0 && flow.overload_fraction >= flow.error_fraction * 0.5 {
        return 503;
    }
    let timeout = flow.deps.iter().filter(|d| d.failure > 0.0).any(|d| d.cause == Some(Cause::Timeout));
    if timeout { 504 } else { 500 }
}
