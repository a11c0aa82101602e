//! `medic config check|show`: validate a configuration, or print it with every default filled in.
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use medic::MedicConfig;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration (file, then `MEDIC_` environment) and the playbooks it names.
    Check {
        #[arg(long, short, env = "MEDIC_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the effective configuration as TOML-like JSON, defaults included.
    Show {
        #[arg(long, short, env = "MEDIC_CONFIG")]
        config: Option<PathBuf>,
    },
}

pub fn run(args: ConfigArgs) -> Result<ExitCode> {
    match args.command {
        ConfigCommand::Check { config } => {
            let loaded = MedicConfig::load(config.as_deref())?;
            let catalog = match &loaded.playbooks.dir {
                Some(dir) => medic_playbooks::Catalog::builtin_with_overrides(dir)?,
                None => medic_playbooks::Catalog::builtin()?,
            };
            for specialist in loaded.specialists() {
                specialist.build()?;
            }
            println!(
                "configuration OK: listen {}, store {}, {} specialists, {} playbooks",
                loaded.server.listen,
                loaded.store.path.display(),
                loaded.specialists().len(),
                catalog.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Show { config } => {
            let loaded = MedicConfig::load(config.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&loaded)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
