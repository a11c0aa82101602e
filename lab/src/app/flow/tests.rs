use super::*;
use std::collections::HashMap;

fn healthy(topology: &Topology) -> Vec<Instance> {
    let mut instances = Vec::new();
    for (s, service) in topology.services.iter().enumerate() {
        for _ in 0..service.replicas {
            instances.push(Instance {
                service: s,
                endpoint: true,
                listening: true,
                cpu_limit_millis: service.limits.cpu_millis.unwrap_or(4000) as f64,
                stress_cpu_millis: 0.0,
                targets: service.dependencies.iter().map(|d| Target::Service(d.service)).collect(),
                leaked: vec![0.0; service.dependencies.len()],
                held: vec![0.0; service.dependencies.len()],
                leaking: vec![false; service.dependencies.len()],
                traffic_factor: 1.0,
            });
        }
    }
    instances
}

fn of<'a>(topology: &Topology, instances: &'a mut [Instance], name: &str) -> Vec<&'a mut Instance> {
    let s = topology.service_index(name).unwrap();
    instances.iter_mut().filter(|i| i.service == s).collect()
}

fn service<'a>(topology: &Topology, flow: &'a Flow, name: &str) -> &'a ServiceFlow {
    &flow.services[topology.service_index(name).unwrap()]
}

fn dep_outcome<'a>(
    topology: &Topology,
    instances: &[Instance],
    flow: &'a Flow,
    caller: &str,
    callee: &str,
) -> &'a DepOutcome {
    let s = topology.service_index(caller).unwrap();
    let c = topology.service_index(callee).unwrap();
    let d = topology.services[s].dependencies.iter().position(|d| d.service == c).unwrap();
    let i = instances.iter().position(|x| x.service == s).unwrap();
    &flow.instances[i].deps[d]
}

/// Blocks or delays the paths between chosen instance pairs.
struct Faults(HashMap<(usize, usize), Link>);

impl Network for Faults {
    fn link(&self, from: usize, to: usize) -> Link {
        self.0.get(&(from, to)).copied().unwrap_or_default()
    }
}

#[test]
fn a_healthy_shop_serves_everything_and_rates_follow_the_graph() {
    let shop = Topology::shop();
    let instances = healthy(&shop);
    let flow = compute(&shop, &instances, &CleanNetwork);
    for (s, service) in shop.services.iter().enumerate() {
        assert!(flow.services[s].error_fraction < 0.001, "{} errors {}", service.name, flow.services[s].error_fraction);
    }
    let frontend = service(&shop, &flow, "frontend");
    assert!((frontend.rate - 40.0).abs() < 1e-9);
    // catalog: 2 per frontend request, 1 per recommendation call (0.5/frontend request), 1 per checkout.
    let expected = 40.0 * 2.0 + 40.0 * 0.5 + 40.0 * 0.05;
    assert!((service(&shop, &flow, "catalog").rate - expected).abs() < 1e-9);
    assert!(frontend.latency_ms > 4.0 && frontend.latency_ms < 200.0, "{}", frontend.latency_ms);
    // Java clients keep their whole pool open; the database sees them.
    let db = shop.service_index("orders-db").unwrap();
    let db_instance = instances.iter().position(|i| i.service == db).unwrap();
    let mut instances = instances;
    settle_pools(&shop, &mut instances);
    let flow = compute(&shop, &instances, &CleanNetwork);
    let open = flow.instances[db_instance].server_connections;
    assert!((20.0..40.0).contains(&open), "orders-db connections {open}");
}

#[test]
fn a_dependency_without_endpoints_refuses_and_the_error_reaches_the_callers() {
    let shop = Topology::shop();
    let mut instances = healthy(&shop);
    for redis in of(&shop, &mut instances, "cart-redis") {
        redis.endpoint = false;
        redis.listening = false;
    }
    let flow = compute(&shop, &instances, &CleanNetwork);
    let to_redis = dep_outcome(&shop, &instances, &flow, "cart", "cart-redis");
    assert_eq!(to_redis.cause, Some(Cause::Refused));
    assert_eq!(to_redis.failure, 1.0);
    assert!(service(&shop, &flow, "cart").error_fraction > 0.99);
    let to_cart = dep_outcome(&shop, &instances, &flow, "frontend", "cart");
    assert_eq!(to_cart.cause, Some(Cause::UpstreamError));
    assert!(service(&shop, &flow, "frontend").error_fraction > 0.99);
    // Services that do not depend on the cart are unaffected.
    assert!(service(&shop, &flow, "catalog").error_fraction < 0.001);
}

#[test]
fn an_optional_dependency_degrades_without_failing_requests() {
    let shop = Topology::shop();
    let mut instances = healthy(&shop);
    for r in of(&shop, &mut instances, "recommendation") {
        r.endpoint = false;
        r.listening = false;
    }
    let flow = compute(&shop, &instances, &CleanNetwork);
    assert_eq!(dep_outcome(&shop, &instances, &flow, "frontend", "recommendation").failure, 1.0);
    assert!(service(&shop, &flow, "frontend").error_fraction < 0.001);
}

#[test]
fn cpu_saturation_throttles_and_scaling_out_relieves_it() {
    let shop = Topology::shop();
    let mut instances = healthy(&shop);
    // Six times the usual traffic: about 150% of the catalog pods' CPU limit.
    for c in of(&shop, &mut instances, "catalog") {
        c.traffic_factor = 6.0;
    }
    let flow = compute(&shop, &instances, &CleanNetwork);
    let c = shop.service_index("catalog").unwrap();
    let first = instances.iter().position(|i| i.service == c).unwrap();
    assert!(flow.instances[first].throttled_fraction > 0.99);
    assert!(flow.instances[first].overload_fraction > 0.1, "{}", flow.instances[first].overload_fraction);
    assert_eq!(flow.instances[first].cpu_used_millis, 400.0);
    let saturated = service(&shop, &flow, "catalog").clone();
    assert!(saturated.error_fraction > 0.1);
    assert!(service(&shop, &flow, "frontend").error_fraction > 0.1, "the callers feel it");

    // Two more replicas share the same traffic.
    let extra: Vec<Instance> = (0..2).map(|_| instances[first].clone()).collect();
    instances.extend(extra);
    let flow = compute(&shop, &instances, &CleanNetwork);
    let relieved = service(&shop, &flow, "catalog");
    assert!(relieved.error_fraction < 0.001, "{}", relieved.error_fraction);
    assert!(relieved.latency_ms < saturated.latency_ms / 2.0, "{saturated:?} {relieved:?}");
    assert!(flow.instances[first].throttled_fraction < 0.2);
    assert!(service(&shop, &flow, "frontend").error_fraction < 0.001);
}

#[test]
fn a_partition_times_calls_out_and_delay_adds_latency() {
    let shop = Topology::shop();
    let instances = healthy(&shop);
    let cart = shop.service_index("cart").unwrap();
    let redis = shop.service_index("cart-redis").unwrap();
    let carts: Vec<usize> = (0..instances.len()).filter(|&i| instances[i].service == cart).collect();
    let redis_i = instances.iter().position(|i| i.service == redis).unwrap();
    let blocked = Faults(carts.iter().map(|&c| ((c, redis_i), Link { blocked: true, ..Default::default() })).collect());
    let flow = compute(&shop, &instances, &blocked);
    let outcome = dep_outcome(&shop, &instances, &flow, "cart", "cart-redis");
    assert_eq!(outcome.cause, Some(Cause::Timeout));
    assert!(outcome.failure_latency_ms >= 3000.0);

    let delayed =
        Faults(carts.iter().map(|&c| ((c, redis_i), Link { delay_ms: 90.0, ..Default::default() })).collect());
    let flow = compute(&shop, &instances, &delayed);
    assert!(service(&shop, &flow, "cart").error_fraction < 0.01);
    assert!(service(&shop, &flow, "cart").latency_ms > 180.0, "{}", service(&shop, &flow, "cart").latency_ms);

    let lossy = Faults(carts.iter().map(|&c| ((c, redis_i), Link { loss: 0.8, ..Default::default() })).collect());
    let flow = compute(&shop, &instances, &lossy);
    let outcome = dep_outcome(&shop, &instances, &flow, "cart", "cart-redis");
    assert_eq!(outcome.cause, Some(Cause::Timeout));
    assert!(outcome.failure > 0.4 && outcome.failure < 0.9, "{}", outcome.failure);
}

/// The pools of a settled shop: what every client holds after a few ticks.
fn settle_pools(shop: &Topology, instances: &mut [Instance]) {
    for _ in 0..3 {
        let flow = compute(shop, instances, &CleanNetwork);
        for (i, instance) in instances.iter_mut().enumerate() {
            for (d, held) in instance.held.iter_mut().enumerate() {
                *held = flow.instances[i].deps[d].connections_open - instance.leaked[d];
            }
        }
    }
}

#[test]
fn leaked_connections_fill_the_database_and_new_connections_are_refused() {
    let shop = Topology::shop();
    let mut instances = healthy(&shop);
    settle_pools(&shop, &mut instances);
    let shipping = shop.service_index("shipping").unwrap();
    let leaker = instances.iter().position(|i| i.service == shipping).unwrap();
    let db = shop.service_index("orders-db").unwrap();
    let db_i = instances.iter().position(|i| i.service == db).unwrap();

    // The leak has taken every slot the pools do not hold: the leaking calls themselves are refused.
    instances[leaker].leaking[0] = true;
    instances[leaker].leaked[0] = 97.0 - 22.0;
    let flow = compute(&shop, &instances, &CleanNetwork);
    assert!(flow.instances[db_i].server_connections >= 96.9, "{}", flow.instances[db_i].server_connections);
    assert!(flow.instances[db_i].server_refused > 0.0);
    let leaking = dep_outcome(&shop, &instances, &flow, "shipping", "orders-db");
    assert_eq!(leaking.cause, Some(Cause::TooManyConnections));
    assert!(leaking.failure > 0.99, "{}", leaking.failure);
    // HikariCP keeps the connections it holds: the orders service still works...
    assert!(dep_outcome(&shop, &instances, &flow, "orders", "orders-db").failure < 0.001);
    // ...until its pods restart and must open new ones, once the leak has taken the slots they gave back.
    for o in of(&shop, &mut instances, "orders") {
        o.held[0] = 0.0;
    }
    let held_by_shipping = instances[leaker].held[0];
    instances[leaker].leaked[0] = 97.0 - held_by_shipping;
    let flow = compute(&shop, &instances, &CleanNetwork);
    let to_db = dep_outcome(&shop, &instances, &flow, "orders", "orders-db");
    assert_eq!((to_db.cause, to_db.failure), (Some(Cause::TooManyConnections), 1.0));

    // The leaking process is restarted: its connections close, everyone connects again.
    instances[leaker].leaked[0] = 0.0;
    instances[leaker].leaking[0] = false;
    let flow = compute(&shop, &instances, &CleanNetwork);
    assert!(dep_outcome(&shop, &instances, &flow, "orders", "orders-db").failure < 0.001);
    assert!(dep_outcome(&shop, &instances, &flow, "shipping", "orders-db").failure < 0.001);
}

#[test]
fn a_slow_database_exhausts_the_client_pool() {
    let shop = Topology::shop();
    let instances = healthy(&shop);
    let shipping = shop.service_index("shipping").unwrap();
    let db = shop.service_index("orders-db").unwrap();
    let db_i = instances.iter().position(|i| i.service == db).unwrap();
    let client = instances.iter().position(|i| i.service == shipping).unwrap();
    // shipping serves 10 req/s (frontend 8, checkout 2) with one query each and a pool of 5:
    // at one second per query it needs 10 connections.
    let slow = Faults(HashMap::from([((client, db_i), Link { delay_ms: 1000.0, ..Default::default() })]));
    let flow = compute(&shop, &instances, &slow);
    let outcome = dep_outcome(&shop, &instances, &flow, "shipping", "orders-db");
    assert_eq!(outcome.cause, Some(Cause::PoolExhausted));
    assert!((outcome.failure - 0.5).abs() < 0.05, "{}", outcome.failure);
    assert_eq!(outcome.pool_in_use, 5.0);
    assert!(outcome.pool_waiting >= 5.0);
    assert!(service(&shop, &flow, "shipping").error_fraction > 0.45);
}

#[test]
fn an_address_that_does_not_resolve_fails_every_call() {
    let shop = Topology::shop();
    let mut instances = healthy(&shop);
    for cart in of(&shop, &mut instances, "cart") {
        cart.targets[0] = Target::Unresolvable;
    }
    let flow = compute(&shop, &instances, &CleanNetwork);
    let outcome = dep_outcome(&shop, &instances, &flow, "cart", "cart-redis");
    assert_eq!((outcome.cause, outcome.failure), (Some(Cause::Unresolvable), 1.0));
    // Nothing reaches the cache any more.
    assert_eq!(service(&shop, &flow, "cart-redis").rate, 0.0);
}
