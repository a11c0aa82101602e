//! Measuring the lab (what `medic lab perf` and the `api` bench print): LIST latency with many pods,
//! watch delivery latency, and the CPU the default topology costs at a given speed.
//!
//! The HTTP client here is a minimal HTTP/1.1 one over a keep-alive `TcpStream`, so the figures are the
//! server's and not a client library's.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::{ApiServer, ApiState};
use crate::clock::LabClock;
use crate::error::{Error, Result};
use crate::logs::LogStore;
use crate::store::{Kind, Store};
use crate::{Lab, LabConfig};

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfOptions {
    /// Pods in the listed namespace.
    pub pods: usize,
    /// LIST requests to time.
    pub requests: usize,
    /// Watch events to time.
    pub events: usize,
    /// Real time over which CPU is measured at each speed; zero skips the CPU measurement.
    pub cpu_interval: Duration,
    /// The speeds at which to measure CPU.
    pub speeds: Vec<f64>,
}

impl Default for PerfOptions {
    fn default() -> Self {
        Self {
            pods: 1000,
            requests: 500,
            events: 1000,
            cpu_interval: Duration::from_secs(10),
            speeds: vec![1.0, 100.0],
        }
    }
}

/// Latency percentiles of one measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    pub fn of(samples: &[Duration]) -> Latency {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let at = |q: usize| sorted.get((sorted.len() * q / 100).min(sorted.len().saturating_sub(1))).copied();
        Latency {
            p50: at(50).unwrap_or_default(),
            p99: at(99).unwrap_or_default(),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(f, "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms", ms(self.p50), ms(self.p99), ms(self.max))
    }
}

/// CPU the lab used at one speed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUse {
    pub speed: f64,
    pub cpu: Duration,
    pub wall: Duration,
    pub pods: usize,
    pub virtual_seconds: u64,
}

impl CpuUse {
    /// Percent of one core.
    pub fn percent(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(f64::EPSILON) * 100.0
    }
}

/// Everything measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerfReport {
    pub pods: usize,
    pub list: Latency,
    pub list_bytes: usize,
    pub table: Latency,
    pub table_bytes: usize,
    pub watch: Latency,
    pub watch_events: usize,
    pub cpu: Vec<CpuUse>,
}

impl std::fmt::Display for PerfReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "API LIST of {} pods (one keep-alive connection):", self.pods)?;
        writeln!(f, "  PodList ({} KiB): {}", self.list_bytes / 1024, self.list)?;
        writeln!(f, "  Table   ({} KiB): {}", self.table_bytes / 1024, self.table)?;
        writeln!(
            f,
            "Watch event delivery ({} pod updates, from the write to the event read): {}",
            self.watch_events, self.watch
        )?;
        if !self.cpu.is_empty() {
            writeln!(f, "Process CPU of the default topology (user + system time):")?;
        }
        for cpu in &self.cpu {
            writeln!(
                f,
                "  --speed {:>3}: {:.1}% of one core ({:.2} s CPU over {:.1} s; {} pods; {} virtual seconds)",
                cpu.speed,
                cpu.percent(),
                cpu.cpu.as_secs_f64(),
                cpu.wall.as_secs_f64(),
                cpu.pods,
                cpu.virtual_seconds
            )?;
        }
        Ok(())
    }
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: what.to_string(), source }
}

/// Run every measurement.
pub async fn run(options: &PerfOptions) -> Result<PerfReport> {
    let store = Arc::new(Store::new(Arc::new(LabClock::starting_now(1.0))));
    store.create(Kind::Namespace, json!({"metadata": {"name": "perf"}}))?;
    for i in 0..options.pods {
        store.create(Kind::Pod, perf_pod(i))?;
    }
    let server = ApiServer::start(ApiState::new(store.clone(), Arc::new(LogStore::default())), 0)?;
    let address = server.address();
    let list_path = "/api/v1/namespaces/perf/pods";
    let requests = options.requests;
    let blocking = |e: tokio::task::JoinError| Error::Internal(format!("a measurement thread failed: {e}"));
    let (list, list_bytes) =
        tokio::task::spawn_blocking(move || time_gets(address, list_path, "application/json", requests))
            .await
            .map_err(blocking)??;
    let table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (table, table_bytes) =
        tokio::task::spawn_blocking(move || time_gets(address, list_path, table_accept, requests))
            .await
            .map_err(blocking)??;
    let watch_store = store.clone();
    let (events, pods) = (options.events, options.pods);
    let watch = tokio::task::spawn_blocking(move || time_watch(address, &watch_store, events, pods))
        .await
        .map_err(blocking)??;
    server.stop().await;

    let mut cpu = Vec::new();
    if !options.cpu_interval.is_zero() {
        for &speed in &options.speeds {
            cpu.push(cpu_at(speed, options.cpu_interval).await?);
        }
    }
    Ok(PerfReport {
        pods: options.pods,
        list: Latency::of(&list),
        list_bytes,
        table: Latency::of(&table),
        table_bytes,
        watch: Latency::of(&watch),
        watch_events: events,
        cpu,
    })
}

/// The CPU this process uses over `interval` while a default lab runs at `speed` (after a warm-up).
pub async fn cpu_at(speed: f64, interval: Duration) -> Result<CpuUse> {
    let lab = Lab::start(LabConfig { speed, ..LabConfig::default() }).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = cpu_time()?;
    let started = Instant::now();
    tokio::time::sleep(interval).await;
    let cpu = cpu_time()?.saturating_sub(before);
    let wall = started.elapsed();
    let (pods, _) = lab.store().list(Kind::Pod, None);
    let virtual_seconds = lab.clock().elapsed().as_secs();
    lab.stop().await;
    Ok(CpuUse { speed, cpu, wall, pods: pods.len(), virtual_seconds })
}

/// A pod as the lab's kubelet reports one: spec, status, conditions, container state.
fn perf_pod_name(i: usize) -> String {
    format!("perf-{:04}-7d9f8b6c5d-{:05}", i / 10, i)
}

fn perf_pod(i: usize) -> serde_json::Value {
    let name = perf_pod_name(i);
    json!({
        "metadata": {"name": name, "namespace": "perf", "labels": {"app": format!("svc-{}", i % 20), "pod-template-hash": "7d9f8b6c5d"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("svc-{}-7d9f8b6c5d", i % 20),
                                          "uid": "3f0c8b8e-0000-4000-8000-000000000000", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"nodeName": format!("lab-worker-{}", i % 3 + 1), "containers": [{
            "name": "app", "image": "ghcr.io/medic-lab/shop-cart:3.1.0", "ports": [{"containerPort": 8080}],
            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_POOL", "value": "20"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10}}]},
        "status": {"phase": "Running", "podIP": format!("10.244.{}.{}", i % 3 + 1, i % 250 + 2),
                   "hostIP": format!("10.0.0.{}", i % 3 + 11), "startTime": "2026-01-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"},
                                  {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                   "containerStatuses": [{"name": "app", "ready": true, "started": true, "restartCount": 0,
                       "image": "ghcr.io/medic-lab/shop-cart:3.1.0", "imageID": "ghcr.io/medic-lab/shop-cart@sha256:0f3a",
                       "containerID": format!("containerd://{:064x}", i),
                       "state": {"running": {"startedAt": "2026-01-01T00:00:03Z"}}, "lastState": {}}]}
    })
}

/// Time `count` GETs of `path` over one keep-alive connection (after 20 warm-up requests); returns the
/// latencies and the body size.
fn time_gets(address: SocketAddr, path: &str, accept: &str, count: usize) -> Result<(Vec<Duration>, usize)> {
    let failed = io("timing LIST requests");
    let stream = TcpStream::connect(address).map_err(&failed)?;
    stream.set_nodelay(true).map_err(&failed)?;
    let mut reader = BufReader::new(stream.try_clone().map_err(&failed)?);
    let mut writer = stream;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: {accept}\r\n\r\n");
    let mut latencies = Vec::with_capacity(count);
    let mut size = 0;
    for i in 0..count + 20 {
        let started = Instant::now();
        writer.write_all(request.as_bytes()).map_err(&failed)?;
        size = read_response(&mut reader).map_err(&failed)?;
        if i >= 20 {
            latencies.push(started.elapsed());
        }
    }
    Ok((latencies, size))
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// Read one HTTP/1.1 response with a Content-Length body; returns the body size.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<usize> {
    let mut length = None;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        return Err(invalid(format!("unexpected response {line:?}")));
    }
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.ok_or_else(|| invalid("a response without content-length".into()))?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(length)
}

/// Modify pods `count` times while a watch is open; the time from each write to its event's arrival.
fn time_watch(address: SocketAddr, store: &Store, count: usize, pods: usize) -> Result<Vec<Duration>> {
    let failed = io("timing watch delivery");
    let (_, revision) = store.list(Kind::Pod, Some("perf"));
    let stream = TcpStream::connect(address).map_err(&failed)?;
    stream.set_nodelay(true).map_err(&failed)?;
    let mut writer = stream.try_clone().map_err(&failed)?;
    let request = format!(
        "GET /api/v1/namespaces/perf/pods?watch=true&resourceVersion={revision} HTTP/1.1\r\nHost: {address}\r\n\r\n"
    );
    writer.write_all(request.as_bytes()).map_err(&failed)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(&failed)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<Instant>();
    let reader_thread = std::thread::spawn(move || -> std::io::Result<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(count);
        let mut size_line = String::new();
        while latencies.len() < count {
            // Chunked transfer encoding: a size line, the chunk, CRLF. One chunk holds one or more events.
            size_line.clear();
            if reader.read_line(&mut size_line)? == 0 {
                return Err(invalid("the watch ended early".into()));
            }
            let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
            if size == 0 {
                continue;
            }
            let mut data = vec![0; size + 2];
            reader.read_exact(&mut data)?;
            let arrived = Instant::now();
            let events = data[..size].iter().filter(|b| **b == b'\n').count();
            for _ in 0..events.min(count - latencies.len()) {
                let sent = sent_rx.recv().map_err(|e| invalid(e.to_string()))?;
                latencies.push(arrived.duration_since(sent));
            }
        }
        Ok(latencies)
    });
    for i in 0..count {
        let name = perf_pod_name(i % pods.max(1));
        let _ = sent_tx.send(Instant::now());
        store.modify(Kind::Pod, Some("perf"), &name, |pod| {
            pod["metadata"]["annotations"] = json!({"perf/step": i.to_string()});
            Ok(())
        })?;
        std::thread::sleep(Duration::from_micros(500));
    }
    reader_thread.join().map_err(|_| Error::Internal("the watch reader panicked".into()))?.map_err(&failed)
}

/// CPU time (user + system) this process has used, from /proc/self/stat (what getrusage reports).
pub fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(io("/proc/self/stat"))?;
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let latency = Latency::of(&samples);
        assert_eq!(
            (latency.p50, latency.p99, latency.max),
            (Duration::from_millis(51), Duration::from_millis(100), Duration::from_millis(100))
        );
        assert_eq!(Latency::of(&[]), Latency::default());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_measures_everything() {
        let options = PerfOptions { pods: 50, requests: 10, events: 20, cpu_interval: Duration::ZERO, speeds: vec![] };
        let report = run(&options).await.unwrap();
        assert!(
            report.list.p50 > Duration::ZERO && report.table.p50 > Duration::ZERO && report.watch.p50 > Duration::ZERO
        );
        assert!(report.list_bytes > 50 * 1000, "the list carries 50 full pods");
        assert!(report.to_string().contains("API LIST of 50 pods"));
        assert!(cpu_time().unwrap() > Duration::ZERO);
    }
}
