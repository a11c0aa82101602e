//! `medic lab ...`: run the simulated cluster (`up`) and measure it (`perf`).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use medic_lab::api::{ApiServer, ApiState};
use medic_lab::clock::LabClock;
use medic_lab::logs::LogStore;
use medic_lab::store::{Kind, Store};
use medic_lab::{Lab, LabConfig};
use serde_json::json;

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Start the simulated cluster and write a kubeconfig for kubectl and kube-rs; runs until Ctrl-C.
    Up(UpArgs),
    /// Measure the lab: API list latency, watch delivery latency, CPU used by the default topology.
    Perf(PerfArgs),
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Port of the API server on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the kubeconfig (default: a temporary file, removed on exit).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The topology file (default: the built-in shop).
    #[arg(long)]
    topology: Option<PathBuf>,
    /// Virtual seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Seed of every random choice the lab makes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Debug, Args)]
struct PerfArgs {
    /// Pods in the listed namespace.
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// LIST requests to time.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Watch events to time.
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Real seconds over which CPU is measured at each speed.
    #[arg(long, default_value_t = 10)]
    cpu_seconds: u64,
}

pub fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match args.command {
        LabCommand::Up(up_args) => runtime.block_on(up(up_args)),
        LabCommand::Perf(perf_args) => runtime.block_on(perf(perf_args)),
    }
}

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let config = LabConfig {
        port: args.port,
        topology: args.topology,
        speed: args.speed,
        seed: args.seed,
        kubeconfig: args.kubeconfig,
        alert_webhook: None,
    };
    let lab = Lab::start(config).await.context("starting the lab")?;
    let namespace = lab.topology().namespace.clone();
    println!("medic lab: a simulated Kubernetes cluster at {}", lab.url());
    println!(
        "  topology {} ({} services, {} nodes), speed {}x, seed {}",
        lab.topology().name,
        lab.topology().services.len(),
        lab.topology().nodes.len(),
        args.speed,
        args.seed
    );
    println!();
    println!("  export KUBECONFIG={}", lab.kubeconfig_path().display());
    println!("  kubectl get pods -n {namespace}");
    println!();
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("stopping the lab");
    lab.stop().await;
    Ok(ExitCode::SUCCESS)
}

async fn perf(args: PerfArgs) -> anyhow::Result<ExitCode> {
    println!("medic lab perf");
    let store = Arc::new(Store::new(Arc::new(LabClock::starting_now(1.0))));
    store.create(Kind::Namespace, json!({"metadata": {"name": "perf"}}))?;
    for i in 0..args.pods {
        store.create(Kind::Pod, perf_pod(i))?;
    }
    let server = ApiServer::start(ApiState::new(store.clone(), Arc::new(LogStore::default())), 0)?;
    let address = server.address();

    let list_path = "/api/v1/namespaces/perf/pods";
    let (json_latencies, json_bytes) =
        tokio::task::spawn_blocking(move || time_gets(address, list_path, "application/json", args.requests)).await??;
    let table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (table_latencies, table_bytes) =
        tokio::task::spawn_blocking(move || time_gets(address, list_path, table_accept, args.requests)).await??;
    println!("API LIST of {} pods ({} requests each, one keep-alive connection):", args.pods, args.requests);
    print_latencies(&format!("  PodList  ({} KiB)", json_bytes / 1024), &json_latencies);
    print_latencies(&format!("  Table    ({} KiB)", table_bytes / 1024), &table_latencies);

    let watch_store = store.clone();
    let events = args.events;
    let watch_latencies = tokio::task::spawn_blocking(move || time_watch(address, &watch_store, events)).await??;
    println!("Watch event delivery ({events} pod updates, write to event read):");
    print_latencies("  MODIFIED", &watch_latencies);
    server.stop().await;

    println!("Process CPU of the default topology (utime+stime from /proc/self/stat):");
    for speed in [1.0, 100.0] {
        let lab = Lab::start(LabConfig { speed, ..LabConfig::default() }).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let interval = Duration::from_secs(args.cpu_seconds);
        let before = cpu_time()?;
        let started = Instant::now();
        tokio::time::sleep(interval).await;
        let used = cpu_time()? - before;
        let wall = started.elapsed();
        let (pods, _) = lab.store().list(Kind::Pod, None);
        println!(
            "  --speed {speed:>3}: {:.1}% of one core ({:.2} s CPU over {:.1} s, {} pods, virtual time {} s)",
            used.as_secs_f64() / wall.as_secs_f64() * 100.0,
            used.as_secs_f64(),
            wall.as_secs_f64(),
            pods.len(),
            lab.clock().elapsed().as_secs()
        );
        lab.stop().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// A pod as the lab's kubelet reports one: spec, status, conditions, container state.
fn perf_pod(i: usize) -> serde_json::Value {
    let name = format!("perf-{:04}-7d9f8b6c5d-{:05}", i / 10, i);
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

/// Time `count` GETs of `path` over one keep-alive connection; returns the latencies and body size.
fn time_gets(
    address: std::net::SocketAddr,
    path: &str,
    accept: &str,
    count: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: {accept}\r\n\r\n");
    let mut latencies = Vec::with_capacity(count);
    let mut size = 0;
    for i in 0..count + 20 {
        let started = Instant::now();
        writer.write_all(request.as_bytes())?;
        size = read_response(&mut reader)?;
        if i >= 20 {
            latencies.push(started.elapsed());
        }
    }
    Ok((latencies, size))
}

/// Read one HTTP/1.1 response with a Content-Length body; returns the body size.
fn read_response(reader: &mut BufReader<TcpStream>) -> anyhow::Result<usize> {
    let mut length = None;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        bail!("unexpected response {line:?}");
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
            length = Some(value.trim().parse::<usize>()?);
        }
    }
    let length = length.context("response without content-length")?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(length)
}

/// Modify pods `count` times while a watch is open; the time from each write to its event's arrival.
fn time_watch(address: std::net::SocketAddr, store: &Store, count: usize) -> anyhow::Result<Vec<Duration>> {
    let (_, revision) = store.list(Kind::Pod, Some("perf"));
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    write!(
        writer,
        "GET /api/v1/namespaces/perf/pods?watch=true&resourceVersion={revision} HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<Instant>();
    let reader_thread = std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(count);
        let mut chunk = String::new();
        while latencies.len() < count {
            // Chunked encoding: a size line, then the event line(s).
            chunk.clear();
            reader.read_line(&mut chunk)?;
            let size = usize::from_str_radix(chunk.trim(), 16).unwrap_or(0);
            if size == 0 {
                continue;
            }
            let mut data = vec![0; size + 2];
            reader.read_exact(&mut data)?;
            let arrived = Instant::now();
            let events = data[..size].iter().filter(|b| **b == b'\n').count();
            for _ in 0..events.min(count - latencies.len()) {
                let sent = sent_rx.recv()?;
                latencies.push(arrived.duration_since(sent));
            }
        }
        Ok(latencies)
    });
    for i in 0..count {
        let name = format!("perf-{:04}-7d9f8b6c5d-{:05}", (i % 1000) / 10, i % 1000);
        let sent = Instant::now();
        sent_tx.send(sent)?;
        store.modify(Kind::Pod, Some("perf"), &name, |pod| {
            pod["metadata"]["annotations"] = json!({"perf/step": i.to_string()});
            Ok(())
        })?;
        std::thread::sleep(Duration::from_micros(500));
    }
    reader_thread.join().map_err(|_| anyhow::anyhow!("the watch reader panicked"))?
}

fn print_latencies(label: &str, latencies: &[Duration]) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |q: usize| {
        sorted.get((sorted.len() * q / 100).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(at(50)),
        ms(at(99)),
        ms(sorted.last().copied().unwrap_or_default())
    );
}

/// CPU time (user + system) this process has used, from /proc/self/stat (what getrusage reports).
fn cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the parenthesised command name: state is field 3; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).context("malformed /proc/self/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}
