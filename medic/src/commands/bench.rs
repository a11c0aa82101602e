//! `medic bench intake|pipeline`: figures of medic's own speed.
use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

use medic::bench::intake::IntakeBench;
use medic::bench::pipeline::PipelineBench;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Alerts per second the webhook intake sustains with persistence on (a load generator on loopback).
    Intake {
        #[arg(long, default_value_t = 64)]
        senders: usize,
        #[arg(long, default_value_t = 1)]
        alerts_per_body: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Alert received → decision → first action applied, on the lab (deterministic path).
    Pipeline {
        /// Each round breaks every deployment of the shop once, in a fresh lab.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long, default_value_t = 50.0)]
        speed: f64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    actix_rt::System::new().block_on(async move {
        match args.command {
            BenchCommand::Intake { senders, alerts_per_body, seconds } => {
                let bench = IntakeBench { senders, alerts_per_body, duration: Duration::from_secs(seconds) };
                println!("intake: {senders} senders × {alerts_per_body} alert(s) per body for {seconds} s, over loopback, SQLite WAL with fsync per group commit");
                let figures = medic::bench::intake::run(&bench).await?;
                println!("{figures}");
                Ok(if figures.alerts_stored == figures.alerts_acked { ExitCode::SUCCESS } else { ExitCode::FAILURE })
            }
            BenchCommand::Pipeline { rounds, speed, seed } => {
                let bench = PipelineBench { rounds, speed, seed };
                println!("pipeline: {rounds} round(s) of every shop deployment broken (missing image tag), one alert each");
                let figures = medic::bench::pipeline::run(&bench, &mut std::io::stdout()).await?;
                println!("{figures}");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
