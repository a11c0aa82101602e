//! One simulated process: its memory, what it counts, and the runtime limits it reads from its own
//! environment (`-Xmx` in `JAVA_OPTS`, `--max-old-space-size` in `NODE_OPTIONS`).
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

use super::technology::Technology;
use crate::runtime::ContainerKey;

/// Prometheus' default histogram buckets, in seconds.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What a process counts over its lifetime (a restart starts from zero, as a real process does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub cpu_seconds: f64,
    pub cfs_periods: f64,
    pub cfs_throttled_periods: f64,
    /// Requests served, by HTTP status code.
    pub requests: BTreeMap<u16, f64>,
    /// Cumulative counts per bucket of `BUCKETS` (not yet cumulative across buckets), then +Inf.
    pub duration_buckets: [f64; BUCKETS.len() + 1],
    pub duration_sum: f64,
    pub duration_count: f64,
    pub transmit_bytes: f64,
    pub receive_bytes: f64,
    /// Outbound connections to addresses outside the cluster: allowed, and dropped by policy.
    pub egress_connections: BTreeMap<(String, bool), f64>,
}

/// A dependency address as the process read it from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyAddress {
    pub env: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct Process {
    pub key: ContainerKey,
    /// Index of the topology service, when the pod belongs to one.
    pub service: Option<usize>,
    pub technology: Technology,
    pub image: String,
    pub version: String,
    /// Chaos Mesh's pod-failure swapped the image for `pause`: nothing runs.
    pub paused: bool,
    pub started_at: Timestamp,
    pub uptime: Duration,
    pub startup: Duration,
    pub announced_ready: bool,
    pub node: String,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_limit_millis: Option<u64>,
    /// The runtime's own heap cap and the memory outside the heap.
    pub heap_limit_bytes: Option<u64>,
    pub non_heap_bytes: u64,
    pub baseline_bytes: u64,
    pub leaked_bytes: f64,
    /// Memory in the container that is not the runtime's heap: stressors, datastore connections.
    pub outside_heap_bytes: u64,
    pub memory_bytes: u64,
    pub cpu_cores: f64,
    pub dependencies: Vec<Option<DependencyAddress>>,
    /// Connections leaked to each dependency.
    pub leaked_connections: Vec<f64>,
    /// Pooled connections held to each dependency.
    pub held_connections: Vec<f64>,
    /// A server's connections accepted since it last logged them, by client address (whole ones are
    /// logged, one line each, as PostgreSQL's `log_connections` and MongoDB's network log do).
    pub accepted_from: BTreeMap<String, f64>,
    pub counters: Counters,
    /// When each kind of line may next be written (rate limits, so an error storm does not flood).
    pub next_line: BTreeMap<String, Timestamp>,
}

impl Process {
    /// Memory the process uses: start-up ramp to the baseline, slow growth, leaks, datastore
    /// connections, stressors in the container.
    pub fn working_set(&self, growth_per_hour: u64, per_connection: u64, connections: f64, stress: u64) -> u64 {
        let startup = self.startup.as_secs_f64().max(0.5);
        let ramp = (0.35 + 0.65 * (self.uptime.as_secs_f64() / startup)).min(1.0);
        let growth = growth_per_hour as f64 * self.uptime.as_secs_f64() / 3600.0;
        let base = self.baseline_bytes as f64 * ramp + growth + self.leaked_bytes;
        (base + per_connection as f64 * connections + stress as f64).max(0.0) as u64
    }

    /// Heap in use when the runtime caps it: the process's memory above its non-heap part (a stressor
    /// in the same container is another process, not heap).
    pub fn heap_used(&self) -> Option<u64> {
        self.heap_limit_bytes
            .map(|_| self.memory_bytes.saturating_sub(self.non_heap_bytes).saturating_sub(self.outside_heap_bytes))
    }

    pub fn is_ready(&self) -> bool {
        !self.paused && self.uptime >= self.startup
    }
}

/// The runtime heap cap written in the environment: `-Xmx512m` (JVM) or `--max-old-space-size=200`
/// (V8, in MiB). `None` when the runtime has no cap of its own.
pub fn heap_limit(technology: Technology, env: &BTreeMap<String, String>) -> Option<u64> {
    match technology {
        Technology::Java => {
            let options = ["JAVA_TOOL_OPTIONS", "JAVA_OPTS", "JDK_JAVA_OPTIONS"]
                .iter()
                .filter_map(|k| env.get(*k))
                .flat_map(|v| v.split_whitespace())
                .filter_map(|flag| flag.strip_prefix("-Xmx"))
                .next_back()?;
            parse_jvm_size(options)
        }
        Technology::Node => env
            .get("NODE_OPTIONS")?
            .split_whitespace()
            .filter_map(|flag| flag.strip_prefix("--max-old-space-size="))
            .next_back()?
            .parse::<u64>()
            .ok()
            .map(|mib| mib << 20),
        _ => None,
    }
}

/// JVM sizes: `512m`, `2g`, `1048576k`, `536870912`.
fn parse_jvm_size(text: &str) -> Option<u64> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().ok()?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    Some(number * factor)
}

/// Memory a runtime uses besides its heap (metaspace, code cache, thread stacks; V8's non-heap).
pub fn non_heap(technology: Technology) -> u64 {
    match technology {
        Technology::Java => 120 << 20,
        Technology::Node => 40 << 20,
        _ => 0,
    }
}

/// The image's tag, as a version the process announces.
pub fn version_of(image: &str) -> String {
    let (_, tag) = super::topology::split_image(image);
    tag.unwrap_or("latest").to_string()
}

/// The standard normal CDF (Abramowitz & Stegun 7.1.26, error < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

impl Counters {
    /// Add `count` requests whose latencies are log-normal around `mean_ms` to the histogram.
    pub fn observe_latency(&mut self, count: f64, mean_ms: f64, sigma: f64) {
        if count <= 0.0 || !mean_ms.is_finite() {
            return;
        }
        let mean_s = (mean_ms / 1000.0).max(1e-5);
        let median = mean_s / (sigma * sigma / 2.0).exp();
        let mut below_previous = 0.0;
        for (i, le) in BUCKETS.iter().enumerate() {
            let below = normal_cdf(((le / median).ln()) / sigma);
            self.duration_buckets[i] += count * (below - below_previous).max(0.0);
            below_previous = below;
        }
        self.duration_buckets[BUCKETS.len()] += count * (1.0 - below_previous).max(0.0);
        self.duration_sum += count * mean_s;
        self.duration_count += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_caps_come_from_the_runtime_flags() {
        let env = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(heap_limit(Technology::Java, &env("JAVA_OPTS", "-Xms256m -Xmx512m")), Some(512 << 20));
        assert_eq!(heap_limit(Technology::Java, &env("JAVA_TOOL_OPTIONS", "-Xmx2g")), Some(2 << 30));
        assert_eq!(heap_limit(Technology::Node, &env("NODE_OPTIONS", "--max-old-space-size=200")), Some(200 << 20));
        assert_eq!(heap_limit(Technology::Go, &env("GOMAXPROCS", "2")), None);
        assert_eq!(heap_limit(Technology::Java, &env("JAVA_OPTS", "-Xmx512x")), None);
    }

    #[test]
    fn latencies_fill_the_histogram_like_a_log_normal() {
        let mut counters = Counters::default();
        counters.observe_latency(1000.0, 40.0, 0.5);
        let total: f64 = counters.duration_buckets.iter().sum();
        assert!((total - 1000.0).abs() < 1e-6);
        // Most requests near 40 ms: between 25 and 100 ms.
        let middle = counters.duration_buckets[3] + counters.duration_buckets[4];
        assert!(middle > 700.0, "{:?}", counters.duration_buckets);
        assert!((counters.duration_sum - 40.0).abs() < 1e-6);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7 && (normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }
}
