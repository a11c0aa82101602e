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
    /// The simulated cluster: `medic lab up`, `medic lab bench`.
    Lab(commands::lab::LabArgs),
    /// Kyverno policies: run Kyverno CLI test suites, or check one resource.
    Policy(commands::policy::PolicyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lab(args) => commands::lab::run(args),
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
