//! `medic demo`: the simulated shop broken by faults one after another and repaired by medic.
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

use medic::lab_rig::RigConfig;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Lab seconds per real second.
    #[arg(long, default_value_t = 30.0)]
    speed: f64,
    /// Seed of every random choice the lab makes.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Where to keep the store (for `medic incidents list --store DIR/medic.db` afterwards).
    #[arg(long, default_value = "medic-demo")]
    workdir: PathBuf,
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    if args.workdir.join("medic.db").exists() {
        std::fs::remove_dir_all(&args.workdir)?;
    }
    let config =
        RigConfig { speed: args.speed, seed: args.seed, workdir: Some(args.workdir.clone()), ..RigConfig::default() };
    let results = actix_rt::System::new().block_on(async move {
        let mut stdout = std::io::stdout();
        medic::demo::run(config, &mut stdout).await
    })?;
    println!(
        "\nEvery step is in the store: medic incidents list --store {0}/medic.db; medic incidents show <uid> --store {0}/medic.db",
        args.workdir.display()
    );
    Ok(if results.iter().all(|r| r.repaired) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
