//! Request flow through the dependency graph, one tick at a time.
//!
//! A pure function of the topology, the serving instances (pods) and the network between them:
//! 1. rates, callers first: external traffic enters the entry services; every service forwards
//!    `calls_per_request` calls per request to each dependency, spread evenly over the ready
//!    endpoints of the callee's Service;
//! 2. CPU: demand = idle + rate × CPU per request + stress; above the limit the process is
//!    throttled (latency grows, and past saturation requests time out);
//! 3. connections: pooled clients hold connections (Little's law: rate × latency, kept-idle minimum
//!    by driver, plus leaked ones); a datastore grants up to `max_connections` minus the reserved
//!    superuser slots, and refuses the rest;
//! 4. outcomes, callees first: each call fails for the reason a real client would see (refused,
//!    timed out, unresolvable, upstream error, pool exhausted, too many connections) and errors and
//!    latency propagate to callers (optional dependencies degrade without failing the request).
use super::technology::Technology;
use super::topology::Topology;

/// Where a dependency's address points, as the process resolved it from its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Service(usize),
    /// The host does not resolve (`no such host`).
    Unresolvable,
}

/// One pod of a topology service, as the request flow sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub service: usize,
    /// In the Service's ready endpoints (gets traffic).
    pub endpoint: bool,
    /// The process accepts connections (false: connection refused).
    pub listening: bool,
    /// CPU the container may use: its limit, or its node's allocatable when it has none.
    pub cpu_limit_millis: f64,
    /// Extra CPU burnt by a stressor in the container.
    pub stress_cpu_millis: f64,
    /// Where each dependency (same order as the service's) points.
    pub targets: Vec<Target>,
    /// Connections leaked to each dependency: opened outside the pool and never closed.
    pub leaked: Vec<f64>,
    /// Pooled connections the process holds to each dependency (from the previous tick).
    pub held: Vec<f64>,
    /// Whether the process leaks connections to each dependency (opens one per call).
    pub leaking: Vec<bool>,
    /// Multiplies the traffic the service receives (1.0 = what the graph sends it).
    pub traffic_factor: f64,
}

/// The network path between two instances.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Link {
    /// Round-trip delay added.
    pub delay_ms: f64,
    /// Packet loss probability (0..1) on the path.
    pub loss: f64,
    /// Packets are dropped (partition, NetworkPolicy, dead node): connects time out.
    pub blocked: bool,
}

pub trait Network {
    fn link(&self, from: usize, to: usize) -> Link;
}

/// No faults: every path is clean.
#[derive(Debug)]
pub struct CleanNetwork;

impl Network for CleanNetwork {
    fn link(&self, _: usize, _: usize) -> Link {
        Link::default()
    }
}

/// Why calls to a dependency fail, as the caller's logs would say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    Refused,
    Timeout,
    Unresolvable,
    UpstreamError,
    PoolExhausted,
    TooManyConnections,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DepOutcome {
    /// Calls per second to this dependency.
    pub rate: f64,
    /// Fraction of calls that fail.
    pub failure: f64,
    pub cause: Option<Cause>,
    /// Mean latency of a successful call.
    pub latency_ms: f64,
    /// Latency of a failed call (a refusal is quick, a timeout is not).
    pub failure_latency_ms: f64,
    /// A callee instance the calls went to (for the address in log lines).
    pub target_instance: Option<usize>,
    /// Connections open: pooled ones held after the tick, plus leaked ones.
    pub connections_open: f64,
    pub pool_in_use: f64,
    pub pool_waiting: f64,
    /// Connections the server accepted from leaking code during the tick (they will never close).
    pub new_connections: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceFlow {
    /// Requests per second arriving.
    pub rate: f64,
    pub cpu_demand_millis: f64,
    pub cpu_used_millis: f64,
    /// Share of CFS periods in which the container was throttled.
    pub throttled_fraction: f64,
    /// Fraction of arriving requests answered with an error.
    pub error_fraction: f64,
    /// Of which: the instance itself could not keep up (timeouts under CPU saturation).
    pub overload_fraction: f64,
    pub latency_ok_ms: f64,
    pub latency_err_ms: f64,
    pub deps: Vec<DepOutcome>,
    /// Datastores: client connections open, and connection attempts refused per second.
    pub server_connections: f64,
    pub server_refused: f64,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceFlow {
    pub rate: f64,
    pub error_fraction: f64,
    pub latency_ms: f64,
    pub ready_instances: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flow {
    pub instances: Vec<InstanceFlow>,
    pub services: Vec<ServiceFlow>,
}

/// PostgreSQL keeps `superuser_reserved_connections` (3) slots back from ordinary clients.
const RESERVED_SLOTS: f64 = 3.0;
/// What a client waits for a pooled connection before giving up.
const POOL_WAIT_MS: f64 = 30_000.0;

/// Connections a driver keeps open even when idle (HikariCP fills its pool; Go's database/sql keeps
/// two; SQLAlchemy its pool size; node-postgres closes idle clients).
fn idle_kept(technology: Technology, pool: f64) -> f64 {
    match technology {
        Technology::Java => pool,
        Technology::Go => pool.min(2.0),
        Technology::Python => pool.min(5.0),
        _ => pool.min(1.0),
    }
}

/// Latency and overload of one instance from its CPU use.
fn cpu_effect(base_latency_ms: f64, utilisation: f64) -> (f64, f64, f64) {
    // Throttling shows before the average reaches the limit: requests burst within a 100 ms period.
    let throttled = ((utilisation - 0.6) / 0.4).clamp(0.0, 1.0);
    if utilisation <= 1.0 {
        let latency = base_latency_ms * (1.0 + 0.3 * utilisation) + throttled * 40.0;
        (latency, throttled, 0.0)
    } else {
        // Saturated: the queue grows until requests time out; the instance serves 1/u of them.
        let overload = 1.0 - 1.0 / utilisation;
        let latency = (base_latency_ms + 40.0 + 400.0 * (utilisation - 1.0)).min(3000.0);
        (latency, 1.0, overload)
    }
}

pub fn compute(topology: &Topology, instances: &[Instance], network: &dyn Network) -> Flow {
    let services = &topology.services;
    let mut endpoints: Vec<Vec<usize>> = vec![Vec::new(); services.len()];
    for (i, instance) in instances.iter().enumerate() {
        if instance.endpoint {
            endpoints[instance.service].push(i);
        }
    }
    let mut flow = Flow {
        instances: vec![InstanceFlow::default(); instances.len()],
        services: vec![ServiceFlow::default(); services.len()],
    };

    // 1. Rates, callers first. Traffic to a service is what its callers' instances send.
    let mut service_rate = vec![0.0f64; services.len()];
    for &s in topology.dependency_order.iter().rev() {
        let ready = &endpoints[s];
        if !ready.is_empty() {
            // A surge (a crawler, a retry storm) multiplies what the service receives.
            let factor: f64 = ready.iter().map(|&i| instances[i].traffic_factor).sum::<f64>() / ready.len() as f64;
            service_rate[s] = (service_rate[s] + services[s].request_rate) * factor;
        }
        let per_instance = if ready.is_empty() { 0.0 } else { service_rate[s] / ready.len() as f64 };
        for &i in ready {
            flow.instances[i].rate = per_instance;
        }
        for &i in ready {
            for (d, dep) in services[s].dependencies.iter().enumerate() {
                if let Some(Target::Service(callee)) = instances[i].targets.get(d) {
                    service_rate[*callee] += per_instance * dep.calls_per_request;
                }
            }
        }
    }

    // 2. CPU and own latency of every instance.
    let mut own_latency = vec![0.0f64; instances.len()];
    for (i, instance) in instances.iter().enumerate() {
        let service = &services[instance.service];
        let out = &mut flow.instances[i];
        let demand =
            service.cpu_idle_millis as f64 + out.rate * service.cpu_per_request_millis + instance.stress_cpu_millis;
        let limit = instance.cpu_limit_millis.max(1.0);
        let utilisation = demand / limit;
        let (latency, throttled, overload) = cpu_effect(service.latency_ms, utilisation);
        out.cpu_demand_millis = demand;
        out.cpu_used_millis = demand.min(limit);
        out.throttled_fraction = throttled;
        out.overload_fraction = overload;
        own_latency[i] = latency;
        out.max_connections = service.max_connections.unwrap_or(0);
    }

    // 3. Connections. A client keeps the connections it holds (a pool does not give them back because
    //    the server is full); it asks the server for more when it needs more than it holds, and the
    //    server grants new ones while it has free slots. A leaking client needs a new connection for
    //    every call.
    struct Ask {
        client: usize,
        dep: usize,
        server: usize,
        wanted: f64,
        held: f64,
        in_use: f64,
        leak: f64,
    }
    let mut asks = Vec::new();
    let mut held_at = vec![0.0f64; instances.len()];
    for (i, instance) in instances.iter().enumerate() {
        let service = &services[instance.service];
        for (d, dep) in service.dependencies.iter().enumerate() {
            let (Some(pool), Some(Target::Service(callee))) = (dep.pool, instance.targets.get(d)) else { continue };
            let ready = &endpoints[*callee];
            if ready.is_empty() || !instance.listening {
                continue;
            }
            let share = 1.0 / ready.len() as f64;
            let calls = flow.instances[i].rate * dep.calls_per_request;
            let leaked = instance.leaked.get(d).copied().unwrap_or(0.0);
            let held = instance.held.get(d).copied().unwrap_or(0.0);
            for &q in ready {
                let link = network.link(i, q);
                if link.blocked {
                    continue;
                }
                let latency_s = (own_latency[q] + link.delay_ms) / 1000.0;
                let pool = pool as f64;
                let in_use = (calls * share * latency_s).min(pool * share);
                let kept = idle_kept(service.technology, pool) * share;
                let wanted = in_use.max(kept);
                // Leaking code opens a connection of its own for every call (and never closes it).
                let leak =
                    if instance.leaking.get(d).copied().unwrap_or(false) { (calls * share).max(share) } else { 0.0 };
                held_at[q] += held * share + leaked * share;
                asks.push(Ask { client: i, dep: d, server: q, wanted, held: held * share, in_use, leak });
            }
        }
    }
    let mut free = vec![f64::INFINITY; instances.len()];
    for (q, instance) in instances.iter().enumerate() {
        let service = &services[instance.service];
        let Some(max) = service.max_connections else { continue };
        let reserved = if service.technology == Technology::Postgres { RESERVED_SLOTS } else { 0.0 };
        free[q] = (max as f64 - reserved - held_at[q]).max(0.0);
    }
    let mut asked_new = vec![0.0f64; instances.len()];
    for ask in &asks {
        asked_new[ask.server] += (ask.wanted - ask.held).max(0.0) + ask.leak;
    }
    let grant_new: Vec<f64> = (0..instances.len())
        .map(|q| if asked_new[q] > 0.0 { (free[q] / asked_new[q]).min(1.0) } else { 1.0 })
        .collect();
    // Per client and dependency: connections it has after this tick, connections its calls need, new
    // connections it asked for, and those the server refused.
    let mut connected: std::collections::HashMap<(usize, usize), Connections> = std::collections::HashMap::new();
    for ask in &asks {
        let grant = grant_new[ask.server];
        let pooled = (ask.wanted - ask.held).max(0.0);
        let usable = ask.wanted.min(ask.held + pooled * grant);
        let entry = connected.entry((ask.client, ask.dep)).or_default();
        entry.usable += usable;
        entry.in_use += ask.in_use;
        entry.asked += pooled;
        entry.refused += pooled * (1.0 - grant);
        entry.leak_asked += ask.leak;
        entry.leak_granted += ask.leak * grant;
        let out = &mut flow.instances[ask.server];
        out.server_connections += usable + ask.leak * grant;
        out.server_refused += (pooled + ask.leak) * (1.0 - grant);
    }
    for (q, instance) in instances.iter().enumerate() {
        if services[instance.service].max_connections.is_some() {
            // Leaked connections are held on the server too.
            let leaked: f64 = held_at[q] - asks.iter().filter(|a| a.server == q).map(|a| a.held).sum::<f64>();
            flow.instances[q].server_connections += leaked.max(0.0);
        }
    }

    // 4. Outcomes, callees first.
    for &s in &topology.dependency_order {
        let service = &services[s];
        for i in (0..instances.len()).filter(|&i| instances[i].service == s) {
            let instance = &instances[i];
            let rate = flow.instances[i].rate;
            let mut deps = Vec::with_capacity(service.dependencies.len());
            let mut success = 1.0 - flow.instances[i].overload_fraction;
            let mut latency_ok = own_latency[i];
            let mut latency_err = if flow.instances[i].overload_fraction > 0.0 { own_latency[i] } else { 0.0 };
            for (d, dep) in service.dependencies.iter().enumerate() {
                let calls = rate * dep.calls_per_request;
                let mut outcome = DepOutcome { rate: calls, ..Default::default() };
                match instance.targets.get(d) {
                    None | Some(Target::Unresolvable) => {
                        outcome.failure = 1.0;
                        outcome.cause = Some(Cause::Unresolvable);
                        outcome.failure_latency_ms = 5.0;
                    }
                    Some(Target::Service(callee)) => {
                        call_dependency(
                            &mut outcome,
                            CallContext {
                                caller: i,
                                pool: dep.pool,
                                leaked: instance.leaked.get(d).copied().unwrap_or(0.0),
                                leaking: instance.leaking.get(d).copied().unwrap_or(false),
                                timeout_ms: dep.timeout_ms,
                                ready: &endpoints[*callee],
                                listening: &|q| instances[q].listening,
                                own_latency: &own_latency,
                                connections: connected.get(&(i, d)).copied(),
                            },
                            &flow.instances,
                            network,
                        );
                    }
                }
                if !dep.optional {
                    let k = dep.calls_per_request;
                    let ok = if k <= 1.0 { 1.0 - k * outcome.failure } else { (1.0 - outcome.failure).powf(k) };
                    success *= ok.clamp(0.0, 1.0);
                    if outcome.failure > 0.0 {
                        latency_err = f64::max(latency_err, own_latency[i] + outcome.failure_latency_ms);
                    }
                }
                latency_ok += dep.calls_per_request.min(4.0) * outcome.latency_ms;
                deps.push(outcome);
            }
            let out = &mut flow.instances[i];
            out.error_fraction = (1.0 - success).clamp(0.0, 1.0);
            out.latency_ok_ms = latency_ok.min(30_000.0);
            out.latency_err_ms = if out.error_fraction > 0.0 { latency_err.max(1.0) } else { 0.0 };
            out.deps = deps;
        }
    }

    for (s, service_flow) in flow.services.iter_mut().enumerate() {
        let ready = &endpoints[s];
        service_flow.ready_instances = ready.len();
        service_flow.rate = ready.iter().map(|&i| flow.instances[i].rate).sum();
        if service_flow.rate > 0.0 {
            let weighted = |f: &dyn Fn(&InstanceFlow) -> f64| -> f64 {
                ready.iter().map(|&i| flow.instances[i].rate * f(&flow.instances[i])).sum::<f64>() / service_flow.rate
            };
            service_flow.error_fraction = weighted(&|x| x.error_fraction);
            service_flow.latency_ms =
                weighted(&|x| (1.0 - x.error_fraction) * x.latency_ok_ms + x.error_fraction * x.latency_err_ms);
        }
    }
    flow
}

/// One client's connections to one dependency during a tick.
#[derive(Debug, Clone, Copy, Default)]
struct Connections {
    /// Held after the tick.
    usable: f64,
    /// What its calls keep busy (Little's law).
    in_use: f64,
    /// New pooled connections asked for, and refused by the server.
    asked: f64,
    refused: f64,
    /// Connections the leaking code asked for, and got.
    leak_asked: f64,
    leak_granted: f64,
}

struct CallContext<'a> {
    caller: usize,
    pool: Option<u32>,
    leaked: f64,
    timeout_ms: f64,
    ready: &'a [usize],
    listening: &'a dyn Fn(usize) -> bool,
    own_latency: &'a [f64],
    connections: Option<Connections>,
    leaking: bool,
}

/// The outcome of calling one dependency from one instance: averaged over the callee's endpoints.
fn call_dependency(outcome: &mut DepOutcome, call: CallContext<'_>, callees: &[InstanceFlow], network: &dyn Network) {
    if call.ready.is_empty() {
        // A Service without ready endpoints: kube-proxy rejects the connection.
        outcome.failure = 1.0;
        outcome.cause = Some(Cause::Refused);
        outcome.failure_latency_ms = 1.0;
        return;
    }
    let share = 1.0 / call.ready.len() as f64;
    let mut failure = 0.0;
    let mut latency = 0.0;
    let mut failure_latency = 0.0;
    let mut causes: [(Cause, f64); 6] = [
        (Cause::Refused, 0.0),
        (Cause::Timeout, 0.0),
        (Cause::Unresolvable, 0.0),
        (Cause::UpstreamError, 0.0),
        (Cause::PoolExhausted, 0.0),
        (Cause::TooManyConnections, 0.0),
    ];
    let mut add = |cause: Cause, weight: f64, fail_latency: f64, failure: &mut f64, failure_latency: &mut f64| {
        causes[cause as usize].1 += weight;
        *failure += weight;
        *failure_latency += weight * fail_latency;
    };
    for &q in call.ready {
        let link = network.link(call.caller, q);
        if outcome.target_instance.is_none() || link.blocked || !(call.listening)(q) {
            outcome.target_instance.get_or_insert(q);
        }
        if link.blocked {
            add(Cause::Timeout, share, call.timeout_ms, &mut failure, &mut failure_latency);
            continue;
        }
        if !(call.listening)(q) {
            add(Cause::Refused, share, 1.0 + link.delay_ms, &mut failure, &mut failure_latency);
            continue;
        }
        // TCP over a lossy path: each lost segment costs a retransmission timeout (200 ms minimum);
        // a request whose segments are lost three times in a row times out.
        let loss = link.loss.clamp(0.0, 1.0);
        let retransmit = (1.0 - (1.0 - loss).powi(4)) * 200.0;
        let lost = loss.powi(3).min(1.0);
        let callee = &callees[q];
        let call_latency = call.own_latency[q].max(callee.latency_ok_ms) + link.delay_ms + retransmit;
        let mut ok = share;
        if call_latency > call.timeout_ms {
            add(Cause::Timeout, ok, call.timeout_ms, &mut failure, &mut failure_latency);
            continue;
        }
        if lost > 0.0 {
            add(Cause::Timeout, ok * lost, call.timeout_ms, &mut failure, &mut failure_latency);
            ok *= 1.0 - lost;
        }
        if let Some(c) = call.connections
            && (c.refused > 1e-9 || c.leak_granted < c.leak_asked - 1e-9)
        {
            // A pool works with the connections it holds; calls fail when it holds fewer than they keep
            // busy. A leaking client needs a new connection for every call.
            let refused_share = if call.leaking && c.leak_asked > 0.0 {
                (1.0 - c.leak_granted / c.leak_asked).clamp(0.0, 1.0)
            } else if c.usable < c.in_use {
                if c.usable < 1e-9 { 1.0 } else { (1.0 - c.usable / c.in_use).clamp(0.0, 1.0) }
            } else {
                0.0
            };
            add(Cause::TooManyConnections, ok * refused_share, 5.0, &mut failure, &mut failure_latency);
            ok *= 1.0 - refused_share;
        }
        if callee.error_fraction > 0.0 {
            let upstream = ok * callee.error_fraction;
            add(
                Cause::UpstreamError,
                upstream,
                callee.latency_err_ms + link.delay_ms,
                &mut failure,
                &mut failure_latency,
            );
        }
        latency += share * call_latency;
    }
    // The client pool: Little's law on the calls that got through. Leaked connections were opened
    // outside the pool (and never closed): they hold server slots, not pool slots.
    if let Some(pool) = call.pool {
        let pool = pool as f64;
        let needed = outcome.rate * latency / 1000.0;
        outcome.pool_in_use = needed.min(pool);
        let open = call.connections.map_or(0.0, |c| c.usable);
        outcome.new_connections = call.connections.map_or(0.0, |c| c.leak_granted);
        outcome.connections_open = open + call.leaked;
        if needed > pool {
            let starved = (1.0 - pool / needed).clamp(0.0, 1.0);
            let remaining = 1.0 - failure;
            add(
                Cause::PoolExhausted,
                remaining * starved,
                POOL_WAIT_MS.min(call.timeout_ms * 10.0),
                &mut failure,
                &mut failure_latency,
            );
            outcome.pool_waiting = (needed - pool).max(1.0).ceil();
        }
    }
    outcome.failure = failure.clamp(0.0, 1.0);
    outcome.latency_ms = latency;
    outcome.failure_latency_ms = if failure > 0.0 { failure_latency / failure } else { 0.0 };
    outcome.cause = causes.iter().filter(|(_, w)| *w > 1e-9).max_by(|a, b| a.1.total_cmp(&b.1)).map(|(c, _)| *c);
}

#[cfg(test)]
mod tests;
