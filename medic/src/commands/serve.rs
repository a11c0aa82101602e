//! `medic serve --config medic.toml`: run medic against a cluster until interrupted.
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

use medic::{MedicConfig, Overrides};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML); `MEDIC_` environment variables override it.
    #[arg(long, short, env = "MEDIC_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config = MedicConfig::load(args.config.as_deref())?;
    medic::telemetry::init(&config.telemetry);
    actix_rt::System::new().block_on(async move {
        let medic = medic::start(config, Overrides::default()).await?;
        eprintln!("medic: listening on {} (webhooks under /v1/webhooks/…); Ctrl-C to stop", medic.url());
        tokio::signal::ctrl_c().await?;
        eprintln!("medic: stopping");
        medic.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}
