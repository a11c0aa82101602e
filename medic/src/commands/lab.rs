//! `medic lab ...`: run the simulated cluster (`up`), measure it (`perf`), run the scenario suite (`bench`).
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use medic::lab_bench::BenchConfig;
use medic_lab::perf::PerfOptions;
use medic_lab::{Lab, LabConfig};

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
    /// Run the scenario suite: each scenario in a fresh lab with medic, scored (diagnosis, localisation,
    /// mitigation, MTTR, writes); exit status 1 when a scenario fails.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// The folder of scenario files.
    #[arg(long, default_value = "chaos-tests/scenarios")]
    scenarios: PathBuf,
    /// Seed of every random choice the labs make (names, addresses, log phrasings).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Virtual seconds per real second.
    #[arg(long, default_value_t = 30.0)]
    speed: f64,
    /// Scenarios run at once, each in its own lab and medic.
    #[arg(long, default_value_t = 3)]
    parallel: usize,
    /// Rename every service of each topology (names drawn from the seed): the rules must not care.
    #[arg(long)]
    rename: bool,
    /// Run only the scenarios whose name contains this (repeatable).
    #[arg(long = "only")]
    only: Vec<String>,
    /// Keep each scenario's store under DIR/<scenario> (read it with `medic incidents --store`).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
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
    /// Also start Debian's Prometheus (scraping the lab every second, with the lab's and medic's rules) and
    /// Alertmanager beside the lab.
    #[arg(long)]
    with_prometheus: bool,
    /// Where Alertmanager posts its notifications (medic's `/v1/webhooks/alertmanager`); with
    /// `--with-prometheus`.
    #[arg(long, requires = "with_prometheus")]
    alertmanager_webhook: Option<String>,
    /// The bearer token Alertmanager sends to that webhook, read from this environment variable.
    #[arg(long, requires = "alertmanager_webhook")]
    webhook_token_env: Option<String>,
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
        LabCommand::Bench(bench_args) => bench(bench_args),
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
    let stack = if args.with_prometheus {
        Some(start_prometheus(&lab, args.alertmanager_webhook, args.webhook_token_env).await?)
    } else {
        None
    };
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("stopping the lab");
    if let Some(stack) = stack {
        stack.stop();
    }
    lab.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Debian's Prometheus and Alertmanager, configured for the lab (`medic_promstack`), with their URLs printed.
async fn start_prometheus(
    lab: &Lab,
    webhook: Option<String>,
    token_env: Option<String>,
) -> anyhow::Result<medic_promstack::Stack> {
    let binaries = medic_promstack::Binaries::locate().context("--with-prometheus")?;
    let token = match token_env {
        Some(name) => Some(std::env::var(&name).with_context(|| format!("reading the webhook token from ${name}"))?),
        None => None,
    };
    let mut config = medic_promstack::StackConfig::for_lab(lab.url().trim_start_matches("http://"));
    if let Some(url) = webhook {
        config = config.with_receiver(url, token);
    }
    let stack =
        medic_promstack::Stack::start(&binaries, config).await.context("starting Prometheus and Alertmanager")?;
    println!(
        "  Prometheus   {} (scrapes the lab every second; rules: {})",
        stack.prometheus_url(),
        stack.dir().join("rules").display()
    );
    println!("  Alertmanager {}", stack.alertmanager_url());
    if let Some(receiver) = &stack.config().receiver {
        println!("  notifications go to {}", receiver.url);
    }
    println!();
    Ok(stack)
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let config = BenchConfig {
        scenarios: args.scenarios,
        seed: args.seed,
        speed: args.speed,
        parallel: args.parallel,
        rename: args.rename,
        only: args.only,
        keep: args.keep,
    };
    let count = medic::lab_bench::scenarios(&config)?.len();
    println!(
        "medic lab bench: {count} scenarios from {}, seed {}, speed {}x, {} at once",
        config.scenarios.display(),
        config.seed,
        config.speed,
        config.parallel
    );
    let progress = ProgressBar::new(count as u64).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {wide_msg}")
            .context("the progress bar's template")?
            .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(250));
    let report = actix_rt::System::new().block_on(async { medic::lab_bench::run_suite(&config, &progress).await })?;
    progress.finish_and_clear();
    println!("\n{}", report.table());
    println!("{}", report.summary());
    let failures = report.failures();
    if !failures.is_empty() {
        println!("\n{failures}");
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    Ok(if report.totals.passed == report.totals.scenarios { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn perf(args: PerfArgs) -> anyhow::Result<ExitCode> {
    let options = PerfOptions {
        pods: args.pods,
        requests: args.requests,
        events: args.events,
        cpu_interval: Duration::from_secs(args.cpu_seconds),
        speeds: vec![1.0, 100.0],
    };
    println!(
        "medic lab perf: {} pods, {} LIST requests, {} watch events, CPU over {} s per speed",
        options.pods, options.requests, options.events, args.cpu_seconds
    );
    let report = medic_lab::perf::run(&options).await.context("measuring the lab")?;
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}
