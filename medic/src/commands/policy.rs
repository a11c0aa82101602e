//! `medic policy ...`: Kyverno policy tests and checks.
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run the Kyverno CLI test files (kyverno-test.yaml) found under the paths.
    Test,
}

pub fn run(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PolicyCommand::Test => anyhow::bail!("medic policy test is not available in this build yet"),
    }
}
