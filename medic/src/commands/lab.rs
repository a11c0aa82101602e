//! `medic lab ...`: run the simulated cluster.
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Start the simulated cluster and write a kubeconfig for kubectl and kube-rs.
    Up,
}

pub fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        LabCommand::Up => anyhow::bail!("medic lab up is not available in this build yet"),
    }
}
