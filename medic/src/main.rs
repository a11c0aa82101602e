//! The medic command line. Parsing only: every command's work lives in its module or in the library
//! crates, so end-to-end tests drive the same code.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod commands;

#[derive(Debug, Parser)]
#[command(name = "medic", version, about = "Autonomous incident remediation for Kubernetes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run medic against a cluster: receive alerts, diagnose, repair.
    Serve(commands::serve::ServeArgs),
    /// The lab and medic in one process: the shop broken by faults, repaired, summarised.
    Demo(commands::demo::DemoArgs),
    /// Measure medic: intake throughput, alert → first action latency.
    Bench(commands::bench::BenchArgs),
    /// Check or show the configuration.
    Config(commands::config::ConfigArgs),
    /// Incidents and their timelines, from the store.
    Incidents(commands::incidents::IncidentsArgs),
    /// The audit trail: `medic audit verify` checks its hash chain.
    Audit(commands::audit::AuditArgs),
    /// The simulated cluster: `medic lab up`, `medic lab bench`.
    Lab(commands::lab::LabArgs),
    /// Past incidents and their fixes: `medic memory search|stats|export|import|bench`.
    Memory(commands::memory::MemoryArgs),
    /// Kyverno policies: run Kyverno CLI test suites, or check one resource.
    Policy(commands::policy::PolicyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Config(args) => commands::config::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Incidents(args) => commands::incidents::run(args),
        Command::Audit(args) => commands::audit::run(args),
        Command::Lab(args) => commands::lab::run(args),
        Command::Memory(args) => commands::memory::run(args),
        Command::Policy(args) => commands::policy::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("medic: {error:#}");
            ExitCode::from(2)
        }
    }
}
