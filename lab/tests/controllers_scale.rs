//! Figures, not assertions: what one tick of the simulation costs (wall time on this machine), for
//! the built-in shop topology with the real application model, and for 1,000 pods.
//!
//! `cargo test --release -p medic-lab --test controllers_scale -- --ignored --nocapture`
#[path = "controllers/support.rs"]
mod support;

use medic_lab::app::Topology;
use medic_lab::app::model::AppModel;
use medic_lab::clock::LabClock;
use medic_lab::kubelet::NodeConfig;
use medic_lab::logs::LogStore;
use medic_lab::sim::{Sim, SimConfig};
use medic_lab::store::{Kind, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn report(what: &str, ticks: u32, took: Duration, tick: Duration) {
    let per_tick = took / ticks;
    let share_at = |speed: f64| per_tick.as_secs_f64() * speed / tick.as_secs_f64() * 100.0;
    println!(
        "{what}: {per_tick:?} per tick; one core's share at --speed 1: {:.3}%, at --speed 100: {:.1}%",
        share_at(1.0),
        share_at(100.0)
    );
}

#[test]
#[ignore = "prints figures; run with --ignored --nocapture in release mode"]
fn tick_cost_of_the_shop_topology() {
    let topology = Arc::new(Topology::shop());
    let clock = Arc::new(LabClock::new(support::EPOCH.parse().unwrap(), 1.0));
    let store = Arc::new(Store::with_seed(clock, 1));
    store.create(Kind::Namespace, json!({"metadata": {"name": "default"}})).unwrap();
    for manifest in topology.manifests() {
        let api_version = manifest["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = Kind::from_api_version(&api_version, manifest["kind"].as_str().unwrap_or_default()).unwrap();
        let _ = store.create(kind, manifest);
    }
    let logs = Arc::new(LogStore::default());
    let model = AppModel::new(topology.clone(), store.clone(), logs.clone(), 1);
    let config = SimConfig { seed: 1, nodes: topology.node_configs(), ..SimConfig::default() };
    let tick = config.tick;
    let mut sim = Sim::new(config, store.clone(), logs, Box::new(model));
    sim.run_for(Duration::from_secs(120));
    let pods = store.list(Kind::Pod, None).0.len();
    let started = Instant::now();
    sim.run_for(Duration::from_secs(1800));
    report(&format!("shop topology ({pods} pods)"), 1800, started.elapsed(), tick);
}

#[test]
#[ignore = "prints figures; run with --ignored --nocapture in release mode"]
fn tick_cost_of_a_thousand_pods() {
    let nodes: Vec<_> = (1..=12).map(|i| NodeConfig::new(format!("node-{i}"), 64_000, 256 << 30)).collect();
    for gc_period in [Duration::from_secs(5), Duration::from_secs(1_000_000)] {
        let config = SimConfig { seed: 1, nodes: nodes.clone(), gc_period, ..SimConfig::default() };
        let tick = config.tick;
        let mut cluster = support::Cluster::with_config(config);
        for i in 0..50 {
            cluster.create(Kind::Deployment, support::deployment(&format!("svc{i}"), 20, "shop/web:1.0"));
        }
        cluster.run(60);
        let pods = cluster.store.list(Kind::Pod, None).0.len();
        let events = cluster.store.list(Kind::Event, None).0.len();
        let started = Instant::now();
        cluster.run(300);
        let gc = if gc_period.as_secs() > 10_000 { "without the GC pass" } else { "GC pass every 5 s" };
        report(&format!("{pods} pods, {events} events, {gc}"), 300, started.elapsed(), tick);
    }
}
